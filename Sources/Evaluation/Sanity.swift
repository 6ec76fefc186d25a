import Foundation
import TensorCore

/// How similar two maps of one image are (sanity checks).
public struct MapSimilarity: Sendable, Equatable {
    /// Spearman ρ over pixels (nil when a map is constant).
    public let spearman: Double?
    /// Spearman ρ of |maps| (Adebayo et al. report both; equal to `spearman` for non-negative maps).
    public let spearmanAbs: Double?
    /// SSIM (`Similarity.ssim`: Gaussian window 11, σ 1.5, K1 0.01, K2 0.03, data range 1); nil below 11×11.
    public let ssim: Double?
}

/// Sanity checks (Adebayo et al. 2018; Sixt et al. 2020 / Quantus' random logit). The model
/// randomisation itself (cascading from the head) belongs to the caller, who produces the maps;
/// this layer scores them. Low similarity = the method passes.
public enum Sanity {
    /// Similarity of the original map with the map after parameter randomisation (or any other pair).
    public static func similarity(original: Tensor, other: Tensor) throws -> MapSimilarity {
        let (h, w) = try samePlanes(original, other, "Sanity.similarity", "original map", "other map")
        let absA = original.copy(), absB = other.copy()
        for i in 0..<absA.count { absA.data[i] = abs(absA.data[i]); absB.data[i] = abs(absB.data[i]) }
        return MapSimilarity(spearman: try Similarity.spearman(original, other),
                             spearmanAbs: try Similarity.spearman(absA, absB),
                             ssim: h >= 11 && w >= 11 ? try Similarity.ssim(original, other) : nil)
    }

    /// Random-logit test: for each image a class c′ ≠ y drawn uniformly from the other
    /// `numClasses − 1` classes (seeded `SeededRNG`), and the similarity of the map for y with the
    /// map for c′.
    /// - Parameters:
    ///   - maps: `[N, H, W]` maps for `classes` if already computed (shared with other metrics).
    /// - Returns: per image, the random class and the similarity.
    public static func randomLogit(images: Tensor, classes: [Int], numClasses: Int, explain: MapFunction,
                                   maps: Tensor? = nil, seed: UInt64 = 0, batchSize: Int = 16) throws -> [(randomClass: Int, similarity: MapSimilarity)] {
        let (n, _, h, w) = try imageShape(images, "randomLogit")
        guard numClasses >= 2, classes.count == n, classes.allSatisfy({ $0 >= 0 && $0 < numClasses }) else {
            throw EvaluationError.invalidArgument(op: "randomLogit", detail: "need ≥ 2 classes and \(n) classes in 0..<\(numClasses), got \(classes)")
        }
        var rng = SeededRNG(seed: seed)
        let other = classes.map { y -> Int in
            let r = rng.below(numClasses - 1)
            return r >= y ? r + 1 : r
        }
        let original = try maps ?? Consistency.explainInBatches(explain, images, classes, batchSize)
        let random = try Consistency.explainInBatches(explain, images, other, batchSize)
        try Faithfulness.checkMaps(original, n, h, w, "randomLogit")
        try Faithfulness.checkMaps(random, n, h, w, "randomLogit")
        return try (0..<n).map { i in
            (other[i], try similarity(original: original.slice0(i..<i + 1), other: random.slice0(i..<i + 1)))
        }
    }
}
