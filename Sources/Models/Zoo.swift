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
    switch arch {
    case .resnet50: return resnet50(numClasses: numClasses)
    case .resnet101: return resnet101(numClasses: numClasses)
    case .densenet161: return densenet161(numClasses: numClasses)
    case .efficientnet_b0: return efficientnetB0(numClasses: numClasses)
    case .vit_b_16:
        guard imageSize > 0, imageSize % 16 == 0 else {
            throw TensorError.invalidArgument(op: "vit_b_16", detail: "image size must be a positive multiple of 16, got \(imageSize)")
        }
        return vitB16(numClasses: numClasses, imageSize: imageSize)
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
/// not given. The state dict is found with `CheckpointDefaults.shared` (the CLI's
/// `--checkpoint-key`/`--strip-prefix`), and notes go to its `report`.
public func loadModel(_ arch: Architecture, weights path: String, imageSize: Int? = nil) throws -> ImageClassifier {
    let defaults = CheckpointDefaults.shared
    let (model, notes) = try loadModel(arch, weights: path, imageSize: imageSize, selection: defaults.selection, numClasses: defaults.numClasses)
    if let report = defaults.report { notes.forEach(report) }
    return model
}

/// Writes a model's state dict as .safetensors (atomically) with PyTorch's keys.
public func saveModel(_ model: Module, to path: String) throws {
    try saveSafetensors(model.stateDict(), path: path)
}

// MARK: - Seeded initialisation as torchvision does it

/// Per-parameter generator: the stream depends on the seed and the key only, not on order.
private func rng(_ seed: UInt64, _ key: String) -> SeededRNG {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return SeededRNG(seed: seed ^ h)
}

private func fill(_ shape: [Int], _ r: inout SeededRNG, _ f: (inout SeededRNG) -> Float) -> Tensor {
    let t = Tensor(uninitialized: shape)
    for i in 0..<t.count { t.data[i] = f(&r) }
    return t
}

private func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
    guard !shape.isEmpty else { return (1, 1) }
    let receptive = shape.count > 2 ? shape[2...].reduce(1, *) : 1
    return (shape.count > 1 ? shape[1] * receptive : shape[0], shape[0] * receptive)
}

extension ImageClassifier {
    /// Random weights drawn the way torchvision initialises the architecture (same distributions,
    /// our own seeded generator, so not PyTorch's bits). Same seed → same weights.
    public func initialize(seed: UInt64) {
        let arch = architecture
        let normOwners = Set(namedModules().filter { $0.1 is BatchNorm2d || $0.1 is LayerNorm }.map(\.0))
        let params = namedParameters()
        let linearFanIns = Dictionary(params.filter { $0.1.value.rank == 2 }.map { ($0.0, fans($0.1.value.shape).fanIn) },
                                      uniquingKeysWith: { a, _ in a })
        for (key, p) in params {
            var r = rng(seed, key)
            let shape = p.value.shape
            let (fanIn, fanOut) = fans(shape)
            let uniform: (Float) -> Tensor = { b in fill(shape, &r) { 2 * b * $0.uniform() - b } }
            let normal: (Float) -> Tensor = { s in fill(shape, &r) { s * $0.normal() } }
            let isBN = key.hasSuffix("running_mean") || key.hasSuffix("running_var") || key.hasSuffix("num_batches_tracked")
            if isBN { continue }  // buffers keep their identity statistics
            let owner = String(key[..<(key.lastIndex(of: ".") ?? key.endIndex)])
            let name = String(key[(key.lastIndex(of: ".").map { key.index(after: $0) } ?? key.startIndex)...])
            let isNorm = normOwners.contains(owner)
            if isNorm { p.value = name == "weight" ? Tensor(repeating: 1, shape: shape) : Tensor(zeros: shape); continue }
            let isConvWeight = shape.count == 4
            switch arch {
            case .resnet50, .resnet101:
                if isConvWeight { p.value = normal((2 / Float(fanOut)).squareRoot()) }
                else {
                    let biasFanIn = linearFanIns[String(key.dropLast("bias".count)) + "weight"] ?? 1
                    p.value = uniform(1 / Float(shape.count == 2 ? fanIn : biasFanIn).squareRoot())
                }
            case .densenet161:
                if isConvWeight { p.value = normal((2 / Float(fanIn)).squareRoot()) }
                else if name == "bias" { p.value = Tensor(zeros: shape) }
                else { p.value = uniform(1 / Float(fanIn).squareRoot()) }
            case .efficientnet_b0:
                if isConvWeight { p.value = normal((2 / Float(fanOut)).squareRoot()) }
                else if name == "bias" { p.value = Tensor(zeros: shape) }
                else { p.value = uniform(1 / Float(shape[0]).squareRoot()) }
            case .vit_b_16:
                if key == "conv_proj.weight" {
                    let s = (1 / Float(fanIn)).squareRoot()
                    p.value = fill(shape, &r) { g in
                        while true { let v = s * g.normal(); if abs(v) <= 2 { return v } }
                    }
                } else if key == "class_token" || key.hasSuffix("bias") && !key.contains("mlp") {
                    p.value = Tensor(zeros: shape)
                } else if key == "encoder.pos_embedding" {
                    p.value = normal(0.02)
                } else if key.hasPrefix("heads.") {
                    p.value = Tensor(zeros: shape)
                } else if key.contains("mlp") && name == "bias" {
                    p.value = normal(1e-6)
                } else if key.hasSuffix("mlp.0.weight") || key.hasSuffix("mlp.3.weight") || key.hasSuffix("in_proj_weight") {
                    p.value = uniform((6 / Float(fanIn + fanOut)).squareRoot())
                } else {
                    p.value = uniform(1 / Float(fanIn).squareRoot())
                }
            }
        }
    }
}
