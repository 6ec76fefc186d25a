import NN
import Models

/// Loads a checkpoint into a freshly initialised model for fine-tuning.
///
/// When the checkpoint's classifier has another class count (a torchvision ImageNet checkpoint has
/// 1000), its head is left out and the model keeps the new head `initialize(seed:)` drew, which
/// follows torchvision's initialisation of that layer. Every other key must fit (strict: unknown,
/// missing and mis-shaped keys are listed in one error).
/// - Returns: a note saying the head was replaced, or nil.
public func fineTuneStart(_ model: ImageClassifier, from path: String) throws -> String? {
    var sd = try loadCheckpoint(path: path)
    let arch = model.architecture
    let weightKey = arch.classifierWeightKey, biasKey = String(weightKey.dropLast("weight".count)) + "bias"
    guard let head = sd[weightKey], head.rank == 2 else {
        throw CheckpointError(file: path, reason: "no '\(weightKey)' [K, C] tensor: not a \(arch.rawValue) state dict")
    }
    let params = model.namedParameters()
    if head.shape[0] == model.numClasses {
        try model.load(sd, file: path)
        return nil
    }
    let keep = StateDict.filtered(sd, dropping: [weightKey, biasKey])
    sd = keep
    let expected = params.filter { $0.0 != weightKey && $0.0 != biasKey }.map { ($0.0, $0.1.value.shape) }
    try validate(sd, expected: expected, file: path)
    for (k, p) in params { if let t = sd[k] { p.value = t.copy() } }
    return "\(path) has a \(head.shape[0])-class head: '\(weightKey)' and '\(biasKey)' were replaced by a new \(model.numClasses)-class head initialised as torchvision initialises it"
}

extension StateDict {
    /// A copy without the given keys.
    static func filtered(_ sd: StateDict, dropping: Set<String>) -> StateDict {
        var out = StateDict()
        for k in sd.keys where !dropping.contains(k) {
            if let t = sd[k] { try? out.set(k, t, sourceDType: sd.sourceDType(of: k) ?? .float32) }
        }
        return out
    }
}
