import ArgumentParser
import TensorCore
import Models

/// A command whose options say how it computes: its threads (and kernel settings) and its
/// checkpoint defaults. main runs every command inside the values its options give
/// (`runConfigured`), so the library reads them from the run it is part of, never from a
/// process-wide setting, and a command that sets nothing runs with the defaults.
protocol ConfiguresRun {
    /// Threads from the command's --threads; the environment's default otherwise.
    var runSettings: RunSettings { get }
    /// For commands that load checkpoints: --checkpoint-key, --strip-prefix, --num-classes.
    var checkpointDefaults: CheckpointDefaults { get }
}

extension ConfiguresRun {
    var checkpointDefaults: CheckpointDefaults { CheckpointDefaults() }
}

/// Runs `command` inside the run settings and checkpoint defaults its options give.
func runConfigured(_ command: inout ParsableCommand) throws {
    let configured = command as? ConfiguresRun
    let settings = configured?.runSettings ?? RunSettings()
    let checkpoint = configured?.checkpointDefaults ?? CheckpointDefaults()
    try settings.run { try checkpoint.run { try command.run() } }
}

/// Commands that run one model take both from their `ModelOptions`.
protocol RunsModel: ConfiguresRun {
    var options: ModelOptions { get }
}

extension RunsModel {
    var runSettings: RunSettings { options.runSettings }
    var checkpointDefaults: CheckpointDefaults { options.checkpointDefaults }
}
