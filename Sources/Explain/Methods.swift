import Foundation
import TensorCore
import Autograd
import NN
import Models

// The per-layer combination of each method, following pytorch-grad-cam 1.5.x file by file.
// A [N,C,h,w] activations, G the gradient of the target logit with respect to A.

extension CAMExplainer {
    func layerCAM(method: CAMMethod, activation a: Tensor, gradient g: Tensor?, images: Tensor, targets: [Int],
                  layer: String, options: CAMOptions, baseLogits: Tensor, recorded: Tensor) throws -> Tensor {
        let spec = method.spec
        if spec.usesGradients && g == nil { throw CAMError("\(method.rawValue): no gradient at layer '\(layer)'") }
        let g = g ?? a  // only read by gradient methods, which were checked above
        switch spec.map {
        case .channelWeights(let weigh):
            let weights = try weigh(self, CAMWeightInputs(activation: a, gradient: g, images: images, targets: targets, layer: layer,
                                                          options: options, baseLogits: baseLogits, recorded: recorded))
            let (n, c, hw) = (a.shape[0], a.shape[1], a.shape[2] * a.shape[3])
            let weighted = Tensor(uninitialized: a.shape)
            for b in 0..<n {
                for ch in 0..<c {
                    let wv = weights.data[b * c + ch]
                    let src = a.data + (b * c + ch) * hw, dst = weighted.data + (b * c + ch) * hw
                    for i in 0..<hw { dst[i] = wv * src[i] }
                }
            }
            return options.eigenSmooth ? try projection2D(weighted) : channelSum(weighted)
        case let .elementwise(f, alwaysProjected):
            let e = Tensor(uninitialized: a.shape)
            for i in 0..<a.count { e.data[i] = f(a.data[i], g.data[i]) }
            return alwaysProjected || options.eigenSmooth ? try projection2D(e) : channelSum(e)
        case .principalComponent:
            return try projection2D(a)
        }
    }

    // MARK: Channel weights

    /// Grad-CAM: α_k = mean over (i,j) of ∂y_c/∂A_k(i,j).
    func channelMean(_ g: Tensor) throws -> Tensor {
        let (n, c, hw) = (g.shape[0], g.shape[1], g.shape[2] * g.shape[3])
        let out = Tensor(uninitialized: [n, c])
        for r in 0..<(n * c) {
            var s: Float = 0
            let p = g.data + r * hw
            for i in 0..<hw { s += p[i] }
            out.data[r] = s / Float(hw)
        }
        return out
    }

    /// grad_cam_plusplus.py: a = g²/(2g² + ΣA·g³ + 1e-6) where g ≠ 0; w = Σ_ij ReLU(g)·a.
    func gradCAMPlusPlusWeights(_ a: Tensor, _ g: Tensor) -> Tensor {
        channelWeights(a, g) { ap, gp, hw, sumA in
            var s: Float = 0
            for i in 0..<hw {
                let g1 = gp[i], g2 = g1 * g1, g3 = g2 * g1
                guard g1 != 0 else { continue }
                let aij = g2 / (2 * g2 + sumA * g3 + 1e-6)
                s += max(g1, 0) * aij
            }
            return s
        }
    }

    /// xgrad_cam.py: w = Σ_ij g·A / (Σ_ij A + 1e-7).
    func xGradCAMWeights(_ a: Tensor, _ g: Tensor) -> Tensor {
        channelWeights(a, g) { ap, gp, hw, sumA in
            var s: Float = 0
            for i in 0..<hw { s += gp[i] * ap[i] / (sumA + 1e-7) }
            return s
        }
    }

    /// One weight per (image, channel) from that channel's activations, gradients, size and Σ_ij A.
    func channelWeights(_ a: Tensor, _ g: Tensor,
                        _ weight: (UnsafePointer<Float>, UnsafePointer<Float>, Int, Float) -> Float) -> Tensor {
        let (n, c, hw) = (a.shape[0], a.shape[1], a.shape[2] * a.shape[3])
        let out = Tensor(uninitialized: [n, c])
        for r in 0..<(n * c) {
            let ap = a.data + r * hw, gp = g.data + r * hw
            var sumA: Float = 0
            for i in 0..<hw { sumA += ap[i] }
            out.data[r] = weight(ap, gp, hw, sumA)
        }
        return out
    }

    /// score_cam.py: each channel, upsampled with align_corners=True (torch UpsamplingBilinear2d) and
    /// min-max scaled (+1e-8), masks the input; the target logits of the masked inputs, softmaxed
    /// over channels, are the weights. Masked inputs go through the model `batchSize` at a time.
    func scoreCAMWeights(_ a: Tensor, images: Tensor, targets: [Int], batchSize: Int) throws -> Tensor {
        let (n, c) = (a.shape[0], a.shape[1])
        let (h, w) = (images.shape[2], images.shape[3])
        let plane = h * w
        let out = Tensor(uninitialized: [n, c])
        let bs = max(1, batchSize)
        for b in 0..<n {
            let acts = try a.slice0(b..<(b + 1)).reshaped([c, 1, a.shape[2], a.shape[3]])
            let up = resizeBilinearAlignCorners(acts, outH: h, outW: w)  // [C,1,H,W]
            for ch in 0..<c {
                let p = up.data + ch * plane
                var lo = Float.infinity, hi = -Float.infinity
                for i in 0..<plane { lo = min(lo, p[i]); hi = max(hi, p[i]) }
                let d = hi - lo + 1e-8
                for i in 0..<plane { p[i] = (p[i] - lo) / d }
            }
            var scores = [Float](repeating: 0, count: c)
            var start = 0
            while start < c {
                let m = min(bs, c - start)
                let batch = Tensor(uninitialized: [m, 3, h, w])
                for j in 0..<m {
                    let mask = up.data + (start + j) * plane
                    for ch in 0..<3 {
                        let src = images.data + (b * 3 + ch) * plane, dst = batch.data + (j * 3 + ch) * plane
                        for i in 0..<plane { dst[i] = src[i] * mask[i] }
                    }
                }
                let logits = try model.logits(batch).value
                let k = logits.shape[1]
                for j in 0..<m { scores[start + j] = logits.data[j * k + targets[b]] }
                start += m
            }
            let mx = scores.max() ?? 0
            let e = scores.map { Foundation.exp($0 - mx) }
            let z = e.reduce(0, +)
            for ch in 0..<c { out.data[b * c + ch] = e[ch] / z }
        }
        return out
    }

    /// ablation_cam.py: w_k = (y_c − y_c with channel k ablated) / y_c. An ablated channel is set to 0
    /// when the image's activations have minimum 0, else below the minimum (ablation_layer.py). For ViT
    /// the channel is a feature of every token (AblationLayerVit).
    ///
    /// pytorch-grad-cam re-evaluates `torch.min(output)` over the whole batch of ablated copies after
    /// each copy is written, so with a non-zero minimum the j-th copy of a batch (j = 0, 1, …) gets
    /// min − (j+1)·1e7: the value depends on the copy's position in its batch of `batchSize`. We
    /// reproduce that so maps agree; it only matters for layers whose activations can be negative. When the layer feeds a global-pool →
    /// linear head the ablated logit is computed in closed form; otherwise each batch of ablated
    /// copies is a forward pass with the layer's output replaced.
    func ablationCAMWeights(_ a: Tensor, layer: String, images: Tensor, targets: [Int], baseLogits: Tensor,
                            batchSize: Int, recorded: Tensor) throws -> Tensor {
        let (n, c, hw) = (a.shape[0], a.shape[1], a.shape[2] * a.shape[3])
        let k = baseLogits.shape[1]
        let out = Tensor(uninitialized: [n, c])
        let head = model.pooledHead(for: layer)
        for b in 0..<n {
            let t = targets[b]
            let original = baseLogits.data[b * k + t]
            let ap = a.data + b * c * hw
            var lo = Float.infinity
            for i in 0..<(c * hw) { lo = min(lo, ap[i]) }
            let bs = max(1, batchSize)
            // The value written into copy j of a batch (see the doc comment).
            var cascade = [Float](repeating: 0, count: bs)
            if lo != 0 {
                var v = lo
                for j in 0..<bs { v = v - 1e7; cascade[j] = v }
            }
            func ablatedValue(_ ch: Int) -> Float { cascade[ch % bs] }
            var newScores = [Float](repeating: 0, count: c)
            if let head {
                // y' = y − W[t,k]·(mean f(A_k) − mean f(ablated)), f = ReLU when one precedes the pool.
                let f: (Float) -> Float = head.reluBeforePool ? { max($0, 0) } : { $0 }
                for ch in 0..<c {
                    var s: Float = 0
                    for i in 0..<hw { s += f(ap[ch * hw + i]) }
                    let delta = s / Float(hw) - f(ablatedValue(ch))
                    newScores[ch] = original - head.weight.data[t * c + ch] * delta
                }
            } else {
                // The layer's activation for image b as recorded by the forward that computed the
                // logits (no second forward to capture it again).
                let raw = try recorded.slice0(b..<(b + 1))
                var start = 0
                while start < c {
                    let m = min(bs, c - start)
                    // m copies of the image's raw layer output, copy j with channel start+j ablated.
                    let rep = Tensor(uninitialized: [m] + Array(raw.shape.dropFirst()))
                    let per = raw.count
                    for j in 0..<m { (rep.data + j * per).update(from: raw.data, count: per) }
                    for j in 0..<m { try ablate(rep, copy: j, channel: start + j, value: ablatedValue(start + j)) }
                    let inputs = Tensor(uninitialized: [m, 3, images.shape[2], images.shape[3]])
                    let ip = 3 * images.shape[2] * images.shape[3]
                    for j in 0..<m { (inputs.data + j * ip).update(from: images.data + b * ip, count: ip) }
                    let ctx = ForwardContext()
                    ctx.replacements[layer] = rep
                    let logits = try model.logits(inputs, ctx).value
                    for j in 0..<m { newScores[start + j] = logits.data[j * k + t] }
                    start += m
                }
            }
            for ch in 0..<c { out.data[b * c + ch] = (original - newScores[ch]) / original }
        }
        return out
    }

    /// Sets one channel of copy `j` to `value` ([m,C,h,w] channel planes, or [m,T,C] features).
    func ablate(_ t: Tensor, copy j: Int, channel: Int, value: Float) throws {
        if t.rank == 4 {
            let hw = t.shape[2] * t.shape[3]
            let p = t.data + (j * t.shape[1] + channel) * hw
            for i in 0..<hw { p[i] = value }
        } else if t.rank == 3 {
            let (tokens, c) = (t.shape[1], t.shape[2])
            for tok in 0..<tokens { t.data[(j * tokens + tok) * c + channel] = value }
        } else {
            throw CAMError("ablationcam: cannot ablate a layer output of shape \(t.shape)")
        }
    }

    // MARK: Combinations

    /// Σ_k over channels: [N,C,h,w] → [N,h,w].
    func channelSum(_ x: Tensor) -> Tensor {
        let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        let out = Tensor(zeros: [n, x.shape[2], x.shape[3]])
        for b in 0..<n {
            let dst = out.data + b * hw
            for ch in 0..<c {
                let src = x.data + (b * c + ch) * hw
                for i in 0..<hw { dst[i] += src[i] }
            }
        }
        return out
    }

    /// svd_on_activations.get_2d_projection: per image, centre the [hw, C] matrix over positions,
    /// project on the first right singular vector (LAPACK gesdd, sign as LAPACK returns it).
    func projection2D(_ x: Tensor) throws -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let hw = h * w
        let out = Tensor(uninitialized: [n, h, w])
        var m = [Float](repeating: 0, count: hw * c)
        for b in 0..<n {
            for p in 0..<hw {
                for ch in 0..<c {
                    let v = x.data[(b * c + ch) * hw + p]
                    m[p * c + ch] = v.isNaN ? 0 : v
                }
            }
            for ch in 0..<c {
                var s: Float = 0
                for p in 0..<hw { s += m[p * c + ch] }
                let mean = s / Float(hw)
                for p in 0..<hw { m[p * c + ch] -= mean }
            }
            let svd = try m.withUnsafeBufferPointer { try BLAS.svd($0.baseAddress!, m: hw, n: c) }
            for p in 0..<hw {
                var s: Float = 0
                for ch in 0..<c { s += m[p * c + ch] * svd.vt[ch] }
                out.data[b * hw + p] = s
            }
        }
        return out
    }
}

/// Bilinear resize with align_corners=True (torch.nn.UpsamplingBilinear2d), [N,C,h,w] → [N,C,H,W].
func resizeBilinearAlignCorners(_ x: Tensor, outH: Int, outW: Int) -> Tensor {
    let (nc, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let y = Tensor(uninitialized: [x.shape[0], x.shape[1], outH, outW])
    let sy = outH > 1 ? Float(h - 1) / Float(outH - 1) : 0
    let sx = outW > 1 ? Float(w - 1) / Float(outW - 1) : 0
    for p in 0..<nc {
        let src = x.data + p * h * w, dst = y.data + p * outH * outW
        for i in 0..<outH {
            let fy = Float(i) * sy
            let y0 = min(Int(fy), h - 1), y1 = min(y0 + 1, h - 1)
            let ly = fy - Float(y0)
            for j in 0..<outW {
                let fx = Float(j) * sx
                let x0 = min(Int(fx), w - 1), x1 = min(x0 + 1, w - 1)
                let lx = fx - Float(x0)
                let top = src[y0 * w + x0] * (1 - lx) + src[y0 * w + x1] * lx
                let bot = src[y1 * w + x0] * (1 - lx) + src[y1 * w + x1] * lx
                dst[i * outW + j] = top * (1 - ly) + bot * ly
            }
        }
    }
    return y
}
