import XCTest
import Foundation

/// A test case with a fresh temporary folder `dir`, removed after each test.
class TemporaryFolderTestCase: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/camaudit-\(type(of: self))-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }
}
