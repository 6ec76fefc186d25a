import XCTest
import Foundation
import TestSupport
@testable import Sweep

/// The camaudit binary built beside the test bundle (`swift build --build-tests` builds both).
func camauditBinary() throws -> String {
    guard FileManager.default.isExecutableFile(atPath: CLI.binary) else {
        throw FixtureError("camaudit binary not found beside the test bundle; build it first (swift build -c release)")
    }
    return CLI.binary
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

struct CLIResult { let status: Int32; let stdout: String; let stderr: String }

/// Runs camaudit to completion; output goes through files (no pipe can fill up and stall it).
func runCamaudit(_ args: [String], cwd: String? = nil) throws -> CLIResult {
    let p = try startCamaudit(args, cwd: cwd)
    p.process.waitUntilExit()
    return p.result()
}

final class RunningCLI {
    let process: Process
    let out: String, err: String
    init(process: Process, out: String, err: String) { self.process = process; self.out = out; self.err = err }
    /// The finished run's status and output; the capture files are removed.
    func result() -> CLIResult {
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: err) }
        return CLIResult(status: process.terminationStatus, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}

func startCamaudit(_ args: [String], cwd: String? = nil) throws -> RunningCLI {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try camauditBinary())
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let tag = UUID().uuidString
    let out = NSTemporaryDirectory() + "camaudit-\(tag).out", err = NSTemporaryDirectory() + "camaudit-\(tag).err"
    FileManager.default.createFile(atPath: out, contents: nil)
    FileManager.default.createFile(atPath: err, contents: nil)
    p.standardOutput = FileHandle(forWritingAtPath: out)
    p.standardError = FileHandle(forWritingAtPath: err)
    try p.run()
    return RunningCLI(process: p, out: out, err: err)
}

/// Polls `condition` every `every` seconds until it holds or `timeout` passes.
func waitUntil(_ what: String, timeout: TimeInterval, every: TimeInterval = 0.2, _ condition: () throws -> Bool) throws {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if try condition() { return }
        Thread.sleep(forTimeInterval: every)
    }
    throw FixtureError("timed out after \(Int(timeout)) s waiting for \(what)")
}

/// Data rows of a results file (header excluded), in file order.
func resultLines(_ out: String) throws -> [String] {
    try String(contentsOfFile: out + "/results.csv", encoding: .utf8).split(separator: "\n").dropFirst().map(String.init)
}

/// A tiny sweep shared by the tests: six 64-px phantoms, ResNet-50 with two random seeds (so
/// Consist has work units that depend on two models), Grad-CAM, LocAcc, 5-step deletion and
/// Consist, two images per unit → 9 units. Its single-process run is the reference every sharded,
/// multi-worker and Slurm run must reproduce byte for byte.
final class SweepFixture {
    let root: String
    let config: String
    /// Output folder of one process running the whole configuration (`camaudit evaluate`).
    let reference: String

    nonisolated(unsafe) private static var cached: SweepFixture?
    private static let lock = NSLock()

    static func shared() throws -> SweepFixture {
        lock.lock(); defer { lock.unlock() }
        if let c = cached { return c }
        let f = try SweepFixture()
        cached = f
        atexit { if let root = SweepFixture.cached?.root { try? FileManager.default.removeItem(atPath: root) } }
        return f
    }

    private init() throws {
        root = NSTemporaryDirectory() + "camaudit-sweep-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let synth = try runCamaudit(["synth", "--out", root + "/data", "--count", "6", "--size", "64", "--seed", "7"])
        guard synth.status == 0 else { throw FixtureError("synth failed: \(synth.stderr)") }
        // The reference is `camaudit evaluate`: one process, one store, no parts and no merge; the
        // sweep configuration the other runs use is the one it saves for the same options.
        config = root + "/SWEEP.json"
        reference = root + "/reference"
        let r = try runCamaudit(["evaluate", "--data", root + "/data/manifest.csv", "--model", "resnet50", "--seeds", "0,1",
                                 "--methods", "gradcam", "--metrics", "locacc,deletion,consist", "--steps", "5", "--image-size", "64",
                                 "--batch-size", "2", "--threads", "1", "--out", reference, "--save-config", config])
        guard r.status == 0 else { throw FixtureError("reference run failed: \(r.stderr)") }
    }

    /// A fresh output folder under the fixture's root.
    func folder(_ name: String) -> String {
        let p = root + "/" + name
        try? FileManager.default.removeItem(atPath: p)
        return p
    }

    /// Asserts `out` holds the reference's results and summaries, byte for byte, with no key twice.
    func assertMatchesReference(_ out: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let got = try resultLines(out), want = try resultLines(reference)
        XCTAssertEqual(got.count, want.count, "row count", file: file, line: line)
        for (i, (g, w)) in zip(got, want).enumerated() where g != w {
            XCTFail("row \(i + 1) differs:\n  got  \(g)\n  want \(w)", file: file, line: line)
            break
        }
        let keys = got.map { $0.split(separator: ",").last.map(String.init) ?? "" }
        XCTAssertEqual(Set(keys).count, keys.count, "a content key appears twice", file: file, line: line)
        for name in ["results.csv", "summary.json", "summary.md", "classification.json"] {
            let a = FileManager.default.contents(atPath: out + "/" + name), b = FileManager.default.contents(atPath: reference + "/" + name)
            XCTAssertNotNil(a, "\(out)/\(name) missing", file: file, line: line)
            XCTAssertEqual(a, b, "\(name) differs from the single-process run", file: file, line: line)
        }
    }
}
