import Foundation
import TensorCore
import Autograd
import NN

/// Builds an architecture with zero-filled parameters (BatchNorm at identity statistics).
///
/// - Parameters:
///   - imageSize: only ViT depends on it (the positional embedding has (size/16)² + 1 rows).
public func makeModel(_ arch: Architecture, numClasses: Int, imageSize: Int = 224) throws -> ImageClassifier {
    guard numClasses >= 1 else { throw TensorError.invalidArgument(op: "makeModel", detail: "numClasses must be ≥ 1, got \(numClasses)") }
    return try arch.spec.build(numClasses, imageSize)
}

extension Architecture {
    /// The zoo: each architecture's declaration, from its model file.
    public var spec: ArchitectureSpec {
        switch self {
        case .resnet50: return ResNet.spec50
        case .resnet101: return ResNet.spec101
        case .densenet161: return DenseNet.spec161
        case .efficientnet_b0: return EfficientNet.specB0
        case .vit_b_16: return VisionTransformer.specB16
        }
    }
}

// MARK: - State dict

extension Module {
    /// The state dict in `state_dict()` order; BatchNorm's step counters are marked int64 so that
    /// PyTorch's strict `load_state_dict` accepts what we write.
    public func stateDict() throws -> StateDict {
        var sd = StateDict()
        for (k, p) in namedParameters() { try sd.set(k, p.value, sourceDType: p.kind == .counter ? .int64 : .float32) }
        return sd
    }

    /// Loads parameters strictly: unknown keys, missing keys and shape mismatches are all reported,
    /// by name, in one error.
    public func load(_ sd: StateDict, file: String) throws {
        let params = namedParameters()
        try validate(sd, expected: params.map { ($0.0, $0.1.value.shape) }, file: file)
        for (k, p) in params {
            guard let t = sd[k] else { continue }
            p.value = t.copy()
        }
    }
}

/// Builds `arch` and loads a checkpoint (.safetensors, .pth zip or legacy) into it; the class count
/// comes from the classifier weight. ViT takes `imageSize` from the positional embedding when it is
/// not given. The state dict is found with the run's `CheckpointDefaults` (the CLI's
/// `--checkpoint-key`/`--strip-prefix`), and notes go to its `report`.
public func loadModel(_ arch: Architecture, weights path: String, imageSize: Int? = nil) throws -> ImageClassifier {
    let defaults = CheckpointDefaults.current
    let (model, notes) = try loadModel(arch, weights: path, imageSize: imageSize, selection: defaults.selection, numClasses: defaults.numClasses)
    if let report = defaults.report { notes.forEach(report) }
    return model
}

/// Writes a model's state dict as .safetensors (atomically) with PyTorch's keys.
public func saveModel(_ model: Module, to path: String) throws {
    try saveSafetensors(model.stateDict(), path: path)
}
