import TensorCore
import Autograd
import NN

// ViT-B/16 — Dosovitskiy et al., "An Image is Worth 16x16 Words" (2021), following torchvision 0.29
// `torchvision/models/vision_transformer.py`: conv_proj 16×16/16, class token, learned positional
// embedding (sized for the image size the model is built for), 12 pre-norm encoder blocks
// (LayerNorm eps 1e-6, nn.MultiheadAttention with packed in_proj, MLP 3072 with exact-erf GELU),
// final LayerNorm, head on the class token. Names: conv_proj, class_token, encoder.pos_embedding,
// encoder.layers.encoder_layer_N.{ln_1, self_attention.{in_proj_weight,in_proj_bias,out_proj}, ln_2,
// mlp.{0,3}}, encoder.ln, heads.head.

/// nn.MultiheadAttention used as self-attention (batch_first), parameters packed as in PyTorch.
public final class MultiheadSelfAttention: Module {
    public let inProjWeight: Parameter, inProjBias: Parameter
    public let outProj: Linear
    public let heads: Int, dim: Int

    init(dim: Int, heads: Int) {
        self.dim = dim
        self.heads = heads
        inProjWeight = Parameter(Tensor(zeros: [3 * dim, dim]))
        inProjBias = Parameter(Tensor(zeros: [3 * dim]))
        outProj = Linear(dim, dim)
    }


    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        try attend(x, ctx, queries: nil)
    }

    /// Output rows of the first `queries` tokens (nil: all of them); keys and values still come
    /// from every token.
    func attend(_ x: Variable, _ ctx: ForwardContext, queries: Int?) throws -> Variable {
        let qkv = try linear(x, weight: bind(inProjWeight, ctx), bias: bind(inProjBias, ctx))
        return try outProj(attention(qkv, heads: heads, queries: queries), ctx)
    }
}

/// torchvision's EncoderBlock (pre-norm).
public final class EncoderBlock: Module {
    public let ln_1: LayerNorm, selfAttention: MultiheadSelfAttention, dropout: Dropout
    public let ln_2: LayerNorm, mlp: Sequential

    init(dim: Int, heads: Int, mlpDim: Int) {
        ln_1 = LayerNorm(dim, eps: 1e-6)
        selfAttention = MultiheadSelfAttention(dim: dim, heads: heads)
        dropout = Dropout(0)
        ln_2 = LayerNorm(dim, eps: 1e-6)
        mlp = Sequential([Linear(dim, mlpDim), Activation(.gelu), Dropout(0), Linear(mlpDim, dim), Dropout(0)])
    }

    public override func forward(_ input: Variable, _ ctx: ForwardContext) throws -> Variable {
        try forward(input, ctx, firstTokenOnly: false)
    }

    /// With `firstTokenOnly`, the output of the first (class) token only, [B,1,C]: row 0 of the full
    /// output, since everything after the attention is per token and only that token's query matters.
    func forward(_ input: Variable, _ ctx: ForwardContext, firstTokenOnly: Bool) throws -> Variable {
        let a = try ctx.tap(selfAttention.path, selfAttention.attend(ln_1(input, ctx), ctx, queries: firstTokenOnly ? 1 : nil))
        let skip = firstTokenOnly ? try reshape(selectToken(input, index: 0), [input.shape[0], 1, input.shape[2]]) : input
        let x = try add(dropout(a, ctx), skip)
        return try add(x, mlp(ln_2(x, ctx), ctx))
    }
}

/// torchvision's Encoder: positional embedding, dropout, the blocks, final LayerNorm.
public final class Encoder: Module {
    public let posEmbedding: Parameter
    public let dropout = Dropout(0)
    public let layers: NamedSequential
    public let ln: LayerNorm

    init(seqLength: Int, depth: Int, dim: Int, heads: Int, mlpDim: Int) {
        posEmbedding = Parameter(Tensor(zeros: [1, seqLength, dim]))
        layers = NamedSequential(names: (0..<depth).map { "encoder_layer_\($0)" },
                                 layers: (0..<depth).map { _ in EncoderBlock(dim: dim, heads: heads, mlpDim: mlpDim) })
        ln = LayerNorm(dim, eps: 1e-6)
    }


    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        guard x.shape.count == 3, x.shape[1] == posEmbedding.value.shape[1] else {
            throw TensorError.shapeMismatch(op: "Encoder '\(path)'",
                                            detail: "sequence length \(x.shape) does not match the positional embedding \(posEmbedding.value.shape)")
        }
        let h = try dropout(addBroadcastBatch(x, bind(posEmbedding, ctx)), ctx)
        guard let last = layers.layers.last as? EncoderBlock, firstTokenSuffices(last, ctx) else {
            return try ln(layers(h, ctx), ctx)
        }
        // The head reads only the class token, so the last block computes only that token's
        // row after its attention (a twelfth of ViT-B/16's work, three quarters of it skipped).
        var t = h
        for block in layers.layers.dropLast() { t = try block(t, ctx) }
        return try ln(last.forward(t, ctx, firstTokenOnly: true), ctx)   // [B,1,C]; the classifier selects token 0
    }

    /// The inference plan's rule for the last block: only the class token is needed when nobody
    /// observes a module that sees the full sequence after the last block's ln_1 (the encoder, its
    /// layer list, its final LayerNorm, the last block and everything in it but ln_1, the usual
    /// Grad-CAM layer). The plan is off (plain forwards) or the path listing is recorded: no.
    func firstTokenSuffices(_ last: EncoderBlock, _ ctx: ForwardContext) -> Bool {
        guard ctx.planned else { return false }
        let full: [Module] = [self, layers, ln] + last.namedModules().map(\.1).filter { $0 !== last.ln_1 }
        return !full.contains { ctx.isObserved($0.path) }
    }
}

/// torchvision's VisionTransformer (B/16 configuration).
public final class VisionTransformer: ImageClassifier {
    public let imageSize: Int, patchSize: Int, hiddenDim: Int
    public let convProj: Conv2d
    public let classToken: Parameter
    public let encoder: Encoder
    public let heads: Sequential

    public init(architecture: Architecture, imageSize: Int, patchSize: Int = 16, depth: Int = 12, heads nHeads: Int = 12,
                hiddenDim: Int = 768, mlpDim: Int = 3072, numClasses: Int) {
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenDim = hiddenDim
        convProj = Conv2d(3, hiddenDim, kernelSize: patchSize, stride: patchSize)
        classToken = Parameter(Tensor(zeros: [1, 1, hiddenDim]))
        let grid = imageSize / patchSize
        encoder = Encoder(seqLength: grid * grid + 1, depth: depth, dim: hiddenDim, heads: nHeads, mlpDim: mlpDim)
        heads = NamedSequential(names: ["head"], layers: [Linear(hiddenDim, numClasses)])
        super.init(architecture: architecture, numClasses: numClasses)
        assignPaths()
    }

    public override var tokenGrid: (patch: Int, classTokens: Int)? { (patchSize, 1) }

    /// A block's output reaches the head only through the class token: its patch tokens get no
    /// gradient (pytorch-grad-cam's ViT tutorial takes `ln_1` inside the last block).
    public override func vanishingGradientHint(for layer: String) -> String? {
        let prefix = "encoder.layers.encoder_layer_"
        guard layer.hasPrefix(prefix), !layer.dropFirst(prefix.count).contains(".") else { return nil }
        return "A ViT block's output reaches the head only through the class token: take a layer inside the block, e.g. '\(layer).ln_1'."
    }

    public override func validateInput(_ shape: [Int]) throws {
        try super.validateInput(shape)
        guard shape[2] == imageSize, shape[3] == imageSize else {
            throw TensorError.shapeMismatch(op: "vit_b_16 input",
                                            detail: "this model was built for \(imageSize)×\(imageSize) images, got \(shape[2])×\(shape[3])")
        }
    }

    public override func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        let p = try convProj(x, ctx)                                   // [N, C, h, w]
        let n = p.shape[0]
        let tokens = try transposeLast2(reshape(p, [n, hiddenDim, p.shape[2] * p.shape[3]]))  // [N, hw, C]
        let seq = try prependToken(tokens, bind(classToken, ctx))     // [N, hw+1, C]
        let h = try encoder(seq, ctx)
        return try heads(selectToken(h, index: 0), ctx)
    }
}

/// torchvision `vit_b_16(num_classes:, image_size:)`; the image size must be a multiple of 16.
public func vitB16(numClasses: Int = 1000, imageSize: Int = 224) -> VisionTransformer {
    VisionTransformer(architecture: .vit_b_16, imageSize: imageSize, numClasses: numClasses)
}

// MARK: - The architecture's declaration

extension VisionTransformer {
    /// torchvision `vit_b_16(num_classes:, image_size:)`.
    public static let specB16 = ArchitectureSpec(
        build: { n, size in
            try Architecture.vit_b_16.checkImageSize(size)
            return vitB16(numClasses: n, imageSize: size)
        },
        // The last block's ln_1 with the token reshape (pytorch-grad-cam's ViT tutorial); the block
        // outputs after it reach the class-token head through the class token only.
        defaultCAMLayer: "encoder.layers.encoder_layer_11.ln_1",
        classifierWeightKey: "heads.head.weight",
        cascadeBlocks: [["heads."], ["encoder.ln."]] + (0..<12).reversed().map { ["encoder.layers.encoder_layer_\($0)."] }
            + [["encoder.pos_embedding", "class_token", "conv_proj."]],
        initialize: { p in
            // VisionTransformer.__init__ and MLPBlock/MultiheadAttention's own initialisation.
            let key = p.key
            if key == "conv_proj.weight" { return p.truncatedNormal((1 / Float(p.fanIn)).squareRoot(), limit: 2) }
            if key == "class_token" || key.hasSuffix("bias") && !key.contains("mlp") { return p.zeros() }
            if key == "encoder.pos_embedding" { return p.normal(0.02) }
            if key.hasPrefix("heads.") { return p.zeros() }
            if key.contains("mlp") && p.name == "bias" { return p.normal(1e-6) }
            if key.hasSuffix("mlp.0.weight") || key.hasSuffix("mlp.3.weight") || key.hasSuffix("in_proj_weight") {
                return p.uniform((6 / Float(p.fanIn + p.fanOut)).squareRoot())
            }
            return p.uniform(1 / Float(p.fanIn).squareRoot())
        },
        benchConvolutions: { _ in false },
        cost: ArchitectureCost(parameters: 86_567_656, features: 768, gmacs224: 17.56, activationBytesPerPixel: 1500, attention: (layers: 12, heads: 12)),
        patchSize: 16,
        // (size/16)² patch tokens and the class token.
        imageSizeOfWeights: { sd in
            guard let pos = sd["encoder.pos_embedding"], pos.rank == 3 else { return nil }
            let grid = Int(Double(pos.shape[1] - 1).squareRoot().rounded())
            return grid * grid + 1 == pos.shape[1] ? grid * 16 : nil
        },
        imagenetWeights: [PublishedWeights("IMAGENET1K_V1", "vit_b_16-c867db91.pth")])
}
