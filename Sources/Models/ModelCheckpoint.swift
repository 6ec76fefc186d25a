import Foundation
import TensorCore
import NN

/// A checkpoint read for one architecture, with the keys put the way torchvision's model expects
/// them (wrapper prefix removed, old DenseNet names renamed, missing BatchNorm counters added),
/// and what was done, in `notes`, for the user to see.
///
/// Training uses it to decide about the head: `headMatches(numClasses:)`, then `withoutHead()`
/// to start a new classifier from the rest.
public struct ModelCheckpoint: Sendable {
    public let architecture: Architecture
    public var stateDict: StateDict
    /// One sentence each, naming the file: the wrapper entry used, prefixes stripped, keys renamed.
    public var notes: [String]
    public let path: String

    /// The class count of the checkpoint's head (rows of the classifier weight).
    public var numClasses: Int { stateDict[architecture.classifierWeightKey]?.shape.first ?? 0 }

    /// The head's state-dict keys (classifier weight and bias).
    public var headKeys: [String] {
        let w = architecture.classifierWeightKey
        return [w, String(w.dropLast("weight".count)) + "bias"]
    }

    /// Whether the head has `numClasses` outputs (else inference keeps it and training replaces it).
    public func headMatches(numClasses k: Int) -> Bool { numClasses == k }

    /// The state dict without the head's entries (to load into a model with a new head).
    public func withoutHead() -> StateDict {
        let head = Set(headKeys)
        return stateDict.filtered { !head.contains($0) }
    }
}

/// Reads `path` for `arch`: finds the state dict (`selection` = `--checkpoint-key`/`--strip-prefix`),
/// removes a prefix that every key carries in front of the architecture's keys (a Lightning module's
/// `model.`, a wrapper's `backbone.`), renames old DenseNet keys as torchvision does, and adds
/// the BatchNorm counters pre-0.4.1 files lack. Nothing is checked against a model yet.
/// - Throws: `CheckpointError` naming the file; ambiguous prefixes are listed with what to pass.
public func loadModelCheckpoint(_ arch: Architecture, path: String, selection: CheckpointSelection = CheckpointSelection()) throws -> ModelCheckpoint {
    let loaded = try loadCheckpoint(path: path, selection: selection)
    var sd = loaded.stateDict
    var notes = loaded.notes
    let head = arch.classifierWeightKey
    if sd[head] == nil {
        sd = try stripModelPrefix(sd, arch: arch, file: path, notes: &notes)
    }
    if let fix = arch.spec.legacyKeys { sd = fix(sd, path, &notes) }
    sd = try addMissingBatchNormCounters(sd, file: path, notes: &notes)
    guard let w = sd[head], w.rank == 2 else {
        let sample = sd.keys.prefix(3).joined(separator: ", ")
        throw CheckpointError(file: path, reason: "no '\(head)' [K, C] tensor: not a \(arch.rawValue) state dict (first keys: \(sample)); if the model sits under a prefix, pass --strip-prefix")
    }
    return ModelCheckpoint(architecture: arch, stateDict: sd, notes: notes, path: path)
}

/// Builds `arch` from a checkpoint and says what it did. A head whose class count differs from
/// `numClasses` is kept (inference cannot invent a trained head) and a note says so.
/// - Parameters:
///   - imageSize: ViT only; taken from the positional embedding when nil.
///   - numClasses: the class count the user asked for, if any.
public func loadModel(_ arch: Architecture, weights path: String, imageSize: Int? = nil, selection: CheckpointSelection,
                      numClasses: Int? = nil) throws -> (model: ImageClassifier, notes: [String]) {
    let ck = try loadModelCheckpoint(arch, path: path, selection: selection)
    var notes = ck.notes
    if let k = numClasses, !ck.headMatches(numClasses: k) {
        notes.append("\(path): the checkpoint's head has \(ck.numClasses) classes; inference keeps it (--num-classes \(k) only sizes random weights; training replaces the head)")
    }
    let sd = ck.stateDict
    let size = imageSize ?? arch.spec.imageSizeOfWeights?(sd) ?? 224
    let model = try makeModel(arch, numClasses: ck.numClasses, imageSize: size)
    try model.load(sd, file: path)
    return (model, notes)
}

/// A run's checkpoint settings for code that loads models by path alone
/// (`loadModel(_:weights:imageSize:)`, the sweep executor): the command makes them from
/// `--checkpoint-key`/`--strip-prefix`/`--num-classes` and does its work inside `run`, so they
/// reach the loader without being handed through every layer between, and two runs in one process
/// keep their own (a task-local, like `RunSettings`).
public struct CheckpointDefaults: Sendable {
    /// Where the state dict sits in a training checkpoint.
    public var selection: CheckpointSelection
    /// The class count the user asked for, if any (a differing head is kept, with a note).
    public var numClasses: Int?
    /// Where the loader's notes go (wrapper used, prefix removed, keys renamed); nil drops them.
    public var report: (@Sendable (String) -> Void)?

    public init(selection: CheckpointSelection = CheckpointSelection(), numClasses: Int? = nil,
                report: (@Sendable (String) -> Void)? = nil) {
        self.selection = selection
        self.numClasses = numClasses
        self.report = report
    }

    /// The settings of the run this code is part of (none outside any `run`).
    @TaskLocal public static var current = CheckpointDefaults()

    /// Runs `body` with these settings as `current`.
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        try Self.$current.withValue(self, operation: body)
    }
}

// MARK: - Key fixes

/// When no key carries the classifier name as is, the prefix in front of it (`model.fc.weight`)
/// is removed if every key carries it; anything else is ambiguous and named in the error.
func stripModelPrefix(_ sd: StateDict, arch: Architecture, file: String, notes: inout [String]) throws -> StateDict {
    let head = arch.classifierWeightKey
    // A DenseNet head key is the same in old files; the prefix is whatever precedes it.
    let prefixes = sd.keys.filter { $0.hasSuffix("." + head) }.map { String($0.dropLast(head.count)) }
    guard !prefixes.isEmpty else { return sd }
    if prefixes.count == 1, let p = prefixes.first {
        let without = sd.keys.filter { !$0.hasPrefix(p) }
        if without.isEmpty {
            notes.append("\(file): removed the prefix '\(p)' carried by every key (pass --strip-prefix to choose another)")
            return sd.strippingPrefix(p)
        }
        throw CheckpointError(file: file, reason: "the \(arch.rawValue) keys carry the prefix '\(p)' but \(without.count) other keys do not (e.g. \(without.prefix(3).map { "'\($0)'" }.joined(separator: ", "))); pass --strip-prefix \(p) to load only the '\(p)' keys")
    }
    throw CheckpointError(file: file, reason: "\(prefixes.count) models in this state dict, under the prefixes \(prefixes.map { "'\($0)'" }.joined(separator: ", ")); choose one with --strip-prefix")
}

/// BatchNorm modules saved before PyTorch 0.4.1 have no `num_batches_tracked`; PyTorch's
/// BatchNorm adds it (0) when loading such a state dict, and so do we, when the file has none at all.
func addMissingBatchNormCounters(_ sd: StateDict, file: String, notes: inout [String]) throws -> StateDict {
    let suffix = "running_mean"
    guard !sd.keys.contains(where: { $0.hasSuffix("num_batches_tracked") }) else { return sd }
    var out = sd
    var added = 0
    for k in sd.keys where k.hasSuffix("." + suffix) || k == suffix {
        try out.set(String(k.dropLast(suffix.count)) + "num_batches_tracked", Tensor(zeros: []), sourceDType: .int64, file: file)
        added += 1
    }
    if added > 0 {
        notes.append("\(file): added \(added) BatchNorm num_batches_tracked counters (0) that this pre-0.4.1 state dict lacks, as PyTorch's BatchNorm does")
    }
    return out
}
