import Foundation
import TensorCore
import Models
import Evaluation

/// The metrics a sweep can compute. Each has exactly one entry in `MetricSpecs.table`, which says
/// what it needs, which rows it writes (and so the keys resume looks for) and how it is computed.
public enum MetricName: String, CaseIterable, Sendable, Codable {
    /// The study's LocAcc: |[L ≥ τ] ∩ M| / |M| (undefined for an empty mask).
    case locacc
    /// Pointing game: the map's first argmax lies in the mask.
    case pointing
    /// Energy-based pointing game: share of map mass inside the mask.
    case energy
    /// IoU and Dice of [L ≥ τ] with the mask.
    case iou, dice
    /// IoU of the top-10% pixels with the mask.
    case iou_top10
    /// Relevance rank accuracy (share of the |M| highest pixels inside M).
    case rank
    /// ROC-AUC of map values against the mask.
    case auc
    /// The study's Faith: f(x)_y − f(x ⊙ (1 − L))_y, raw logits, y predicted.
    case faith
    /// RISE deletion / insertion AUC (softmax probability, zero baseline / blur start).
    case deletion, insertion
    /// Average drop (%) and increase in confidence (Chattopadhyay et al.), softmax probability.
    case drop, increase
    /// ROAD with noisy linear imputation: mean score change over percentiles 10…90, MoRF and LeRF.
    case road_morf, road_lerf
    /// The study's Consist: mean IoU of [L ≥ τ] across weights of one architecture vs the first.
    case consist
    /// IoU of maps under horizontal flip / shift / rotation, mapped back (mean over the three).
    case augment_iou
    /// Cascading parameter randomisation from the head (Adebayo et al. 2018): Spearman and SSIM of
    /// the map after re-initialising blocks 0…k (`Architecture.cascadeBlocks`) against the original.
    case cascade
    /// Random-logit test: Spearman and SSIM of the map for a random other class against the map
    /// for the predicted class.
    case random_logit
    /// Agreement between CAM methods on the same image and weights: IoU of [L ≥ τ] and Spearman,
    /// for every pair of methods (method column "a~b").
    case cross_method
    /// Agreement between architectures on the same image and method: IoU of [L ≥ τ] for every pair
    /// (model column "a~b", each architecture's first weights).
    case cross_arch

    /// The default set: the study's three measures and the cheap standard ones.
    public static let defaults: [MetricName] = [.locacc, .pointing, .energy, .iou, .auc, .faith, .deletion, .insertion, .drop,
                                                .increase, .consist]
    public var spec: MetricSpec { MetricSpecs.table[self]! }
}

/// What a metric measures.
public enum MetricFamily: String, Sendable, Codable { case localization, faithfulness, consistency, sanity, agreement }

/// A parameter that defines a metric's numbers; grids in `SweepConfig.grid` give several values.
public enum MetricParameter: String, Sendable, Codable {
    /// Binarisation threshold τ.
    case threshold
    /// Deletion/insertion steps.
    case steps
    /// Cascade stage k (re-initialise `cascadeBlocks[0...k]`): one value per stage of the architecture.
    case stage
}

/// What computing a metric takes beyond one map of one image.
public struct MetricNeeds: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// A lesion mask (undefined without one).
    public static let mask = MetricNeeds(rawValue: 1)
    /// Forwards of perturbed images.
    public static let extraForwards = MetricNeeds(rawValue: 2)
    /// Further CAMs (other classes, augmented images).
    public static let extraCAMs = MetricNeeds(rawValue: 4)
    /// Models with re-initialised blocks.
    public static let randomizedModels = MetricNeeds(rawValue: 8)
    /// The maps of every weights of the architecture.
    public static let allWeights = MetricNeeds(rawValue: 16)
    /// The maps of every method.
    public static let allMethods = MetricNeeds(rawValue: 32)
    /// The maps of every architecture (first weights).
    public static let allArchitectures = MetricNeeds(rawValue: 64)
}

/// Which work unit computes a metric.
public enum MetricScope: String, Sendable {
    /// One map of one image, in the unit of its weights (`WorkUnit.Kind.model`).
    case perMap
    /// Pairs of methods on one image and weights (also in the model unit).
    case acrossMethods
    /// All weights of one architecture (`WorkUnit.Kind.consist`).
    case acrossWeights
    /// First weights of every architecture (`WorkUnit.Kind.crossArchitecture`).
    case acrossArchitectures
    /// One cascade stage of one weights (`WorkUnit.Kind.cascade`).
    case cascade
}

/// The values of the parameters for one row set.
public struct ParameterValues: Sendable, Hashable {
    public var threshold: Float
    public var steps: Int
    public var stage: Int
    public var imageSize: Int
    public var camSeed: UInt64
}

/// The name and parameters of one row a metric writes.
public struct RowName: Sendable, Hashable {
    public let metric: String
    public let params: String
}

/// One computed number, or undefined with the reason.
public struct Outcome: Sendable, Equatable {
    public let value: Double?
    public let reason: String
    public static func of(_ v: Double?, else reason: String) -> Outcome { Outcome(value: v, reason: v == nil ? reason : "") }
    public static func undefined(_ reason: String) -> Outcome { Outcome(value: nil, reason: reason) }
}

/// Reasons for undefined numbers, spelled once.
public enum Undefined {
    public static let constantMap = "constant map"
    public static let noMask = "no lesion mask"
    public static let emptyMask = "empty mask"
    public static let emptyBinarisedMaps = "both binarised maps empty"
    public static let noDefinedPair = "no pair of non-constant maps with a non-empty union"
    public static let zeroMapMass = "map has zero mass"
    public static let oneClass = "needs at least 2 classes"
    public static let smallMap = "map smaller than the 11×11 SSIM window"
    public static let classOutOfRange = "class index outside the model's classes"
}

/// Everything a per-map metric reads for one batch of images, one weights and one method.
public struct MapBatch {
    /// `[N, C, H, W]` preprocessed images.
    public let images: Tensor
    /// `[N, H, W]` maps in [0, 1].
    public let maps: Tensor
    /// Lesion masks `[H, W]` (nil: none in the manifest).
    public let masks: [Tensor?]
    /// Predicted (= explained) class per image.
    public let predicted: [Int]
    /// Clean logits `[N, K]` and their softmax.
    public let logits: Tensor
    public let probs: Tensor
    /// The model, batched by `batchSize`.
    public let model: LogitsFunction
    /// This method's CAM for other inputs or classes.
    public let explain: MapFunction
    public let batchSize: Int
    public var count: Int { predicted.count }
    public var numClasses: Int { logits.shape[1] }
    public func map(_ i: Int) throws -> Tensor { try maps.slice0(i..<(i + 1)).reshaped([maps.shape[1], maps.shape[2]]) }
    public func image(_ i: Int) throws -> Tensor { try images.slice0(i..<(i + 1)) }
    public func cleanScore(_ i: Int) -> Double { Double(probs.data[i * numClasses + predicted[i]]) }
}

/// Computes a per-map metric on a batch: per image, one outcome per row of `rows`.
public typealias MetricCompute = (MapBatch, ParameterValues) throws -> [[Outcome]]

/// One metric: its name, family, parameters, needs, rows and computation.
public struct MetricSpec: Sendable {
    public let name: MetricName
    public let family: MetricFamily
    /// The parameters that define its numbers (each multiplies rows over its grid).
    public let parameters: [MetricParameter]
    public let needs: MetricNeeds
    public let scope: MetricScope
    /// The rows written per image (and method) for given parameter values.
    public let rows: @Sendable (ParameterValues, Architecture) -> [RowName]
    /// Relative cost per image and map, in model forwards (for sharding).
    public let cost: @Sendable (ParameterValues) -> Double
    /// For `.perMap` metrics; the other scopes are computed by the executor from cached maps.
    public let compute: (@Sendable (MapBatch, ParameterValues) throws -> [[Outcome]])?
}

/// The table of metrics: adding a metric touches this file only.
public enum MetricSpecs {
    static func one(_ n: MetricName, _ params: @escaping @Sendable (ParameterValues) -> String) -> @Sendable (ParameterValues, Architecture) -> [RowName] {
        { pv, _ in [RowName(metric: n.rawValue, params: params(pv))] }
    }

    /// A per-image localisation metric against the mask.
    static func localization(_ n: MetricName, parameters: [MetricParameter], params: @escaping @Sendable (ParameterValues) -> String,
                             _ f: @escaping @Sendable (Tensor, Tensor, ParameterValues) throws -> Double?) -> MetricSpec {
        MetricSpec(name: n, family: .localization, parameters: parameters, needs: [.mask], scope: .perMap, rows: one(n, params),
                   cost: { _ in 0.01 }, compute: { b, pv in
            try (0..<b.count).map { i in
                guard let mask = b.masks[i] else { return [.undefined(Undefined.noMask)] }
                return [.of(try f(try b.map(i), mask, pv), else: Undefined.emptyMask)]
            }
        })
    }

    static func tau(_ pv: ParameterValues) -> String { "tau=\(pv.threshold);size=\(pv.imageSize)" }

    public static let table: [MetricName: MetricSpec] = {
        var t: [MetricName: MetricSpec] = [:]
        func add(_ s: MetricSpec) { t[s.name] = s }
        add(localization(.locacc, parameters: [.threshold], params: tau) { try Localization.locAcc(map: $0, mask: $1, threshold: $2.threshold) })
        add(localization(.pointing, parameters: [], params: { _ in "tolerance=0" }) { m, k, _ in try Localization.pointingGame(map: m, mask: k) })
        add(localization(.energy, parameters: [], params: { _ in "" }) { m, k, _ in try Localization.energyPointingGame(map: m, mask: k) })
        add(localization(.iou, parameters: [.threshold], params: tau) { try Localization.overlapAtThreshold(map: $0, mask: $1, threshold: $2.threshold).iou })
        add(localization(.dice, parameters: [.threshold], params: tau) { try Localization.overlapAtThreshold(map: $0, mask: $1, threshold: $2.threshold).dice })
        add(localization(.iou_top10, parameters: [], params: { "top=10%;size=\($0.imageSize)" }) { m, k, _ in try Localization.overlapAtTopPercent(map: m, mask: k, percent: 10).iou })
        add(localization(.rank, parameters: [], params: { _ in "" }) { m, k, _ in try Localization.relevanceRankAccuracy(map: m, mask: k) })
        add(localization(.auc, parameters: [], params: { _ in "" }) { m, k, _ in try Localization.rocAUC(map: m, mask: k) })

        add(MetricSpec(name: .faith, family: .faithfulness, parameters: [], needs: [.extraForwards], scope: .perMap,
                       rows: one(.faith) { _ in "logit;class=predicted" }, cost: { _ in 1 }, compute: { b, _ in
            try Faithfulness.faith(images: b.images, maps: b.maps, model: b.model, classes: b.predicted, cleanLogits: b.logits,
                                   batchSize: b.batchSize).map { [.of($0, else: "undefined")] }
        }))
        for (n, drop) in [(MetricName.drop, true), (.increase, false)] {
            add(MetricSpec(name: n, family: .faithfulness, parameters: [], needs: [.extraForwards], scope: .perMap,
                           rows: one(n) { _ in "score=softmax;class=predicted" }, cost: { _ in 1 }, compute: { b, _ in
                try Faithfulness.confidenceChange(images: b.images, maps: b.maps, model: b.model, classes: b.predicted,
                                                  cleanLogits: b.logits, batchSize: b.batchSize).map { [Outcome(value: drop ? $0.dropPercent : $0.increased, reason: "")] }
            }))
        }
        add(MetricSpec(name: .deletion, family: .faithfulness, parameters: [.steps], needs: [.extraForwards], scope: .perMap,
                       rows: one(.deletion) { "steps=\($0.steps);baseline=zero;score=softmax" }, cost: { Double($0.steps) }, compute: { b, pv in
            try (0..<b.count).map { i in
                [Outcome(value: try Faithfulness.deletion(image: b.image(i), map: b.map(i), targetClass: b.predicted[i], model: b.model,
                                                          steps: pv.steps, cleanScore: b.cleanScore(i), batchSize: b.batchSize).auc, reason: "")]
            }
        }))
        add(MetricSpec(name: .insertion, family: .faithfulness, parameters: [.steps], needs: [.extraForwards], scope: .perMap,
                       rows: one(.insertion) { "steps=\($0.steps);start=blur11s5;score=softmax" }, cost: { Double($0.steps) }, compute: { b, pv in
            try (0..<b.count).map { i in
                [Outcome(value: try Faithfulness.insertion(image: b.image(i), map: b.map(i), targetClass: b.predicted[i], model: b.model,
                                                           steps: pv.steps, cleanScore: b.cleanScore(i), batchSize: b.batchSize).auc, reason: "")]
            }
        }))
        for (n, order) in [(MetricName.road_morf, ROADOrder.mostRelevantFirst), (.road_lerf, .leastRelevantFirst)] {
            add(MetricSpec(name: n, family: .faithfulness, parameters: [], needs: [.extraForwards], scope: .perMap,
                           rows: one(n) { _ in "percentiles=10..90;noise=0.01;score=softmax" }, cost: { _ in 9 }, compute: { b, pv in
                try (0..<b.count).map { i in
                    let r = try Faithfulness.road(image: b.image(i), map: b.map(i), targetClass: b.predicted[i], model: b.model, order: order,
                                                  seed: pv.camSeed, cleanScore: b.cleanScore(i), batchSize: b.batchSize)
                    return [.of(r.isEmpty ? nil : r.reduce(0, +) / Double(r.count), else: "no percentile scored")]
                }
            }))
        }
        add(MetricSpec(name: .augment_iou, family: .consistency, parameters: [.threshold], needs: [.extraCAMs], scope: .perMap,
                       rows: one(.augment_iou) { "hflip,shift16,rot10;tau=\($0.threshold)" }, cost: { _ in 6 }, compute: { b, pv in
            try (0..<b.count).map { i in
                let scores = try Consistency.underAugmentations(images: b.image(i), classes: [b.predicted[i]], explain: b.explain,
                                                                referenceMaps: try b.maps.slice0(i..<(i + 1)), threshold: pv.threshold)
                let ious = scores.first?.compactMap(\.iou) ?? []
                return [.of(ious.isEmpty ? nil : ious.reduce(0, +) / Double(ious.count), else: Undefined.emptyBinarisedMaps)]
            }
        }))
        add(MetricSpec(name: .random_logit, family: .sanity, parameters: [], needs: [.extraCAMs], scope: .perMap,
                       rows: { pv, _ in ["random_logit_spearman", "random_logit_ssim"].map { RowName(metric: $0, params: "seed=\(pv.camSeed)") } },
                       cost: { _ in 2 }, compute: { b, pv in
            guard b.numClasses > 1 else { return Array(repeating: [.undefined(Undefined.oneClass), .undefined(Undefined.oneClass)], count: b.count) }
            let r = try Sanity.randomLogit(images: b.images, classes: b.predicted, numClasses: b.numClasses, explain: b.explain, maps: b.maps,
                                           seed: pv.camSeed, batchSize: b.batchSize)
            return r.map { [.of($0.similarity.spearman, else: Undefined.constantMap), .of($0.similarity.ssim, else: Undefined.smallMap)] }
        }))
        add(MetricSpec(name: .cascade, family: .sanity, parameters: [.stage], needs: [.randomizedModels], scope: .cascade,
                       rows: { pv, arch in
                           let block = arch.cascadeBlocks[pv.stage]
                           return ["cascade_spearman", "cascade_ssim"].map { RowName(metric: $0, params: "stage=\(pv.stage);upto=\(block[0]);seed=\(pv.camSeed)") }
                       }, cost: { _ in 3 }, compute: nil))
        add(MetricSpec(name: .cross_method, family: .agreement, parameters: [.threshold], needs: [.allMethods], scope: .acrossMethods,
                       rows: { pv, _ in [RowName(metric: "method_iou", params: "tau=\(pv.threshold)"), RowName(metric: "method_spearman", params: "")] },
                       cost: { _ in 0.01 }, compute: nil))
        add(MetricSpec(name: .consist, family: .consistency, parameters: [.threshold], needs: [.allWeights], scope: .acrossWeights,
                       rows: { pv, _ in [RowName(metric: "consist", params: "tau=\(pv.threshold)")] }, cost: { _ in 0.01 }, compute: nil))
        add(MetricSpec(name: .cross_arch, family: .agreement, parameters: [.threshold], needs: [.allArchitectures], scope: .acrossArchitectures,
                       rows: { pv, _ in [RowName(metric: "arch_iou", params: "tau=\(pv.threshold)")] }, cost: { _ in 0.01 }, compute: nil))
        precondition(t.count == MetricName.allCases.count, "every metric has exactly one spec")
        return t
    }()
}
