import Foundation
import TensorCore

/// The CAM methods, with pytorch-grad-cam 1.5.x's definitions. What each one is lives in `spec`.
public enum CAMMethod: String, CaseIterable, Sendable {
    case gradcam, hirescam, gradcamplusplus = "gradcam++", xgradcam, layercam, gradcamelementwise
    case eigencam, eigengradcam, scorecam, ablationcam, random

    /// Whether the method needs ∂y_c/∂A at the target layer.
    public var usesGradients: Bool { spec.usesGradients }

    /// The method's declaration: one entry per method, each as pytorch-grad-cam's class for it
    /// overrides `get_cam_weights` (or `get_cam_image`).
    public var spec: CAMMethodSpec {
        switch self {
        // base_cam.py + grad_cam.py: α_k = mean over (i,j) of ∂y_c/∂A_k(i,j).
        case .gradcam: return CAMMethodSpec(usesGradients: true, cost: 2, map: .channelWeights { e, w in try e.channelMean(w.gradient) })
        // hirescam.py: Σ_k G·A, no pooling.
        case .hirescam: return CAMMethodSpec(usesGradients: true, cost: 2, map: .elementwise({ a, g in g * a }, alwaysProjected: false))
        case .gradcamplusplus: return CAMMethodSpec(usesGradients: true, cost: 2, map: .channelWeights { e, w in e.gradCAMPlusPlusWeights(w.activation, w.gradient) })
        case .xgradcam: return CAMMethodSpec(usesGradients: true, cost: 2, map: .channelWeights { e, w in e.xGradCAMWeights(w.activation, w.gradient) })
        // layer_cam.py: Σ_k ReLU(G)·A.
        case .layercam: return CAMMethodSpec(usesGradients: true, cost: 2, map: .elementwise({ a, g in max(g, 0) * a }, alwaysProjected: false))
        // grad_cam_elementwise.py: Σ_k ReLU(G·A).
        case .gradcamelementwise: return CAMMethodSpec(usesGradients: true, cost: 2, map: .elementwise({ a, g in max(g * a, 0) }, alwaysProjected: false))
        // eigen_cam.py: the first principal component of A.
        case .eigencam: return CAMMethodSpec(usesGradients: false, cost: 1, map: .principalComponent)
        // eigen_grad_cam.py: the first principal component of G·A.
        case .eigengradcam: return CAMMethodSpec(usesGradients: true, cost: 2, map: .elementwise({ a, g in g * a }, alwaysProjected: true))
        // score_cam.py: softmax over channels of the target logit of the input masked by each channel.
        case .scorecam:
            return CAMMethodSpec(usesGradients: false, cost: 128, defaultBatchSize: 16, batchesImages: true, map: .channelWeights { e, w in
                try e.scoreCAMWeights(w.activation, images: w.images, targets: w.targets, batchSize: w.options.batchSize)
            })
        // ablation_cam.py: the drop of the target logit when each channel is ablated.
        case .ablationcam:
            return CAMMethodSpec(usesGradients: false, cost: 64, defaultBatchSize: 32, batchesImages: true, map: .channelWeights { e, w in
                try e.ablationCAMWeights(w.activation, layer: w.layer, images: w.images, targets: w.targets, baseLogits: w.baseLogits,
                                         batchSize: w.options.batchSize, recorded: w.recorded)
            })
        // random_cam.py: uniform(-1, 1) channel weights (seeded here): the chance level of every metric.
        case .random:
            return CAMMethodSpec(usesGradients: false, cost: 0.1, map: .channelWeights { _, w in
                let (n, c) = (w.activation.shape[0], w.activation.shape[1])
                var rng = SeededRNG(seed: w.options.seed)
                let weights = Tensor(uninitialized: [n, c])
                for i in 0..<weights.count { weights.data[i] = 2 * rng.uniform() - 1 }
                return weights
            })
        }
    }
}

/// Everything about one CAM method.
public struct CAMMethodSpec: Sendable {
    /// Whether the method needs ∂y_c/∂A at the target layer.
    public let usesGradients: Bool
    /// Forwards (and backwards) one map takes per image, roughly: the sweep plan's cost model.
    public let cost: Double
    /// Masked or ablated copies per forward by default (pytorch-grad-cam's batch_size), for the
    /// methods that run the model on copies of each image.
    public var defaultBatchSize: Int? = nil
    /// Whether the method's own batch is of copies of one image (Score-CAM, Ablation-CAM), so the
    /// caller passes images one at a time.
    public var batchesImages = false
    /// How one layer's map is formed from its activations A [N,C,h,w] and gradients G.
    public let map: LayerMap
}

/// The inputs a method's channel weights may read.
public struct CAMWeightInputs {
    public let activation: Tensor
    /// ∂y_c/∂A (the activation itself for methods without gradients; they never read it).
    public let gradient: Tensor
    public let images: Tensor
    public let targets: [Int]
    public let layer: String
    public let options: CAMOptions
    /// Logits of the unperturbed forward [N, K].
    public let baseLogits: Tensor
    /// The activation as the layer's module returned it (before a following in-place op).
    public let recorded: Tensor
}

/// How a method turns a layer's activations and gradients into a map (before ReLU and scaling).
public enum LayerMap: Sendable {
    /// Σ_k w_k·A_k with one weight per (image, channel) [N, C]; with eigen_smooth the first
    /// principal component of the weighted activations instead of the sum.
    case channelWeights(@Sendable (CAMExplainer, CAMWeightInputs) throws -> Tensor)
    /// Σ_k f(A, G) elementwise; its first principal component with eigen_smooth, or always when
    /// `alwaysProjected`.
    case elementwise(@Sendable (_ a: Float, _ g: Float) -> Float, alwaysProjected: Bool)
    /// The first principal component of A.
    case principalComponent
}

/// How a CAM is computed.
public struct CAMOptions: Sendable {
    public var method: CAMMethod
    /// Target layers by PyTorch module path; empty → the architecture's default.
    public var layers: [String]
    /// One target class per image; nil → each image's predicted class.
    public var targetClasses: [Int]?
    /// pytorch-grad-cam's aug_smooth: mean over horizontal flip × multipliers {0.9, 1.0, 1.1}.
    public var augSmooth: Bool
    /// pytorch-grad-cam's eigen_smooth: first principal component of the weighted activations.
    public var eigenSmooth: Bool
    /// Masked inputs per forward for Score-CAM (pytorch-grad-cam default 16) and ablated copies for
    /// Ablation-CAM (default 32): memory stays bounded by this, never all channels at once.
    public var batchSize: Int
    /// Seed for RandomCAM.
    public var seed: UInt64
    /// Use the closed-form gradient (W_fc[c]/HW) when the layer feeds a global-pool → linear head.
    public var closedFormHead: Bool

    public init(method: CAMMethod = .gradcam, layers: [String] = [], targetClasses: [Int]? = nil, augSmooth: Bool = false,
                eigenSmooth: Bool = false, batchSize: Int? = nil, seed: UInt64 = 0, closedFormHead: Bool = true) {
        self.method = method
        self.layers = layers
        self.targetClasses = targetClasses
        self.augSmooth = augSmooth
        self.eigenSmooth = eigenSmooth
        self.batchSize = batchSize ?? method.spec.defaultBatchSize ?? 16
        self.seed = seed
        self.closedFormHead = closedFormHead
    }
}

/// The maps and what they explain.
public struct CAMResult {
    /// [N, H, W] in [0, 1] at input resolution.
    public var maps: Tensor
    /// The class each map explains.
    public var targetClasses: [Int]
    /// Raw logits of the unperturbed forward [N, K].
    public var logits: Tensor
    /// Human-readable warnings (e.g. an all-zero gradient at the target layer).
    public var warnings: [String]
    /// One line per layer whose activation is not the module's own output, as in pytorch-grad-cam
    /// (torchvision modifies it in place afterwards: "layer4.1.bn1: pytorch-grad-cam records this
    /// activation after the in-place ReLU that follows it, …").
    public var notes: [String] = []
    /// The spatial size [h, w] of each target layer's map before it is upsampled to the input
    /// (2×2 for ResNet-50's layer4 at 64 px): how much detail a map can hold.
    public var layerSizes: [[Int]] = []
}

/// Errors a user can cause: unknown layers, classes out of range, unsupported combinations.
public struct CAMError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
