import TensorCore

/// Deterministic parameter values shared with `scripts/detparams.py`, so a Swift model and the
/// PyTorch model that produced `Tests/Fixtures/models` hold bit-identical weights without any
/// checkpoint file.
///
/// The rule (scripts/README.md states it too):
///
///     key_seed  = FNV-1a 64-bit over the UTF-8 bytes of the state_dict key
///     u(key, i) = fin(key_seed &+ (i+1) &* 0x9E3779B97F4A7C15) >> 40, divided by 2^24   ∈ [0, 1)
///     fin(z)    : z = (z ^ (z>>30)) &* 0xBF58476D1CE4E5B9; z = (z ^ (z>>27)) &* 0x94D049BB133111EB; z ^ (z>>31)
///
/// with `i` the flat C-order element index. The value then depends only on the key and shape:
///
/// | key / shape                                | value                                   |
/// |--------------------------------------------|-----------------------------------------|
/// | `*.num_batches_tracked`                    | 0                                       |
/// | `*.running_mean`                           | 0.2·(2u−1)                              |
/// | `*.running_var`                            | 0.5 + u                                 |
/// | `*class_token`, `*pos_embedding`           | 0.1·(2u−1)                              |
/// | rank ≥ 2 (other)                           | (2u−1)·√(3·gain/fan_in), fan_in = ∏shape[1...], gain 2 |
/// | rank 1, key ends `.bn3.weight`             | 0.25·(0.5 + u)  (damps ResNet residual branches) |
/// | rank 1, last component `weight`            | 0.5 + u  (BatchNorm / LayerNorm scale)  |
/// | rank 1, other (biases)                     | 0.2·(2u−1)                              |
///
/// Every product is formed in Double and rounded once to Float, as NumPy does, so both sides agree
/// to the bit.
public enum DeterministicParams {
    /// The variance gain of rank ≥ 2 weights (He-style for ReLU networks).
    public static let gain: Double = 2.0

    /// FNV-1a 64-bit hash of the key's UTF-8 bytes.
    public static func fnv1a64(_ key: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// The SplitMix64 output function.
    @inline(__always)
    public static func finalize(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// u(seed, i) ∈ [0, 1), an exact 24-bit fraction.
    @inline(__always)
    public static func uniform(seed: UInt64, index: Int) -> Double {
        let z = seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
        return Double(finalize(z) >> 40) / Double(1 << 24)
    }

    /// u(key, i) ∈ [0, 1).
    public static func uniform(key: String, index: Int) -> Double {
        uniform(seed: fnv1a64(key), index: index)
    }

    /// How a parameter's uniform draw becomes its value: value = offset + scale·(2u−1) or scale·(0.5+u).
    enum Role: Equatable {
        case zero
        case symmetric(Double)   // scale·(2u−1)
        case shifted(Double)     // scale·(0.5+u)
    }

    static func role(key: String, shape: [Int]) -> Role {
        let last = key.split(separator: ".", omittingEmptySubsequences: false).last.map(String.init) ?? key
        switch last {
        case "num_batches_tracked": return .zero
        case "running_mean": return .symmetric(0.2)
        case "running_var": return .shifted(1)
        case "class_token", "pos_embedding": return .symmetric(0.1)
        default: break
        }
        if shape.count >= 2 {
            let fanIn = shape.dropFirst().reduce(1, *)
            return .symmetric((3.0 * gain / Double(max(fanIn, 1))).squareRoot())
        }
        if last == "weight" { return key.hasSuffix(".bn3.weight") ? .shifted(0.25) : .shifted(1) }
        return .symmetric(0.2)
    }

    @inline(__always)
    static func apply(_ role: Role, _ u: Double) -> Float {
        switch role {
        case .zero: return 0
        case .symmetric(let s): return Float((2 * u - 1) * s)
        case .shifted(let s): return Float(s * (0.5 + u))
        }
    }

    /// The value of element `index` (flat, C order) of the state_dict entry `key` with `shape`.
    public static func value(key: String, index: Int, shape: [Int]) -> Float {
        apply(role(key: key, shape: shape), uniform(key: key, index: index))
    }

    /// The whole state_dict entry `key` with `shape`.
    public static func tensor(key: String, shape: [Int]) -> Tensor {
        let t = Tensor(uninitialized: shape)
        let r = role(key: key, shape: shape)
        let seed = fnv1a64(key)
        for i in 0..<t.count { t.data[i] = apply(r, uniform(seed: seed, index: i)) }
        return t
    }

    /// Sorted flat indices ⌊u(key, j)·numel⌋ for j < count — the sampling rule of the activation
    /// (`key` "sample", 512 elements) and CAM-pixel (`key` "cam-pixels", 2048 pixels) fixtures.
    public static func sampleIndices(count: Int, numel: Int, key: String = "sample") -> [Int] {
        let seed = fnv1a64(key)
        return (0..<count).map { Int(uniform(seed: seed, index: $0) * Double(numel)) }.sorted()
    }
}
