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

    /// Refuses an input side the architecture cannot take (ViT: a multiple of its patch).
    public func checkImageSize(_ size: Int) throws {
        guard size >= 1 else { throw TensorError.invalidArgument(op: rawValue, detail: "image size must be ≥ 1, got \(size)") }
        if let p = spec.patchSize, size % p != 0 {
            throw TensorError.invalidArgument(op: rawValue, detail: "image size must be a multiple of \(p) (its patch size), got \(size)")
        }
    }

    /// Whether a model's weights are built for one input size (ViT's positional embedding), so it
    /// cannot change size between epochs (progressive resizing).
    public var inputSizeIsFixed: Bool { spec.imageSizeOfWeights != nil }

    /// Parameters of the model with a `numClasses`-way head.
    public func parameterCount(numClasses: Int) -> Int {
        spec.cost.parameters + (numClasses - 1000) * (spec.cost.features + 1)
    }
}

/// What one architecture costs, for estimates made before anything is built (sweep plans, memory
/// checks, the bench's FLOP rates). ModelsTests holds each number against the built model.
public struct ArchitectureCost: Sendable {
    /// Parameters with torchvision's 1000-class head.
    public let parameters: Int
    /// Channels the classifier reads (its weight is [K, features]).
    public let features: Int
    /// Multiply-accumulates of one 224×224 forward, in billions (torchvision's "GFLOPS" column).
    public let gmacs224: Double
    /// Activation bytes per input pixel kept for a backward pass, measured at 224 px: a rough
    /// figure whose job is to refuse 100 GB, not to predict 1.2 GB.
    public let activationBytesPerPixel: Double
    /// Self-attention layers and heads, whose tokens² probabilities are stored too (ViT).
    public let attention: (layers: Int, heads: Int)?
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
    public let cost: ArchitectureCost
    /// The patch side when the input is cut into patches (ViT): the image side must be a multiple
    /// of it, and the weights (the positional embedding) depend on the image size.
    public var patchSize: Int? = nil
    /// The image size a state dict was trained for, when its shapes say it (ViT's positional embedding).
    public var imageSizeOfWeights: (@Sendable (StateDict) -> Int?)? = nil
    /// Renames the keys of older checkpoints as torchvision's own loader does, with a note for each
    /// kind of renaming (DenseNet's `norm.1` keys): (state dict, file, notes) → state dict.
    public var legacyKeys: (@Sendable (StateDict, String, inout [String]) -> StateDict)? = nil
    /// torchvision's published ImageNet checkpoints of this architecture, its `DEFAULT` weights first
    /// (for ResNet-50 also the study's); `paper --pretrained DIR` looks for these names, and
    /// docs/PAPER.md says how to get the files.
    public var imagenetWeights: [PublishedWeights] = []
}

/// One of torchvision's published ImageNet checkpoints: its weights enum and the file name
/// `torch.hub` saves it under, `STEM-HASH.pth`, HASH being the start of the file's SHA-256.
public struct PublishedWeights: Sendable, Equatable {
    /// The weights enum member, e.g. `IMAGENET1K_V2` of `ResNet50_Weights`.
    public let enumName: String
    /// The file name in `~/.cache/torch/hub/checkpoints/`, e.g. `resnet50-11ad3fa6.pth`.
    public let fileName: String
    /// Where the name comes from, when not torchvision's current weights enum (an older `model_urls`).
    public var source: String? = nil

    public init(_ enumName: String, _ fileName: String, source: String? = nil) {
        self.enumName = enumName; self.fileName = fileName; self.source = source
    }

    /// The part of the name before the hash (`resnet50`, `efficientnet_b0_rwightman`).
    public var stem: String { PublishedWeights.parse(fileName)?.stem ?? fileName }
    /// The hex digits of the name: the first digits of the file's SHA-256.
    public var hashPrefix: String { PublishedWeights.parse(fileName)?.hash ?? "" }

    /// Splits a file name into stem and hash as torch.hub's `HASH_REGEX` (`-([a-f0-9]*)\.`) reads
    /// it, keeping names with at least 8 hex digits (torch.hub's "first eight or more digits"):
    /// nil for any other name.
    public static func parse(_ name: String) -> (stem: String, hash: String)? {
        guard let dash = name.firstIndex(of: "-") else { return nil }
        let stem = String(name[..<dash])
        let rest = name[name.index(after: dash)...]
        let hex = rest.prefix { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
        guard !stem.isEmpty, hex.count >= 8, rest.dropFirst(hex.count) == ".pth" else { return nil }
        return (stem, String(hex))
    }
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

    /// Why this architecture's structure gives `layer` no gradient, if it does (ViT's block outputs).
    open func vanishingGradientHint(for layer: String) -> String? { nil }

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

