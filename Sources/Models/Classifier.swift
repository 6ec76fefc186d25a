import TensorCore
import Autograd
import NN

/// The five architectures of the study. What each one is lives in its model file (`spec`).
public enum Architecture: String, CaseIterable, Sendable {
    case resnet50, resnet101, densenet161, efficientnet_b0, vit_b_16

    /// The default Grad-CAM layer (pytorch-grad-cam's usual choice; see each model file).
    public var defaultCAMLayer: String { spec.defaultCAMLayer }

    /// The state-dict key of the final classifier weight (its first dimension is the class count).
    public var classifierWeightKey: String { spec.classifierWeightKey }

    /// The model's blocks from the head down, as state-dict key prefixes: the stages of Adebayo et
    /// al.'s cascading parameter randomisation ("Sanity Checks for Saliency Maps", 2018). Stage k
    /// re-initialises blocks 0…k of this list.
    public var cascadeBlocks: [[String]] { spec.cascadeBlocks }
}

/// Everything about one architecture, declared next to its modules in its model file.
public struct ArchitectureSpec: Sendable {
    /// Builds the network with zero-filled parameters (BatchNorm at identity statistics) for
    /// `numClasses` classes and square images of `imageSize` pixels (only ViT depends on it).
    public let build: @Sendable (_ numClasses: Int, _ imageSize: Int) throws -> ImageClassifier
    /// The default Grad-CAM layer.
    public let defaultCAMLayer: String
    /// The state-dict key of the final classifier weight [K, C].
    public let classifierWeightKey: String
    /// The blocks of the cascading randomisation, head first (see `Architecture.cascadeBlocks`).
    public let cascadeBlocks: [[String]]
    /// torchvision's `__init__` initialisation of one parameter that is not a norm scale/shift or a
    /// buffer (those are the same everywhere: ones, zeros, identity statistics).
    public let initialize: @Sendable (inout ParameterInit) -> Tensor
    /// Which convolutions the kernel benchmark times for this architecture.
    public let benchConvolutions: @Sendable (ConvShape) -> Bool
}

/// A classification network: images [N,3,H,W] → raw logits [N,K].
open class ImageClassifier: Module {
    public let architecture: Architecture
    public let numClasses: Int

    public init(architecture: Architecture, numClasses: Int) {
        self.architecture = architecture
        self.numClasses = numClasses
    }

    /// Layer names whose activation is a token sequence [B,T,C] with a class token first (ViT):
    /// CAMs fold the remaining tokens into a (H/16)×(W/16) grid.
    open var tokenGrid: (patch: Int, classTokens: Int)? { nil }

    /// The classifier head that reads a layer through global average pooling, when there is one:
    /// (linear weight [K,C], whether a ReLU sits between the layer and the pool). Grad-CAM's
    /// gradient is then closed-form: ∂y_c/∂A_k(i,j) = W[c,k]/HW (masked by A > 0 with the ReLU).
    open func pooledHead(for layer: String) -> (weight: Tensor, reluBeforePool: Bool)? { nil }

    /// Checks the input is [N,3,H,W] with a size this architecture accepts.
    open func validateInput(_ shape: [Int]) throws {
        guard shape.count == 4, shape[1] == 3, shape[0] >= 1, shape[2] >= 1, shape[3] >= 1 else {
            throw TensorError.shapeMismatch(op: "\(architecture.rawValue) input", detail: "expects [N, 3, H, W], got \(shape)")
        }
    }

    /// Runs the network. The context decides training mode and which layers are tapped.
    public func logits(_ images: Tensor, _ ctx: ForwardContext = ForwardContext()) throws -> Variable {
        try validateInput(images.shape)
        return try self(Variable(images), ctx)
    }

    /// Every layer path, in execution order (as a forward pass visits them).
    public func layerPaths(inputSize: Int = 224) throws -> [String] {
        Set(namedModules().map(\.0)).filter { !$0.isEmpty }.sorted()
    }
}

