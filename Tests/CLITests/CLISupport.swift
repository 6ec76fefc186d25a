import Foundation
import XCTest

/// Runs the built `camaudit` binary, as a user would.
enum CLI {
    struct Result {
        var status: Int32
        /// Non-zero when the process died on a signal (a trap is SIGILL/SIGTRAP, not an error).
        var signal: Int32
        var stdout: String
        var stderr: String
        var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    }

    /// The binary: `CAMAUDIT_BIN`, else next to the test bundle (`.build/<config>/camaudit`),
    /// else the package's release or debug build.
    static let binary: String = {
        let fm = FileManager.default
        if let b = ProcessInfo.processInfo.environment["CAMAUDIT_BIN"], fm.isExecutableFile(atPath: b) { return b }
        var candidates: [String] = []
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            candidates.append((b.bundlePath as NSString).deletingLastPathComponent + "/camaudit")
        }
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        candidates += [(CommandLine.arguments.first.map { ($0 as NSString).deletingLastPathComponent } ?? ".") + "/camaudit",
                       here + "/.build/release/camaudit", here + "/.build/debug/camaudit"]
        return candidates.first { fm.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    /// Runs `camaudit args…` to completion; output goes through files so large outputs never block.
    static func run(_ args: [String], env: [String: String] = [:]) throws -> Result {
        let dir = NSTemporaryDirectory() + "cli-io-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = environment["OPENBLAS_NUM_THREADS"] ?? "1"
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
        try p.run()
        p.waitUntilExit()
        let out = (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
        let signalled = p.terminationReason == .uncaughtSignal
        return Result(status: signalled ? 128 + p.terminationStatus : p.terminationStatus,
                      signal: signalled ? p.terminationStatus : 0, stdout: out, stderr: err)
    }
}

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
