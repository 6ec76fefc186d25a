import NN
import Models
import TensorCore

/// Loads a checkpoint into a freshly initialised model for fine-tuning.
///
/// When the checkpoint's classifier has another class count (a torchvision ImageNet checkpoint has
/// 1000), its head is left out and the model keeps the new head `initialize(seed:head:)` drew
/// (torchvision's initialisation of that layer unless the caller chose another). Every other key must fit (strict: unknown,
/// missing and mis-shaped keys are listed in one error).
/// The checkpoint is read as inference reads it (`loadModelCheckpoint`: wrapped training
/// checkpoints, prefixes, old DenseNet keys, missing BatchNorm counters).
/// - Returns: what was done, one sentence each (wrapper used, keys renamed, head replaced).
public func fineTuneStart(_ model: ImageClassifier, from path: String,
                          selection: CheckpointSelection = CheckpointSelection()) throws -> [String] {
    try fineTuneStart(model, from: try loadModelCheckpoint(model.architecture, path: path, selection: selection))
}

/// `fineTuneStart(_:from:selection:)` for a checkpoint already read (a caller that inspects it first).
public func fineTuneStart(_ model: ImageClassifier, from ck: ModelCheckpoint) throws -> [String] {
    let path = ck.path
    var notes = ck.notes
    // NaN or infinite weights would only show up as a non-finite loss later, blamed on the learning rate.
    for k in ck.stateDict.keys {
        guard let t = ck.stateDict[k], let i = UnsafeBufferPointer(start: t.data, count: t.count).firstIndex(where: { !$0.isFinite }) else { continue }
        throw TrainingError.invalidOption("--init \(path): the checkpoint holds non-finite values (tensor '\(k)', element \(i) is \(t.data[i])); training cannot start from it")
    }
    if ck.headMatches(numClasses: model.numClasses) {
        try model.load(ck.stateDict, file: path)
        return notes
    }
    let head = Set(ck.headKeys)
    let expected = model.namedParameters().filter { !head.contains($0.0) }
    let sd = ck.withoutHead()
    try validate(sd, expected: expected.map { ($0.0, $0.1.value.shape) }, file: path)
    for (k, p) in expected { if let t = sd[k] { p.value = t.copy() } }
    notes.append("\(path) has a \(ck.numClasses)-class head: \(ck.headKeys.map { "'\($0)'" }.joined(separator: " and ")) were replaced by a new \(model.numClasses)-class head, initialised as --head-init says (torchvision's nn.Linear rule by default)")
    return notes
}
