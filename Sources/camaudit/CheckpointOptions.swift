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

    /// Also makes the options apply where models are loaded by path alone (evaluate's runner):
    /// they become the process's checkpoint defaults, and notes are printed once each.
    mutating func validate() throws {
        if checkpointKey?.isEmpty == true { throw ValidationError("--checkpoint-key must not be empty") }
        if stripPrefix?.isEmpty == true { throw ValidationError("--strip-prefix must not be empty") }
        CheckpointDefaults.shared.selection = selection
        CheckpointDefaults.shared.report = { CheckpointNotes.shared.print($0) }
    }

    /// For evaluate: the class count the user asked for, so a differing head is announced.
    func expect(numClasses: Int?) { CheckpointDefaults.shared.numClasses = numClasses }

    /// Builds `arch` from `weights` and prints the loader's notes (wrapper used, prefix removed,
    /// keys renamed, a head kept whose class count differs from `numClasses`).
    func loadModel(_ arch: Architecture, weights: String, imageSize: Int?, numClasses: Int?) throws -> ImageClassifier {
        let (model, notes) = try Models.loadModel(arch, weights: weights, imageSize: imageSize, selection: selection, numClasses: numClasses)
        notes.forEach { CheckpointNotes.shared.print($0) }
        return model
    }
}

/// Prints each checkpoint note once per run on stderr (several models may load the same file).
final class CheckpointNotes: @unchecked Sendable {
    static let shared = CheckpointNotes()
    private let lock = NSLock()
    private var seen = Set<String>()

    func print(_ note: String) {
        let first = lock.withLock { seen.insert(note).inserted }
        if first { writeStderr("note: " + note) }
    }
}
