import Foundation

// MARK: - Shared helpers

/// Smallest number of elements a worker takes in elementwise loops; below this, threading costs more than it saves.
@usableFromInline let elementwiseGrain = 1 << 15

/// Throws unless `a` and `b` have the same shape.
@inline(__always)
func requireSameShape(_ a: Tensor, _ b: Tensor, _ op: String) throws {
    if a.shape != b.shape {
        throw TensorError.shapeMismatch(op: op, detail: "\(a.shape) vs \(b.shape)")
    }
}

/// An elementwise function of one float, as a value type: `map1` is specialised for each
/// conforming type, so `apply` inlines into the loop and the loop vectorises (a closure passed
/// through `Parallel` stays an indirect call per element).
public protocol UnaryElementOp { func apply(_ x: Float) -> Float }

/// An elementwise function of two floats (see `UnaryElementOp`).
public protocol BinaryElementOp { func apply(_ a: Float, _ b: Float) -> Float }

/// y[i] = op(x[i]) over all elements, split across cores.
@inline(__always)
func map1<Op: UnaryElementOp>(_ x: Tensor, _ op: Op) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    let xp = UncheckedBox(x.data), yp = UncheckedBox(y.data)
    Parallel.forEachChunk(x.count, minPerThread: elementwiseGrain, kind: .elementwise) { r in
        let xs = xp.value, ys = yp.value
        for i in r { ys[i] = op.apply(xs[i]) }
    }
    return y
}

/// out[i] = op(a[i], b[i]) over all elements, split across cores.
@inline(__always)
func map2<Op: BinaryElementOp>(_ a: Tensor, _ b: Tensor, _ name: String, _ op: Op) throws -> Tensor {
    try requireSameShape(a, b, name)
    let y = Tensor(uninitialized: a.shape)
    let ap = UncheckedBox(a.data), bp = UncheckedBox(b.data), yp = UncheckedBox(y.data)
    Parallel.forEachChunk(a.count, minPerThread: elementwiseGrain, kind: .elementwise) { r in
        let as_ = ap.value, bs = bp.value, ys = yp.value
        for i in r { ys[i] = op.apply(as_[i], bs[i]) }
    }
    return y
}

struct AddOp: BinaryElementOp { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a + b } }
struct SubOp: BinaryElementOp { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a - b } }
struct MulOp: BinaryElementOp { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a * b } }
struct ScaleOp: UnaryElementOp { let s: Float; @inline(__always) func apply(_ x: Float) -> Float { x * s } }
struct ReluOp: UnaryElementOp { @inline(__always) func apply(_ x: Float) -> Float { x < 0 ? 0 : x } }
struct SiluOp: UnaryElementOp { @inline(__always) func apply(_ x: Float) -> Float { x * fastSigmoid(x) } }
struct SigmoidOp: UnaryElementOp { @inline(__always) func apply(_ x: Float) -> Float { fastSigmoid(x) } }
struct GeluOp: UnaryElementOp { @inline(__always) func apply(_ x: Float) -> Float { fastGelu(x) } }
/// (dy, y) → dy where y > 0.
struct ReluBackwardOp: BinaryElementOp { @inline(__always) func apply(_ g: Float, _ y: Float) -> Float { y > 0 ? g : 0 } }
/// (dy, x) → dy · σ(x)(1 + x(1 − σ(x))).
struct SiluBackwardOp: BinaryElementOp {
    @inline(__always) func apply(_ g: Float, _ v: Float) -> Float {
        let s = fastSigmoid(v)
        return g * s * (1 + v * (1 - s))
    }
}
/// (dy, y) → dy · y(1 − y).
struct SigmoidBackwardOp: BinaryElementOp { @inline(__always) func apply(_ g: Float, _ s: Float) -> Float { g * s * (1 - s) } }
/// (dy, x) → dy · (Φ(x) + x φ(x)).
struct GeluBackwardOp: BinaryElementOp {
    @inline(__always) func apply(_ g: Float, _ v: Float) -> Float {
        let cdf = 0.5 * (1 + fastErf(v * 0.70710678118654752))
        let pdf = 0.39894228040143268 * fastExp(-0.5 * v * v)
        return g * (cdf + v * pdf)
    }
}

/// Rows and last-dimension length of a tensor viewed as [rows, last].
func rowsAndLast(_ x: Tensor, _ op: String) throws -> (rows: Int, last: Int) {
    guard let last = x.shape.last, last > 0 else {
        throw TensorError.invalidArgument(op: op, detail: "needs rank ≥ 1 with a non-empty last dimension, got \(x.shape)")
    }
    return (x.count / last, last)
}

// MARK: - Arithmetic

/// a + b (same shape).
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try map2(a, b, "add", AddOp())
}

/// a − b (same shape).
public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor { try map2(a, b, "sub", SubOp()) }

/// a ⊙ b (same shape).
public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try map2(a, b, "mul", MulOp()) }

/// a += b in place (a's storage is written; every tensor sharing it sees the change).
public func addInPlace(_ a: Tensor, _ b: Tensor) throws {
    try requireSameShape(a, b, "addInPlace")
    let ap = UncheckedBox(a.data), bp = UncheckedBox(b.data)
    Parallel.forEachChunk(a.count, minPerThread: elementwiseGrain, kind: .elementwise) { r in
        let as_ = ap.value, bs = bp.value
        for i in r { as_[i] += bs[i] }
    }
}

/// x · s.
public func scale(_ x: Tensor, _ s: Float) throws -> Tensor { map1(x, ScaleOp(s: s)) }

/// Σ x, accumulated in Double per chunk of 4096 so large sums keep float32 accuracy and a
/// fixed order (independent of the thread count).
public func sumAll(_ x: Tensor) throws -> Float {
    let block = 4096
    let nBlocks = (x.count + block - 1) / block
    if nBlocks == 0 { return 0 }
    var partial = [Double](repeating: 0, count: nBlocks)
    let xp = UncheckedBox(x.data), n = x.count
    partial.withUnsafeMutableBufferPointer { pb in
        let pp = UncheckedBox(pb.baseAddress!)
        Parallel.forEachChunk(nBlocks, minPerThread: 8, kind: .elementwise) { r in
            for b in r {
                var acc = SIMD8<Float>(repeating: 0)
                let lo = b * block, hi = min(n, lo + block)
                var i = lo
                while i + 8 <= hi {
                    acc += UnsafeRawPointer(xp.value + i).loadUnaligned(as: SIMD8<Float>.self)
                    i += 8
                }
                var s = Double(acc.sum())
                while i < hi { s += Double(xp.value[i]); i += 1 }
                pp.value[b] = s
            }
        }
    }
    return Float(partial.reduce(0, +))
}

// MARK: - Activations

/// max(x, 0).
public func relu(_ x: Tensor) throws -> Tensor { map1(x, ReluOp()) }

/// dx = dy where y > 0 (y is relu's output).
public func reluBackward(_ dy: Tensor, _ y: Tensor) throws -> Tensor {
    try map2(dy, y, "reluBackward", ReluBackwardOp())
}


/// x · σ(x).
public func silu(_ x: Tensor) throws -> Tensor { map1(x, SiluOp()) }

/// dx = dy · σ(x)(1 + x(1 − σ(x))).
public func siluBackward(_ dy: Tensor, _ x: Tensor) throws -> Tensor {
    try map2(dy, x, "siluBackward", SiluBackwardOp())
}

/// σ(x) = 1 / (1 + e^−x).
public func sigmoid(_ x: Tensor) throws -> Tensor { map1(x, SigmoidOp()) }

/// dx = dy · y(1 − y) (y is sigmoid's output).
public func sigmoidBackward(_ dy: Tensor, _ y: Tensor) throws -> Tensor {
    try map2(dy, y, "sigmoidBackward", SigmoidBackwardOp())
}

/// Exact GELU: x · Φ(x) = x/2 · (1 + erf(x/√2)) (PyTorch's default, approximate='none').
public func gelu(_ x: Tensor) throws -> Tensor {
    map1(x, GeluOp())
}

/// dx = dy · (Φ(x) + x φ(x)).
public func geluBackward(_ dy: Tensor, _ x: Tensor) throws -> Tensor {
    try map2(dy, x, "geluBackward", GeluBackwardOp())
}

// MARK: - Softmax

/// Softmax over the last dimension (max-subtracted).
public func softmaxLastDim(_ x: Tensor) throws -> Tensor {
    let (rows, n) = try rowsAndLast(x, "softmaxLastDim")
    let y = Tensor(uninitialized: x.shape)
    let xp = UncheckedBox(x.data), yp = UncheckedBox(y.data)
    Parallel.forEachChunk(rows, minPerThread: max(1, 4096 / n), kind: .elementwise) { r in
        for row in r { softmaxRow(xp.value + row * n, yp.value + row * n, n) }
    }
    return y
}

/// In-place or out-of-place softmax of one row of length n.
@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var m = -Float.infinity
    for j in 0..<n { m = max(m, x[j]) }
    // Separate loops: the exp loop vectorises; the sum keeps its sequential order.
    for j in 0..<n { y[j] = fastExp(x[j] - m) }
    var s: Float = 0
    for j in 0..<n { s += y[j] }
    let inv = 1 / s
    for j in 0..<n { y[j] *= inv }
}

/// dx = y ⊙ (dy − Σ dy⊙y) per row (y is softmax's output).
public func softmaxLastDimBackward(_ dy: Tensor, _ y: Tensor) throws -> Tensor {
    try requireSameShape(dy, y, "softmaxLastDimBackward")
    let (rows, n) = try rowsAndLast(y, "softmaxLastDimBackward")
    let dx = Tensor(uninitialized: y.shape)
    let gp = UncheckedBox(dy.data), yp = UncheckedBox(y.data), dp = UncheckedBox(dx.data)
    Parallel.forEachChunk(rows, minPerThread: max(1, 4096 / n), kind: .elementwise) { r in
        for row in r { softmaxBackwardRow(gp.value + row * n, yp.value + row * n, dp.value + row * n, n) }
    }
    return dx
}

/// d = scale · y ⊙ (g − Σ g⊙y) for one row of softmax output y; d may alias g.
@inline(__always)
func softmaxBackwardRow(_ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int,
                        scale: Float = 1) {
    var dot: Float = 0
    for j in 0..<n { dot += g[j] * y[j] }
    for j in 0..<n { d[j] = y[j] * (g[j] - dot) * scale }
}

/// log softmax over the last dimension: x − max − log Σ e^(x − max).
public func logSoftmaxLastDim(_ x: Tensor) throws -> Tensor {
    let (rows, n) = try rowsAndLast(x, "logSoftmaxLastDim")
    let y = Tensor(uninitialized: x.shape)
    let xp = UncheckedBox(x.data), yp = UncheckedBox(y.data)
    Parallel.forEachChunk(rows, minPerThread: max(1, 4096 / n), kind: .elementwise) { r in
        for row in r {
            let xs = xp.value + row * n, ys = yp.value + row * n
            var m = -Float.infinity
            for j in 0..<n { m = max(m, xs[j]) }
            var s: Float = 0
            for j in 0..<n { s += Foundation.exp(xs[j] - m) }
            let lse = m + Foundation.log(s)
            for j in 0..<n { ys[j] = xs[j] - lse }
        }
    }
    return y
}

/// dx = dy − softmax(x) · Σ dy per row, from the log-softmax output y (softmax = e^y).
public func logSoftmaxLastDimBackward(_ dy: Tensor, _ y: Tensor) throws -> Tensor {
    try requireSameShape(dy, y, "logSoftmaxLastDimBackward")
    let (rows, n) = try rowsAndLast(y, "logSoftmaxLastDimBackward")
    let dx = Tensor(uninitialized: y.shape)
    let gp = UncheckedBox(dy.data), yp = UncheckedBox(y.data), dp = UncheckedBox(dx.data)
    Parallel.forEachChunk(rows, minPerThread: max(1, 4096 / n), kind: .elementwise) { r in
        for row in r {
            let g = gp.value + row * n, yy = yp.value + row * n, d = dp.value + row * n
            var s: Float = 0
            for j in 0..<n { s += g[j] }
            for j in 0..<n { d[j] = g[j] - Foundation.exp(yy[j]) * s }
        }
    }
    return dx
}

/// a = max(a + b, 0) in place (a residual join followed by ReLU, one pass).
public func addReluInPlace(_ a: Tensor, _ b: Tensor) throws {
    guard a.shape == b.shape else { throw TensorError.shapeMismatch(op: "addReluInPlace", detail: "\(a.shape) vs \(b.shape)") }
    let pa = UncheckedBox(a.data), pb = UncheckedBox(b.data)
    Parallel.forEachChunk(a.count, minPerThread: 1 << 15, kind: .elementwise) { r in
        let x = pa.value, y = pb.value
        for i in r { x[i] = max(x[i] + y[i], 0) }
    }
}
