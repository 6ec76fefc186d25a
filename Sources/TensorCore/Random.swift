import Foundation

/// A seeded SplitMix64 generator: a small Sendable value, so runs with the same seed repeat exactly.
public struct SeededRNG: Sendable, RandomNumberGenerator {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func uniform() -> Float { Float(next() >> 40) * (1 / Float(1 << 24)) }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Float {
        let u1 = Double(next() >> 11) * 0x1p-53, u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * Foundation.log(1 - u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// A generator for sub-stream `index` of `seed` (e.g. one per slice or per class), independent of
    /// how many numbers other streams drew — so work can run in any order or in parallel.
    public init(seed: UInt64, stream index: UInt64) {
        var s = SeededRNG(seed: seed ^ 0x6A09_E667_F3BC_C909)
        _ = s.next()
        state = s.next() &+ index &* 0x9E37_79B9_7F4A_7C15
        _ = next()
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }

    /// Uniform integer in 0..<n (n > 0), by multiply-high (bias below 2⁻⁴⁰ for the n used here).
    public mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: UInt64(n).multipliedFullWidth(by: next()).high)
    }

    /// Standard normal in double precision (Box–Muller, one value per call).
    public mutating func normalDouble() -> Double {
        let u1 = max(unit(), 0x1p-53), u2 = unit()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Deterministic Fisher–Yates shuffle.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, below(i + 1)) }
    }

    /// `k` distinct indices from 0..<n (partial Fisher–Yates), in draw order.
    public mutating func sample(_ k: Int, from n: Int) -> [Int] {
        var pool = Array(0..<n)
        let k = min(k, n)
        for i in 0..<k { pool.swapAt(i, i + below(n - i)) }
        return Array(pool[0..<k])
    }
}

/// Inverted dropout: each element is kept with probability 1 − p and scaled by 1/(1 − p).
/// - Returns: y and `mask`, the per-element multiplier (0 or 1/(1 − p)), shaped like x.
public func dropout(_ x: Tensor, p: Float, rng: inout SeededRNG) throws -> (y: Tensor, mask: Tensor) {
    guard p >= 0, p < 1 else { throw TensorError.invalidArgument(op: "dropout", detail: "p = \(p) must be in [0, 1)") }
    let mask = Tensor(uninitialized: x.shape)
    let keep = 1 / (1 - p)
    for i in 0..<x.count { mask.data[i] = rng.uniform() < p ? 0 : keep }
    return (try mul(x, mask), mask)
}

/// dx = dy · mask.
public func dropoutBackward(_ dy: Tensor, mask: Tensor) throws -> Tensor { try mul(dy, mask) }

/// Stochastic depth in torchvision's 'row' mode: each sample's residual branch is dropped with
/// probability p, survivors are scaled by 1/(1 − p).
/// - Returns: y and `keep` [N], the per-sample multiplier (0 or 1/(1 − p)).
public func stochasticDepth(_ x: Tensor, p: Float, rng: inout SeededRNG) throws -> (y: Tensor, keep: Tensor) {
    guard p >= 0, p <= 1, x.rank >= 1 else {
        throw TensorError.invalidArgument(op: "stochasticDepth", detail: "p = \(p) must be in [0, 1], x \(x.shape) needs rank ≥ 1")
    }
    let n = x.shape[0]
    let keep = Tensor(uninitialized: [n])
    for i in 0..<n { keep.data[i] = rng.uniform() < 1 - p ? (p < 1 ? 1 / (1 - p) : 0) : 0 }
    return (try stochasticDepthBackward(x, keep: keep), keep)
}

/// dx[n, …] = dy[n, …] · keep[n] (also the forward's scaling).
public func stochasticDepthBackward(_ dy: Tensor, keep: Tensor) throws -> Tensor {
    guard dy.rank >= 1, keep.shape == [dy.shape[0]] else {
        throw TensorError.shapeMismatch(op: "stochasticDepthBackward", detail: "dy \(dy.shape) vs keep \(keep.shape)")
    }
    let n = dy.shape[0], per = dy.count / max(n, 1)
    let y = Tensor(uninitialized: dy.shape)
    let gp = dy.data, yp = y.data, kp = keep.data
    Parallel.forEachChunk(n, minPerThread: max(1, 16384 / max(per, 1))) { r in
        for i in r { let k = kp[i]; for j in 0..<per { yp[i * per + j] = gp[i * per + j] * k } }
    }
    return y
}
