import Foundation

/// Runs the external programs figures need (rsvg-convert, Chromium): found on PATH, output
/// captured to a file (a pipe could fill and block the child), killed after a time limit.
enum ExternalTool {
    /// The first executable named one of `names` on PATH, or a `toolMissing` error.
    static func locate(_ names: [String], package: String, purpose: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for name in names {
            for dir in path.split(separator: ":") {
                let candidate = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        throw ReportError.toolMissing(tool: names[0], package: package, purpose: purpose)
    }

    /// Runs `executable` with `arguments`; returns its combined stdout and stderr. Throws
    /// `toolFailed` on a non-zero exit or when it outlives `timeout` seconds.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 120) throws -> String {
        let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("camaudit-tool-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: logURL) }
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw ReportError.toolFailed(tool: executable, status: -1, output: "could not start: \(error)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let name = (executable as NSString).lastPathComponent
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw ReportError.toolFailed(tool: name, status: -1, output: "killed after \(Int(timeout)) s")
        }
        let output = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw ReportError.toolFailed(tool: name, status: process.terminationStatus, output: output)
        }
        return output
    }

    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory(_ prefix: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
