import TensorCore
import Autograd
import NN

// DenseNet-161 — Huang et al., "Densely Connected Convolutional Networks" (2017), following
// torchvision 0.29 `torchvision/models/densenet.py`: growth rate 48, blocks (6, 12, 36, 24),
// 96 initial features, bottleneck size 4, no dropout. Names: features.conv0, features.norm0,
// features.denseblockN.denselayerM.{norm1,relu1,conv1,norm2,relu2,conv2}, features.transitionN.
// {norm,relu,conv,pool}, features.norm5, classifier.
//
// torchvision applies `F.relu(features, inplace=True)` after features.norm5 (not a module). A
// forward hook on norm5 therefore sees the post-ReLU tensor once the forward finishes, while the
// gradient hook receives the gradient at norm5's output before the ReLU (i.e. masked by it): this
// is what pytorch-grad-cam computes on CPU with target layer `features[-1]`. We reproduce it: the
// tap `features.norm5` takes its gradient at the BatchNorm output and reports the post-ReLU
// activation.

/// torchvision's _DenseLayer (BN-ReLU-Conv1×1-BN-ReLU-Conv3×3) returning only the new features.
public final class DenseLayer: Module {
    public let norm1: BatchNorm2d, relu1 = Activation(.relu), conv1: Conv2d
    public let norm2: BatchNorm2d, relu2 = Activation(.relu), conv2: Conv2d

    init(inputFeatures: Int, growthRate: Int, bnSize: Int) {
        norm1 = BatchNorm2d(inputFeatures)
        conv1 = Conv2d(inputFeatures, bnSize * growthRate, kernelSize: 1, bias: false)
        norm2 = BatchNorm2d(bnSize * growthRate)
        conv2 = Conv2d(bnSize * growthRate, growthRate, kernelSize: 3, padding: 1, bias: false)
    }

    public override var children: [(String, Module)] {
        [("norm1", norm1), ("relu1", relu1), ("conv1", conv1), ("norm2", norm2), ("relu2", relu2), ("conv2", conv2)]
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        let b = try conv1(relu1(norm1(x, ctx), ctx), ctx)
        return try conv2(relu2(norm2(b, ctx), ctx), ctx)
    }

    /// The inference forward on the list of earlier features, without concatenating them first:
    /// norm1+relu1 read the pieces in one pass, norm2 (folded into conv1) and relu2 are conv1's
    /// epilogue. Same operations in the same order as `forward`, so the same values. Nil when the
    /// fast path does not apply (training, gradients or taps inside this layer, unfolded norm2).
    func fusedForward(_ features: [Variable], _ ctx: ForwardContext) throws -> Variable? {
        guard norm2.isFolded, !norm1.isFolded, inferenceFastPathAllowed(self, ctx, features) else { return nil }
        let t = try concatBatchNormActivation(features.map(\.value), weight: norm1.weight.value, bias: norm1.bias.value,
                                              runningMean: norm1.runningMean.value, runningVar: norm1.runningVar.value,
                                              eps: norm1.eps, activation: .relu)
        let b = try conv1.infer(t, activation: .relu)
        return Variable(try conv2.infer(b))
    }
}


/// torchvision's _DenseBlock: each layer reads the concatenation of all earlier features.
public final class DenseBlock: Module {
    public let layers: [DenseLayer]

    init(numLayers: Int, inputFeatures: Int, growthRate: Int, bnSize: Int) {
        layers = (0..<numLayers).map { DenseLayer(inputFeatures: inputFeatures + $0 * growthRate, growthRate: growthRate, bnSize: bnSize) }
    }

    public override var children: [(String, Module)] { layers.enumerated().map { ("denselayer\($0.offset + 1)", $0.element) } }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        var features = [x]
        for l in layers {
            if let y = try l.fusedForward(features, ctx) {
                // Inference: no concatenated copy per layer (see DenseLayer.fusedForward).
                features.append(ctx.tap(l.path, y))
                continue
            }
            // torchvision concatenates all earlier features as the layer's input.
            let input = features.count == 1 ? features[0] : try concatChannels(features)
            features.append(try l(input, ctx))
        }
        return try concatChannels(features)
    }
}

/// torchvision's _Transition: BN-ReLU-Conv1×1-AvgPool2.
public final class Transition: Module {
    public let norm: BatchNorm2d, relu = Activation(.relu), conv: Conv2d, pool = AvgPool2d(kernel: 2, stride: 2)

    init(_ inputFeatures: Int, _ outputFeatures: Int) {
        norm = BatchNorm2d(inputFeatures)
        conv = Conv2d(inputFeatures, outputFeatures, kernelSize: 1, bias: false)
    }

    public override var children: [(String, Module)] { [("norm", norm), ("relu", relu), ("conv", conv), ("pool", pool)] }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        if !norm.isFolded, inferenceFastPathAllowed(self, ctx, [x]) {
            // Inference: norm + relu in one pass, then conv and pool (their taps are not wanted).
            let t = try concatBatchNormActivation([x.value], weight: norm.weight.value, bias: norm.bias.value,
                                                  runningMean: norm.runningMean.value, runningVar: norm.runningVar.value,
                                                  eps: norm.eps, activation: .relu)
            let c = try conv.infer(t)
            return Variable(try avgPool2d(c, pool.config))
        }
        return try pool(conv(relu(norm(x, ctx), ctx), ctx), ctx)
    }
}

/// torchvision's DenseNet.
public final class DenseNet: ImageClassifier {
    public let features: Sequential
    public let classifier: Linear
    private let norm5: BatchNorm2d

    public init(architecture: Architecture, growthRate: Int, blockConfig: [Int], initFeatures: Int, bnSize: Int, numClasses: Int) {
        var mods: [Module] = []
        var names: [String] = []
        func add(_ n: String, _ m: Module) { names.append(n); mods.append(m) }
        add("conv0", Conv2d(3, initFeatures, kernelSize: 7, stride: 2, padding: 3, bias: false))
        add("norm0", BatchNorm2d(initFeatures))
        add("relu0", Activation(.relu))
        add("pool0", MaxPool2d(kernel: 3, stride: 2, padding: 1))
        var nf = initFeatures
        for (i, n) in blockConfig.enumerated() {
            add("denseblock\(i + 1)", DenseBlock(numLayers: n, inputFeatures: nf, growthRate: growthRate, bnSize: bnSize))
            nf += n * growthRate
            if i != blockConfig.count - 1 {
                add("transition\(i + 1)", Transition(nf, nf / 2))
                nf /= 2
            }
        }
        let n5 = BatchNorm2d(nf)
        add("norm5", n5)
        norm5 = n5
        features = NamedSequential(names: names, layers: mods)
        classifier = Linear(nf, numClasses)
        super.init(architecture: architecture, numClasses: numClasses)
        assignPaths()
    }

    public override var children: [(String, Module)] { [("features", features), ("classifier", classifier)] }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        let f = try features(x, ctx)
        // The functional in-place ReLU after features (see the file header).
        let r = try relu(f)
        ctx.overrideActivation("features.norm5", r.value)
        ctx.overrideActivation("features", r.value)
        let pooled = try globalAvgPool(r)
        return try classifier(pooled, ctx)
    }

    public override func pooledHead(for layer: String) -> (weight: Tensor, reluBeforePool: Bool)? {
        layer == "features.norm5" || layer == "features" ? (classifier.weight.value, true) : nil
    }
}

/// A Sequential whose children carry explicit names (torchvision's `features` OrderedDicts).
public final class NamedSequential: Sequential {
    public let names: [String]
    public init(names: [String], layers: [Module]) {
        self.names = names
        super.init(layers)
    }
    public override var children: [(String, Module)] { Array(zip(names, layers)) }
}

/// torchvision `densenet161(num_classes:)`.
public func densenet161(numClasses: Int = 1000) -> DenseNet {
    DenseNet(architecture: .densenet161, growthRate: 48, blockConfig: [6, 12, 36, 24], initFeatures: 96, bnSize: 4, numClasses: numClasses)
}
