import XCTest
final class PlaceholderNNTests: XCTestCase { func testBuilds() {} }
