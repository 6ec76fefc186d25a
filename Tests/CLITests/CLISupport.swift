import Foundation
import XCTest
import TestSupport

/// Asserts a refusal a user can act on: exit 1 or 64 (never a signal), stderr exactly one line
/// "Error: …" containing every `mentions`.
func assertClearError(_ r: CLI.Result, _ args: [String], mentions: [String] = [], file: StaticString = #filePath, line: UInt = #line) {
    let cmd = "camaudit " + args.joined(separator: " ")
    XCTAssertEqual(r.signal, 0, "\(cmd) died on signal \(r.signal)", file: file, line: line)
    XCTAssertTrue(r.status == 1 || r.status == 64, "\(cmd) exited \(r.status); stderr: \(r.stderr)", file: file, line: line)
    XCTAssertEqual(r.stderrLines.count, 1, "\(cmd) should print one line, got: \(r.stderr)", file: file, line: line)
    XCTAssertTrue(r.stderr.hasPrefix("Error: "), "\(cmd): \(r.stderr)", file: file, line: line)
    for m in mentions { XCTAssertTrue(r.stderr.contains(m), "\(cmd): message should mention '\(m)': \(r.stderr)", file: file, line: line) }
}

/// A scratch folder per test.
class CLITestCase: XCTestCase {
    var tmp = ""
    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: CLI.binary), "build camaudit first (swift build -c release): \(CLI.binary)")
        tmp = NSTemporaryDirectory() + "cli-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func path(_ rel: String) -> String { tmp + "/" + rel }

    /// Writes bytes, creating folders.
    func put(_ rel: String, _ bytes: [UInt8]) throws {
        let p = path(rel)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
    }
}
