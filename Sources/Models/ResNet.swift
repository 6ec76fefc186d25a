import TensorCore
import Autograd
import NN

// ResNet-50 / ResNet-101 — He et al., "Deep Residual Learning for Image Recognition" (2015),
// following torchvision 0.29 `torchvision/models/resnet.py` (ResNet v1.5: the stride sits on the
// 3×3 convolution of the bottleneck). Names are torchvision's: conv1, bn1, layer1.0.conv1, …,
// layerN.0.downsample.{0,1}, fc.

/// torchvision's Bottleneck (expansion 4).
public final class Bottleneck: Module {
    public let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    public let relu = Activation(.relu, inPlace: true)
    public let downsample: Sequential?

    init(inplanes: Int, planes: Int, stride: Int, downsample: Sequential?) {
        conv1 = Conv2d(inplanes, planes, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        conv3 = Conv2d(planes, planes * 4, kernelSize: 1, bias: false)
        bn3 = BatchNorm2d(planes * 4)
        self.downsample = downsample
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        var out = try convNormActivation(conv1, bn1, relu, x, ctx)
        out = try convNormActivation(conv2, bn2, relu, out, ctx)
        if ctx.mayFuseTraining([bn3, relu]) {
            // bn3, `+= identity` and the ReLU as one node (the downsample moves before bn3, which
            // nothing observing the order can see).
            let h = try conv3(out, ctx)
            let identity = try downsample.map { try $0(x, ctx) } ?? x
            return try bn3.trainingForward(h, ctx, residual: identity, relu: true)
        }
        out = try convNormActivation(conv3, bn3, nil, out, ctx)
        let identity = try downsample.map { try $0(x, ctx) } ?? x
        // torchvision: `out += identity; out = self.relu(out)`, both in place on bn3's output.
        return try residualAdd(out, identity, branch: [bn3], activation: relu, ctx)
    }
}

/// torchvision's ResNet with Bottleneck blocks.
public final class ResNet: ImageClassifier {
    public let conv1: Conv2d, bn1: BatchNorm2d
    public let relu = Activation(.relu, inPlace: true)
    public let maxpool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
    public let layer1: Sequential, layer2: Sequential, layer3: Sequential, layer4: Sequential
    public let avgpool = GlobalAvgPool()
    public let fc: Linear

    /// - Parameters:
    ///   - blocks: bottlenecks per stage ([3,4,6,3] for ResNet-50, [3,4,23,3] for ResNet-101).
    public init(architecture: Architecture, blocks: [Int], numClasses: Int) {
        conv1 = Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = BatchNorm2d(64)
        var inplanes = 64
        func makeLayer(_ planes: Int, _ count: Int, _ stride: Int) -> Sequential {
            var ds: Sequential? = nil
            if stride != 1 || inplanes != planes * 4 {
                ds = Sequential([Conv2d(inplanes, planes * 4, kernelSize: 1, stride: stride, bias: false), BatchNorm2d(planes * 4)])
            }
            var layers: [Module] = [Bottleneck(inplanes: inplanes, planes: planes, stride: stride, downsample: ds)]
            inplanes = planes * 4
            for _ in 1..<count { layers.append(Bottleneck(inplanes: inplanes, planes: planes, stride: 1, downsample: nil)) }
            return Sequential(layers)
        }
        layer1 = makeLayer(64, blocks[0], 1)
        layer2 = makeLayer(128, blocks[1], 2)
        layer3 = makeLayer(256, blocks[2], 2)
        layer4 = makeLayer(512, blocks[3], 2)
        fc = Linear(2048, numClasses)
        super.init(architecture: architecture, numClasses: numClasses)
        assignPaths()
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        var h = try maxpool(convNormActivation(conv1, bn1, relu, x, ctx), ctx)
        h = try layer4(layer3(layer2(layer1(h, ctx), ctx), ctx), ctx)
        h = try avgpool(h, ctx)
        return try fc(reshape(h, [h.shape[0], h.shape[1]]), ctx)
    }

    public override func pooledHead(for layer: String) -> (weight: Tensor, reluBeforePool: Bool)? {
        // layer4's last block output (and layer4 itself) feeds avgpool → fc directly.
        let last = "layer4.\(layer4.layers.count - 1)"
        return layer == last || layer == "layer4" ? (fc.weight.value, false) : nil
    }
}

/// torchvision `resnet50(num_classes:)`.
public func resnet50(numClasses: Int = 1000) -> ResNet { ResNet(architecture: .resnet50, blocks: [3, 4, 6, 3], numClasses: numClasses) }
/// torchvision `resnet101(num_classes:)`.
public func resnet101(numClasses: Int = 1000) -> ResNet { ResNet(architecture: .resnet101, blocks: [3, 4, 23, 3], numClasses: numClasses) }


// MARK: - The architecture's declaration

extension ResNet {
    /// torchvision `resnet50(num_classes:)`.
    public static let spec50 = spec(.resnet50, blocks: [3, 4, 6, 3],
                                    cost: ArchitectureCost(parameters: 25_557_032, features: 2048, gmacs224: 4.09, activationBytesPerPixel: 2500, attention: nil),
                                    // The study's code: `resnet50(weights="IMAGENET1K_V2")`.
                                    weights: [PublishedWeights("IMAGENET1K_V2", "resnet50-11ad3fa6.pth"), PublishedWeights("IMAGENET1K_V1", "resnet50-0676ba61.pth")])
    /// torchvision `resnet101(num_classes:)`.
    public static let spec101 = spec(.resnet101, blocks: [3, 4, 23, 3],
                                     cost: ArchitectureCost(parameters: 44_549_160, features: 2048, gmacs224: 7.80, activationBytesPerPixel: 3800, attention: nil),
                                     weights: [PublishedWeights("IMAGENET1K_V2", "resnet101-cd907fc2.pth"), PublishedWeights("IMAGENET1K_V1", "resnet101-63fe2227.pth")])

    static func spec(_ arch: Architecture, blocks: [Int], cost: ArchitectureCost, weights: [PublishedWeights]) -> ArchitectureSpec {
        ArchitectureSpec(
            build: { n, _ in ResNet(architecture: arch, blocks: blocks, numClasses: n) },
            // The last bottleneck: pytorch-grad-cam's README example (`model.layer4[-1]`).
            defaultCAMLayer: "layer4.\(blocks[3] - 1)",
            classifierWeightKey: "fc.weight",
            cascadeBlocks: [["fc."], ["layer4."], ["layer3."], ["layer2."], ["layer1."], ["conv1.", "bn1."]],
            initialize: { p in
                // kaiming_normal_(mode="fan_out", nonlinearity="relu") for convolutions; nn.Linear's
                // default U(±1/√fan_in) for fc (the bias bound uses the weight's fan-in).
                if p.shape.count == 4 { return p.normal((2 / Float(p.fanOut)).squareRoot()) }
                return p.uniform(1 / Float(p.shape.count == 2 ? p.fanIn : (p.weightFanIn ?? 1)).squareRoot())
            },
            benchConvolutions: { _ in true },
            cost: cost,
            imagenetWeights: weights)
    }
}
