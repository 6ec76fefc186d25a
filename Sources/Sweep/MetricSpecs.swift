import Foundation
import TensorCore
import Models
import Evaluation

/// The metrics a sweep can compute. Each is declared once, in `MetricSpecs.declaration`: its rows
/// (and so the keys resume looks for), their labels, its scope and its function.
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
    /// IoU of maps under horizontal flip / shift / rotation / small noise, mapped back: the mean, and
    /// one row per perturbation (`Augmentation.defaults`).
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
    /// Does the model look outside the patient? With the body = the largest foreground region of the
    /// slice, holes filled (`BodyMask`): the share of map mass outside the body, that region's share
    /// of the image (a uniform map's value), and 1 when the prediction changes once everything
    /// outside the body is set to the background value.
    case outside_body

    /// The default set: the study's three measures and the cheap standard ones.
    public static let defaults: [MetricName] = [.locacc, .pointing, .energy, .iou, .auc, .faith, .deletion, .insertion, .drop,
                                                .increase, .consist]
    /// Its declaration (built once; the fallback only keeps the lookup total).
    public var spec: MetricSpec { MetricSpecs.table[self] ?? MetricSpecs.declaration(self) }
}

/// A parameter that defines a metric's numbers; grids in `SweepConfig.grid` give several values.
public enum MetricParameter: String, Sendable, Codable, CaseIterable {
    /// Binarisation threshold τ.
    case threshold
    /// Deletion/insertion steps.
    case steps
    /// Cascade stage k (re-initialise `cascadeBlocks[0...k]`): one value per stage of the architecture.
    case stage

    /// Its name in a row's parameters string (`tau=0.5;size=224`).
    public var key: String {
        switch self {
        case .threshold: return "tau"
        case .steps: return "steps"
        case .stage: return "stage"
        }
    }

    /// Its value in a row's parameters string (`key=value` fields joined by `;`, as
    /// `ParameterValues.field` writes them), or nil when the row has none.
    public func value(in params: String) -> String? {
        let prefix = key + "="
        return params.split(separator: ";").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }
}

/// Which work unit computes a metric and which maps its function reads.
public enum MetricScope: String, Sendable, CaseIterable {
    /// Each map of a batch of images, one weights and one method (`MapBatch`).
    case perMap
    /// Two methods' maps of one image and weights, for every pair of methods a < b: [a's, b's].
    case acrossMethods
    /// Every weights' map of one image, architecture and method: the first weights' first.
    case acrossWeights
    /// Two architectures' maps of one image and method (each one's first weights), for every pair
    /// a < b: [a's, b's].
    case acrossArchitectures
    /// One image, weights and method: [the trained model's map, the map once blocks 0…stage are
    /// re-initialised].
    case cascade

    /// The work unit that runs it.
    public var unitKind: WorkUnit.Kind {
        switch self {
        case .perMap, .acrossMethods: return .model
        case .acrossWeights: return .consist
        case .acrossArchitectures: return .crossArchitecture
        case .cascade: return .cascade
        }
    }
}

/// The values of the parameters for one row set.
public struct ParameterValues: Sendable, Hashable {
    public var threshold: Float
    public var steps: Int
    public var stage: Int
    public var imageSize: Int
    public var camSeed: UInt64

    /// `key=value` of one parameter, as rows' parameters strings spell it (`MetricParameter.value` reads it back).
    public func field(_ p: MetricParameter) -> String {
        switch p {
        case .threshold: return "\(p.key)=\(threshold)"
        case .steps: return "\(p.key)=\(steps)"
        case .stage: return "\(p.key)=\(stage)"
        }
    }
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
    public static let constantRandomizedMap = "randomised map constant"
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

/// A per-map metric on a batch: per image, one outcome per row. The forwards and maps of the batch
/// are computed once and shared by every per-map metric.
public typealias MapMetric = @Sendable (MapBatch, ParameterValues) throws -> [[Outcome]]

/// A comparison of the `[H, W]` maps of one image that its scope names: one outcome per row.
public typealias MapComparison = @Sendable ([Tensor], ParameterValues) throws -> [Outcome]

/// What a metric computes, and so its scope: the executor runs each scope through one mechanism.
public enum MetricFunction: Sendable {
    /// `cost`: per image and map, in model forwards (for sharding).
    case perMap(cost: @Sendable (ParameterValues) -> Double, MapMetric)
    case acrossMethods(MapComparison)
    case acrossWeights(MapComparison)
    case acrossArchitectures(MapComparison)
    case cascade(MapComparison)

    public var scope: MetricScope {
        switch self {
        case .perMap: return .perMap
        case .acrossMethods: return .acrossMethods
        case .acrossWeights: return .acrossWeights
        case .acrossArchitectures: return .acrossArchitectures
        case .cascade: return .cascade
        }
    }

    /// The per-map function and its cost (nil for a comparison).
    public var perMap: (cost: @Sendable (ParameterValues) -> Double, compute: MapMetric)? {
        if case let .perMap(cost, compute) = self { return (cost, compute) }
        return nil
    }

    /// The comparison of cached maps (nil for a per-map metric).
    public var comparison: MapComparison? {
        switch self {
        case .perMap: return nil
        case let .acrossMethods(f), let .acrossWeights(f), let .acrossArchitectures(f), let .cascade(f): return f
        }
    }
}

/// One row a metric writes per image and subject (weights × method, or the pair its scope compares).
public struct MetricRow: Sendable {
    /// The results' `metric` column.
    public let name: String
    /// How tables and figures name it.
    public let label: String
    /// The results' `params` column (part of the row's content key).
    public let params: @Sendable (ParameterValues, Architecture) -> String

    public init(_ name: String, _ label: String, params: @escaping @Sendable (ParameterValues, Architecture) -> String) {
        self.name = name; self.label = label; self.params = params
    }
    /// A row whose parameters do not depend on the architecture.
    public init(_ name: String, _ label: String, _ params: @escaping @Sendable (ParameterValues) -> String) {
        self.init(name, label, params: { pv, _ in params(pv) })
    }
}

/// One metric: its rows and how reports present them, the parameters that define its numbers,
/// and its function (which carries its scope).
public struct MetricSpec: Sendable {
    public let name: MetricName
    /// What a number means, as captions state it.
    public let convention: String
    /// Every value lies in [0, 1] (plotted on one axis).
    public let unitInterval: Bool
    /// The parameters that define its numbers (each multiplies rows over its grid).
    public let parameters: [MetricParameter]
    /// The rows written per image and subject, never empty; the first is the one tables and figures show.
    public let rows: [MetricRow]
    public let function: MetricFunction

    public init(_ name: MetricName, convention: String, unitInterval: Bool, parameters: [MetricParameter] = [], rows: [MetricRow],
                _ function: MetricFunction) {
        precondition(!rows.isEmpty, "\(name.rawValue) writes no row")
        self.name = name; self.convention = convention; self.unitInterval = unitInterval
        self.parameters = parameters; self.rows = rows; self.function = function
    }

    public var scope: MetricScope { function.scope }
    /// The results' `metric` column of the row tables and figures show.
    public var primaryRow: String { rows[0].name }
    public var label: String { rows[0].label }
    /// The rows written per image and subject for given parameter values.
    public func rows(_ pv: ParameterValues, _ arch: Architecture) -> [RowName] {
        rows.map { RowName(metric: $0.name, params: $0.params(pv, arch)) }
    }
}

// MARK: - The declarations

/// The table of metrics: adding a metric is one case of `MetricName` and its entry in `declaration`.
public enum MetricSpecs {
    public static let table: [MetricName: MetricSpec] =
        Dictionary(uniqueKeysWithValues: MetricName.allCases.map { ($0, declaration($0)) })

    static func declaration(_ n: MetricName) -> MetricSpec {
        switch n {
        case .locacc:
            return localization(n, "LocAcc", convention: "|[L≥0.5] ∩ M| / |M|, higher = on the lesion", parameters: [.threshold], params: tau) {
                try Localization.locAcc(map: $0, mask: $1, threshold: $2.threshold)
            }
        case .pointing:
            return localization(n, "Pointing", convention: "1 if the map's maximum lies in the mask", params: { _ in "tolerance=0" }) { m, k, _ in
                try Localization.pointingGame(map: m, mask: k)
            }
        case .energy:
            return localization(n, "Energy", convention: "share of the map's mass inside the mask", params: { _ in "" }) { m, k, _ in
                try Localization.energyPointingGame(map: m, mask: k)
            }
        case .iou:
            return localization(n, "IoU", convention: "IoU of [L≥τ] with the mask", parameters: [.threshold], params: tau) {
                try Localization.overlapAtThreshold(map: $0, mask: $1, threshold: $2.threshold).iou
            }
        case .dice:
            return localization(n, "Dice", convention: "Dice of [L≥τ] with the mask", parameters: [.threshold], params: tau) {
                try Localization.overlapAtThreshold(map: $0, mask: $1, threshold: $2.threshold).dice
            }
        case .iou_top10:
            return localization(n, "IoU top 10%", convention: "IoU of the map's top 10% pixels with the mask",
                                params: { "top=10%;size=\($0.imageSize)" }) { m, k, _ in
                try Localization.overlapAtTopPercent(map: m, mask: k, percent: 10).iou
            }
        case .rank:
            return localization(n, "Rank accuracy", convention: "share of the |M| highest pixels inside M", params: { _ in "" }) { m, k, _ in
                try Localization.relevanceRankAccuracy(map: m, mask: k)
            }
        case .auc:
            return localization(n, "ROC-AUC", convention: "ROC-AUC of the map's values against the mask", params: { _ in "" }) { m, k, _ in
                try Localization.rocAUC(map: m, mask: k)
            }
        case .faith:
            return MetricSpec(n, convention: "logit drop f(x)_y − f(x⊙(1−L))_y, raw logits", unitInterval: false,
                              rows: [MetricRow(n.rawValue, "Faith") { _ in "logit;class=predicted" }], .perMap(cost: { _ in 1 }) { b, _ in
                try Faithfulness.faith(images: b.images, maps: b.maps, model: b.model, classes: b.predicted, cleanLogits: b.logits,
                                       batchSize: b.batchSize).map { [.of($0, else: "undefined")] }
            })
        case .drop:
            return confidence(n, "Average drop %", convention: "drop (%) of the predicted class's softmax score on x⊙L, clipped at 0",
                              unitInterval: false) { $0.dropPercent }
        case .increase:
            return confidence(n, "Increase in confidence", convention: "1 if the predicted class's softmax score rises on x⊙L",
                              unitInterval: true) { $0.increased }
        case .deletion:
            return rise(n, "Deletion AUC", convention: "RISE, zero baseline, softmax, lower = more faithful", params: "baseline=zero;score=softmax") { b, i, steps in
                try Faithfulness.deletion(image: b.image(i), map: b.map(i), targetClass: b.predicted[i], model: b.model, steps: steps,
                                          cleanScore: b.cleanScore(i), batchSize: b.batchSize).auc
            }
        case .insertion:
            return rise(n, "Insertion AUC", convention: "RISE, blur(11, σ5) start, softmax, higher = more faithful", params: "start=blur11s5;score=softmax") { b, i, steps in
                try Faithfulness.insertion(image: b.image(i), map: b.map(i), targetClass: b.predicted[i], model: b.model, steps: steps,
                                           cleanScore: b.cleanScore(i), batchSize: b.batchSize).auc
            }
        case .road_morf:
            return road(n, "ROAD MoRF", order: .mostRelevantFirst, convention: "mean softmax change over percentiles 10…90 imputed, most relevant first")
        case .road_lerf:
            return road(n, "ROAD LeRF", order: .leastRelevantFirst, convention: "mean softmax change over percentiles 10…90 imputed, least relevant first")
        case .augment_iou:
            // The perturbations are one list (`Augmentation.defaults`): the rows' names and
            // parameters follow it, so changing the list changes the keys of exactly these rows.
            let augs = Augmentation.defaults
            let all = augs.map(\.key).joined(separator: ",")
            return MetricSpec(n, convention: "mean IoU of [L≥τ] with the map of the perturbed image (\(augs.map(\.description).joined(separator: ", "))), mapped back; "
                              + "one row per perturbation beside the mean", unitInterval: true, parameters: [.threshold],
                              rows: [MetricRow(n.rawValue, "Augmentation IoU") { "\(all);\($0.field(.threshold))" }]
                                  + augs.map { a in MetricRow("\(n.rawValue)_\(a.family)", "Augmentation IoU, \(a.description)") { "\(a.key);\($0.field(.threshold))" } },
                              .perMap(cost: { _ in 2 * Double(augs.count) }) { b, pv in
                try (0..<b.count).map { i in
                    let scores = try Consistency.underAugmentations(images: b.image(i), classes: [b.predicted[i]], explain: b.explain,
                                                                    referenceMaps: try b.maps.slice0(i..<(i + 1)), augmentations: augs,
                                                                    threshold: pv.threshold, seed: pv.camSeed)
                    let ious = scores.first?.map(\.iou) ?? []
                    let defined = ious.compactMap { $0 }
                    return [.of(defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count), else: Undefined.emptyBinarisedMaps)]
                        + augs.indices.map { k -> Outcome in .of(k < ious.count ? ious[k] : nil, else: Undefined.emptyBinarisedMaps) }
                }
            })
        case .random_logit:
            let seed: @Sendable (ParameterValues) -> String = { "seed=\($0.camSeed)" }
            return MetricSpec(n, convention: "similarity of the map for a random other class to the map for the predicted class, lower = class-sensitive",
                              unitInterval: false,
                              rows: [MetricRow("random_logit_spearman", "Random-logit Spearman ρ", seed), MetricRow("random_logit_ssim", "Random-logit SSIM", seed)],
                              .perMap(cost: { _ in 2 }) { b, pv in
                guard b.numClasses > 1 else { return Array(repeating: [.undefined(Undefined.oneClass), .undefined(Undefined.oneClass)], count: b.count) }
                let r = try Sanity.randomLogit(images: b.images, classes: b.predicted, numClasses: b.numClasses, explain: b.explain, maps: b.maps,
                                               seed: pv.camSeed, batchSize: b.batchSize)
                return r.map { [.of($0.similarity.spearman, else: Undefined.constantMap), .of($0.similarity.ssim, else: Undefined.smallMap)] }
            })
        case .cascade:
            let stage: @Sendable (ParameterValues, Architecture) -> String = { pv, arch in
                "\(pv.field(.stage));upto=\(arch.cascadeBlocks[pv.stage][0]);seed=\(pv.camSeed)"
            }
            return MetricSpec(n, convention: "similarity of the map to the trained model's once blocks are re-initialised from the head down to the stage, "
                              + "lower = depends on the learned weights", unitInterval: false, parameters: [.stage],
                              rows: [MetricRow("cascade_spearman", "Cascade Spearman ρ", params: stage), MetricRow("cascade_ssim", "Cascade SSIM", params: stage)],
                              .cascade { maps, _ in
                guard !isConstantMap(maps[0]) else { return [.undefined(Undefined.constantMap), .undefined(Undefined.constantMap)] }
                let sim = try Sanity.similarity(original: maps[0], other: maps[1])
                return [.of(sim.spearman, else: Undefined.constantRandomizedMap), .of(sim.ssim, else: Undefined.smallMap)]
            })
        case .cross_method:
            return MetricSpec(n, convention: "agreement of two CAM methods' maps of one image: IoU of [L≥τ] and Spearman ρ", unitInterval: false,
                              parameters: [.threshold],
                              rows: [MetricRow("method_iou", "Method IoU") { $0.field(.threshold) }, MetricRow("method_spearman", "Method Spearman ρ") { _ in "" }],
                              .acrossMethods { maps, pv in
                guard !maps.contains(where: isConstantMap) else { return [.undefined(Undefined.constantMap), .undefined(Undefined.constantMap)] }
                return [.of(try Similarity.binaryIoU(maps[0], maps[1], threshold: pv.threshold), else: Undefined.emptyBinarisedMaps),
                        .of(try Similarity.spearman(maps[0], maps[1]), else: Undefined.constantMap)]
            })
        case .consist:
            return MetricSpec(n, convention: "mean IoU of [L≥0.5] across seeds, reference = first seed", unitInterval: true, parameters: [.threshold],
                              rows: [MetricRow(n.rawValue, "Consist") { $0.field(.threshold) }], .acrossWeights { maps, pv in
                [.of(try Consistency.consist(maps: maps, threshold: pv.threshold), else: Undefined.noDefinedPair)]
            })
        case .outside_body:
            return MetricSpec(n, convention: "share of the map's mass outside the body (BodyMask: largest foreground region above air, opened, holes filled), beside that region's "
                              + "share of the image; and whether the prediction changes once the outside is set to background", unitInterval: true,
                              rows: [MetricRow("outside_energy", "Map mass outside the body") { _ in "body=v3-air0.2-open-largest-filled-peel-largest" },
                                     MetricRow("outside_area", "Image area outside the body") { _ in "body=v3-air0.2-open-largest-filled-peel-largest" },
                                     MetricRow("outside_flip", "Prediction changed, outside blanked") { _ in "body=v3-air0.2-open-largest-filled-peel-largest;fill=median" }],
                              .perMap(cost: { _ in 1 }) { b, _ in
                let bodies = try (0..<b.count).map { try BodyMask.find(image: b.image($0)) }
                let blanked = try Tensor.concat0((0..<b.count).map { try BodyMask.blankOutside(image: b.image($0), body: bodies[$0]) })
                let changed = try rowArgmax(b.model(blanked))
                return try (0..<b.count).map { i in
                    [.of(try BodyMask.outsideEnergy(map: b.map(i), body: bodies[i]), else: Undefined.zeroMapMass),
                     Outcome(value: BodyMask.outsideArea(body: bodies[i]), reason: ""),
                     Outcome(value: changed[i] == b.predicted[i] ? 0 : 1, reason: "")]
                }
            })
        case .cross_arch:
            return MetricSpec(n, convention: "IoU of [L≥τ] between two architectures' maps (first weights of each)", unitInterval: true,
                              parameters: [.threshold], rows: [MetricRow("arch_iou", "Architecture IoU") { $0.field(.threshold) }],
                              .acrossArchitectures { maps, pv in
                guard !maps.contains(where: isConstantMap) else { return [.undefined(Undefined.constantMap)] }
                return [.of(try Similarity.binaryIoU(maps[0], maps[1], threshold: pv.threshold), else: Undefined.emptyBinarisedMaps)]
            })
        }
    }

    // MARK: - Shapes several declarations share

    static func tau(_ pv: ParameterValues) -> String { "\(pv.field(.threshold));size=\(pv.imageSize)" }

    /// A per-image localisation metric against the mask (undefined without one).
    static func localization(_ n: MetricName, _ label: String, convention: String, parameters: [MetricParameter] = [],
                             params: @escaping @Sendable (ParameterValues) -> String,
                             _ f: @escaping @Sendable (Tensor, Tensor, ParameterValues) throws -> Double?) -> MetricSpec {
        MetricSpec(n, convention: convention, unitInterval: true, parameters: parameters, rows: [MetricRow(n.rawValue, label, params)],
                   .perMap(cost: { _ in 0.01 }) { b, pv in
            try (0..<b.count).map { i in
                guard let mask = b.masks[i] else { return [.undefined(Undefined.noMask)] }
                return [.of(try f(try b.map(i), mask, pv), else: Undefined.emptyMask)]
            }
        })
    }

    /// Average drop or increase in confidence: the softmax score on x ⊙ L against the clean one.
    static func confidence(_ n: MetricName, _ label: String, convention: String, unitInterval: Bool,
                           _ value: @escaping @Sendable (ConfidenceChange) -> Double) -> MetricSpec {
        MetricSpec(n, convention: convention, unitInterval: unitInterval,
                   rows: [MetricRow(n.rawValue, label) { _ in "score=softmax;class=predicted" }], .perMap(cost: { _ in 1 }) { b, _ in
            try Faithfulness.confidenceChange(images: b.images, maps: b.maps, model: b.model, classes: b.predicted,
                                              cleanLogits: b.logits, batchSize: b.batchSize).map { [Outcome(value: value($0), reason: "")] }
        })
    }

    /// A RISE curve's area per image, over `steps` steps (each step one forward).
    static func rise(_ n: MetricName, _ label: String, convention: String, params: String,
                     _ auc: @escaping @Sendable (MapBatch, _ image: Int, _ steps: Int) throws -> Double) -> MetricSpec {
        MetricSpec(n, convention: convention, unitInterval: true, parameters: [.steps],
                   rows: [MetricRow(n.rawValue, label) { "\($0.field(.steps));\(params)" }], .perMap(cost: { Double($0.steps) }) { b, pv in
            try (0..<b.count).map { i in [Outcome(value: try auc(b, i, pv.steps), reason: "")] }
        })
    }

    /// ROAD in one order: the mean score change over the percentiles.
    static func road(_ n: MetricName, _ label: String, order: ROADOrder, convention: String) -> MetricSpec {
        MetricSpec(n, convention: convention, unitInterval: false,
                   rows: [MetricRow(n.rawValue, label) { _ in "percentiles=10..90;noise=0.01;score=softmax" }], .perMap(cost: { _ in 9 }) { b, pv in
            try (0..<b.count).map { i in
                let r = try Faithfulness.road(image: b.image(i), map: b.map(i), targetClass: b.predicted[i], model: b.model, order: order,
                                              seed: pv.camSeed, cleanScore: b.cleanScore(i), batchSize: b.batchSize)
                return [.of(r.isEmpty ? nil : r.reduce(0, +) / Double(r.count), else: "no percentile scored")]
            }
        })
    }
}
