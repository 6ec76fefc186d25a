import Foundation

// Branch-free float approximations of exp, erf, sigmoid and GELU for the activation kernels.
// libm's scalar expf/erff are opaque calls (5–10 ns per element) that block loop vectorisation;
// these are plain arithmetic on one float, so `for i in r { y[i] = f(x[i]) }` loops vectorise.
// (Swift's SIMD16 lane-wise min/max/select compile to per-lane scalar code on the baseline x86-64
// target, so scalar code that LLVM vectorises is the faster route here.) The same operations run
// for every element, so results never depend on where a thread's chunk starts.

/// e^x, Cephes-style: 2^n · p(r) with r = x − n·ln2 and a degree-6 polynomial (≈ 1–2 ulp).
/// Inputs are clamped to [−87.3, 88.7] (e^−87.3 ≈ 1.2e−38 stays a normal float).
@inline(__always)
public func fastExp(_ xIn: Float) -> Float {
    var x = xIn < -87.3 ? -87.3 : xIn
    x = x > 88.7 ? 88.7 : x
    // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick.
    let t = x * 1.44269504088896341 + 12_582_912
    let n = t - 12_582_912
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    // 2^n from the integer sitting in t's low mantissa bits.
    let ni = Int32(bitPattern: t.bitPattern) &- 0x4B40_0000
    let pow2 = Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
    return p * pow2
}

/// erf(x) as Eigen's float rational approximation on [−4, 4] (|error| ≈ 1e−7; ±1 outside).
@inline(__always)
public func fastErf(_ xIn: Float) -> Float {
    var x = xIn < -4 ? -4 : xIn
    x = x > 4 ? 4 : x
    let x2 = x * x
    var p: Float = x2 * -2.72614225801306e-10 + 2.77068142495902e-08
    p = x2 * p + -2.10102402082508e-06
    p = x2 * p + -5.69250639462346e-05
    p = x2 * p + -7.34990630326855e-04
    p = x2 * p + -2.95459980854025e-03
    p = x2 * p + -1.60960333262415e-02
    p = p * x
    var q: Float = x2 * -1.45660718464996e-05 + -2.13374055278905e-04
    q = x2 * q + -1.68282697438203e-03
    q = x2 * q + -7.37332916720468e-03
    q = x2 * q + -1.42647390514189e-02
    return p / q
}

/// σ(x) = 1/(1 + e^−x); NaN stays NaN (the clamp in `fastExp` would otherwise hide it).
@inline(__always)
public func fastSigmoid(_ x: Float) -> Float {
    let s = 1 / (1 + fastExp(-x))
    return x != x ? x : s
}

/// Exact-erf GELU: x/2 · (1 + erf(x/√2)).
@inline(__always)
public func fastGelu(_ x: Float) -> Float { 0.5 * x * (1 + fastErf(x * 0.70710678118654752)) }

/// An activation applied to a fresh output in place (fused epilogues of inference kernels).
public enum FusedActivation: Sendable {
    case none, relu, silu, sigmoid, gelu

    @inline(__always)
    func apply(_ v: Float) -> Float {
        switch self {
        case .none: return v
        case .relu: return v < 0 ? 0 : v
        case .silu: return v * fastSigmoid(v)
        case .sigmoid: return fastSigmoid(v)
        case .gelu: return fastGelu(v)
        }
    }

    /// y[i] = act(y[i]) over n elements, split across cores.
    func applyInPlace(_ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let yb = UncheckedBox(y)
        switch self {
        case .none: return
        case .relu: Parallel.forEachChunk(n, minPerThread: elementwiseGrain, kind: .elementwise) { r in let y = yb.value; for i in r { y[i] = y[i] < 0 ? 0 : y[i] } }
        case .silu: Parallel.forEachChunk(n, minPerThread: elementwiseGrain, kind: .elementwise) { r in let y = yb.value; for i in r { y[i] = y[i] * fastSigmoid(y[i]) } }
        case .sigmoid: Parallel.forEachChunk(n, minPerThread: elementwiseGrain, kind: .elementwise) { r in let y = yb.value; for i in r { y[i] = fastSigmoid(y[i]) } }
        case .gelu: Parallel.forEachChunk(n, minPerThread: elementwiseGrain, kind: .elementwise) { r in let y = yb.value; for i in r { y[i] = fastGelu(y[i]) } }
        }
    }

    /// y[i] = act(y[i]) for i in 0..<n (single thread; callers parallelise outside).
    @inline(__always)
    func applyInPlaceSerial(_ y: UnsafeMutablePointer<Float>, _ n: Int) {
        switch self {
        case .none: return
        case .relu: for i in 0..<n { y[i] = y[i] < 0 ? 0 : y[i] }
        case .silu: for i in 0..<n { y[i] = y[i] * fastSigmoid(y[i]) }
        case .sigmoid: for i in 0..<n { y[i] = fastSigmoid(y[i]) }
        case .gelu: for i in 0..<n { y[i] = fastGelu(y[i]) }
        }
    }

    /// dst[i] = act(src[i]) for i in 0..<n (single thread; callers parallelise outside).
    @inline(__always)
    func copy(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        switch self {
        case .none: dst.update(from: src, count: n)
        case .relu: for i in 0..<n { dst[i] = src[i] < 0 ? 0 : src[i] }
        case .silu: for i in 0..<n { dst[i] = src[i] * fastSigmoid(src[i]) }
        case .sigmoid: for i in 0..<n { dst[i] = fastSigmoid(src[i]) }
        case .gelu: for i in 0..<n { dst[i] = fastGelu(src[i]) }
        }
    }
}
