import XCTest
final class PlaceholderImageIOTests: XCTestCase { func testBuilds() {} }
