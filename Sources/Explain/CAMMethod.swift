import Foundation
import TensorCore

/// The CAM methods, with pytorch-grad-cam 1.5.x's definitions.
public enum CAMMethod: String, CaseIterable, Sendable {
    case gradcam, hirescam, gradcamplusplus = "gradcam++", xgradcam, layercam, gradcamelementwise
    case eigencam, eigengradcam, scorecam, ablationcam, random

    /// Whether the method needs ∂y_c/∂A at the target layer.
    public var usesGradients: Bool {
        switch self {
        case .eigencam, .scorecam, .ablationcam, .random: return false
        default: return true
        }
    }

    /// Methods whose channel weights come from pooled gradients alone (closed form applies).
    var weightsFromGradientsOnly: Bool { self == .gradcam }
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
        self.batchSize = batchSize ?? (method == .ablationcam ? 32 : 16)
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
