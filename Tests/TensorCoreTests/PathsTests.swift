import XCTest
import Foundation
import TensorCore

final class PathsTests: XCTestCase {
    /// Foundation's answer wherever it does not trap, and the answers for the names it traps on:
    /// one character, with or without a trailing slash.
    func testParentFolderAgreesWithFoundation() {
        for p in ["ab", "a/b", "/a", "/ab", "a//b", "/a/b/", "./x", "../x", "/a/b/c.png", "dir/sub/", "x/y//", "ab/", "/tmp//a/bc"] {
            XCTAssertEqual(parentFolder(p), (p as NSString).deletingLastPathComponent, p)
        }
        for (p, parent) in [("a", ""), ("0", ""), ("a/", ""), ("/", "/"), ("", "")] { XCTAssertEqual(parentFolder(p), parent, p) }
    }
}
