import ArgumentParser
import Foundation

/// The command-line tool: thin commands over the library. Each subcommand lives in its own file.
struct CamAudit: ParsableCommand {
    static let version = "0.11.0"

    static let configuration = CommandConfiguration(
        commandName: "camaudit",
        abstract: "Can this Grad-CAM be trusted? Models, CAM methods and their evaluation for CT-slice classifiers.",
        version: version,
        subcommands: [Predict.self, Cam.self, Synth.self, Evaluate.self, Metrics.self, Train.self, SweepCommand.self, MergeCommand.self, Bench.self, PaperCommand.self, AuditCommand.self]
    )
}

// Errors are one line on stderr ("Error: …", the option or file named) with exit 64 for a bad
// command line and 1 for a failed run; help and --version go through ArgumentParser unchanged.
do {
    var command = try CamAudit.parseAsRoot()
    try runConfigured(&command)
} catch {
    let code = CamAudit.exitCode(for: error)
    if code == .success { CamAudit.exit(withError: error) }
    let message = CamAudit.message(for: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    // A bare exit code (merge's 2, evaluate's 3) follows a report the command already printed.
    if !message.isEmpty { FileHandle.standardError.write("Error: \(message)\n".data(using: .utf8)!) }
    CamAudit.exit(withError: ExitCode(code.rawValue))
}
