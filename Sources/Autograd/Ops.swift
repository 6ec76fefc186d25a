import TensorCore

// Differentiable ops: each pairs a TensorCore forward kernel with its backward kernel. The
// closures capture only what the backward kernel reads (llm.c's "caches").

// MARK: - Elementwise

public func add(_ a: Variable, _ b: Variable) throws -> Variable {
    let y = try add(a.value, b.value)
    return record(y, [a, b]) { g in [g, g] }
}

public func relu(_ x: Variable) throws -> Variable {
    let y = try relu(x.value)
    return record(y, [x]) { g in [try reluBackward(g, y)] }
}

public func silu(_ x: Variable) throws -> Variable {
    let xv = x.value
    let y = try silu(xv)
    return record(y, [x]) { g in [try siluBackward(g, xv)] }
}

public func sigmoid(_ x: Variable) throws -> Variable {
    let y = try sigmoid(x.value)
    return record(y, [x]) { g in [try sigmoidBackward(g, y)] }
}

public func gelu(_ x: Variable) throws -> Variable {
    let xv = x.value
    let y = try gelu(xv)
    return record(y, [x]) { g in [try geluBackward(g, xv)] }
}

public func softmax(_ x: Variable) throws -> Variable {
    let y = try softmaxLastDim(x.value)
    return record(y, [x]) { g in [try softmaxLastDimBackward(g, y)] }
}

/// Same storage, new shape.
public func reshape(_ x: Variable, _ shape: [Int]) throws -> Variable {
    let inShape = x.value.shape
    let y = try x.value.reshaped(shape)
    return record(y, [x]) { g in [try g.reshaped(inShape)] }
}

// MARK: - Convolution, linear, normalisation

/// The convolution tuning of a graph convolution of input shape `x` and weight shape `w`: the
/// run's (`RunSettings.convTuning`), with Winograd only where it pays for transforming the filters
/// anew. A graph's weights are parameters that change every step, so each forward transforms its
/// filters (α²·Cin·Cout floats, memory-bound) before the α² GEMMs, whose width is the number of
/// tiles. The saving grows with the output pixels N·Ho·Wo, the transform with Cin·Cout, so Winograd
/// is taken when N·Ho·Wo·`graphWinogradPixelsPerFilterPair` ≥ Cin·Cout. Measured per convolution on
/// 2 cores at batch 16 (forward with its filter transform, and the backward's dx, which takes the
/// same path): 512² filters on 7×7 maps ran 0.87× (forward) and 0.73× (dx) of the GEMM path, 256² on
/// 8×8 1.13× and 0.97×, 256² on 4×4 0.77× and 0.55×, 128² on 8×8 1.32× and 1.03×, DenseNet-161's
/// 192→48 on 4×4 1.42× and 1.07× and on 2×2 1.19× and 0.82×; every map of 14×14 and more 1.3–3.2×.
func graphConvTuning(x: [Int], weight w: [Int], _ cfg: Conv2dConfig) -> ConvTuning {
    var tuning = RunSettings.current.convTuning
    guard x.count == 4, w.count == 4, let (ho, wo) = try? conv2dOutputSize(x[2], x[3], w[2], w[3], cfg) else { return tuning }
    if x[0] * ho * wo * tuning.graphWinogradPixelsPerFilterPair < w[0] * w[1] { tuning.winograd = false }
    return tuning
}

public func conv2d(_ x: Variable, weight: Variable, bias: Variable?, _ cfg: Conv2dConfig) throws -> Variable {
    let xv = x.value, wv = weight.value
    let tuning = graphConvTuning(x: xv.shape, weight: wv.shape, cfg)
    let y = try conv2d(xv, weight: wv, bias: bias?.value, cfg, tuning: tuning)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return record(y, inputs) { g in
        let r = try conv2dBackward(g, xv, wv, cfg, needInput: x.requiresGrad, needWeight: weight.requiresGrad,
                                   needBias: bias?.requiresGrad ?? false, tuning: tuning)
        return [r.dx, r.dw, r.db]
    }
}

public func linear(_ x: Variable, weight: Variable, bias: Variable?) throws -> Variable {
    let xv = x.value, wv = weight.value
    let y = try linear(xv, weight: wv, bias: bias?.value)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return record(y, inputs) { g in
        let r = try linearBackward(g, xv, wv, needInput: x.requiresGrad, needWeight: weight.requiresGrad,
                                   needBias: bias?.requiresGrad ?? false)
        return [r.dx, r.dw, r.db]
    }
}

/// BatchNorm2d with running statistics (inference). Gradients flow to x, weight and bias.
public func batchNormEval(_ x: Variable, weight: Variable, bias: Variable, runningMean: Tensor, runningVar: Tensor,
                          eps: Float) throws -> Variable {
    let xv = x.value, wv = weight.value
    let y = try batchNorm2dEval(xv, weight: wv, bias: bias.value, runningMean: runningMean, runningVar: runningVar, eps: eps)
    return record(y, [x, weight, bias]) { g in
        let dx = x.requiresGrad ? try batchNorm2dEvalBackward(g, weight: wv, runningVar: runningVar, eps: eps) : nil
        if weight.requiresGrad || bias.requiresGrad {
            let p = try batchNorm2dEvalParamGrads(g, xv, runningMean: runningMean, runningVar: runningVar, eps: eps)
            return [dx, p.dw, p.db]
        }
        return [dx, nil, nil]
    }
}

/// BatchNorm2d with batch statistics (training). Returns the output and the batch mean and biased
/// variance so the caller can update running statistics. With `residual` and `relu` the node is
/// relu(bn(x) + residual) (the graph's fused plan of torchvision's bn → relu and bn → `+= identity`
/// → relu), whose values and gradients have the same bits as the separate nodes'.
public func batchNormTrain(_ x: Variable, weight: Variable, bias: Variable, eps: Float, residual: Variable? = nil,
                           relu: Bool = false) throws -> (y: Variable, mean: Tensor, invStd: Tensor, variance: Tensor) {
    let xv = x.value, wv = weight.value
    let r = try batchNorm2dTrain(xv, weight: wv, bias: bias.value, eps: eps, residual: residual?.value, relu: relu)
    let mean = r.mean, invStd = r.invStd, yv = r.y
    let y: Variable
    if let residual {
        y = record(yv, [x, weight, bias, residual]) { g in
            // The residual's gradient is the one after the ReLU: store it once, for both inputs.
            let gr = relu ? try reluBackward(g, yv) : g
            let b = try batchNorm2dTrainBackward(gr, xv, weight: wv, mean: mean, invStd: invStd)
            return [b.dx, b.dw, b.db, gr]
        }
    } else {
        y = record(yv, [x, weight, bias]) { g in
            let b = try batchNorm2dTrainBackward(g, xv, weight: wv, mean: mean, invStd: invStd, reluOutput: relu ? yv : nil)
            return [b.dx, b.dw, b.db]
        }
    }
    return (y, mean, invStd, r.variance)
}

public func layerNorm(_ x: Variable, weight: Variable, bias: Variable, eps: Float) throws -> Variable {
    let xv = x.value, wv = weight.value
    let r = try layerNorm(xv, weight: wv, bias: bias.value, eps: eps)
    let mean = r.mean, rstd = r.rstd
    return record(r.y, [x, weight, bias]) { g in
        let b = try layerNormBackward(g, xv, weight: wv, mean: mean, rstd: rstd)
        return [b.dx, b.dw, b.db]
    }
}

// MARK: - Pooling and shape

public func maxPool2d(_ x: Variable, _ cfg: Pool2dConfig) throws -> Variable {
    let inShape = x.value.shape
    let r = try maxPool2d(x.value, cfg)
    let argmax = r.argmax
    return record(r.y, [x]) { g in [try maxPool2dBackward(g, argmax: argmax, inputShape: inShape)] }
}

public func avgPool2d(_ x: Variable, _ cfg: Pool2dConfig, countIncludePad: Bool = true) throws -> Variable {
    let inShape = x.value.shape
    let y = try avgPool2d(x.value, cfg, countIncludePad: countIncludePad)
    return record(y, [x]) { g in [try avgPool2dBackward(g, inputShape: inShape, cfg, countIncludePad: countIncludePad)] }
}

/// Adaptive average pooling to (outH, outW), NCHW in and out.
public func adaptiveAvgPool2d(_ x: Variable, outH: Int, outW: Int) throws -> Variable {
    let inShape = x.value.shape
    let y = try adaptiveAvgPool2d(x.value, outH: outH, outW: outW)
    return record(y, [x]) { g in [try adaptiveAvgPool2dBackward(g, inputShape: inShape)] }
}

/// [N,C,H,W] → [N,C].
public func globalAvgPool(_ x: Variable) throws -> Variable {
    let inShape = x.value.shape
    let y = try globalAvgPool(x.value)
    return record(y, [x]) { g in [try globalAvgPoolBackward(g, inputShape: inShape)] }
}

public func concatChannels(_ xs: [Variable]) throws -> Variable {
    let sizes = xs.map { $0.value.shape.count > 1 ? $0.value.shape[1] : 0 }
    let y = try concatChannels(xs.map(\.value))
    return record(y, xs) { g in try splitChannelsGrad(g, sizes: sizes).map { Optional($0) } }
}

/// x [N,C,H,W] · s [N,C] broadcast over H, W (squeeze-excitation).
public func mulChannel(_ x: Variable, _ s: Variable) throws -> Variable {
    let xv = x.value, sv = s.value
    let y = try mulChannelBroadcast(xv, sv)
    return record(y, [x, s]) { g in
        let r = try mulChannelBroadcastBackward(g, xv, sv)
        return [r.dx, r.ds]
    }
}

public func transposeLast2(_ x: Variable) throws -> Variable {
    let y = try transposeLast2(x.value)
    return record(y, [x]) { g in [try transposeLast2(g)] }
}

// MARK: - Attention and tokens

/// Multi-head self-attention core on the packed in-projection output qkv [B,T,3C] → [B,T,C], or
/// [B,q,C] for the first `queries` tokens only.
public func attention(_ qkv: Variable, heads: Int, queries: Int? = nil) throws -> Variable {
    let qv = qkv.value
    let r = try attention(qv, heads: heads, queries: queries)
    let probs = r.probs
    return record(r.out, [qkv]) { g in [try attentionBackward(g, qv, probs: probs, heads: heads)] }
}

/// Prepends a learned token [1,1,C] to every sequence of x [B,T,C] → [B,T+1,C].
public func prependToken(_ x: Variable, _ token: Variable) throws -> Variable {
    let y = try prependToken(x.value, token.value)
    return record(y, [x, token]) { g in
        let r = try prependTokenBackward(g)
        return [r.dx, r.dtoken]
    }
}

/// x [B,T,C] + p [1,T,C].
public func addBroadcastBatch(_ x: Variable, _ p: Variable) throws -> Variable {
    let y = try addBroadcastBatch(x.value, p.value)
    return record(y, [x, p]) { g in [g, try sumBatch(g)] }
}

/// x[:, index, :] of [B,T,C] → [B,C].
public func selectToken(_ x: Variable, index: Int) throws -> Variable {
    let inShape = x.value.shape
    let y = try selectToken(x.value, index: index)
    return record(y, [x]) { g in [try selectTokenBackward(g, inputShape: inShape, index: index)] }
}

// MARK: - Regularisation

/// Dropout (training only; identity otherwise), scaled by 1/(1−p).
public func dropout(_ x: Variable, p: Float, training: Bool, rng: inout SeededRNG) throws -> Variable {
    guard training, p > 0 else { return x }
    let r = try dropout(x.value, p: p, rng: &rng)
    let mask = r.mask
    return record(r.y, [x]) { g in [try dropoutBackward(g, mask: mask)] }
}

/// Stochastic depth in torchvision's "row" mode (training only; identity otherwise): each sample's
/// branch is kept with probability 1−p and then scaled by 1/(1−p).
public func stochasticDepth(_ x: Variable, p: Float, training: Bool, rng: inout SeededRNG) throws -> Variable {
    guard training, p > 0 else { return x }
    let n = x.value.shape.first ?? 1
    let factors = (0..<n).map { _ in rng.uniform() < 1 - p ? 1 / (1 - p) : Float(0) }
    let y = try mulRows(x.value, factors)
    return record(y, [x]) { g in [try mulRows(g, factors)] }
}
