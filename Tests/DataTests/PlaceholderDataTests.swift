import XCTest
final class PlaceholderDataTests: XCTestCase { func testBuilds() {} }
