import Foundation

/// Runs the built `camaudit` binary, as a user would.
public enum CLI {
    public struct Result {
        public var status: Int32
        /// Non-zero when the process died on a signal (a trap is SIGILL/SIGTRAP, not an error).
        public var signal: Int32
        public var stdout: String
        public var stderr: String
        public var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    }

    /// The binary: `CAMAUDIT_BIN`, else next to the test bundle (`.build/<config>/camaudit`),
    /// else the package's release or debug build.
    public static let binary: String = {
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
    /// - Parameter cwd: the working directory (default: the test's own).
    public static func run(_ args: [String], env: [String: String] = [:], cwd: String? = nil) throws -> Result {
        let dir = NSTemporaryDirectory() + "cli-io-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
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
