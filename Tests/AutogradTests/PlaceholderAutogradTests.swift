import XCTest
final class PlaceholderAutogradTests: XCTestCase { func testBuilds() {} }
