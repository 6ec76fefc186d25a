import TensorCore
import NN

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
