import TensorCore
import NN

extension Architecture {
    /// The model's blocks from the head down, as state-dict key prefixes: the stages of Adebayo et
    /// al.'s cascading parameter randomisation ("Sanity Checks for Saliency Maps", 2018). Stage k
    /// re-initialises blocks 0…k of this list.
    public var cascadeBlocks: [[String]] {
        switch self {
        case .resnet50, .resnet101:
            return [["fc."], ["layer4."], ["layer3."], ["layer2."], ["layer1."], ["conv1.", "bn1."]]
        case .densenet161:
            return [["classifier."], ["features.norm5.", "features.denseblock4."], ["features.transition3.", "features.denseblock3."],
                    ["features.transition2.", "features.denseblock2."], ["features.transition1.", "features.denseblock1."],
                    ["features.conv0.", "features.norm0."]]
        case .efficientnet_b0:
            return [["classifier."]] + (0...8).reversed().map { ["features.\($0)."] }
        case .vit_b_16:
            return [["heads."], ["encoder.ln."]] + (0..<12).reversed().map { ["encoder.layers.encoder_layer_\($0)."] }
                + [["encoder.pos_embedding", "class_token", "conv_proj."]]
        }
    }
}

extension ImageClassifier {
    /// A copy of this (unfolded) model whose parameters under `prefixes` are re-initialised the way
    /// torchvision initialises them (seeded), BatchNorm running statistics included; inference-ready
    /// (BatchNorm folded).
    public func randomized(prefixes: [String], seed: UInt64, imageSize: Int) throws -> ImageClassifier {
        let fresh = try makeModel(architecture, numClasses: numClasses, imageSize: imageSize)
        fresh.initialize(seed: seed)
        let freshParams = Dictionary(uniqueKeysWithValues: fresh.namedParameters().map { ($0.0, $0.1) })
        let mine = Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.0, $0.1.value) })
        for (key, p) in freshParams where !prefixes.contains(where: { key.hasPrefix($0) }) {
            if let v = mine[key] { p.value = v }
        }
        try fresh.foldBatchNorms()
        return fresh
    }
}
