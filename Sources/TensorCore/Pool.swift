import Foundation

/// Window, stride, padding and rounding of a 2-D pooling (PyTorch's MaxPool2d/AvgPool2d arguments).
public struct Pool2dConfig: Sendable, Equatable {
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var ceilMode: Bool

    /// Square window; `stride` defaults to the kernel size as in PyTorch.
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        self.init(kernelH: kernel, kernelW: kernel, strideH: stride ?? kernel, strideW: stride ?? kernel,
                  padH: padding, padW: padding, ceilMode: ceilMode)
    }

    public init(kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padH: Int = 0, padW: Int = 0, ceilMode: Bool = false) {
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW
        self.ceilMode = ceilMode
    }

    /// PyTorch's output size; in ceil mode the last window must start inside the input or left padding.
    func outputSize(_ inSize: Int, k: Int, s: Int, p: Int) -> Int {
        let num = inSize + 2 * p - k + (ceilMode ? s - 1 : 0)
        var o = num / s + 1
        if ceilMode && (o - 1) * s >= inSize + p { o -= 1 }
        return o
    }

    func check(_ x: [Int], _ op: String) throws -> (n: Int, c: Int, h: Int, w: Int, ho: Int, wo: Int) {
        guard x.count == 4 else { throw TensorError.shapeMismatch(op: op, detail: "expected [N,C,H,W], got \(x)") }
        guard kernelH > 0, kernelW > 0, strideH > 0, strideW > 0, padH >= 0, padW >= 0,
              padH * 2 <= kernelH, padW * 2 <= kernelW else {
            throw TensorError.invalidArgument(op: op, detail: "kernel \(kernelH)×\(kernelW) stride \(strideH)×\(strideW) padding \(padH)×\(padW) (padding must be ≤ half the kernel)")
        }
        let (h, w) = (x[2], x[3])
        guard h + 2 * padH >= kernelH, w + 2 * padW >= kernelW else {
            throw TensorError.shapeMismatch(op: op, detail: "input \(x) smaller than kernel \(kernelH)×\(kernelW) with padding \(padH)×\(padW)")
        }
        let ho = outputSize(h, k: kernelH, s: strideH, p: padH), wo = outputSize(w, k: kernelW, s: strideW, p: padW)
        return (x[0], x[1], h, w, ho, wo)
    }
}

// MARK: - Max pooling

/// Max pooling. Padding never wins (it is −∞). `argmax` holds, per output, the flat index h·W + w
/// of the winning input inside its plane (first maximum in scan order).
public func maxPool2d(_ x: Tensor, _ cfg: Pool2dConfig) throws -> (y: Tensor, argmax: [Int32]) {
    let (n, c, h, w, ho, wo) = try cfg.check(x.shape, "maxPool2d")
    let y = Tensor(uninitialized: [n, c, ho, wo])
    var arg = [Int32](repeating: 0, count: n * c * ho * wo)
    let xp = x.data, yp = y.data
    arg.withUnsafeMutableBufferPointer { ab in
        let ap = ab.baseAddress!
        Parallel.forEachChunk(n * c, minPerThread: 1, kind: .pool) { r in
            for plane in r {
                let src = xp + plane * h * w
                for oh in 0..<ho {
                    let h0 = max(oh * cfg.strideH - cfg.padH, 0), h1 = min(oh * cfg.strideH - cfg.padH + cfg.kernelH, h)
                    for ow in 0..<wo {
                        let w0 = max(ow * cfg.strideW - cfg.padW, 0), w1 = min(ow * cfg.strideW - cfg.padW + cfg.kernelW, w)
                        var best = -Float.infinity, bi = h0 * w + w0
                        for ih in h0..<h1 {
                            for iw in w0..<w1 {
                                let v = src[ih * w + iw]
                                if v > best || v.isNaN { best = v; bi = ih * w + iw; if v.isNaN { break } }
                            }
                        }
                        let o = plane * ho * wo + oh * wo + ow
                        yp[o] = best; ap[o] = Int32(bi)
                    }
                }
            }
        }
    }
    return (y, arg)
}

/// dx of max pooling: each dy goes to its argmax position (summed where windows overlap).
public func maxPool2dBackward(_ dy: Tensor, argmax: [Int32], inputShape: [Int]) throws -> Tensor {
    guard inputShape.count == 4, dy.rank == 4, dy.shape[0] == inputShape[0], dy.shape[1] == inputShape[1],
          argmax.count == dy.count else {
        throw TensorError.shapeMismatch(op: "maxPool2dBackward", detail: "dy \(dy.shape), argmax \(argmax.count), input \(inputShape)")
    }
    let planes = inputShape[0] * inputShape[1], hw = inputShape[2] * inputShape[3], ohw = dy.shape[2] * dy.shape[3]
    let dx = Tensor(zeros: inputShape)
    let gp = dy.data, dp = dx.data
    var bad = false
    argmax.withUnsafeBufferPointer { ab in
        let ap = ab.baseAddress!
        for i in 0..<argmax.count where ap[i] < 0 || Int(ap[i]) >= hw { bad = true; break }
        if bad { return }
        Parallel.forEachChunk(planes, minPerThread: 1, kind: .pool) { r in
            for plane in r {
                let d = dp + plane * hw
                for o in 0..<ohw { d[Int(ap[plane * ohw + o])] += gp[plane * ohw + o] }
            }
        }
    }
    if bad { throw TensorError.invalidArgument(op: "maxPool2dBackward", detail: "argmax index outside the \(inputShape[2])×\(inputShape[3]) plane") }
    return dx
}

// MARK: - Average pooling

/// Window bounds and divisor of output (oh, ow), PyTorch's rule: the divisor counts padding
/// (but not the ceil-mode overhang) when `countIncludePad`, else only the in-image cells.
@inline(__always)
func avgWindow(_ o: Int, k: Int, s: Int, p: Int, size: Int) -> (lo: Int, hi: Int, padded: Int) {
    let start = o * s - p
    let end = min(start + k, size + p)
    return (max(start, 0), min(end, size), end - start)
}

/// Average pooling.
public func avgPool2d(_ x: Tensor, _ cfg: Pool2dConfig, countIncludePad: Bool = true) throws -> Tensor {
    let (n, c, h, w, ho, wo) = try cfg.check(x.shape, "avgPool2d")
    let y = Tensor(uninitialized: [n, c, ho, wo])
    let xp = x.data, yp = y.data
    Parallel.forEachChunk(n * c, minPerThread: 1, kind: .pool) { r in
        for plane in r {
            let src = xp + plane * h * w
            for oh in 0..<ho {
                let (h0, h1, ph) = avgWindow(oh, k: cfg.kernelH, s: cfg.strideH, p: cfg.padH, size: h)
                for ow in 0..<wo {
                    let (w0, w1, pw) = avgWindow(ow, k: cfg.kernelW, s: cfg.strideW, p: cfg.padW, size: w)
                    var s: Float = 0
                    for ih in h0..<h1 { for iw in w0..<w1 { s += src[ih * w + iw] } }
                    let div = countIncludePad ? ph * pw : (h1 - h0) * (w1 - w0)
                    yp[plane * ho * wo + oh * wo + ow] = div > 0 ? s / Float(div) : 0
                }
            }
        }
    }
    return y
}

/// dx of average pooling: each dy is spread evenly (÷ divisor) over its window's in-image cells.
public func avgPool2dBackward(_ dy: Tensor, inputShape: [Int], _ cfg: Pool2dConfig, countIncludePad: Bool = true) throws -> Tensor {
    let (n, c, h, w, ho, wo) = try cfg.check(inputShape, "avgPool2dBackward")
    guard dy.shape == [n, c, ho, wo] else {
        throw TensorError.shapeMismatch(op: "avgPool2dBackward", detail: "dy \(dy.shape) vs expected \([n, c, ho, wo]) for input \(inputShape)")
    }
    let dx = Tensor(zeros: inputShape)
    let gp = dy.data, dp = dx.data
    Parallel.forEachChunk(n * c, minPerThread: 1, kind: .pool) { r in
        for plane in r {
            let d = dp + plane * h * w
            for oh in 0..<ho {
                let (h0, h1, ph) = avgWindow(oh, k: cfg.kernelH, s: cfg.strideH, p: cfg.padH, size: h)
                for ow in 0..<wo {
                    let (w0, w1, pw) = avgWindow(ow, k: cfg.kernelW, s: cfg.strideW, p: cfg.padW, size: w)
                    let div = countIncludePad ? ph * pw : (h1 - h0) * (w1 - w0)
                    if div == 0 { continue }
                    let g = gp[plane * ho * wo + oh * wo + ow] / Float(div)
                    for ih in h0..<h1 { for iw in w0..<w1 { d[ih * w + iw] += g } }
                }
            }
        }
    }
    return dx
}

// MARK: - Adaptive and global average pooling

@inline(__always) func adaptiveStart(_ i: Int, _ inSize: Int, _ outSize: Int) -> Int { (i * inSize) / outSize }
@inline(__always) func adaptiveEnd(_ i: Int, _ inSize: Int, _ outSize: Int) -> Int { ((i + 1) * inSize + outSize - 1) / outSize }

/// Adaptive average pooling to outH×outW with PyTorch's bins: [⌊i·H/o⌋, ⌈(i+1)·H/o⌉).
public func adaptiveAvgPool2d(_ x: Tensor, outH: Int, outW: Int) throws -> Tensor {
    guard x.rank == 4, outH > 0, outW > 0 else {
        throw TensorError.shapeMismatch(op: "adaptiveAvgPool2d", detail: "x \(x.shape) to \(outH)×\(outW)")
    }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let y = Tensor(uninitialized: [n, c, outH, outW])
    let xp = x.data, yp = y.data
    Parallel.forEachChunk(n * c, minPerThread: 1, kind: .pool) { r in
        for plane in r {
            let src = xp + plane * h * w
            for oh in 0..<outH {
                let h0 = adaptiveStart(oh, h, outH), h1 = adaptiveEnd(oh, h, outH)
                for ow in 0..<outW {
                    let w0 = adaptiveStart(ow, w, outW), w1 = adaptiveEnd(ow, w, outW)
                    var s: Float = 0
                    for ih in h0..<h1 { for iw in w0..<w1 { s += src[ih * w + iw] } }
                    let cnt = (h1 - h0) * (w1 - w0)
                    yp[(plane * outH + oh) * outW + ow] = cnt > 0 ? s / Float(cnt) : 0
                }
            }
        }
    }
    return y
}

/// dx of adaptive average pooling.
public func adaptiveAvgPool2dBackward(_ dy: Tensor, inputShape: [Int]) throws -> Tensor {
    guard inputShape.count == 4, dy.rank == 4, dy.shape[0] == inputShape[0], dy.shape[1] == inputShape[1] else {
        throw TensorError.shapeMismatch(op: "adaptiveAvgPool2dBackward", detail: "dy \(dy.shape) vs input \(inputShape)")
    }
    let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
    let (outH, outW) = (dy.shape[2], dy.shape[3])
    let dx = Tensor(zeros: inputShape)
    let gp = dy.data, dp = dx.data
    Parallel.forEachChunk(n * c, minPerThread: 1, kind: .pool) { r in
        for plane in r {
            let d = dp + plane * h * w
            for oh in 0..<outH {
                let h0 = adaptiveStart(oh, h, outH), h1 = adaptiveEnd(oh, h, outH)
                for ow in 0..<outW {
                    let w0 = adaptiveStart(ow, w, outW), w1 = adaptiveEnd(ow, w, outW)
                    let cnt = (h1 - h0) * (w1 - w0)
                    if cnt == 0 { continue }
                    let g = gp[(plane * outH + oh) * outW + ow] / Float(cnt)
                    for ih in h0..<h1 { for iw in w0..<w1 { d[ih * w + iw] += g } }
                }
            }
        }
    }
    return dx
}

/// Mean over H×W: [N,C,H,W] → [N,C].
public func globalAvgPool(_ x: Tensor) throws -> Tensor {
    guard x.rank == 4 else { throw TensorError.shapeMismatch(op: "globalAvgPool", detail: "expected [N,C,H,W], got \(x.shape)") }
    let planes = x.shape[0] * x.shape[1], p = x.shape[2] * x.shape[3]
    let y = Tensor(uninitialized: [x.shape[0], x.shape[1]])
    let xp = x.data, yp = y.data
    Parallel.forEachChunk(planes, minPerThread: max(1, 8192 / max(p, 1)), kind: .pool) { r in
        for plane in r {
            let s = xp + plane * p
            var a: Float = 0
            for i in 0..<p { a += s[i] }
            yp[plane] = p > 0 ? a / Float(p) : 0
        }
    }
    return y
}

/// dx of `globalAvgPool`: dy[n,c]/(H·W) everywhere in the plane.
public func globalAvgPoolBackward(_ dy: Tensor, inputShape: [Int]) throws -> Tensor {
    guard inputShape.count == 4, dy.shape == [inputShape[0], inputShape[1]] else {
        throw TensorError.shapeMismatch(op: "globalAvgPoolBackward", detail: "dy \(dy.shape) vs input \(inputShape)")
    }
    let p = inputShape[2] * inputShape[3]
    let dx = Tensor(uninitialized: inputShape)
    let gp = dy.data, dp = dx.data
    Parallel.forEachChunk(dy.count, minPerThread: max(1, 8192 / max(p, 1)), kind: .pool) { r in
        for plane in r { (dp + plane * p).update(repeating: gp[plane] / Float(p), count: p) }
    }
    return dx
}
