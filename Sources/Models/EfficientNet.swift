import TensorCore
import Autograd
import NN

// EfficientNet-B0 — Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
// Networks" (2019), following torchvision 0.29 `torchvision/models/efficientnet.py`: MBConv blocks
// with squeeze-excitation (squeeze = max(1, block input channels / 4), SiLU then Sigmoid),
// stochastic depth 0.2·(block index / 16) in "row" mode, BatchNorm eps 1e-5 (torchvision uses 1e-3
// only from B5 and for V2), classifier Dropout(0.2) + Linear(1280, K). Names: features.0.{0,1},
// features.S.B.block.{0,1,2,3}.{0,1} / .fc1 / .fc2, features.8.{0,1}, classifier.1.

/// torchvision's Conv2dNormActivation: Conv2d (no bias) → BatchNorm2d → optional activation
/// (`inplace=True` by default: the SiLU overwrites the BatchNorm's output). Runs through the
/// Sequential's inference plan (one folded convolution with the activation as its epilogue).
public final class ConvNormActivation: Sequential {
    init(_ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1, groups: Int = 1, activation: Activation.Kind?) {
        var layers: [Module] = [Conv2d(inC, outC, kernelSize: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false),
                                BatchNorm2d(outC)]
        if let activation { layers.append(Activation(activation, inPlace: true)) }
        super.init(layers)
    }
}

/// torchvision.ops.SqueezeExcitation: x · σ(fc2(SiLU(fc1(avgpool(x))))); MBConv passes an in-place SiLU.
public final class SqueezeExcitation: Module {
    public let avgpool = GlobalAvgPool(), fc1: Conv2d, fc2: Conv2d
    public let activation = Activation(.silu, inPlace: true), scaleActivation = Activation(.sigmoid)

    init(_ channels: Int, _ squeeze: Int) {
        fc1 = Conv2d(channels, squeeze, kernelSize: 1)
        fc2 = Conv2d(squeeze, channels, kernelSize: 1)
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        var s = try avgpool(x, ctx)
        s = try convNormActivation(fc1, nil, activation, s, ctx)
        s = try convNormActivation(fc2, nil, scaleActivation, s, ctx)
        return try mulChannel(x, reshape(s, [x.shape[0], x.shape[1]]))
    }
}

/// torchvision's MBConv.
public final class MBConv: Module {
    public let block: Sequential
    public let stochasticDepth: StochasticDepth
    public let useResidual: Bool

    init(expandRatio: Int, kernel: Int, stride: Int, inC: Int, outC: Int, stochasticDepthProb: Float) {
        let expanded = inC * expandRatio
        var layers: [Module] = []
        if expanded != inC { layers.append(ConvNormActivation(inC, expanded, kernel: 1, activation: .silu)) }
        layers.append(ConvNormActivation(expanded, expanded, kernel: kernel, stride: stride, groups: expanded, activation: .silu))
        layers.append(SqueezeExcitation(expanded, max(1, inC / 4)))
        layers.append(ConvNormActivation(expanded, outC, kernel: 1, activation: nil))
        block = Sequential(layers)
        useResidual = stride == 1 && inC == outC
        stochasticDepth = StochasticDepth(stochasticDepthProb)
    }

    public var stochasticDepthProb: Float { stochasticDepth.p }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        let r = try block(x, ctx)
        guard useResidual else { return r }
        // torchvision: `result = self.stochastic_depth(result); result += input` (in place on the
        // block's output at inference, where stochastic depth returns its input).
        return try residualAdd(stochasticDepth(r, ctx), x, branch: [block, stochasticDepth], activation: nil, ctx)
    }
}

/// torchvision's EfficientNet (B0 configuration).
public final class EfficientNet: ImageClassifier {
    public let features: Sequential
    public let avgpool = GlobalAvgPool()
    public let classifier: Sequential
    private var head: Linear { classifier.layers[1] as! Linear }

    public init(architecture: Architecture, numClasses: Int, stochasticDepth: Float = 0.2, dropout: Float = 0.2) {
        // (expand ratio, kernel, stride, in, out, layers) for B0 (width and depth multipliers 1).
        let stages: [(Int, Int, Int, Int, Int, Int)] = [
            (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
            (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
        ]
        var mods: [Module] = [ConvNormActivation(3, 32, kernel: 3, stride: 2, activation: .silu)]
        let total = stages.reduce(0) { $0 + $1.5 }
        var blockId = 0
        for (e, k, s, inC, outC, n) in stages {
            var blocks: [Module] = []
            for i in 0..<n {
                let p = stochasticDepth * Float(blockId) / Float(total)
                blocks.append(MBConv(expandRatio: e, kernel: k, stride: i == 0 ? s : 1, inC: i == 0 ? inC : outC, outC: outC,
                                     stochasticDepthProb: p))
                blockId += 1
            }
            mods.append(Sequential(blocks))
        }
        mods.append(ConvNormActivation(320, 1280, kernel: 1, activation: .silu))
        features = Sequential(mods)
        classifier = Sequential([Dropout(dropout), Linear(1280, numClasses)])
        super.init(architecture: architecture, numClasses: numClasses)
        assignPaths()
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        let f = try avgpool(features(x, ctx), ctx)
        return try classifier(reshape(f, [f.shape[0], f.shape[1]]), ctx)
    }

    public override func pooledHead(for layer: String) -> (weight: Tensor, reluBeforePool: Bool)? {
        layer == "features.8" || layer == "features" ? (head.weight.value, false) : nil
    }
}

/// torchvision `efficientnet_b0(num_classes:)`.
public func efficientnetB0(numClasses: Int = 1000) -> EfficientNet { EfficientNet(architecture: .efficientnet_b0, numClasses: numClasses) }

// MARK: - The architecture's declaration

extension EfficientNet {
    /// torchvision `efficientnet_b0(num_classes:)`.
    public static let specB0 = ArchitectureSpec(
        build: { n, _ in efficientnetB0(numClasses: n) },
        // The last Conv2dNormActivation (1×1 320 → 1280), read by avgpool → classifier.
        defaultCAMLayer: "features.8",
        classifierWeightKey: "classifier.1.weight",
        cascadeBlocks: [["classifier."]] + (0...8).reversed().map { ["features.\($0)."] },
        initialize: { p in
            // kaiming_normal_(mode="fan_out") for convolutions, zero biases, U(±1/√out) for the Linear.
            if p.shape.count == 4 { return p.normal((2 / Float(p.fanOut)).squareRoot()) }
            if p.name == "bias" { return p.zeros() }
            return p.uniform(1 / Float(p.shape[0]).squareRoot())
        },
        benchConvolutions: { $0.isDepthwise },
        cost: ArchitectureCost(parameters: 5_288_548, features: 1280, gmacs224: 0.39, activationBytesPerPixel: 3000, attention: nil),
        // Ported from timm (hence the stem); torchvision ≤ 0.12 published the same weights as 3dd342df.
        imagenetWeights: [PublishedWeights("IMAGENET1K_V1", "efficientnet_b0_rwightman-7f5810bc.pth"),
                          PublishedWeights("IMAGENET1K_V1", "efficientnet_b0_rwightman-3dd342df.pth", source: "model_urls of torchvision 0.11–0.12")])
}
