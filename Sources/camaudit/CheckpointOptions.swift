import ArgumentParser
import Foundation
import NN
import Models

/// `--checkpoint-key` and `--strip-prefix`: where the state dict sits in a training checkpoint,
/// for the commands that load `--weights`. Left out, it is found automatically and any guess that
/// could go two ways stops with a message listing the choices.
struct CheckpointOptions: ParsableArguments {
    @Option(name: .customLong("checkpoint-key"),
            help: "Entry holding the state dict in a training checkpoint (e.g. state_dict, model_state_dict, model_ema; a/b for nested). Default: found automatically.")
    var checkpointKey: String?

    @Option(name: .customLong("strip-prefix"),
            help: "Load only the state-dict keys starting with this prefix, without it (e.g. 'model.' for a Lightning module's self.model). Default: a prefix every key carries is removed.")
    var stripPrefix: String?

    var selection: CheckpointSelection { CheckpointSelection(key: checkpointKey, stripPrefix: stripPrefix) }

    func validate() throws {
        if checkpointKey?.isEmpty == true { throw ValidationError("--checkpoint-key must not be empty") }
        if stripPrefix?.isEmpty == true { throw ValidationError("--strip-prefix must not be empty") }
    }

    /// The run's checkpoint defaults: where models are loaded by path (the model commands, evaluate's
    /// executor) they find the state dict with these options, announce a head whose class count
    /// differs from `numClasses`, and print each note once.
    func defaults(numClasses: Int?) -> CheckpointDefaults {
        let notes = CheckpointNotes()
        return CheckpointDefaults(selection: selection, numClasses: numClasses, report: { notes.print($0) })
    }
}

/// Prints each checkpoint note once per run on stderr (several models may load the same file).
final class CheckpointNotes: @unchecked Sendable {
    private let lock = NSLock()
    private var seen = Set<String>()

    func print(_ note: String) {
        let first = lock.withLock { seen.insert(note).inserted }
        if first { writeStderr("note: " + note) }
    }
}
