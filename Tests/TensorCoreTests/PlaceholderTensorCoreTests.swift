import XCTest
final class PlaceholderTensorCoreTests: XCTestCase { func testBuilds() {} }
