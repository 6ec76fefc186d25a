import Foundation
import Evaluation
import Sweep

/// The sweep an audit runs: its metrics (each a declaration in `MetricSpecs`) and the chance
/// method every comparison is paired with.
public enum AuditPlan {
    /// RandomCAM: a map that knows nothing, the chance level of localisation and faithfulness.
    public static let chanceMethod = "random"
    /// Metrics the checks read. Localisation rows are undefined (and say so) without masks.
    public static let metrics: [MetricName] = [.locacc, .pointing, .energy, .faith, .deletion, .insertion, .cascade, .random_logit,
                                               .augment_iou, .cross_method, .outside_body]
    /// Deletion/insertion steps: enough for an AUC, few enough for a quick audit.
    public static let steps = 20
}

/// The rows of one audited model (one weights), indexed for the checks.
struct AuditRows {
    /// True class name and index per image.
    var truth: [String: (name: String, index: Int)] = [:]
    var predicted: [String: Int] = [:]
    var correct: [String: Double] = [:]
    /// metric → method → params → image → value (nil = undefined, with `reasons`).
    var values: [String: [String: [String: [String: Double?]]]] = [:]
    var reasons: [String: [String: Int]] = [:]

    init(_ rows: [ResultRow]) {
        for r in rows {
            let k = r.key
            switch k.metric {
            case FactMetric.truth:
                let name = k.params.hasPrefix("class=") ? String(k.params.dropFirst(6)) : k.params
                if let v = r.value { truth[k.image] = (name, Int(v)) }
            case FactMetric.predicted: if let v = r.value { predicted[k.image] = Int(v) }
            case FactMetric.correct: if let v = r.value { correct[k.image] = v }
            default:
                values[k.metric, default: [:]][k.method, default: [:]][k.params, default: [:]][k.image] = r.value
                if r.value == nil { reasons[k.metric, default: [:]][r.reason, default: 0] += 1 }
            }
        }
    }

    /// Defined values of `metric` by `method` (the first params group, or the one matching `params`).
    func of(_ metric: String, _ method: String, params: String? = nil) -> [String: Double] {
        guard let byParams = values[metric]?[method] else { return [:] }
        let key = params ?? byParams.keys.sorted().first
        guard let key, let m = byParams[key] else { return [:] }
        return m.compactMapValues { $0 }
    }

    /// The commonest reason `metric`'s rows are undefined.
    func reason(_ metric: String) -> String? { reasons[metric]?.max { $0.value < $1.value }?.key }

    var classes: [String] { Array(Set(truth.values.map(\.name))).sorted { a, b in
        (truth.values.first { $0.name == a }?.index ?? 0) < (truth.values.first { $0.name == b }?.index ?? 0)
    } }
    func images(of cls: String?) -> Set<String> { Set(truth.filter { cls == nil || $0.value.name == cls }.keys) }
}

/// Turns an audit run's rows into checks with verdicts.
public struct AuditEvaluation {
    public let method: String
    public let thresholds: AuditThresholds
    let rows: AuditRows

    /// - Parameters:
    ///   - rows: the run's rows (one weights).
    ///   - method: the CAM method judged (the first of `--methods`).
    public init(rows: [ResultRow], method: String, thresholds: AuditThresholds) {
        self.rows = AuditRows(rows); self.method = method; self.thresholds = thresholds
    }

    public var classNames: [String] { rows.classes }
    /// Defined values of a per-map row by image (the judged method unless another is named), for galleries.
    public func values(_ metric: String, method: String? = nil) -> [String: Double] { rows.of(metric, method ?? self.method) }

    static func summary(_ x: [Double]) -> (Double?, [Double]?) {
        guard let m = Stats.mean(x) else { return (nil, nil) }
        return (m, Stats.bootstrapCI(x).map { [$0.low, $0.high] })
    }

    /// Every check, in the order of the verdict table.
    public func checks() -> [AuditCheck] {
        let acc = accuracy()
        var out = [acc, outsideBody(), randomization(), randomLogit(), localization(), faithfulness(), stability()]
        if acc.status == .fail {
            for i in out.indices.dropFirst() {
                out[i].modelNotLearned = true
                out[i].reason = "describes a model that has not learned (accuracy at chance): " + out[i].reason
            }
        }
        return out
    }

    // MARK: - judging

    /// A value that should stay at most `t`: pass when its CI does, fail when the mean exceeds it.
    static func atMost(_ v: Double?, _ ci: [Double]?, _ t: Double) -> AuditStatus {
        guard let v else { return .undefined }
        if v > t { return .fail }
        return (ci?[1] ?? v) <= t ? .pass : .warn
    }

    /// A value that should reach at least `t`.
    static func atLeast(_ v: Double?, _ ci: [Double]?, _ t: Double) -> AuditStatus {
        guard let v else { return .undefined }
        if v < t { return .fail }
        return (ci?[0] ?? v) >= t ? .pass : .warn
    }

    /// Per class: the same judgement on each class's images.
    func perClass(_ values: [String: Double], undefinedReason: String,
                  judge: (Double?, [Double]?) -> AuditStatus) -> [AuditClassResult] {
        rows.classes.map { c in
            let imgs = rows.images(of: c)
            let x = values.filter { imgs.contains($0.key) }.map(\.value)
            let (m, ci) = Self.summary(x)
            return AuditClassResult(className: c, status: judge(m, ci), value: m, ci: ci, n: x.count, reason: m == nil ? undefinedReason : "")
        }
    }

    // MARK: - the checks

    func accuracy() -> AuditCheck {
        let imgs = rows.correct.keys.sorted()
        let x = imgs.map { rows.correct[$0]! }
        let (m, ci) = Self.summary(x)
        let counts = Dictionary(grouping: rows.truth.values.map(\.index), by: { $0 }).mapValues(\.count)
        let chance = Double(counts.values.max() ?? 0) / Double(max(1, rows.truth.count))
        let floor = chance + thresholds["accuracy"]
        var evidence: [AuditValue] = []
        let pairs = imgs.compactMap { i in rows.truth[i].flatMap { t in rows.predicted[i].map { (t.index, $0) } } }
        let k = max((rows.truth.values.map(\.index).max() ?? 0), (pairs.map(\.1).max() ?? 0)) + 1
        if let report = try? ClassificationReport(truth: pairs.map(\.0), predicted: pairs.map(\.1), numClasses: k) {
            evidence.append(AuditValue(name: "macro-F1", value: report.macroF1, ci: nil, n: pairs.count))
        }
        evidence.append(AuditValue(name: "chance (majority class)", value: chance, ci: nil, n: rows.truth.count))
        let status = Self.atLeast(m, ci, floor)
        let reason: String
        switch status {
        case .pass: reason = "accuracy is above chance + margin with 95% confidence"
        case .warn: reason = "accuracy is above chance + margin, but its 95% CI reaches below it"
        case .fail: reason = "accuracy is not above chance + margin: the model has not learned the task"
        case .undefined: reason = "no image was classified"
        }
        let per = rows.classes.map { c -> AuditClassResult in
            let ids = rows.images(of: c)
            let xs = ids.compactMap { rows.correct[$0] }
            let (cm, cci) = Self.summary(xs)
            return AuditClassResult(className: c, status: Self.atLeast(cm, cci, floor), value: cm, ci: cci, n: xs.count,
                                    reason: cm == nil ? "no image of this class" : "")
        }
        return AuditCheck(id: "accuracy", status: status, value: m, ci: ci, threshold: "≥ chance + \(fmt(thresholds["accuracy"])) = \(fmt(floor))",
                          thresholdValue: floor, reason: reason,
                          meaning: "Share of the split's images classified correctly (per class: recall), beside the majority class's share; below the floor the explanations describe a model that has not learned.",
                          chance: chance, evidence: evidence, modelNotLearned: status == .fail, perClass: per)
    }

    func outsideBody() -> AuditCheck {
        let energy = rows.of("outside_energy", method), area = rows.of("outside_area", method), flip = rows.of("outside_flip", method)
        // Excess mass outside: the map's share outside the body minus that region's share of the
        // image (what a uniform map puts there). Coarse maps (a 2×2 last stage at 64 px) spread
        // over the whole image, so the raw share mostly measures the body's size.
        let excess = energy.compactMap { k, e in area[k].map { (k, e - $0) } }
        let excessBy = Dictionary(excess, uniquingKeysWith: { a, _ in a })
        let (m, ci) = Self.summary(Array(excessBy.values))
        let (em, eci) = Self.summary(Array(energy.values))
        let (am, aci) = Self.summary(Array(area.values))
        let (fm, fci) = Self.summary(Array(flip.values))
        let tE = thresholds["outside_body"], tF = thresholds["outside_body_flip"]
        func judge(_ e: Double?, _ eci: [Double]?, _ f: Double?, _ fci: [Double]?) -> (AuditStatus, AuditStatus, AuditStatus) {
            let sE = Self.atMost(e, eci, tE), sF = Self.atMost(f, fci, tF)
            let s: AuditStatus = [sE, sF].contains(.fail) ? .fail : [sE, sF].contains(.warn) ? .warn : e == nil ? .undefined : .pass
            return (s, sE, sF)
        }
        let (status, sE, sF) = judge(m, ci, fm, fci)
        var reason: String
        switch status {
        case .pass: reason = "the map does not favour the outside of the body (\(pct(em)) of its mass there, \(pct(am)) of the image) and blanking it changes \(pct(fm)) of predictions"
        case .undefined: reason = rows.reason("outside_energy") ?? "no map was computed"
        default:
            var why: [String] = []
            if sE != .pass { why.append("\(pct(em)) of the map's mass lies outside the body, which is \(pct(am)) of the image (excess \(fmt(m)), threshold \(fmt(tE)))") }
            if sF != .pass { why.append("\(pct(fm)) of predictions change when the outside is blanked (threshold \(pct(tF)))") }
            reason = why.joined(separator: "; ")
        }
        let per = rows.classes.map { c -> AuditClassResult in
            let ids = rows.images(of: c)
            let x = excessBy.filter { ids.contains($0.key) }.map(\.value)
            let (cm, cci) = Self.summary(x)
            let (cf, cfci) = Self.summary(flip.filter { ids.contains($0.key) }.map(\.value))
            return AuditClassResult(className: c, status: judge(cm, cci, cf, cfci).0, value: cm, ci: cci, n: x.count,
                                    reason: "prediction changed: \(pct(cf))")
        }
        return AuditCheck(id: "outside_body", status: status, value: m, ci: ci,
                          threshold: "excess mass outside ≤ \(fmt(tE)) and predictions changed ≤ \(fmt(tF))", thresholdValue: tE, reason: reason,
                          meaning: "Excess of CAM mass outside the body (largest foreground region of the slice, holes filled) over that region's share of the image (0 for a uniform map), and the share of predictions that change when everything outside the body is set to the background value.",
                          chance: 0, evidence: [AuditValue(name: "map mass outside the body", value: em, ci: eci, n: energy.count),
                                                AuditValue(name: "image area outside the body", value: am, ci: aci, n: area.count),
                                                AuditValue(name: "predictions changed, outside blanked", value: fm, ci: fci, n: flip.count)],
                          modelNotLearned: false, perClass: per)
    }

    /// Mean Spearman ρ and SSIM per cascade stage (stage order).
    public func cascadeCurve() -> [(stage: Int, spearman: AuditValue, ssim: AuditValue)] {
        guard let byParams = rows.values["cascade_spearman"]?[method] else { return [] }
        var out: [(stage: Int, spearman: AuditValue, ssim: AuditValue)] = []
        for (params, vals) in byParams {
            guard let stage = MetricParameter.stage.value(in: params).flatMap({ Int($0) }) else { continue }
            let sp = vals.compactMap { $0.value }
            let ss = (rows.values["cascade_ssim"]?[method]?[params] ?? [:]).compactMap { $0.value }
            let (a, aci) = Self.summary(sp), (b, bci) = Self.summary(ss)
            out.append((stage: stage, spearman: AuditValue(name: "Spearman ρ", value: a, ci: aci, n: sp.count), ssim: AuditValue(name: "SSIM", value: b, ci: bci, n: ss.count)))
        }
        return out.sorted { $0.stage < $1.stage }
    }

    func randomization() -> AuditCheck {
        let curve = cascadeCurve()
        let t = thresholds["randomization"]
        let meaning = "Model-parameter randomisation (Adebayo et al. 2018): Spearman ρ between the trained model's map and the map once the layers are re-initialised from the head down; the value is at the last stage (every block randomised)."
        guard let last = curve.last, let v = last.spearman.value else {
            return AuditCheck(id: "randomization", status: .undefined, value: nil, ci: nil, threshold: "ρ ≤ \(fmt(t))", thresholdValue: t,
                              reason: rows.reason("cascade_spearman") ?? "no cascade rows", meaning: meaning, chance: nil, evidence: [],
                              modelNotLearned: false, perClass: [])
        }
        let status = Self.atMost(v, last.spearman.ci, t)
        let reason = status == .pass ? "maps move away from the trained maps as the weights are randomised"
            : "the maps survive randomisation (ρ \(fmt(v)) at the last stage): they explain the architecture, not the learned model"
        let lastParams = rows.values["cascade_spearman"]?[method]?.keys.first { MetricParameter.stage.value(in: $0) == String(last.stage) }
        let values = (lastParams.flatMap { rows.values["cascade_spearman"]?[method]?[$0] } ?? [:]).compactMapValues { $0 }
        var evidence: [AuditValue] = []
        for s in curve {
            evidence.append(AuditValue(name: "stage \(s.stage) Spearman ρ", value: s.spearman.value, ci: s.spearman.ci, n: s.spearman.n))
            evidence.append(AuditValue(name: "stage \(s.stage) SSIM", value: s.ssim.value, ci: s.ssim.ci, n: s.ssim.n))
        }
        return AuditCheck(id: "randomization", status: status, value: v, ci: last.spearman.ci, threshold: "ρ at the last stage ≤ \(fmt(t))",
                          thresholdValue: t, reason: reason, meaning: meaning, chance: 0, evidence: evidence, modelNotLearned: false,
                          perClass: perClass(values, undefinedReason: "no defined cascade row") { Self.atMost($0, $1, t) })
    }

    func randomLogit() -> AuditCheck {
        let sp = rows.of("random_logit_spearman", method), ss = rows.of("random_logit_ssim", method)
        let (m, ci) = Self.summary(Array(sp.values))
        let (sm, sci) = Self.summary(Array(ss.values))
        let t = thresholds["random_logit"]
        let status = Self.atMost(m, ci, t)
        let reason: String
        switch status {
        case .pass: reason = "maps for another class differ from the predicted class's maps"
        case .undefined: reason = rows.reason("random_logit_spearman") ?? "no random-logit rows"
        default: reason = "maps for another class are nearly the same (ρ \(fmt(m ?? 0))): the map does not depend on the class explained"
        }
        return AuditCheck(id: "random_logit", status: status, value: m, ci: ci, threshold: "ρ ≤ \(fmt(t))", thresholdValue: t, reason: reason,
                          meaning: "Spearman ρ between the map for the predicted class and the map for a random other class (Sixt et al. 2020; Adebayo et al. 2018's data/class randomisation in spirit).",
                          chance: nil, evidence: [AuditValue(name: "SSIM", value: sm, ci: sci, n: ss.count)], modelNotLearned: false,
                          perClass: perClass(sp, undefinedReason: "no defined row") { Self.atMost($0, $1, t) })
    }

    /// A paired comparison with RandomCAM on `metric` (higher = better).
    func againstChance(id: String, metric: String, label: String, meaning: String, extra: [String],
                       undefinedWhenMissing: String) -> AuditCheck {
        let mine = rows.of(metric, method), chance = rows.of(metric, AuditPlan.chanceMethod)
        let alpha = thresholds[id]
        let common = mine.keys.filter { chance[$0] != nil }.sorted()
        var evidence: [AuditValue] = []
        for e in extra {
            let (a, aci) = Self.summary(Array(rows.of(e, method).values))
            let (b, bci) = Self.summary(Array(rows.of(e, AuditPlan.chanceMethod).values))
            evidence.append(AuditValue(name: e, value: a, ci: aci, n: rows.of(e, method).count))
            evidence.append(AuditValue(name: "\(e) (RandomCAM)", value: b, ci: bci, n: rows.of(e, AuditPlan.chanceMethod).count))
        }
        guard !common.isEmpty else {
            return AuditCheck(id: id, status: .undefined, value: nil, ci: nil, threshold: "> RandomCAM, Wilcoxon p < \(fmt(alpha))", thresholdValue: alpha,
                              reason: undefinedWhenMissing + (rows.reason(metric).map { " (rows: \($0))" } ?? ""), meaning: meaning,
                              chance: nil, evidence: evidence, modelNotLearned: false, perClass: [])
        }
        func judge(_ ids: [String]) -> (AuditStatus, Double?, [Double]?, Double?, Double?) {
            let x = ids.map { mine[$0]! }, y = ids.map { chance[$0]! }
            let (m, ci) = Self.summary(x)
            let c = Stats.mean(y)
            let p = Stats.wilcoxon(x, y)?.pValue
            guard let m, let c else { return (.undefined, nil, nil, nil, nil) }
            if m <= c { return (.fail, m, ci, c, p) }
            return ((p ?? 1) < alpha ? .pass : .warn, m, ci, c, p)
        }
        let (status, m, ci, c, p) = judge(common)
        evidence.append(pairedMeans(metric, of: nil).chance)
        evidence.append(AuditValue(name: "Wilcoxon p vs RandomCAM", value: p, ci: nil, n: common.count))
        let reason: String
        switch status {
        case .pass: reason = "\(label) beats RandomCAM (\(fmt(m ?? 0)) vs \(fmt(c ?? 0)), \(fmtP(p)))"
        case .warn: reason = "\(label) is above RandomCAM (\(fmt(m ?? 0)) vs \(fmt(c ?? 0))) but not significantly (\(fmtP(p)))"
        case .fail: reason = "\(label) is no better than RandomCAM (\(fmt(m ?? 0)) vs \(fmt(c ?? 0)))"
        case .undefined: reason = undefinedWhenMissing
        }
        let per = rows.classes.map { cls -> AuditClassResult in
            let ids = rows.images(of: cls)
            let inClass = common.filter { ids.contains($0) }
            let (s, cm, cci, cc, cp) = judge(inClass)
            return AuditClassResult(className: cls, status: s, value: cm, ci: cci, n: inClass.count,
                                    reason: cm == nil ? (rows.reason(metric) ?? "no defined row") : "RandomCAM \(fmt(cc ?? 0)), \(fmtP(cp))")
        }
        return AuditCheck(id: id, status: status, value: m, ci: ci, threshold: "> RandomCAM, Wilcoxon p < \(fmt(alpha))", thresholdValue: alpha,
                          reason: reason, meaning: meaning, chance: c, evidence: evidence, modelNotLearned: false, perClass: per)
    }

    /// The judged method's mean of `metric` beside RandomCAM's on the images both have (of class
    /// `cls`, or all), each with its 95% CI.
    func pairedMeans(_ metric: String, of cls: String?) -> (mine: AuditValue, chance: AuditValue) {
        let mine = rows.of(metric, method), chance = rows.of(metric, AuditPlan.chanceMethod), imgs = rows.images(of: cls)
        let common = mine.keys.filter { chance[$0] != nil && (cls == nil || imgs.contains($0)) }.sorted()
        let (a, aci) = Self.summary(common.map { mine[$0]! }), (b, bci) = Self.summary(common.map { chance[$0]! })
        return (AuditValue(name: metric, value: a, ci: aci, n: common.count), AuditValue(name: "\(metric) (RandomCAM)", value: b, ci: bci, n: common.count))
    }

    /// What the faithfulness figure shows, the judged method beside RandomCAM on the same images:
    /// Faith over all images and per true class, and the deletion and insertion AUCs.
    public func faithComparison() -> (faith: [(name: String, mine: AuditValue, chance: AuditValue)], auc: [(name: String, mine: AuditValue, chance: AuditValue)]) {
        let groups: [String?] = [nil] + rows.classes.map { Optional($0) }
        let faith = groups.map { cls -> (name: String, mine: AuditValue, chance: AuditValue) in
            let p = pairedMeans("faith", of: cls)
            return (name: cls ?? "all images", mine: p.mine, chance: p.chance)
        }
        let metrics = [("deletion", "deletion AUC"), ("insertion", "insertion AUC")]
        let auc = metrics.map { m -> (name: String, mine: AuditValue, chance: AuditValue) in
            let p = pairedMeans(m.0, of: nil)
            return (name: m.1, mine: p.mine, chance: p.chance)
        }
        return (faith, auc)
    }

    func localization() -> AuditCheck {
        againstChance(id: "localization", metric: "locacc", label: "LocAcc",
                      meaning: "LocAcc |[L≥0.5] ∩ M| / |M| on images with a lesion mask or box, against RandomCAM on the same images (paired Wilcoxon); pointing game and energy beside it.",
                      extra: ["pointing", "energy"],
                      undefinedWhenMissing: "no lesion masks or boxes (give --masks or --boxes, or a manifest with masks): localisation cannot be judged")
    }

    func faithfulness() -> AuditCheck {
        againstChance(id: "faithfulness", metric: "faith", label: "Faith",
                      meaning: "The study's Faith, f(x)_y − f(x⊙(1−L))_y in raw logits, against RandomCAM on the same images (paired Wilcoxon); deletion and insertion AUC beside it.",
                      extra: ["deletion", "insertion"], undefinedWhenMissing: "no faithfulness rows")
    }

    func stability() -> AuditCheck {
        let v = rows.of("augment_iou", method)
        let (m, ci) = Self.summary(Array(v.values))
        let t = thresholds["stability"]
        let status = Self.atLeast(m, ci, t)
        var evidence: [AuditValue] = []
        // Each perturbation's own IoU (its row in `Augmentation.defaults`' order), so a verdict
        // carried by one perturbation shows which.
        for a in Augmentation.defaults {
            let x = Array(rows.of("augment_iou_\(a.family)", method).values)
            let (pm, pci) = Self.summary(x)
            evidence.append(AuditValue(name: "IoU under \(a.description)", value: pm, ci: pci, n: x.count))
        }
        if let pairs = rows.values["method_iou"] {
            for (pair, byParams) in pairs.sorted(by: { $0.key < $1.key }) where !pair.contains(AuditPlan.chanceMethod) {
                let x = (byParams.values.first ?? [:]).compactMap { $0.value }
                let (a, aci) = Self.summary(x)
                evidence.append(AuditValue(name: "IoU between methods \(pair)", value: a, ci: aci, n: x.count))
            }
        }
        let reason: String
        switch status {
        case .pass: reason = "maps stay the same under perturbations that should not change them"
        case .undefined: reason = rows.reason("augment_iou") ?? "no stability rows"
        default: reason = "maps change under flip, shift, rotation and small noise (mean IoU \(fmt(m ?? 0)))"
        }
        return AuditCheck(id: "stability", status: status, value: m, ci: ci, threshold: "IoU ≥ \(fmt(t))", thresholdValue: t, reason: reason,
                          meaning: "Mean IoU of [L≥0.5] between the map and the map of the perturbed image mapped back (\(Augmentation.defaults.map(\.description).joined(separator: ", "))); each perturbation's IoU, and IoU between CAM methods when several are given, in the evidence.",
                          chance: nil, evidence: evidence, modelNotLearned: false,
                          perClass: perClass(v, undefinedReason: "no defined row") { Self.atLeast($0, $1, t) })
    }
}

func fmt(_ v: Double) -> String { String(format: "%.3g", v) }
func fmt(_ v: Double?) -> String { v.map { fmt($0) } ?? "n/a" }
func pct(_ v: Double?) -> String { v.map { String(format: "%.0f%%", 100 * $0) } ?? "n/a" }
/// "p = 0.034", "p < 0.001" or "p n/a".
func fmtP(_ p: Double?) -> String { p.map { $0 < 0.001 ? "p < 0.001" : String(format: "p = %.3f", $0) } ?? "p n/a" }
