import Foundation

// MARK: - Checks

/// Channels and pixels per plane of an NCHW tensor (rank ≥ 2; trailing dims are the plane).
func nchwDims(_ x: Tensor, _ op: String) throws -> (n: Int, c: Int, p: Int) {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch(op: op, detail: "expected [N,C,...], got \(x.shape)") }
    return (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
}

func requireVector(_ t: Tensor, _ n: Int, _ name: String, _ op: String) throws {
    guard t.shape == [n] else { throw TensorError.shapeMismatch(op: op, detail: "\(name) \(t.shape) vs expected [\(n)]") }
}

/// Per-channel reduction Σ_(n, pixel) f(plane offset) in a fixed order (independent of the thread count).
func channelReduce(n: Int, c: Int, p: Int, into out: UnsafeMutablePointer<Float>, _ f: (Int, Int) -> Float) {
    Parallel.forEachChunk(c, minPerThread: max(1, 4096 / max(1, n * p)), kind: .norm) { r in
        for ch in r {
            var acc: Double = 0
            for img in 0..<n {
                let base = (img * c + ch) * p
                var a: Float = 0
                for i in 0..<p { a += f(base + i, ch) }
                acc += Double(a)
            }
            out[ch] = Float(acc)
        }
    }
}

// MARK: - Channel affine

/// y[n,c,…] = x[n,c,…] · scale[c] + shift[c].
public func channelAffine(_ x: Tensor, scale: Tensor, shift: Tensor) throws -> Tensor {
    let (n, c, p) = try nchwDims(x, "channelAffine")
    try requireVector(scale, c, "scale", "channelAffine"); try requireVector(shift, c, "shift", "channelAffine")
    let y = Tensor(uninitialized: x.shape)
    let xp = x.data, yp = y.data, sp = scale.data, tp = shift.data
    Parallel.forEachChunk(n * c, minPerThread: max(1, 8192 / max(p, 1)), kind: .norm) { r in
        for plane in r {
            let s = sp[plane % c], t = tp[plane % c]
            let a = xp + plane * p, b = yp + plane * p
            for i in 0..<p { b[i] = a[i] * s + t }
        }
    }
    return y
}

/// dx = dy · scale[c] (the input gradient of `channelAffine`).
public func channelAffineBackward(_ dy: Tensor, scale: Tensor) throws -> Tensor {
    let (_, c, _) = try nchwDims(dy, "channelAffineBackward")
    try requireVector(scale, c, "scale", "channelAffineBackward")
    return try channelAffine(dy, scale: scale, shift: Tensor(zeros: [c]))
}

/// Parameter gradients of `channelAffine`: dscale[c] = Σ dy·x, dshift[c] = Σ dy.
public func channelAffineParamGrads(_ dy: Tensor, _ x: Tensor) throws -> (dscale: Tensor, dshift: Tensor) {
    try requireSameShape(dy, x, "channelAffineParamGrads")
    let (n, c, p) = try nchwDims(x, "channelAffineParamGrads")
    let ds = Tensor(uninitialized: [c]), dt = Tensor(uninitialized: [c])
    let g = dy.data, xp = x.data
    channelReduce(n: n, c: c, p: p, into: ds.data) { i, _ in g[i] * xp[i] }
    channelReduce(n: n, c: c, p: p, into: dt.data) { i, _ in g[i] }
    return (ds, dt)
}

// MARK: - BatchNorm (eval)

/// scale = w / √(var + eps), shift = b − mean · scale.
func batchNormScaleShift(_ weight: Tensor, _ bias: Tensor, _ mean: Tensor, _ variance: Tensor, _ eps: Float, _ c: Int, _ op: String) throws -> (Tensor, Tensor) {
    for (t, name) in [(weight, "weight"), (bias, "bias"), (mean, "runningMean"), (variance, "runningVar")] {
        try requireVector(t, c, name, op)
    }
    let s = Tensor(uninitialized: [c]), t = Tensor(uninitialized: [c])
    for i in 0..<c {
        s.data[i] = weight.data[i] / (variance.data[i] + eps).squareRoot()
        t.data[i] = bias.data[i] - mean.data[i] * s.data[i]
    }
    return (s, t)
}

/// BatchNorm with running statistics: y = (x − mean)/√(var + eps) · w + b.
public func batchNorm2dEval(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float) throws -> Tensor {
    let (_, c, _) = try nchwDims(x, "batchNorm2dEval")
    let (s, t) = try batchNormScaleShift(weight, bias, runningMean, runningVar, eps, c, "batchNorm2dEval")
    return try channelAffine(x, scale: s, shift: t)
}

/// dx of eval-mode BatchNorm: dy · w/√(var + eps).
public func batchNorm2dEvalBackward(_ dy: Tensor, weight: Tensor, runningVar: Tensor, eps: Float) throws -> Tensor {
    let (_, c, _) = try nchwDims(dy, "batchNorm2dEvalBackward")
    try requireVector(weight, c, "weight", "batchNorm2dEvalBackward"); try requireVector(runningVar, c, "runningVar", "batchNorm2dEvalBackward")
    let s = Tensor(uninitialized: [c])
    for i in 0..<c { s.data[i] = weight.data[i] / (runningVar.data[i] + eps).squareRoot() }
    return try channelAffine(dy, scale: s, shift: Tensor(zeros: [c]))
}

/// dw, db of eval-mode BatchNorm: dw = Σ dy·(x − mean)/√(var + eps), db = Σ dy.
public func batchNorm2dEvalParamGrads(_ dy: Tensor, _ x: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float) throws -> (dw: Tensor, db: Tensor) {
    try requireSameShape(dy, x, "batchNorm2dEvalParamGrads")
    let (n, c, p) = try nchwDims(x, "batchNorm2dEvalParamGrads")
    try requireVector(runningMean, c, "runningMean", "batchNorm2dEvalParamGrads"); try requireVector(runningVar, c, "runningVar", "batchNorm2dEvalParamGrads")
    var inv = [Float](repeating: 0, count: c)
    for i in 0..<c { inv[i] = 1 / (runningVar.data[i] + eps).squareRoot() }
    let dw = Tensor(uninitialized: [c]), db = Tensor(uninitialized: [c])
    let g = dy.data, xp = x.data, m = runningMean.data
    inv.withUnsafeBufferPointer { ib in
        let iv = ib.baseAddress!
        channelReduce(n: n, c: c, p: p, into: dw.data) { i, ch in g[i] * (xp[i] - m[ch]) * iv[ch] }
    }
    channelReduce(n: n, c: c, p: p, into: db.data) { i, _ in g[i] }
    return (dw, db)
}

// MARK: - BatchNorm (train)

/// BatchNorm with batch statistics (biased variance, as PyTorch normalises in training).
/// - Parameters:
///   - residual: added to the normalised output (a residual join after the BatchNorm), same shape as x.
///   - relu: ReLU applied last.
///   With both, y = relu(bn(x) + residual) in one pass, with the same bits as the three ops run apart.
/// - Returns: y, per-channel mean and 1/√(var + eps) for the backward, and the biased variance
///   itself (for the running statistics: recovering it from invStd loses precision when var ≪ eps).
///
/// One pass per channel computes its statistics and writes its output while its planes are in
/// cache; sums run in 8 lanes per plane (`planeSum`), then in double over images, so they depend
/// on the shape only, never on the thread count.
public func batchNorm2dTrain(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float, residual: Tensor? = nil,
                             relu: Bool = false) throws -> (y: Tensor, mean: Tensor, invStd: Tensor, variance: Tensor) {
    let (n, c, p) = try nchwDims(x, "batchNorm2dTrain")
    try requireVector(weight, c, "weight", "batchNorm2dTrain"); try requireVector(bias, c, "bias", "batchNorm2dTrain")
    if let residual { try requireSameShape(x, residual, "batchNorm2dTrain residual") }
    guard n * p > 0 else { throw TensorError.invalidArgument(op: "batchNorm2dTrain", detail: "no values per channel in \(x.shape)") }
    let mean = Tensor(uninitialized: [c]), invStd = Tensor(uninitialized: [c]), variance = Tensor(uninitialized: [c])
    let y = Tensor(uninitialized: x.shape)
    let xp = x.data, yp = y.data, mp = mean.data, ip = invStd.data, vp = variance.data, wp = weight.data, bp = bias.data
    let rp = residual?.data
    let count = Double(n * p)
    Parallel.forEachChunk(c, minPerThread: max(1, 4096 / (n * p)), kind: .norm) { r in
        for ch in r {
            var s: Double = 0
            for img in 0..<n { s += Double(planeSum(xp + (img * c + ch) * p, p)) }
            let muF = Float(s / count)
            var v: Double = 0
            for img in 0..<n { v += Double(planeSumSquaredDeviation(xp + (img * c + ch) * p, muF, p)) }
            let iv = Float(1 / (v / count + Double(eps)).squareRoot())
            mp[ch] = muF; ip[ch] = iv; vp[ch] = Float(v / count)
            let sc = wp[ch] * iv, sh = bp[ch] - muF * sc
            for img in 0..<n {
                let off = (img * c + ch) * p
                let a = xp + off, o = yp + off
                switch (rp, relu) {
                case (nil, false): for i in 0..<p { o[i] = a[i] * sc + sh }
                case (nil, true): for i in 0..<p { let t = a[i] * sc + sh; o[i] = t < 0 ? 0 : t }
                case (let rp?, false): let q = rp + off; for i in 0..<p { o[i] = (a[i] * sc + sh) + q[i] }
                case (let rp?, true): let q = rp + off; for i in 0..<p { let t = (a[i] * sc + sh) + q[i]; o[i] = t < 0 ? 0 : t }
                }
            }
        }
    }
    return (y, mean, invStd, variance)
}

/// Gradients of training-mode BatchNorm: with x̂ = (x − mean)·invStd and M = N·H·W,
/// db = Σ dy, dw = Σ dy·x̂, dx = w·invStd/M · (M·dy − db − x̂·dw).
/// Per channel in one pass (sums as in `batchNorm2dTrain`, then dx while the planes are in cache).
/// With `reluOutput` (the output y of a BatchNorm fused with its ReLU), dy is first masked where
/// y ≤ 0, as the ReLU's backward would, without storing the masked gradient.
public func batchNorm2dTrainBackward(_ dy: Tensor, _ x: Tensor, weight: Tensor, mean: Tensor, invStd: Tensor,
                                     reluOutput: Tensor? = nil) throws -> (dx: Tensor, dw: Tensor, db: Tensor) {
    try requireSameShape(dy, x, "batchNorm2dTrainBackward")
    if let reluOutput { try requireSameShape(dy, reluOutput, "batchNorm2dTrainBackward reluOutput") }
    let (n, c, p) = try nchwDims(x, "batchNorm2dTrainBackward")
    for (t, name) in [(weight, "weight"), (mean, "mean"), (invStd, "invStd")] { try requireVector(t, c, name, "batchNorm2dTrainBackward") }
    let dw = Tensor(uninitialized: [c]), db = Tensor(uninitialized: [c]), dx = Tensor(uninitialized: x.shape)
    let g = dy.data, xp = x.data, mp = mean.data, ip = invStd.data, dxp = dx.data, wp = weight.data, dwp = dw.data, dbp = db.data
    let yp = reluOutput?.data
    let m = Float(n * p)
    Parallel.forEachChunk(c, minPerThread: max(1, 4096 / max(1, n * p)), kind: .norm) { r in
        for ch in r {
            let mu = mp[ch], iv = ip[ch]
            var sg: Double = 0, sgx: Double = 0
            for img in 0..<n {
                let off = (img * c + ch) * p
                let (a, b) = planeSumAndCenteredDot(g + off, xp + off, mu, p, mask: yp.map { $0 + off })
                sg += Double(a); sgx += Double(b)
            }
            let gb = Float(sg), gw = Float(sgx) * iv
            dbp[ch] = gb; dwp[ch] = gw
            let k = wp[ch] * iv / m
            for img in 0..<n {
                let off = (img * c + ch) * p
                let a = xp + off, gy = g + off, d = dxp + off
                if let yp {
                    let y = yp + off
                    for i in 0..<p { d[i] = k * (m * (y[i] > 0 ? gy[i] : 0) - gb - (a[i] - mu) * iv * gw) }
                } else {
                    for i in 0..<p { d[i] = k * (m * gy[i] - gb - (a[i] - mu) * iv * gw) }
                }
            }
        }
    }
    return (dx, dw, db)
}

// MARK: - Plane sums (8 lanes, fixed order)

/// Σ a[0..<p] in 8 lanes (lane j sums a[j], a[j+8], …), lanes added in order, then the tail.
@inline(__always)
func planeSum(_ a: UnsafePointer<Float>, _ p: Int) -> Float {
    let raw = UnsafeRawPointer(a)
    var acc = SIMD8<Float>(), i = 0
    while i + 8 <= p { acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self); i += 8 }
    var s = acc.sum()
    while i < p { s += a[i]; i += 1 }
    return s
}

/// Σ (a − mu)² over a[0..<p], lanes as `planeSum`.
@inline(__always)
func planeSumSquaredDeviation(_ a: UnsafePointer<Float>, _ mu: Float, _ p: Int) -> Float {
    let raw = UnsafeRawPointer(a), m8 = SIMD8<Float>(repeating: mu)
    var acc = SIMD8<Float>(), i = 0
    while i + 8 <= p { let d = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - m8; acc += d * d; i += 8 }
    var s = acc.sum()
    while i < p { let d = a[i] - mu; s += d * d; i += 1 }
    return s
}

/// (Σ g, Σ g·(x − mu)) over p elements, lanes as `planeSum`; with `mask`, g counts only where
/// mask > 0 (a ReLU's backward through its output).
@inline(__always)
func planeSumAndCenteredDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ mu: Float, _ p: Int,
                            mask: UnsafePointer<Float>? = nil) -> (Float, Float) {
    let rg = UnsafeRawPointer(g), rx = UnsafeRawPointer(x), m8 = SIMD8<Float>(repeating: mu)
    let ry = mask.map(UnsafeRawPointer.init), zero = SIMD8<Float>()
    var sg = SIMD8<Float>(), sd = SIMD8<Float>(), i = 0
    while i + 8 <= p {
        var gv = rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        if let ry { gv.replace(with: 0, where: .!(ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) .> zero)) }
        let xv = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        sg += gv; sd += gv * (xv - m8); i += 8
    }
    var a = sg.sum(), b = sd.sum()
    while i < p {
        let gi = mask.map { $0[i] > 0 ? g[i] : 0 } ?? g[i]
        a += gi; b += gi * (x[i] - mu); i += 1
    }
    return (a, b)
}

/// Folds eval-mode BatchNorm into the preceding convolution: W' = W · s[co], b' = (b − mean)·s + β,
/// s = γ/√(var + eps).
public func foldBatchNorm(_ convWeight: Tensor, convBias: Tensor?, bnWeight: Tensor, bnBias: Tensor,
                          runningMean: Tensor, runningVar: Tensor, eps: Float) throws -> (weight: Tensor, bias: Tensor) {
    guard convWeight.rank >= 1, convWeight.shape[0] > 0 else {
        throw TensorError.shapeMismatch(op: "foldBatchNorm", detail: "conv weight \(convWeight.shape)")
    }
    let c = convWeight.shape[0], per = convWeight.count / c
    let (s, _) = try batchNormScaleShift(bnWeight, bnBias, runningMean, runningVar, eps, c, "foldBatchNorm")
    if let b = convBias { try requireVector(b, c, "convBias", "foldBatchNorm") }
    let w = convWeight.copy()
    let b = Tensor(uninitialized: [c])
    for o in 0..<c {
        let so = s.data[o]
        for i in 0..<per { w.data[o * per + i] *= so }
        b.data[o] = ((convBias?.data[o] ?? 0) - runningMean.data[o]) * so + bnBias.data[o]
    }
    return (w, b)
}

// MARK: - LayerNorm

/// LayerNorm over the last dimension: y = (x − mean)·rstd·w + b, biased variance.
/// - Returns: y, and mean and rstd per row (shape [rows]) for the backward.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) throws -> (y: Tensor, mean: Tensor, rstd: Tensor) {
    let (rows, c) = try rowsAndLast(x, "layerNorm")
    try requireVector(weight, c, "weight", "layerNorm"); try requireVector(bias, c, "bias", "layerNorm")
    let y = Tensor(uninitialized: x.shape), mean = Tensor(uninitialized: [rows]), rstd = Tensor(uninitialized: [rows])
    let xp = x.data, yp = y.data, mp = mean.data, rp = rstd.data, wp = weight.data, bp = bias.data
    Parallel.forEachChunk(rows, minPerThread: max(1, 4096 / c), kind: .norm) { r in
        for row in r {
            let a = xp + row * c, o = yp + row * c
            var s: Float = 0
            for i in 0..<c { s += a[i] }
            let mu = s / Float(c)
            var v: Float = 0
            for i in 0..<c { let d = a[i] - mu; v += d * d }
            let rs = 1 / (v / Float(c) + eps).squareRoot()
            for i in 0..<c { o[i] = (a[i] - mu) * rs * wp[i] + bp[i] }
            mp[row] = mu; rp[row] = rs
        }
    }
    return (y, mean, rstd)
}

/// Gradients of `layerNorm`: with x̂ = (x − mean)·rstd and ĝ = dy·w,
/// dx = rstd · (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)); dw = Σ_rows dy·x̂; db = Σ_rows dy.
public func layerNormBackward(_ dy: Tensor, _ x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor) throws -> (dx: Tensor, dw: Tensor, db: Tensor) {
    try requireSameShape(dy, x, "layerNormBackward")
    let (rows, c) = try rowsAndLast(x, "layerNormBackward")
    try requireVector(weight, c, "weight", "layerNormBackward")
    try requireVector(mean, rows, "mean", "layerNormBackward"); try requireVector(rstd, rows, "rstd", "layerNormBackward")
    let dx = Tensor(uninitialized: x.shape), dw = Tensor(zeros: [c]), db = Tensor(zeros: [c])
    let xp = x.data, gp = dy.data, mp = mean.data, rp = rstd.data, wp = weight.data, dxp = dx.data
    Parallel.forEachChunk(rows, minPerThread: max(1, 4096 / c), kind: .norm) { r in
        for row in r {
            let a = xp + row * c, g = gp + row * c, d = dxp + row * c
            let mu = mp[row], rs = rp[row]
            var sg: Float = 0, sgx: Float = 0
            for i in 0..<c { let gh = g[i] * wp[i]; sg += gh; sgx += gh * (a[i] - mu) * rs }
            let mg = sg / Float(c), mgx = sgx / Float(c)
            for i in 0..<c { d[i] = rs * (g[i] * wp[i] - mg - (a[i] - mu) * rs * mgx) }
        }
    }
    // Column sums split by columns: each column is reduced over rows in order by one worker.
    let dwp = dw.data, dbp = db.data
    Parallel.forEachChunk(c, minPerThread: 64, kind: .norm) { cr in
        for row in 0..<rows {
            let a = xp + row * c, g = gp + row * c, mu = mp[row], rs = rp[row]
            for i in cr { dwp[i] += g[i] * (a[i] - mu) * rs; dbp[i] += g[i] }
        }
    }
    return (dx, dw, db)
}

// MARK: - Fused inference: concatenation + BatchNorm (eval) + activation

/// act(BatchNorm_eval(concatChannels(parts))) in one pass, without materialising the concatenation
/// (DenseNet's norm1 → relu1 over all earlier features). Per element: x · scale[c] + shift[c], then
/// the activation — the same operations as `batchNorm2dEval` followed by `relu`, so the same bits.
public func concatBatchNormActivation(_ parts: [Tensor], weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                                      eps: Float, activation: FusedActivation) throws -> Tensor {
    guard let first = parts.first, first.rank == 4 else {
        throw TensorError.invalidArgument(op: "concatBatchNormActivation", detail: "needs at least one [N,C,H,W] tensor, got \(parts.map(\.shape))")
    }
    let n = first.shape[0], p = first.shape[2] * first.shape[3]
    var total = 0
    for t in parts {
        guard t.rank == 4, t.shape[0] == n, t.shape[2] == first.shape[2], t.shape[3] == first.shape[3] else {
            throw TensorError.shapeMismatch(op: "concatBatchNormActivation", detail: "\(parts.map(\.shape))")
        }
        total += t.shape[1]
    }
    let (s, t) = try batchNormScaleShift(weight, bias, runningMean, runningVar, eps, total, "concatBatchNormActivation")
    let out = Tensor(uninitialized: [n, total, first.shape[2], first.shape[3]])
    // Plane (img, channel) → (source pointer); one table so the work splits evenly over planes.
    var srcs = [UnsafeMutablePointer<Float>](), chans = [Int]()
    srcs.reserveCapacity(total); chans.reserveCapacity(total)
    for part in parts { for c in 0..<part.shape[1] { srcs.append(part.data + c * p); chans.append(part.shape[1]) } }
    srcs.withUnsafeBufferPointer { sb in chans.withUnsafeBufferPointer { cb in
        let sp = UncheckedBox(sb.baseAddress!), cp = UncheckedBox(cb.baseAddress!)
        let scale = UncheckedBox(s.data), shift = UncheckedBox(t.data), op = UncheckedBox(out.data)
        Parallel.forEachChunk(n * total, minPerThread: max(1, 8192 / max(p, 1)), kind: .norm) { r in
            for plane in r {
                let img = plane / total, c = plane % total
                let src = sp.value[c] + img * cp.value[c] * p, dst = op.value + plane * p
                let a = scale.value[c], b = shift.value[c]
                switch activation {
                case .relu: for i in 0..<p { let v = src[i] * a + b; dst[i] = v < 0 ? 0 : v }
                case .none: for i in 0..<p { dst[i] = src[i] * a + b }
                default: for i in 0..<p { dst[i] = activation.apply(src[i] * a + b) }
                }
            }
        }
    } }
    return out
}
