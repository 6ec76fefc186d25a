import XCTest
final class PlaceholderExplainTests: XCTestCase { func testBuilds() {} }
