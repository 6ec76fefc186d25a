import Foundation

/// Source index and weight for bilinear sampling with half-pixel centres (align_corners = False):
/// src = (dst + ½)·in/out − ½, clamped at 0; the upper neighbour is clamped to the last pixel.
@inline(__always)
func bilinearTap(_ dst: Int, inSize: Int, outSize: Int) -> (i0: Int, i1: Int, l1: Float) {
    let scale = Float(inSize) / Float(outSize)
    let src = max(scale * (Float(dst) + 0.5) - 0.5, 0)
    let i0 = min(Int(src), inSize - 1)
    let i1 = i0 < inSize - 1 ? i0 + 1 : i0
    return (i0, i1, src - Float(i0))
}

func resizeCheck(_ shape: [Int], _ outH: Int, _ outW: Int, _ op: String) throws -> (planes: Int, h: Int, w: Int) {
    guard shape.count == 4, shape[2] > 0, shape[3] > 0, outH > 0, outW > 0 else {
        throw TensorError.shapeMismatch(op: op, detail: "input \(shape) to \(outH)×\(outW): need [N,C,H,W] with non-empty planes")
    }
    return (shape[0] * shape[1], shape[2], shape[3])
}

/// Bilinear resize of x [N,C,H,W] to outH×outW, align_corners = False, no antialiasing
/// (torch.nn.functional.interpolate(mode='bilinear'), OpenCV INTER_LINEAR).
public func resizeBilinear(_ x: Tensor, outH: Int, outW: Int) throws -> Tensor {
    let (planes, h, w) = try resizeCheck(x.shape, outH, outW, "resizeBilinear")
    let y = Tensor(uninitialized: [x.shape[0], x.shape[1], outH, outW])
    let cols = (0..<outW).map { bilinearTap($0, inSize: w, outSize: outW) }
    let rows = (0..<outH).map { bilinearTap($0, inSize: h, outSize: outH) }
    let xp = x.data, yp = y.data
    cols.withUnsafeBufferPointer { cb in rows.withUnsafeBufferPointer { rb in
        let cp = cb.baseAddress!, rp = rb.baseAddress!
        Parallel.forEachChunk(planes * outH, minPerThread: max(1, 4096 / outW), kind: .other) { r in
            for item in r {
                let plane = item / outH, oh = item % outH
                let (h0, h1, lh) = rp[oh]
                let r0 = xp + plane * h * w + h0 * w, r1 = xp + plane * h * w + h1 * w
                let d = yp + item * outW
                for ow in 0..<outW {
                    let (w0, w1, lw) = cp[ow]
                    let top = r0[w0] * (1 - lw) + r0[w1] * lw
                    let bottom = r1[w0] * (1 - lw) + r1[w1] * lw
                    d[ow] = top * (1 - lh) + bottom * lh
                }
            }
        }
    } }
    return y
}

/// dx of `resizeBilinear`: each dy is split over its four source pixels with the forward weights.
public func resizeBilinearBackward(_ dy: Tensor, inputShape: [Int]) throws -> Tensor {
    guard dy.rank == 4, inputShape.count == 4, dy.shape[0] == inputShape[0], dy.shape[1] == inputShape[1] else {
        throw TensorError.shapeMismatch(op: "resizeBilinearBackward", detail: "dy \(dy.shape) vs input \(inputShape)")
    }
    let (outH, outW) = (dy.shape[2], dy.shape[3])
    let (planes, h, w) = try resizeCheck(inputShape, outH, outW, "resizeBilinearBackward")
    let dx = Tensor(zeros: inputShape)
    let cols = (0..<outW).map { bilinearTap($0, inSize: w, outSize: outW) }
    let rows = (0..<outH).map { bilinearTap($0, inSize: h, outSize: outH) }
    let gp = dy.data, dp = dx.data
    cols.withUnsafeBufferPointer { cb in rows.withUnsafeBufferPointer { rb in
        let cp = cb.baseAddress!, rp = rb.baseAddress!
        Parallel.forEachChunk(planes, minPerThread: 1, kind: .other) { r in
            for plane in r {
                for oh in 0..<outH {
                    let (h0, h1, lh) = rp[oh]
                    let r0 = dp + plane * h * w + h0 * w, r1 = dp + plane * h * w + h1 * w
                    let g = gp + (plane * outH + oh) * outW
                    for ow in 0..<outW {
                        let (w0, w1, lw) = cp[ow]
                        let v = g[ow]
                        r0[w0] += v * (1 - lh) * (1 - lw); r0[w1] += v * (1 - lh) * lw
                        r1[w0] += v * lh * (1 - lw); r1[w1] += v * lh * lw
                    }
                }
            }
        }
    } }
    return dx
}

/// Nearest-neighbour resize, torch 'nearest': src = min(⌊dst · in/out⌋, in − 1).
public func resizeNearest(_ x: Tensor, outH: Int, outW: Int) throws -> Tensor {
    let (planes, h, w) = try resizeCheck(x.shape, outH, outW, "resizeNearest")
    let y = Tensor(uninitialized: [x.shape[0], x.shape[1], outH, outW])
    let sh = Float(h) / Float(outH), sw = Float(w) / Float(outW)
    let cols = (0..<outW).map { min(Int(Float($0) * sw), w - 1) }
    let rows = (0..<outH).map { min(Int(Float($0) * sh), h - 1) }
    let xp = x.data, yp = y.data
    cols.withUnsafeBufferPointer { cb in rows.withUnsafeBufferPointer { rb in
        let cp = cb.baseAddress!, rp = rb.baseAddress!
        Parallel.forEachChunk(planes * outH, minPerThread: max(1, 4096 / outW), kind: .other) { r in
            for item in r {
                let plane = item / outH, oh = item % outH
                let s = xp + plane * h * w + rp[oh] * w, d = yp + item * outW
                for ow in 0..<outW { d[ow] = s[cp[ow]] }
            }
        }
    } }
    return y
}
