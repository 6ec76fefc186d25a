import Foundation
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
// is what pytorch-grad-cam computes on CPU with target layer `features[-1]`. We reproduce it like
// every other in-place op (`ForwardContext.modifiedInPlace`): the tap `features.norm5` takes its
// gradient at the BatchNorm output and reports the post-ReLU activation, with a note.

/// torchvision's _DenseLayer (BN-ReLU-Conv1×1-BN-ReLU-Conv3×3) returning only the new features.
/// Both ReLUs are in place (they overwrite norm1's and norm2's outputs).
public final class DenseLayer: Module {
    public let norm1: BatchNorm2d, relu1 = Activation(.relu, inPlace: true), conv1: Conv2d
    public let norm2: BatchNorm2d, relu2 = Activation(.relu, inPlace: true), conv2: Conv2d

    init(inputFeatures: Int, growthRate: Int, bnSize: Int) {
        norm1 = BatchNorm2d(inputFeatures)
        conv1 = Conv2d(inputFeatures, bnSize * growthRate, kernelSize: 1, bias: false)
        norm2 = BatchNorm2d(bnSize * growthRate)
        conv2 = Conv2d(bnSize * growthRate, growthRate, kernelSize: 3, padding: 1, bias: false)
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable { try forward([x], ctx) }

    /// The layer on the list of earlier features (torchvision concatenates them as its input; the
    /// plan reads the pieces in the fused norm1 + relu1 pass instead).
    func forward(_ features: [Variable], _ ctx: ForwardContext) throws -> Variable {
        let t = try normActivation(norm1, relu1, features, ctx)
        let b = try convNormActivation(conv1, norm2, relu2, t, ctx)
        // Through the plan too: fused, the 3×3 convolution reuses its cached Winograd filters.
        return try convNormActivation(conv2, nil, nil, b, ctx)
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
        for l in layers { features.append(ctx.tap(l.path, try l.forward(features, ctx))) }
        return try concatChannels(features)
    }
}

/// torchvision's _Transition (an nn.Sequential): BN-ReLU(in place)-Conv1×1-AvgPool2.
public final class Transition: NamedSequential {
    init(_ inputFeatures: Int, _ outputFeatures: Int) {
        super.init(names: ["norm", "relu", "conv", "pool"],
                   layers: [BatchNorm2d(inputFeatures), Activation(.relu, inPlace: true),
                            Conv2d(inputFeatures, outputFeatures, kernelSize: 1, bias: false), AvgPool2d(kernel: 2, stride: 2)])
    }
}

/// torchvision's DenseNet.
public final class DenseNet: ImageClassifier {
    public let features: Sequential
    public let classifier: Linear

    public init(architecture: Architecture, growthRate: Int, blockConfig: [Int], initFeatures: Int, bnSize: Int, numClasses: Int) {
        var mods: [Module] = []
        var names: [String] = []
        func add(_ n: String, _ m: Module) { names.append(n); mods.append(m) }
        add("conv0", Conv2d(3, initFeatures, kernelSize: 7, stride: 2, padding: 3, bias: false))
        add("norm0", BatchNorm2d(initFeatures))
        add("relu0", Activation(.relu, inPlace: true))
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
        add("norm5", BatchNorm2d(nf))
        features = NamedSequential(names: names, layers: mods)
        classifier = Linear(nf, numClasses)
        super.init(architecture: architecture, numClasses: numClasses)
        assignPaths()
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        let f = try features(x, ctx)
        // The functional in-place ReLU after features (see the file header).
        let r = try relu(f)
        ctx.modifiedInPlace(features.outputAliases, becomes: r, by: "the in-place functional ReLU (F.relu)")
        let pooled = try globalAvgPool(r)
        return try classifier(pooled, ctx)
    }

    public override func pooledHead(for layer: String) -> (weight: Tensor, reluBeforePool: Bool)? {
        layer == "features.norm5" || layer == "features" ? (classifier.weight.value, true) : nil
    }
}

/// torchvision `densenet161(num_classes:)`.
public func densenet161(numClasses: Int = 1000) -> DenseNet {
    DenseNet(architecture: .densenet161, growthRate: 48, blockConfig: [6, 12, 36, 24], initFeatures: 96, bnSize: 4, numClasses: numClasses)
}

// MARK: - The architecture's declaration

extension DenseNet {
    /// torchvision `densenet161(num_classes:)`.
    public static let spec161 = ArchitectureSpec(
        build: { n, _ in densenet161(numClasses: n) },
        // `features[-1]`, pytorch-grad-cam's usual DenseNet layer (reported after the functional ReLU).
        defaultCAMLayer: "features.norm5",
        classifierWeightKey: "classifier.weight",
        cascadeBlocks: [["classifier."], ["features.norm5.", "features.denseblock4."], ["features.transition3.", "features.denseblock3."],
                        ["features.transition2.", "features.denseblock2."], ["features.transition1.", "features.denseblock1."],
                        ["features.conv0.", "features.norm0."]],
        initialize: { p in
            // kaiming_normal_ (fan_in) for convolutions, zero Linear bias, nn.Linear's default weight.
            if p.shape.count == 4 { return p.normal((2 / Float(p.fanIn)).squareRoot()) }
            if p.name == "bias" { return p.zeros() }
            return p.uniform(1 / Float(p.fanIn).squareRoot())
        },
        // The 3×3 convolution of every dense layer (192 → 48).
        benchConvolutions: { $0.kernel == 3 },
        cost: ArchitectureCost(parameters: 28_681_000, features: 2208, gmacs224: 7.73, activationBytesPerPixel: 5000, attention: nil),
        legacyKeys: renameOldDenseNetKeys,
        // A legacy torch.save with the old `norm.1` keys (`legacyKeys` renames them).
        imagenetWeights: [PublishedWeights("IMAGENET1K_V1", "densenet161-8d451a50.pth")])
}

// MARK: - Older checkpoints

/// torchvision's DenseNet loader (`torchvision/models/densenet.py`, `_load_state_dict`) renames
/// keys of its original checkpoints, written when module names could contain dots
/// (`…denselayer1.norm.1.weight` → `…denselayer1.norm1.weight`), with exactly this pattern.
let oldDenseNetKeyPattern = try! NSRegularExpression(
    pattern: #"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"#)

/// `key` renamed as torchvision's DenseNet loader renames it (unchanged when the pattern does not match).
public func renamedOldDenseNetKey(_ key: String) -> String {
    let ns = key as NSString
    guard let m = oldDenseNetKeyPattern.firstMatch(in: key, range: NSRange(location: 0, length: ns.length)) else { return key }
    return ns.substring(with: m.range(at: 1)) + ns.substring(with: m.range(at: 2))
}

func renameOldDenseNetKeys(_ sd: StateDict, file: String, notes: inout [String]) -> StateDict {
    var renamed = 0
    let out = sd.renamingKeys { k in
        let n = renamedOldDenseNetKey(k)
        if n != k { renamed += 1 }
        return n
    }
    if renamed > 0 {
        notes.append("\(file): renamed \(renamed) old-style DenseNet keys (…denselayerN.norm.1.weight → …norm1.weight), as torchvision's DenseNet loader does")
    }
    return out
}
