import Foundation
import TensorCore
import Autograd

// Layers with PyTorch's parameter names and semantics. Shapes: images NCHW, tokens [B,T,C].

/// torch.nn.Conv2d. weight [out, in/groups, kh, kw], optional bias [out].
public final class Conv2d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inChannels: Int, outChannels: Int, kernelSize: Int
    public let config: Conv2dConfig

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.config = Conv2dConfig(stride: stride, padding: padding, dilation: dilation, groups: groups)
        weight = Parameter(Tensor(zeros: [outChannels, inChannels / max(groups, 1), kernelSize, kernelSize]))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels])) : nil
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        try checkInput(x.shape)
        return try conv2d(x, weight: bind(weight, ctx), bias: bias.map { bind($0, ctx) }, config)
    }

    private func checkInput(_ shape: [Int]) throws {
        guard shape.count == 4, shape[1] == inChannels else {
            throw TensorError.shapeMismatch(op: "Conv2d '\(path)'", detail: "expects [N, \(inChannels), H, W], got \(shape)")
        }
    }

    /// The weights the inference plan runs: this convolution's own, or with a following inference
    /// BatchNorm folded in, plus their Winograd filters. Derived, never stored back: the parameters
    /// stay PyTorch's (trainable, saved as they are). Keyed by the storages they were derived from,
    /// so assigning any source's `value` (loading, training steps) makes them stale and they are
    /// rebuilt on next use; code that changes elements in place must assign a new tensor instead.
    /// Holding the storages themselves (not ObjectIdentifiers) rules out a freed address being reused.
    private final class InferenceWeights {
        let sources: [TensorStorage]
        let weight: Tensor, bias: Tensor?
        /// Winograd filters per tile, made on first use (the tile depends on the input size).
        var winograd: [WinogradTile: Tensor] = [:]
        init(sources: [TensorStorage], weight: Tensor, bias: Tensor?) { (self.sources, self.weight, self.bias) = (sources, weight, bias) }
    }
    private var inferenceCache: InferenceWeights?
    private let inferenceLock = NSLock()

    private func inferenceWeights(foldedWith bn: BatchNorm2d?) throws -> InferenceWeights {
        var sources = [weight.value.storage]
        if let bias { sources.append(bias.value.storage) }
        if let bn { sources += [bn.weight, bn.bias, bn.runningMean, bn.runningVar].map(\.value.storage) }
        return try inferenceLock.withLock {
            if let c = inferenceCache, c.sources.count == sources.count, zip(c.sources, sources).allSatisfy({ $0 === $1 }) {
                return c
            }
            var w = weight.value, b = bias?.value
            if let bn {
                (w, b) = try foldBatchNorm(w, convBias: b, bnWeight: bn.weight.value, bnBias: bn.bias.value,
                                           runningMean: bn.runningMean.value, runningVar: bn.runningVar.value, eps: bn.eps)
            }
            let c = InferenceWeights(sources: sources, weight: w, bias: b)
            inferenceCache = c
            return c
        }
    }

    /// The inference forward on plain tensors (no graph): this convolution, then `bn` (inference
    /// statistics) folded into its weights, then `activation` as its epilogue.
    public func infer(_ x: Tensor, foldedWith bn: BatchNorm2d? = nil, activation: FusedActivation = .none,
                      tuning: ConvTuning = .default) throws -> Tensor {
        try checkInput(x.shape)
        if let bn, bn.weight.value.count != outChannels {
            throw TensorError.shapeMismatch(op: "BatchNorm2d '\(bn.path)'", detail: "expects \(bn.weight.value.count) channels, '\(path)' gives \(outChannels)")
        }
        let w = try inferenceWeights(foldedWith: bn)
        let filters = winogradTile(input: x.shape, weight: w.weight.shape, config, tuning: tuning).map { tile in
            inferenceLock.withLock { () -> Tensor in
                if let f = w.winograd[tile] { return f }
                let f = winogradFilters(w.weight, tile: tile)
                w.winograd[tile] = f
                return f
            }
        }
        return try conv2d(x, weight: w.weight, bias: w.bias, config, activation: activation, winogradFilters: filters, tuning: tuning)
    }

    /// Derives the inference weights now (instead of at the first forward).
    func prepareInference(foldedWith bn: BatchNorm2d?) throws { _ = try inferenceWeights(foldedWith: bn) }
}

/// torch.nn.BatchNorm2d (affine, tracking running statistics, momentum 0.1).
public final class BatchNorm2d: Module {
    public let weight: Parameter, bias: Parameter
    public let runningMean: Parameter, runningVar: Parameter, numBatchesTracked: Parameter
    public let eps: Float
    public let momentum: Float

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        weight = Parameter(Tensor(repeating: 1, shape: [channels]))
        bias = Parameter(Tensor(zeros: [channels]))
        runningMean = Parameter(Tensor(zeros: [channels]), kind: .buffer)
        runningVar = Parameter(Tensor(repeating: 1, shape: [channels]), kind: .buffer)
        numBatchesTracked = Parameter(Tensor(zeros: []), kind: .counter)
        self.eps = eps
        self.momentum = momentum
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        if !ctx.training {
            try checkInput(x.shape)
            return try batchNormEval(x, weight: bind(weight, ctx), bias: bind(bias, ctx),
                                     runningMean: runningMean.value, runningVar: runningVar.value, eps: eps)
        }
        return try trainingForward(x, ctx)
    }

    /// The training-mode forward (batch statistics, running statistics updated), optionally with
    /// `residual` added and a ReLU applied in the same node: the graph's plan for an unobserved
    /// bn → relu (`convNormActivation`, `normActivation`) and bn → `+= identity` → relu (`Bottleneck`).
    public func trainingForward(_ x: Variable, _ ctx: ForwardContext, residual: Variable? = nil, relu: Bool = false) throws -> Variable {
        try checkInput(x.shape)
        let c = weight.value.count
        let r = try batchNormTrain(x, weight: bind(weight, ctx), bias: bind(bias, ctx), eps: eps, residual: residual, relu: relu)
        // Running statistics use the unbiased batch variance, as PyTorch does.
        let n = Float(x.shape[0] * x.shape[2] * x.shape[3])
        let rm = runningMean.value.copy(), rv = runningVar.value.copy()
        for i in 0..<c {
            let biasedVar = r.variance.data[i]
            let unbiased = n > 1 ? biasedVar * n / (n - 1) : biasedVar
            rm.data[i] = (1 - momentum) * rm.data[i] + momentum * r.mean.data[i]
            rv.data[i] = (1 - momentum) * rv.data[i] + momentum * unbiased
        }
        runningMean.value = rm
        runningVar.value = rv
        numBatchesTracked.value = Tensor(scalar: numBatchesTracked.value.data[0] + 1)
        return r.y
    }

    private func checkInput(_ shape: [Int]) throws {
        let c = weight.value.count
        guard shape.count == 4, shape[1] == c else {
            throw TensorError.shapeMismatch(op: "BatchNorm2d '\(path)'", detail: "expects [N, \(c), H, W], got \(shape)")
        }
    }
}

/// torch.nn.Linear. weight [out, in], bias [out]; applies to the last dimension.
public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int, outFeatures: Int

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(Tensor(zeros: [outFeatures, inFeatures]))
        self.bias = bias ? Parameter(Tensor(zeros: [outFeatures])) : nil
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        guard x.shape.last == inFeatures else {
            throw TensorError.shapeMismatch(op: "Linear '\(path)'", detail: "expects last dimension \(inFeatures), got \(x.shape)")
        }
        return try linear(x, weight: bind(weight, ctx), bias: bias.map { bind($0, ctx) })
    }
}

/// torch.nn.LayerNorm over the last dimension.
public final class LayerNorm: Module {
    public let weight: Parameter, bias: Parameter
    public let eps: Float

    public init(_ features: Int, eps: Float = 1e-5) {
        weight = Parameter(Tensor(repeating: 1, shape: [features]))
        bias = Parameter(Tensor(zeros: [features]))
        self.eps = eps
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        try layerNorm(x, weight: bind(weight, ctx), bias: bind(bias, ctx), eps: eps)
    }
}

/// A parameter-free elementwise activation module (ReLU, SiLU, GELU, Sigmoid, Identity).
public final class Activation: Module {
    public enum Kind: String, Sendable { case relu = "ReLU", silu = "SiLU", gelu = "GELU", sigmoid = "Sigmoid", identity = "Identity" }
    public let kind: Kind
    /// torchvision's `inplace=True`: the module overwrites its input, so the module before it (and
    /// pytorch-grad-cam's hook on that module) sees this activation's output.
    public let inPlace: Bool
    public init(_ kind: Kind, inPlace: Bool = false) {
        self.kind = kind
        self.inPlace = inPlace
    }

    /// The same function as a convolution or normalisation epilogue.
    public var fused: FusedActivation {
        switch kind {
        case .relu: return .relu
        case .silu: return .silu
        case .gelu: return .gelu
        case .sigmoid: return .sigmoid
        case .identity: return .none
        }
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        switch kind {
        case .relu: return try relu(x)
        case .silu: return try silu(x)
        case .gelu: return try gelu(x)
        case .sigmoid: return try sigmoid(x)
        case .identity: return x
        }
    }
}

/// torch.nn.Dropout: identity at inference.
public final class Dropout: Module {
    public let p: Float
    public init(_ p: Float) { self.p = p }
    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        try dropout(x, p: p, training: ctx.training && ctx.stochasticLayers, rng: &ctx.rng)
    }
}

/// torchvision.ops.StochasticDepth in "row" mode: drops whole samples of a residual branch with
/// probability `p` while training (survivors scaled by 1/(1-p)); the identity at inference.
public final class StochasticDepth: Module {
    public let p: Float
    public init(_ p: Float) { self.p = p }
    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        try stochasticDepth(x, p: p, training: ctx.training && ctx.stochasticLayers, rng: &ctx.rng)
    }
}

/// torch.nn.MaxPool2d.
public final class MaxPool2d: Module {
    public let config: Pool2dConfig
    public init(kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false) {
        config = Pool2dConfig(kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    }
    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable { try maxPool2d(x, config) }
}

/// torch.nn.AvgPool2d.
public final class AvgPool2d: Module {
    public let config: Pool2dConfig
    public init(kernel: Int, stride: Int, padding: Int = 0) {
        config = Pool2dConfig(kernel: kernel, stride: stride, padding: padding, ceilMode: false)
    }
    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable { try avgPool2d(x, config) }
}

/// torch.nn.AdaptiveAvgPool2d((1, 1)): keeps the [N,C,1,1] shape like PyTorch.
public final class GlobalAvgPool: Module {
    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        guard x.shape.count == 4 else {
            throw TensorError.shapeMismatch(op: "AdaptiveAvgPool2d '\(path)'", detail: "expects [N,C,H,W], got \(x.shape)")
        }
        return try reshape(globalAvgPool(x), [x.shape[0], x.shape[1], 1, 1])
    }
}

/// torch.nn.Sequential: children named "0", "1", … run in order; conv → BatchNorm → activation
/// runs through the inference plan (`convNormActivation`).
open class Sequential: Module {
    public let layers: [Module]
    public init(_ layers: [Module]) { self.layers = layers }
    open override var children: [(String, Module)] { layers.enumerated().map { (String($0.offset), $0.element) } }
    open override var outputAliases: [Module] {
        guard let last = layers.last, !((last as? Activation)?.inPlace ?? false) else { return [self] }
        return [self] + last.outputAliases
    }

    open override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        var h = x
        var i = 0
        while i < layers.count {
            let next = i + 1 < layers.count ? layers[i + 1] : nil
            if let conv = layers[i] as? Conv2d {
                let bn = next as? BatchNorm2d
                let j = i + (bn == nil ? 1 : 2)
                let act = j < layers.count ? layers[j] as? Activation : nil
                h = try convNormActivation(conv, bn, act, h, ctx)
                i = j + (act == nil ? 0 : 1)
            } else if let bn = layers[i] as? BatchNorm2d, let act = next as? Activation {
                h = try normActivation(bn, act, [h], ctx)
                i += 2
            } else if let act = layers[i] as? Activation, i > 0 {
                h = try activate(act, after: layers[i - 1], h, ctx)
                i += 1
            } else {
                h = try layers[i](h, ctx)
                i += 1
            }
        }
        return h
    }
}

/// A Sequential whose children carry explicit names (torchvision's `features` OrderedDicts).
open class NamedSequential: Sequential {
    public let names: [String]
    public init(names: [String], layers: [Module]) {
        self.names = names
        super.init(layers)
    }
    open override var children: [(String, Module)] { Array(zip(names, layers)) }
}

// MARK: - Inference preparation

extension Module {
    /// Prepares inference: derives the folded weights of every convolution followed by a BatchNorm
    /// (registration order is data order in all five architectures), so the first forward does not
    /// pay for it. The parameters are not changed: the model stays trainable and its state dict is
    /// PyTorch's. Forwards fold on demand without this call; it only moves the cost.
    public func foldBatchNorms() throws {
        for (_, m) in namedModules() {
            let kids = m.children.map(\.1)
            for (i, k) in kids.enumerated() {
                guard let conv = k as? Conv2d else { continue }
                try conv.prepareInference(foldedWith: i + 1 < kids.count ? kids[i + 1] as? BatchNorm2d : nil)
            }
        }
    }
}
