import ArgumentParser

/// The command-line tool: thin commands over the library. Each subcommand lives in its own file.
struct CamAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camaudit",
        abstract: "Can this Grad-CAM be trusted? Models, CAM methods and their evaluation for CT-slice classifiers.",
        subcommands: [Predict.self, Cam.self, Synth.self, Evaluate.self, Metrics.self, Bench.self, SweepCommand.self, MergeCommand.self]
    )
}

CamAudit.main()
