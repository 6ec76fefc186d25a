import Foundation
import TensorCore
import Autograd

// Layers with PyTorch's parameter names and semantics. Shapes: images NCHW, tokens [B,T,C].

/// torch.nn.Conv2d. weight [out, in/groups, kh, kw], optional bias [out].
public final class Conv2d: Module {
    public let weight: Parameter
    public private(set) var bias: Parameter?
    public let inChannels: Int, outChannels: Int, kernelSize: Int
    public let config: Conv2dConfig
    /// Set when a following BatchNorm was folded in: the bias is then not part of the state dict.
    public private(set) var foldedBias = false

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.config = Conv2dConfig(stride: stride, padding: padding, dilation: dilation, groups: groups)
        weight = Parameter(Tensor(zeros: [outChannels, inChannels / max(groups, 1), kernelSize, kernelSize]))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels])) : nil
    }

    public override var ownParameters: [(String, Parameter)] {
        if let bias, !foldedBias { return [("weight", weight), ("bias", bias)] }
        return [("weight", weight)]
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

    /// Winograd filters of the current weight, keyed by the weight's storage: assigning
    /// `weight.value` (loading, folding) makes them stale and they are rebuilt on next use.
    /// Code that changes the weight's elements in place must assign a new tensor instead.
    /// The cache holds the storage itself (an ObjectIdentifier alone could be reused by a new
    /// storage allocated at a freed one's address).
    private var winogradCache: (storage: TensorStorage, filters: Tensor?)?
    private let winogradLock = NSLock()

    /// The inference forward on plain tensors (no graph), with `activation` as the convolution's
    /// epilogue; repeated calls reuse the Winograd filters of the current weight.
    public func infer(_ x: Tensor, activation: FusedActivation = .none) throws -> Tensor {
        try checkInput(x.shape)
        let w = weight.value
        let filters: Tensor? = winogradLock.withLock {
            if let c = winogradCache, c.storage === w.storage { return c.filters }
            let f = winogradFilters(w, config)
            winogradCache = (w.storage, f)
            return f
        }
        return try conv2d(x, weight: w, bias: bias?.value, config, activation: activation, winogradFilters: filters)
    }

    /// Folds an inference BatchNorm that reads this convolution's output into the weights.
    func fold(_ bn: BatchNorm2d) throws {
        let r = try foldBatchNorm(weight.value, convBias: bias?.value, bnWeight: bn.weight.value, bnBias: bn.bias.value,
                                  runningMean: bn.runningMean.value, runningVar: bn.runningVar.value, eps: bn.eps)
        weight.value = r.weight
        if let bias { bias.value = r.bias } else { bias = Parameter(r.bias); foldedBias = true }
        bn.isFolded = true
    }
}

/// torch.nn.BatchNorm2d (affine, tracking running statistics, momentum 0.1).
public final class BatchNorm2d: Module {
    public let weight: Parameter, bias: Parameter
    public let runningMean: Parameter, runningVar: Parameter, numBatchesTracked: Parameter
    public let eps: Float
    public let momentum: Float
    /// Folded into the preceding convolution: the forward is the identity.
    public internal(set) var isFolded = false

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        weight = Parameter(Tensor(repeating: 1, shape: [channels]))
        bias = Parameter(Tensor(zeros: [channels]))
        runningMean = Parameter(Tensor(zeros: [channels]), kind: .buffer)
        runningVar = Parameter(Tensor(repeating: 1, shape: [channels]), kind: .buffer)
        numBatchesTracked = Parameter(Tensor(zeros: []), kind: .counter)
        self.eps = eps
        self.momentum = momentum
    }

    public override var ownParameters: [(String, Parameter)] {
        [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar),
         ("num_batches_tracked", numBatchesTracked)]
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        if isFolded {
            if ctx.training {
                throw TensorError.invalidArgument(op: "BatchNorm2d '\(path)'", detail: "folded into the preceding convolution: inference only")
            }
            return x
        }
        let c = weight.value.count
        guard x.shape.count == 4, x.shape[1] == c else {
            throw TensorError.shapeMismatch(op: "BatchNorm2d '\(path)'", detail: "expects [N, \(c), H, W], got \(x.shape)")
        }
        if !ctx.training {
            return try batchNormEval(x, weight: bind(weight, ctx), bias: bind(bias, ctx),
                                     runningMean: runningMean.value, runningVar: runningVar.value, eps: eps)
        }
        let r = try batchNormTrain(x, weight: bind(weight, ctx), bias: bind(bias, ctx), eps: eps)
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

    public override var ownParameters: [(String, Parameter)] {
        if let bias { return [("weight", weight), ("bias", bias)] }
        return [("weight", weight)]
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

    public override var ownParameters: [(String, Parameter)] { [("weight", weight), ("bias", bias)] }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        try layerNorm(x, weight: bind(weight, ctx), bias: bind(bias, ctx), eps: eps)
    }
}

/// A parameter-free elementwise activation module (ReLU, SiLU, GELU, Sigmoid, Identity).
public final class Activation: Module {
    public enum Kind: Sendable { case relu, silu, gelu, sigmoid, identity }
    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

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

/// torch.nn.Sequential: children named "0", "1", … run in order.
open class Sequential: Module {
    public let layers: [Module]
    public init(_ layers: [Module]) { self.layers = layers }
    open override var children: [(String, Module)] { layers.enumerated().map { (String($0.offset), $0.element) } }
    open override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        var h = x
        for l in layers { h = try l(h, ctx) }
        return h
    }
}

// MARK: - BatchNorm folding

extension Module {
    /// Folds every inference BatchNorm2d into the convolution whose output it reads.
    ///
    /// A pair is a Conv2d child directly followed by a BatchNorm2d child in registration order,
    /// which in all five architectures here is also the data order (conv → bn). Inference only.
    public func foldBatchNorms() throws {
        for (_, m) in namedModules() {
            let kids = m.children.map(\.1)
            for i in 0..<max(0, kids.count - 1) {
                if let conv = kids[i] as? Conv2d, let bn = kids[i + 1] as? BatchNorm2d, !bn.isFolded {
                    try conv.fold(bn)
                }
            }
        }
    }
}
