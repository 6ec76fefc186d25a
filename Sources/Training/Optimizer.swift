import Foundation
import TensorCore
import NN

// Optimizers with torch.optim's semantics and arithmetic order (the default single-tensor CPU path
// of PyTorch 2.x, non-amsgrad, non-maximize). State is keyed by state-dict key, so it can be saved
// beside the weights and restored for `--resume`.

/// A first-order optimizer over named parameters.
public protocol Optimizer: AnyObject {
    /// Applies one update with learning rate `lr` to every listed parameter with its gradient
    /// (parameters that received no gradient are simply not listed, as torch.optim skips `grad is None`).
    func step(_ params: [Gradient], lr: Float) throws
    /// The optimizer state as named tensors (for checkpoints with state).
    func stateTensors() -> [(String, Tensor)]
    /// Restores what `stateTensors` returned.
    func restore(_ state: [String: Tensor]) throws
}

/// A parameter, its state-dict key and its gradient from the latest backward pass.
public struct Gradient {
    public let key: String
    public let parameter: Parameter
    public let grad: Tensor

    public init(key: String, parameter: Parameter, grad: Tensor) throws {
        guard grad.shape == parameter.value.shape else {
            throw TensorError.shapeMismatch(op: "optimizer step '\(key)'", detail: "gradient \(grad.shape) vs parameter \(parameter.value.shape)")
        }
        self.key = key; self.parameter = parameter; self.grad = grad
    }
}

/// Elements per worker below which an update stays on one thread (as TensorCore's elementwise loops).
private let updateGrain = 1 << 15

// MARK: - AdamW

/// torch.optim.AdamW (Loshchilov & Hutter, decoupled weight decay), per step t:
///
///     p ← p·(1 − lr·λ)
///     m ← lerp(m, g, 1 − β1)            v ← v·β2 + (1 − β2)·g·g
///     p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
///
/// The bias corrections and step size are computed in double and rounded to float once, as
/// PyTorch does with Python scalars; per-element arithmetic is float32 in PyTorch's order.
public final class AdamW: Optimizer {
    public let beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    /// Steps taken (PyTorch keeps one count per parameter; they are equal here).
    public private(set) var steps: [String: Int] = [:]
    private var expAvg: [String: Tensor] = [:], expAvgSq: [String: Tensor] = [:]

    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }

    public func step(_ params: [Gradient], lr: Float) throws {
        let lrD = Double(lr)
        var jobs: [AdamWSlice] = [], outs: [Tensor] = []
        jobs.reserveCapacity(params.count); outs.reserveCapacity(params.count)
        var total = 0
        for item in params {
            let key = item.key, p = item.parameter, g = item.grad
            let m = expAvg[key] ?? Tensor(zeros: g.shape), v = expAvgSq[key] ?? Tensor(zeros: g.shape)
            let t = (steps[key] ?? 0) + 1
            let bc1 = 1 - pow(beta1, Double(t)), bc2Sqrt = (1 - pow(beta2, Double(t))).squareRoot()
            // A new tensor: the old value may be captured by a graph or a filter cache.
            let out = Tensor(uninitialized: p.value.shape)
            jobs.append(AdamWSlice(start: total, count: out.count, p: p.value.data, out: out.data, g: g.data, m: m.data, v: v.data,
                                   decay: weightDecay != 0 ? Float(1 - lrD * weightDecay) : 1,
                                   negStep: Float(-(lrD / bc1)), bc2: Float(bc2Sqrt)))
            total += out.count
            outs.append(out)
            expAvg[key] = m; expAvgSq[key] = v; steps[key] = t
        }
        // Every element is updated by the same float operations whichever worker runs it, so the
        // result does not depend on the thread count; one split over all parameters' elements keeps
        // the many small tensors (BatchNorm, biases) from costing a dispatch each.
        let w1 = Float(1 - beta1), b2 = Float(beta2), w2 = Float(1 - beta2), e = Float(eps), decays = weightDecay != 0
        jobs.withUnsafeBufferPointer { jb in
            let box = UncheckedBox(jb)
            Parallel.forEachChunk(total, minPerThread: updateGrain) { r in
                // The first slice overlapping r, by binary search over the starts.
                var lo = 0, hi = box.value.count - 1
                while lo < hi { let mid = (lo + hi + 1) / 2; if box.value[mid].start <= r.lowerBound { lo = mid } else { hi = mid - 1 } }
                var j = lo
                while j < box.value.count && box.value[j].start < r.upperBound {
                    let s = box.value[j]
                    let a = max(r.lowerBound, s.start) - s.start, b = min(r.upperBound, s.start + s.count) - s.start
                    if a < b { adamWUpdate(s, a..<b, w1: w1, b2: b2, w2: w2, eps: e, decays: decays) }
                    j += 1
                }
            }
        }
        // Only now: the slices read the old values, which the parameters keep alive until here.
        for (item, out) in zip(params, outs) { item.parameter.value = out }
    }

    public func stateTensors() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for key in expAvg.keys.sorted() {
            out.append(("exp_avg/" + key, expAvg[key]!))
            out.append(("exp_avg_sq/" + key, expAvgSq[key]!))
            out.append(("step/" + key, Tensor(scalar: Float(steps[key] ?? 0))))
        }
        return out
    }

    public func restore(_ state: [String: Tensor]) throws {
        expAvg = [:]; expAvgSq = [:]; steps = [:]
        for (name, t) in state {
            if name.hasPrefix("exp_avg_sq/") { expAvgSq[String(name.dropFirst("exp_avg_sq/".count))] = t.copy() }
            else if name.hasPrefix("exp_avg/") { expAvg[String(name.dropFirst("exp_avg/".count))] = t.copy() }
            else if name.hasPrefix("step/") { steps[String(name.dropFirst("step/".count))] = Int(t.data[0]) }
            else { throw TensorError.invalidArgument(op: "AdamW state", detail: "unknown entry '\(name)'") }
        }
        guard Set(expAvg.keys) == Set(expAvgSq.keys), Set(expAvg.keys) == Set(steps.keys) else {
            throw TensorError.invalidArgument(op: "AdamW state", detail: "exp_avg, exp_avg_sq and step name different parameters")
        }
    }
}

/// One parameter's share of an AdamW step: its elements [start, start + count) in the step's
/// flat numbering, its buffers, and its per-parameter scalars.
struct AdamWSlice {
    let start: Int, count: Int
    let p: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>
    let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    let decay: Float, negStep: Float, bc2: Float
}

/// The AdamW update of elements `r` of one parameter, in PyTorch's per-element float32 order.
/// Sixteen elements per vector (the division and square root were most of its time as scalars);
/// each lane does the same correctly rounded operations as the scalar tail, so the bits do not
/// depend on where a chunk starts.
@inline(__always)
func adamWUpdate(_ s: AdamWSlice, _ r: Range<Int>, w1: Float, b2: Float, w2: Float, eps e: Float, decays: Bool) {
    typealias V = SIMD16<Float>
    let pp = s.p, op = s.out, gp = s.g, mp = s.m, vp = s.v
    let decay = s.decay, negStep = s.negStep, bc2 = s.bc2
    @inline(__always) func load(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> V { UnsafeRawPointer(p + i).loadUnaligned(as: V.self) }
    @inline(__always) func store(_ x: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) { UnsafeMutableRawPointer(p + i).storeBytes(of: x, as: V.self) }
    var i = r.lowerBound
    let vw1 = V(repeating: w1), vb2 = V(repeating: b2), vw2 = V(repeating: w2), ve = V(repeating: e)
    let vdecay = V(repeating: decay), vneg = V(repeating: negStep), vbc2 = V(repeating: bc2)
    while i + V.scalarCount <= r.upperBound {
        let pi = decays ? load(pp, i) * vdecay : load(pp, i)
        let gi = load(gp, i), m0 = load(mp, i)
        let mi = m0 + vw1 * (gi - m0)
        let vi = load(vp, i) * vb2 + vw2 * gi * gi
        store(mi, mp, i); store(vi, vp, i)
        let denom = vi.squareRoot() / vbc2 + ve
        store(pi + vneg * mi / denom, op, i)
        i += V.scalarCount
    }
    while i < r.upperBound {
        let pi = decays ? pp[i] * decay : pp[i]
        let gi = gp[i]
        // torch.lerp with a weight below 0.5: start + weight·(end − start).
        let mi = mp[i] + w1 * (gi - mp[i])
        let vi = vp[i] * b2 + w2 * gi * gi
        mp[i] = mi; vp[i] = vi
        let denom = vi.squareRoot() / bc2 + e
        op[i] = pi + negStep * mi / denom
        i += 1
    }
}

// MARK: - SGD

/// torch.optim.SGD with coupled weight decay, momentum (dampening 0) and optional Nesterov:
///
///     g ← g + λ·p
///     b ← g (first step), b ← μ·b + g (later steps)
///     g ← g + μ·b (Nesterov) or g ← b
///     p ← p − lr·g
///
/// PyTorch's vectorised `add(alpha:)` is a fused multiply-add; so is ours.
public final class SGD: Optimizer {
    public let momentum: Float, weightDecay: Float, nesterov: Bool
    private var buffers: [String: Tensor] = [:]

    public init(momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.momentum = momentum; self.weightDecay = weightDecay; self.nesterov = nesterov
    }

    public func step(_ params: [Gradient], lr: Float) throws {
        for item in params {
            let key = item.key, p = item.parameter, g = item.grad
            let out = Tensor(uninitialized: p.value.shape)
            let wd = weightDecay, mu = momentum, negLr = -lr, nesterov = nesterov
            let first = buffers[key] == nil
            let buf = momentum != 0 ? (buffers[key] ?? Tensor(uninitialized: g.shape)) : nil
            let box = UncheckedBox((p.value.data, out.data, g.data, buf?.data))
            Parallel.forEachChunk(out.count, minPerThread: updateGrain) { r in
                let (pp, op, gp, bp) = box.value
                for i in r {
                    var gi = wd != 0 ? gp[i].addingProduct(pp[i], wd) : gp[i]
                    if let b = bp {
                        b[i] = first ? gi : (b[i] * mu) + gi
                        gi = nesterov ? gi.addingProduct(b[i], mu) : b[i]
                    }
                    op[i] = pp[i].addingProduct(gi, negLr)
                }
            }
            if let buf { buffers[key] = buf }
            p.value = out
        }
    }

    public func stateTensors() -> [(String, Tensor)] {
        buffers.keys.sorted().map { ("momentum_buffer/" + $0, buffers[$0]!) }
    }

    public func restore(_ state: [String: Tensor]) throws {
        buffers = [:]
        for (name, t) in state {
            guard name.hasPrefix("momentum_buffer/") else {
                throw TensorError.invalidArgument(op: "SGD state", detail: "unknown entry '\(name)'")
            }
            buffers[String(name.dropFirst("momentum_buffer/".count))] = t.copy()
        }
    }
}
