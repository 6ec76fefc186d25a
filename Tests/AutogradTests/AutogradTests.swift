import XCTest
import TensorCore
import Autograd
import NN
import TestSupport

/// The graph machinery: accumulation over shared sub-expressions, residual branches, truncated
/// backward at a named layer, inference recording nothing. Gradients are checked against central
/// finite differences of the same composed forward, in Double where it matters.
final class AutogradTests: XCTestCase {
    /// Central finite difference of a scalar function of one tensor, element by element.
    func finiteDifference(_ x: Tensor, eps: Float = 1e-2, _ f: (Tensor) throws -> Float) rethrows -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let orig = x.data[i]
            x.data[i] = orig + eps
            let fp = try f(x)
            x.data[i] = orig - eps
            let fm = try f(x)
            x.data[i] = orig
            out[i] = (fp - fm) / (2 * eps)
        }
        return out
    }

    func weightedSum(_ y: Tensor, _ w: Tensor) -> Float {
        var s: Double = 0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(w.data[i]) }
        return Float(s)
    }

    /// y = (x·x) + sigmoid(x) uses x three times: gradients from every use are summed.
    func testSharedSubexpressionAccumulates() throws {
        var rng = TestRNG(seed: 1)
        let xv = rng.tensor([2, 3, 4, 5])
        let x = Variable(xv, requiresGrad: true)
        let s = try sigmoid(x)
        let y = try add(try relu(add(x, x)), s)
        let w = rng.tensor(y.shape)
        try backward(y, seed: w)
        let fd = try finiteDifference(xv.copy(), eps: 1e-3) { t in
            let yy = try add(relu(add(t, t)), sigmoid(t))
            return weightedSum(yy, w)
        }
        XCTAssertNil(closeness(x.grad!.values, fd, rtol: 2e-2, atol: 2e-2))
    }

    /// The graph's fused BatchNorm nodes — bn → relu, and bn → + residual → relu — give the same bits
    /// as the separate nodes, forward and backward (x, weight, bias, residual), on planes with every
    /// SIMD tail length and with values straddling zero so the ReLU masks both ways. The residual
    /// also feeds a second use, so its gradient is accumulated with the fused node's.
    func testFusedBatchNormNodesEqualSeparateNodes() throws {
        var rng = TestRNG(seed: 12)
        for (shape, withResidual) in [([3, 4, 5, 3], false), ([2, 5, 3, 3], true), ([4, 3, 4, 4], true), ([2, 16, 2, 2], false)] {
            let c = shape[1]
            let xv = rng.tensor(shape), wv = rng.tensor([c], 0.5, 1.5), bv = rng.tensor([c], -0.5, 0.5)
            let rv = rng.tensor(shape), seed = rng.tensor(shape)
            var results: [[[Float]]] = []
            for fused in [false, true] {
                let x = Variable(xv.copy(), requiresGrad: true), w = Variable(wv.copy(), requiresGrad: true)
                let b = Variable(bv.copy(), requiresGrad: true), r = Variable(rv.copy(), requiresGrad: true)
                var y: Variable
                if fused {
                    y = try batchNormTrain(x, weight: w, bias: b, eps: 1e-5, residual: withResidual ? r : nil, relu: true).y
                } else {
                    y = try batchNormTrain(x, weight: w, bias: b, eps: 1e-5).y
                    if withResidual { y = try add(y, r) }
                    y = try relu(y)
                }
                let z = y.value.values
                if withResidual { y = try add(y, try sigmoid(r)) }
                try backward(y, seed: seed)
                results.append([z, x.grad!.values, w.grad!.values, b.grad!.values] + (withResidual ? [r.grad!.values] : []))
            }
            XCTAssertEqual(results[0], results[1], "\(shape) residual \(withResidual)")
            XCTAssertTrue(results[1][0].contains(0) && results[1][0].contains { $0 > 0 }, "the ReLU should mask some values and pass others")
        }
    }

    /// A residual block conv → SiLU → conv + identity, gradient to input and weights (a smooth
    /// activation, so the finite differences do not straddle a kink).
    func testResidualBranchGradients() throws {
        var rng = TestRNG(seed: 2)
        let xv = rng.tensor([2, 3, 5, 5])
        let w1v = rng.tensor([3, 3, 3, 3], -0.3, 0.3), w2v = rng.tensor([3, 3, 3, 3], -0.3, 0.3)
        let cfg = Conv2dConfig(stride: 1, padding: 1)
        func forward(_ x: Variable, _ w1: Variable, _ w2: Variable) throws -> Variable {
            let h = try silu(conv2d(x, weight: w1, bias: nil, cfg))
            return try add(conv2d(h, weight: w2, bias: nil, cfg), x)
        }
        let x = Variable(xv, requiresGrad: true), w1 = Variable(w1v, requiresGrad: true), w2 = Variable(w2v, requiresGrad: true)
        let y = try forward(x, w1, w2)
        let g = rng.tensor(y.shape)
        try backward(y, seed: g)
        func loss(_ xt: Tensor, _ a: Tensor, _ b: Tensor) throws -> Float {
            weightedSum(try forward(Variable(xt), Variable(a), Variable(b)).value, g)
        }
        let fdx = try finiteDifference(xv.copy(), eps: 1e-2) { try loss($0, w1v, w2v) }
        let fdw1 = try finiteDifference(w1v.copy(), eps: 1e-2) { try loss(xv, $0, w2v) }
        XCTAssertNil(closeness(x.grad!.values, fdx, rtol: 3e-2, atol: 3e-2))
        XCTAssertNil(closeness(w1.grad!.values, fdw1, rtol: 3e-2, atol: 3e-2))
        XCTAssertNotNil(w2.grad)
    }

    /// A gradient layer cuts the graph: nothing upstream is recorded or receives a gradient, and the
    /// gradient at the cut equals the one of the full graph.
    func testTruncatedBackwardAtNamedLayer() throws {
        let model = Sequential([Conv2d(3, 4, kernelSize: 3, padding: 1), Activation(.relu), Conv2d(4, 2, kernelSize: 1)])
        model.assignPaths()
        var rng = TestRNG(seed: 3)
        for (_, p) in model.namedParameters() { p.value = rng.tensor(p.value.shape, -0.5, 0.5) }
        let xv = rng.tensor([1, 3, 6, 6])
        // Full graph with the input requiring a gradient, the "1" output retained.
        let full = ForwardContext(gradientLayers: ["1"])
        let xin = Variable(xv, requiresGrad: true)
        let yFull = try model(xin, full)
        let seed = rng.tensor(yFull.shape)
        try backward(yFull, seed: seed)
        XCTAssertNotNil(xin.grad, "the full graph reaches the input")
        // Truncated: the input does not require a gradient, so the tap becomes a leaf.
        let cut = ForwardContext(gradientLayers: ["1"])
        let xc = Variable(xv)
        let y = try model(xc, cut)
        XCTAssertTrue(cut.activations["1"]!.isLeaf, "the tap is a cut point")
        try backward(y, seed: seed)
        XCTAssertNil(xc.grad)
        XCTAssertNil(model.layers[0].namedParameters().first!.1.grad, "no parameter gradient upstream of the cut")
        XCTAssertNil(closeness(cut.gradient("1")!.values, full.gradient("1")!.values, rtol: 1e-5, atol: 1e-6))
    }

    /// Inference records nothing: no node requires a gradient, backward refuses.
    func testInferenceRecordsNothing() throws {
        let x = Variable(Tensor(repeating: 1, shape: [1, 2, 3, 3]))
        let y = try relu(add(x, x))
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
        XCTAssertThrowsError(try backward(y))
    }

    /// Backward rejects a seed of the wrong shape with a message naming the op.
    func testSeedShapeChecked() throws {
        let x = Variable(Tensor(repeating: 1, shape: [2, 2]), requiresGrad: true)
        let y = try relu(x)
        XCTAssertThrowsError(try backward(y, seed: Tensor(zeros: [3]))) { e in
            XCTAssertTrue("\(e)".contains("backward"))
        }
    }

    /// Two gradient layers, one downstream of the other: both receive their gradient.
    func testSeveralGradientLayers() throws {
        let model = Sequential([Conv2d(2, 3, kernelSize: 3, padding: 1), Activation(.relu), Conv2d(3, 2, kernelSize: 3, padding: 1)])
        model.assignPaths()
        var rng = TestRNG(seed: 4)
        for (_, p) in model.namedParameters() { p.value = rng.tensor(p.value.shape, -0.5, 0.5) }
        let ctx = ForwardContext(gradientLayers: ["0", "2"])
        let y = try model(Variable(rng.tensor([1, 2, 5, 5])), ctx)
        let seed = rng.tensor(y.shape)
        try backward(y, seed: seed)
        XCTAssertNil(closeness(ctx.gradient("2")!.values, seed.values), "gradient at the output is the seed")
        XCTAssertNotNil(ctx.gradient("0"))
    }

    /// Training-mode BatchNorm through the NN layer: gradients to weight/bias match finite differences
    /// and the running statistics move with momentum 0.1 (unbiased variance), as in PyTorch.
    func testBatchNormTrainingLayer() throws {
        let bn = BatchNorm2d(3)
        bn.assignPaths("bn")
        var rng = TestRNG(seed: 5)
        let xv = rng.tensor([4, 3, 2, 2], 0, 2)
        let ctx = ForwardContext(training: true, parameterGrads: true)
        let y = try bn(Variable(xv), ctx)
        let g = rng.tensor(y.shape)
        try backward(y, seed: g)
        // Running mean after one step: 0.9·0 + 0.1·batch mean.
        for c in 0..<3 {
            var s: Double = 0, s2: Double = 0
            var n = 0
            for b in 0..<4 { for i in 0..<4 { let v = Double(xv.data[(b * 3 + c) * 4 + i]); s += v; s2 += v * v; n += 1 } }
            let mean = s / Double(n)
            let unbiased = (s2 - Double(n) * mean * mean) / Double(n - 1)
            XCTAssertEqual(Double(bn.runningMean.value.data[c]), 0.1 * mean, accuracy: 1e-5)
            XCTAssertEqual(Double(bn.runningVar.value.data[c]), 0.9 + 0.1 * unbiased, accuracy: 1e-4)
        }
        XCTAssertEqual(bn.numBatchesTracked.value.data[0], 1)
        // dβ = Σ g over N, H, W.
        for c in 0..<3 {
            var s: Float = 0
            for b in 0..<4 { for i in 0..<4 { s += g.data[(b * 3 + c) * 4 + i] } }
            XCTAssertEqual(bn.bias.grad!.data[c], s, accuracy: 1e-4)
        }
    }
}
