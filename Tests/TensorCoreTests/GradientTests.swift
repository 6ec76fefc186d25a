import XCTest
import TensorCore
import TestSupport

/// Every backward kernel against central finite differences of L = Σ dy·f(x) (float32 forward, ε = 1e-2).
final class GradientTests: XCTestCase {
    var rng = TestRNG(seed: 42)

    /// Checks `backward(dy)` against finite differences of `forward` at x.
    func check(_ name: String, _ x: Tensor, rtol: Float = 1e-2, eps: Float = 1e-2,
               forward: (Tensor) throws -> Tensor, backward: (Tensor) throws -> Tensor,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let y = try forward(x)
        let dy = rng.tensor(y.shape)
        let g = try backward(dy)
        XCTAssertEqual(g.shape, x.shape, name, file: file, line: line)
        let fd = try finiteDifferenceFloat(x, dy, eps: eps, forward)
        if let m = gradCloseness(g.values, fd, rtol: rtol) { XCTFail("\(name): \(m)", file: file, line: line) }
    }

    func testActivations() throws {
        let x = rng.tensor([3, 7], -3, 3)
        try check("silu", x, forward: { try silu($0) }, backward: { try siluBackward($0, x) })
        try check("gelu", x, forward: { try gelu($0) }, backward: { try geluBackward($0, x) })
        let s = try sigmoid(x)
        try check("sigmoid", x, forward: { try sigmoid($0) }, backward: { try sigmoidBackward($0, s) })
        let sm = try softmaxLastDim(x)
        try check("softmax", x, forward: { try softmaxLastDim($0) }, backward: { try softmaxLastDimBackward($0, sm) })
        let ls = try logSoftmaxLastDim(x)
        try check("logSoftmax", x, forward: { try logSoftmaxLastDim($0) }, backward: { try logSoftmaxLastDimBackward($0, ls) })
        // relu away from the kink.
        let xr = try Tensor(shape: [6], values: [-2, -0.5, 0.3, 1, 2.5, -1.5])
        let yr = try relu(xr)
        try check("relu", xr, forward: { try relu($0) }, backward: { try reluBackward($0, yr) })
        // Hand-worked values.
        // (Values read through `.values`: a temporary tensor's `.data` pointer dies with it.)
        XCTAssertEqual(try gelu(Tensor(shape: [1], values: [1])).values[0], 0.8413447, accuracy: 1e-6)
        XCTAssertEqual(try silu(Tensor(shape: [1], values: [2])).values[0], 2 / (1 + exp(-2)), accuracy: 1e-6)
        XCTAssertEqual(try sumAll(Tensor(repeating: 0.5, shape: [10001])), 5000.5, accuracy: 1e-3)
    }

    func testNorms() throws {
        let x = rng.tensor([2, 3, 4, 5], -2, 2)
        let w = rng.tensor([3]), b = rng.tensor([3])
        let tr = try batchNorm2dTrain(x, weight: w, bias: b, eps: 1e-5)
        let bwd = try batchNorm2dTrainBackward(try Tensor(shape: x.shape, values: Array(repeating: 0, count: x.count)), x, weight: w, mean: tr.mean, invStd: tr.invStd)
        XCTAssertLessThan(bwd.dx.maxAbs, 1e-6)
        try check("batchNorm2dTrain dx", x, forward: { try batchNorm2dTrain($0, weight: w, bias: b, eps: 1e-5).y },
                  backward: { try batchNorm2dTrainBackward($0, x, weight: w, mean: tr.mean, invStd: tr.invStd).dx })
        try check("batchNorm2dTrain dw", w, forward: { try batchNorm2dTrain(x, weight: $0, bias: b, eps: 1e-5).y },
                  backward: { try batchNorm2dTrainBackward($0, x, weight: w, mean: tr.mean, invStd: tr.invStd).dw })
        try check("batchNorm2dTrain db", b, forward: { try batchNorm2dTrain(x, weight: w, bias: $0, eps: 1e-5).y },
                  backward: { try batchNorm2dTrainBackward($0, x, weight: w, mean: tr.mean, invStd: tr.invStd).db })
        let rm = rng.tensor([3]), rv = rng.tensor([3], 0.5, 2)
        try check("batchNorm2dEval dx", x, forward: { try batchNorm2dEval($0, weight: w, bias: b, runningMean: rm, runningVar: rv, eps: 1e-5) },
                  backward: { try batchNorm2dEvalBackward($0, weight: w, runningVar: rv, eps: 1e-5) })
        try check("batchNorm2dEval dw", w, forward: { try batchNorm2dEval(x, weight: $0, bias: b, runningMean: rm, runningVar: rv, eps: 1e-5) },
                  backward: { try batchNorm2dEvalParamGrads($0, x, runningMean: rm, runningVar: rv, eps: 1e-5).dw })
        try check("batchNorm2dEval db", b, forward: { try batchNorm2dEval(x, weight: w, bias: $0, runningMean: rm, runningVar: rv, eps: 1e-5) },
                  backward: { try batchNorm2dEvalParamGrads($0, x, runningMean: rm, runningVar: rv, eps: 1e-5).db })
        // Train-mode output has per-channel mean b and variance w² (biased).
        let y = tr.y
        for c in 0..<3 {
            var s = 0.0, s2 = 0.0
            for n in 0..<2 { for i in 0..<20 { let v = Double(y.data[(n * 3 + c) * 20 + i]); s += v; s2 += v * v } }
            XCTAssertEqual(s / 40, Double(b.data[c]), accuracy: 1e-5)
            XCTAssertEqual(s2 / 40 - (s / 40) * (s / 40), Double(w.data[c] * w.data[c]), accuracy: 1e-3)
        }
        // Folding BN into a conv equals conv followed by BN.
        let cw = rng.tensor([3, 3, 3, 3]), cb = rng.tensor([3])
        let folded = try foldBatchNorm(cw, convBias: cb, bnWeight: w, bnBias: b, runningMean: rm, runningVar: rv, eps: 1e-5)
        let cfg = Conv2dConfig(stride: 1, padding: 1)
        let ref = try batchNorm2dEval(conv2d(x, weight: cw, bias: cb, cfg), weight: w, bias: b, runningMean: rm, runningVar: rv, eps: 1e-5)
        let got = try conv2d(x, weight: folded.weight, bias: folded.bias, cfg)
        if let m = closeness(got.values, ref.values, rtol: 1e-4, atol: 1e-4) { XCTFail("foldBatchNorm: \(m)") }

        let xl = rng.tensor([2, 3, 6], -2, 2), lw = rng.tensor([6]), lb = rng.tensor([6])
        let ln = try layerNorm(xl, weight: lw, bias: lb, eps: 1e-5)
        try check("layerNorm dx", xl, forward: { try layerNorm($0, weight: lw, bias: lb, eps: 1e-5).y },
                  backward: { try layerNormBackward($0, xl, weight: lw, mean: ln.mean, rstd: ln.rstd).dx })
        try check("layerNorm dw", lw, forward: { try layerNorm(xl, weight: $0, bias: lb, eps: 1e-5).y },
                  backward: { try layerNormBackward($0, xl, weight: lw, mean: ln.mean, rstd: ln.rstd).dw })
        try check("layerNorm db", lb, forward: { try layerNorm(xl, weight: lw, bias: $0, eps: 1e-5).y },
                  backward: { try layerNormBackward($0, xl, weight: lw, mean: ln.mean, rstd: ln.rstd).db })
        let sc = rng.tensor([3]), sh = rng.tensor([3])
        try check("channelAffine", x, forward: { try channelAffine($0, scale: sc, shift: sh) }, backward: { try channelAffineBackward($0, scale: sc) })
        try check("channelAffine dscale", sc, forward: { try channelAffine(x, scale: $0, shift: sh) }, backward: { try channelAffineParamGrads($0, x).dscale })
    }

    func testLinear() throws {
        let x = rng.tensor([2, 3, 5]), w = rng.tensor([4, 5]), b = rng.tensor([4])
        // Forward against a hand loop.
        let y = try linear(x, weight: w, bias: b)
        XCTAssertEqual(y.shape, [2, 3, 4])
        var ref = [Float](repeating: 0, count: 24)
        for r in 0..<6 { for o in 0..<4 { var s = b.data[o]; for i in 0..<5 { s += x.data[r * 5 + i] * w.data[o * 5 + i] }; ref[r * 4 + o] = s } }
        if let m = closeness(y.values, ref, rtol: 1e-5, atol: 1e-5) { XCTFail("linear: \(m)") }
        try check("linear dx", x, forward: { try linear($0, weight: w, bias: b) }, backward: { try linearBackward($0, x, w).dx! })
        try check("linear dw", w, forward: { try linear(x, weight: $0, bias: b) }, backward: { try linearBackward($0, x, w).dw! })
        try check("linear db", b, forward: { try linear(x, weight: w, bias: $0) }, backward: { try linearBackward($0, x, w).db! })
        XCTAssertThrowsError(try linear(x, weight: rng.tensor([4, 6]), bias: nil))
    }

    func testPools() throws {
        // Distinct, well-separated values so max pooling has no ties within ε.
        let n = 2 * 3 * 7 * 6
        var perm = Array(0..<n); for i in stride(from: n - 1, to: 0, by: -1) { perm.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let x = try Tensor(shape: [2, 3, 7, 6], values: perm.map { Float($0) * 0.1 })
        for cfg in [Pool2dConfig(kernel: 3, stride: 2, padding: 1), Pool2dConfig(kernel: 3, stride: 2, padding: 1, ceilMode: true),
                    Pool2dConfig(kernel: 2), Pool2dConfig(kernel: 2, stride: 2, ceilMode: true)] {
            let r = try maxPool2d(x, cfg)
            try check("maxPool \(cfg)", x, forward: { try maxPool2d($0, cfg).y },
                      backward: { try maxPool2dBackward($0, argmax: r.argmax, inputShape: x.shape) })
            for cip in [true, false] {
                try check("avgPool \(cfg) \(cip)", x, forward: { try avgPool2d($0, cfg, countIncludePad: cip) },
                          backward: { try avgPool2dBackward($0, inputShape: x.shape, cfg, countIncludePad: cip) })
            }
        }
        // 7 → ceil((7+2-3)/2)+1 = 4 with ceil mode; floor mode gives 4 too; 6 → 3 (floor) / 4 → 3 (last window starts in padding).
        XCTAssertEqual(try maxPool2d(x, Pool2dConfig(kernel: 2, stride: 2, ceilMode: true)).y.shape, [2, 3, 4, 3])
        XCTAssertEqual(try maxPool2d(x, Pool2dConfig(kernel: 2, stride: 2)).y.shape, [2, 3, 3, 3])
        for (oh, ow) in [(3, 4), (1, 1), (5, 5), (7, 6)] {
            try check("adaptiveAvgPool \(oh)x\(ow)", x, forward: { try adaptiveAvgPool2d($0, outH: oh, outW: ow) },
                      backward: { try adaptiveAvgPool2dBackward($0, inputShape: x.shape) })
        }
        try check("globalAvgPool", x, forward: { try globalAvgPool($0) }, backward: { try globalAvgPoolBackward($0, inputShape: x.shape) })
        let g = try globalAvgPool(x), a = try adaptiveAvgPool2d(x, outH: 1, outW: 1)
        if let m = closeness(g.values, a.values, rtol: 1e-5, atol: 1e-5) { XCTFail("global vs adaptive 1x1: \(m)") }
    }

    func testResize() throws {
        let x = rng.tensor([2, 2, 5, 6])
        for (oh, ow) in [(9, 13), (3, 4), (5, 6), (1, 1), (12, 3)] {
            try check("resizeBilinear \(oh)x\(ow)", x, forward: { try resizeBilinear($0, outH: oh, outW: ow) },
                      backward: { try resizeBilinearBackward($0, inputShape: x.shape) })
        }
        let same = try resizeBilinear(x, outH: 5, outW: 6)
        XCTAssertEqual(same.values, x.values)
        // 2× upsampling of [0, 1] along a row: half-pixel centres give 0, 0.25, 0.75, 1.
        let r = try resizeBilinear(Tensor(shape: [1, 1, 1, 2], values: [0, 1]), outH: 1, outW: 4)
        XCTAssertEqual(r.values, [0, 0.25, 0.75, 1])
        let nn = try resizeNearest(Tensor(shape: [1, 1, 1, 3], values: [1, 2, 3]), outH: 2, outW: 6)
        XCTAssertEqual(nn.values, [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
    }

    func testAttention() throws {
        let (b, t, c, h) = (2, 5, 8, 2)
        let qkv = rng.tensor([b, t, 3 * c])
        let r = try attention(qkv, heads: h)
        // Naive reference per head.
        let d = c / h
        for bi in 0..<b { for hh in 0..<h { for i in 0..<t {
            var s = [Double](repeating: 0, count: t)
            for j in 0..<t { for k in 0..<d {
                s[j] += Double(qkv.data[(bi * t + i) * 3 * c + hh * d + k]) * Double(qkv.data[(bi * t + j) * 3 * c + c + hh * d + k])
            } }
            let m = s.max()!
            let e = s.map { exp(($0 - m) / Double(d).squareRoot()) }, z = e.reduce(0, +)
            for j in 0..<t { XCTAssertEqual(Double(r.probs.data[((bi * h + hh) * t + i) * t + j]), e[j] / z, accuracy: 1e-5) }
            for k in 0..<d {
                var o = 0.0
                for j in 0..<t { o += e[j] / z * Double(qkv.data[(bi * t + j) * 3 * c + 2 * c + hh * d + k]) }
                XCTAssertEqual(Double(r.out.data[(bi * t + i) * c + hh * d + k]), o, accuracy: 1e-5)
            }
        } } }
        try check("attention", qkv, forward: { try attention($0, heads: h).out },
                  backward: { try attentionBackward($0, qkv, probs: r.probs, heads: h) })
        XCTAssertThrowsError(try attention(rng.tensor([1, 3, 9]), heads: 2))

        // Only the first query token (a ViT's last block): its rows equal the full result's, and
        // the backward (zero for the other Q rows) matches finite differences.
        let first = try attention(qkv, heads: h, queries: 1)
        XCTAssertEqual(first.out.shape, [b, 1, c])
        for bi in 0..<b {
            for k in 0..<c { XCTAssertEqual(first.out.data[bi * c + k], r.out.data[bi * t * c + k], accuracy: 1e-6) }
        }
        try check("attention queries: 1", qkv, forward: { try attention($0, heads: h, queries: 1).out },
                  backward: { try attentionBackward($0, qkv, probs: first.probs, heads: h) })
        XCTAssertThrowsError(try attention(qkv, heads: h, queries: t + 1))
    }

    func testShapeOps() throws {
        let a = rng.tensor([2, 3, 2, 2]), b = rng.tensor([2, 1, 2, 2])
        let cat = try concatChannels([a, b])
        XCTAssertEqual(cat.shape, [2, 4, 2, 2])
        XCTAssertEqual(cat.data[4 * 4 + 3 * 4 + 1], b.data[4 + 1])
        let parts = try splitChannelsGrad(cat, sizes: [3, 1])
        XCTAssertEqual(parts[0].values, a.values); XCTAssertEqual(parts[1].values, b.values)
        let x = rng.tensor([2, 3, 4, 5]), s = rng.tensor([2, 3])
        try check("mulChannelBroadcast dx", x, forward: { try mulChannelBroadcast($0, s) }, backward: { try mulChannelBroadcastBackward($0, x, s).dx })
        try check("mulChannelBroadcast ds", s, forward: { try mulChannelBroadcast(x, $0) }, backward: { try mulChannelBroadcastBackward($0, x, s).ds })
        let m = rng.tensor([3, 37, 41])
        let tt = try transposeLast2(m)
        XCTAssertEqual(tt.shape, [3, 41, 37])
        XCTAssertEqual(tt.data[(2 * 41 + 40) * 37 + 36], m.data[(2 * 37 + 36) * 41 + 40])
        XCTAssertEqual(try transposeLast2(tt).values, m.values)
    }

    func testLossAndRegularisation() throws {
        let logits = rng.tensor([3, 4])
        let targets = [2, 0, 3]
        let r = try crossEntropy(logits, targets: targets, labelSmoothing: 0.1)
        try check("crossEntropy", logits, forward: { try Tensor(shape: [1], values: [crossEntropy($0, targets: targets, labelSmoothing: 0.1).loss]) },
                  backward: { g in try scale(r.dlogits, g.data[0]) })
        // Hand-worked: uniform logits over K classes give log K.
        XCTAssertEqual(try crossEntropy(Tensor(zeros: [2, 4]), targets: [1, 3]).loss, log(4), accuracy: 1e-6)
        XCTAssertThrowsError(try crossEntropy(logits, targets: [0, 4, 1]))

        var g1 = SeededRNG(seed: 9), g2 = SeededRNG(seed: 9)
        let x = Tensor(repeating: 1, shape: [4000])
        let d1 = try dropout(x, p: 0.25, rng: &g1), d2 = try dropout(x, p: 0.25, rng: &g2)
        XCTAssertEqual(d1.y.values, d2.y.values)
        let kept = d1.mask.values.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / 4000, 0.75, accuracy: 0.03)
        XCTAssertTrue(kept.allSatisfy { abs($0 - 4 / 3) < 1e-6 })
        XCTAssertEqual(try dropoutBackward(x, mask: d1.mask).values, d1.mask.values)
        var g3 = SeededRNG(seed: 5)
        let xs = rng.tensor([64, 3])
        let sd = try stochasticDepth(xs, p: 0.5, rng: &g3)
        for i in 0..<64 {
            let k = sd.keep.data[i]
            XCTAssertTrue(k == 0 || k == 2)
            for j in 0..<3 { XCTAssertEqual(sd.y.data[i * 3 + j], xs.data[i * 3 + j] * k) }
        }
        var g4 = SeededRNG(seed: 11)
        var s = 0.0, s2 = 0.0
        for _ in 0..<20000 { let v = Double(g4.normal()); s += v; s2 += v * v }
        XCTAssertEqual(s / 20000, 0, accuracy: 0.03); XCTAssertEqual(s2 / 20000, 1, accuracy: 0.05)
    }
}
