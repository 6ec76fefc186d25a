import TensorCore
import NN

// Seeded initialisation as torchvision does it: the rules common to all architectures here (norm
// scales one, shifts zero, buffers at identity statistics), each architecture's own rules in its
// model file (`ArchitectureSpec.initialize`).

/// One parameter to initialise, with its fans and a generator whose stream depends on the seed and
/// the key only (not on the order of parameters).
public struct ParameterInit {
    /// The state-dict key, and its last component (`weight`, `bias`, `in_proj_weight`, …).
    public let key: String, name: String
    public let shape: [Int]
    /// PyTorch's fans: fan-in = shape[1]·receptive field, fan-out = shape[0]·receptive field.
    public let fanIn: Int, fanOut: Int
    /// For a bias: the fan-in of the matrix weight of the same module (PyTorch's default bias bound).
    public let weightFanIn: Int?
    var rng: SeededRNG

    /// Uniform on (−bound, bound).
    public mutating func uniform(_ bound: Float) -> Tensor { fill { 2 * bound * $0.uniform() - bound } }
    /// Normal with standard deviation `std`.
    public mutating func normal(_ std: Float) -> Tensor { fill { std * $0.normal() } }
    /// Normal with standard deviation `std`, redrawn outside ±`limit` (nn.init.trunc_normal_).
    public mutating func truncatedNormal(_ std: Float, limit: Float) -> Tensor {
        fill { g in
            while true { let v = std * g.normal(); if abs(v) <= limit { return v } }
        }
    }
    public func zeros() -> Tensor { Tensor(zeros: shape) }

    private mutating func fill(_ f: (inout SeededRNG) -> Float) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = f(&rng) }
        return t
    }
}

/// Per-parameter generator: FNV-1a of the key mixed into the seed.
private func rng(_ seed: UInt64, _ key: String) -> SeededRNG {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return SeededRNG(seed: seed ^ h)
}

private func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
    guard !shape.isEmpty else { return (1, 1) }
    let receptive = shape.count > 2 ? shape[2...].reduce(1, *) : 1
    return (shape.count > 1 ? shape[1] * receptive : shape[0], shape[0] * receptive)
}

/// How the classifier's last Linear starts (`camaudit train --head-init`).
public enum HeadInit: String, CaseIterable, Sendable, Codable {
    /// As torchvision draws it. EfficientNet's rule, U(±1/√classes), was made for 1000 classes: with
    /// three its logits start near ±10 and the loss at 3–4 instead of ln 3.
    case torchvision
    /// Weight and bias zero: every class starts at the same logit, the loss at ln K.
    case zeros
}

extension ImageClassifier {
    /// Random weights drawn the way torchvision initialises the architecture (same distributions,
    /// our own seeded generator, so not PyTorch's bits), then the head as `head` says. Same seed → same weights.
    public func initialize(seed: UInt64, head: HeadInit) {
        initialize(seed: seed)
        guard head == .zeros else { return }
        let w = architecture.classifierWeightKey
        let keys: Set<String> = [w, String(w.dropLast("weight".count)) + "bias"]
        for (key, p) in namedParameters() where keys.contains(key) { p.value = Tensor(zeros: p.value.shape) }
    }

    /// Random weights drawn the way torchvision initialises the architecture (same distributions,
    /// our own seeded generator, so not PyTorch's bits). Same seed → same weights.
    public func initialize(seed: UInt64) {
        let rule = architecture.spec.initialize
        let normOwners = Set(namedModules().filter { $0.1 is BatchNorm2d || $0.1 is LayerNorm }.map(\.0))
        let params = namedParameters()
        let matrixFanIns = Dictionary(params.filter { $0.1.value.rank == 2 }.map { ($0.0, fans($0.1.value.shape).fanIn) },
                                      uniquingKeysWith: { a, _ in a })
        for (key, p) in params where p.kind == .parameter {
            let shape = p.value.shape
            let dot = key.lastIndex(of: ".")
            let owner = String(key[..<(dot ?? key.endIndex)])
            let name = String(key[(dot.map { key.index(after: $0) } ?? key.startIndex)...])
            if normOwners.contains(owner) {
                p.value = name == "weight" ? Tensor(repeating: 1, shape: shape) : Tensor(zeros: shape)
                continue
            }
            let (fanIn, fanOut) = fans(shape)
            let weightFanIn = name == "bias" ? matrixFanIns[String(key.dropLast("bias".count)) + "weight"] : nil
            var spec = ParameterInit(key: key, name: name, shape: shape, fanIn: fanIn, fanOut: fanOut,
                                     weightFanIn: weightFanIn, rng: rng(seed, key))
            p.value = rule(&spec)
        }
    }
}
