import Foundation
import Evaluation
import Sweep

/// A table as the report shows it (strings) and as its CSV holds it.
public struct PaperTable: Sendable {
    public var caption: String
    public var header: [String]
    public var rows: [[String]]
    public var csvName: String
}

/// Accuracy of one architecture over its seeds.
public struct ArchitectureAccuracy: Sendable {
    public var architecture: String
    public var accuracies: [Double]
    public var mean: Double { accuracies.reduce(0, +) / Double(max(accuracies.count, 1)) }
    public var flagged: Bool
}

/// Stage 4: statistics — Table I from the trainer's test JSON, the explanation table with bootstrap
/// CIs and the RandomCAM chance level, paired Wilcoxon–Holm comparisons between architectures.
public enum Tables {
    /// The explanation metrics of the report, in its order; each one's row, label and convention
    /// come from its declaration.
    public static let explanationMetrics: [MetricSpec] = [MetricName.locacc, .faith, .consist, .pointing, .energy, .deletion, .insertion].map(\.spec)

    /// `digits` places; a value that rounds to zero prints as 0 ("-0.000" reads as a sign error).
    static func f(_ v: Double?, _ digits: Int = 3) -> String {
        guard let v else { return "–" }
        let s = String(format: "%.\(digits)f", v)
        return s.hasPrefix("-") && s.allSatisfy({ "-0.".contains($0) }) ? String(s.dropFirst()) : s
    }

    /// mean ± sample sd (n − 1), or the mean alone for one seed.
    static func meanSD(_ xs: [Double], _ digits: Int = 3) -> String {
        guard !xs.isEmpty else { return "–" }
        let m = xs.reduce(0, +) / Double(xs.count)
        guard xs.count > 1 else { return f(m, digits) }
        let sd = (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot()
        return "\(f(m, digits)) ± \(f(sd, digits))"
    }

    /// The test split's largest class share: the accuracy of always answering that class.
    public static func chanceAccuracy(classCounts: [Int]) -> Double {
        Double(classCounts.max() ?? 0) / Double(max(classCounts.reduce(0, +), 1))
    }

    struct TestScores {
        var accuracy: Double, macroF1: Double, msPerImage: Double, images: Int
        var classes: [String], sensitivity: [Double?], specificity: [Double?]
    }

    static func readTest(_ path: String) throws -> TestScores {
        guard let d = FileManager.default.contents(atPath: path), let o = try JSONSerialization.jsonObject(with: d) as? [String: Any],
              let acc = o["accuracy"] as? Double, let f1 = o["macro_f1"] as? Double, let per = o["per_class"] as? [[String: Any]] else {
            throw PaperError.stage("statistics", "\(path): not a test-scores file of camaudit train")
        }
        return TestScores(accuracy: acc, macroF1: f1, msPerImage: (o["ms_per_image"] as? Double) ?? .nan, images: (o["images"] as? Int) ?? 0,
                          classes: per.map { ($0["class"] as? String) ?? "?" },
                          sensitivity: per.map { $0["sensitivity"] as? Double }, specificity: per.map { $0["specificity"] as? Double })
    }

    /// Table I: per architecture, mean ± sd over seeds.
    /// - Parameter origins: how each architecture's models started ("from scratch …", "ImageNet IMAGENET1K_V2 (file)").
    public static func tableI(_ archs: [String], models: [TrainedModel], floor: Double, origins: [String: String]) throws -> (table: PaperTable, accuracy: [ArchitectureAccuracy]) {
        var rows: [[String]] = [], acc: [ArchitectureAccuracy] = []
        var classes: [String] = []
        for a in archs {
            let ms = models.filter { $0.architecture == a }
            let scores = try ms.map { try readTest($0.testJSON) }
            classes = scores.first?.classes ?? classes
            var row = [a, origins[a] ?? "–", ms.first.map { String($0.parameters) } ?? "–", String(ms.count),
                       meanSD(scores.map(\.accuracy)), meanSD(scores.map(\.macroF1))]
            for k in classes.indices {
                row.append(meanSD(scores.compactMap { k < $0.sensitivity.count ? $0.sensitivity[k] : nil }))
                row.append(meanSD(scores.compactMap { k < $0.specificity.count ? $0.specificity[k] : nil }))
            }
            row.append(meanSD(scores.map(\.msPerImage), 1))
            let entry = ArchitectureAccuracy(architecture: a, accuracies: scores.map(\.accuracy), flagged: false)
            acc.append(ArchitectureAccuracy(architecture: a, accuracies: entry.accuracies, flagged: entry.mean < floor))
            row.append(entry.mean < floor ? "below floor" : "")
            rows.append(row)
        }
        // Where the models started stands next to their name: a reader compares like with like.
        var header = ["architecture", "initialisation", "parameters", "seeds", "accuracy", "macro-F1"]
        for c in classes { header += ["sensitivity \(c)", "specificity \(c)"] }
        header += ["ms/image", "accuracy floor \(f(floor, 2))"]
        let caption = "Table I — test-split classification per architecture, mean ± sd over seeds (sample sd, n − 1). "
            + "Accuracy = share correct; macro-F1 = unweighted mean of per-class F1; sensitivity = recall of the class, "
            + "specificity = true-negative rate of the class (one-vs-rest); parameters = trainable parameters; "
            + "ms/image = forward time of the best checkpoint on the test split at the training batch size (ours, this machine); "
            + "initialisation = where training started: from scratch (torchvision's initialisation, seeded) or a pretrained checkpoint "
            + "(its torchvision weights enum and file, \"unpublished\" for a file torchvision does not publish; its SHA-256 is in run.json), "
            + "the 1000-class head replaced by one for these classes."
        return (PaperTable(caption: caption, header: header, rows: rows, csvName: "table1"), acc)
    }

    /// Summary group of (model, method, metric) pooled over images and seeds.
    static func group(_ groups: [SummaryGroup], _ model: String, _ method: String, _ metric: String) -> SummaryGroup? {
        groups.first { $0.model == model && $0.method == method && $0.metric == metric }
    }

    static func cell(_ g: SummaryGroup?) -> String {
        guard let g else { return "–" }
        if g.n == 0 {
            let why = g.undefinedReasons.sorted { $0.value > $1.value }.first?.key ?? "undefined"
            return "undefined (\(why))"
        }
        return "\(f(g.mean)) [\(f(g.ciLow)), \(f(g.ciHigh))]"
    }

    /// The explanation table: per architecture × metric, Grad-CAM's mean with its 95% bootstrap CI,
    /// RandomCAM's beside it, the counts, and the accuracy flag.
    /// - Parameter maps: each architecture's input side and Grad-CAM grid ("224×224", "7×7"), shown
    ///   beside its metrics: a 2×2 grid cannot point where a 7×7 one can.
    public static func explanation(_ archs: [String], rows: [ResultRow], accuracy: [ArchitectureAccuracy], resamples: Int,
                                   maps: [String: (input: String, grid: String)]) -> (table: PaperTable, groups: [SummaryGroup]) {
        let groups = Summary.groups(rows, resamples: resamples)
        var out: [[String]] = []
        for a in archs {
            let flag = accuracy.first { $0.architecture == a }?.flagged ?? false
            for m in explanationMetrics {
                let g = group(groups, a, "gradcam", m.primaryRow), r = group(groups, a, "random", m.primaryRow)
                out.append([a, m.label, cell(g), r.map { $0.n > 0 ? f($0.mean) : cell($0) } ?? "–", maps[a]?.input ?? "–", maps[a]?.grid ?? "–",
                            String(g?.n ?? 0), String(g?.undefined ?? 0), flag ? "yes: accuracy below the floor" : "", m.convention])
            }
        }
        let caption = "Explanation metrics of Grad-CAM per architecture: mean over test images and seeds with a 95% seeded bootstrap "
            + "percentile CI of the mean (B = \(resamples), seed 0), and RandomCAM's mean as the chance level. n counts defined values; "
            + "undefined values (no or empty mask, constant map, two empty binarised maps) are counted apart and never averaged. "
            + "Maps: ReLU, per-image min-max at feature resolution, bilinear upsampling (pytorch-grad-cam 1.5), explained class = predicted. "
            + "input = the side the model reads; map grid = the cells of the Grad-CAM layer before upsampling (ViT: patch tokens), "
            + "the finest detail a map can show."
        return (PaperTable(caption: caption, header: ["architecture", "metric", "Grad-CAM mean [95% CI]", "RandomCAM (chance)", "input", "map grid",
                                                      "n", "undefined", "flagged", "convention"], rows: out, csvName: "explanation"), groups)
    }

    /// Paired two-sided Wilcoxon signed-rank tests between architectures (Grad-CAM, values paired by
    /// image after averaging seeds), Holm-adjusted per metric.
    public static func comparisons(_ rows: [ResultRow]) -> PaperTable {
        let wanted = Set(explanationMetrics.map(\.primaryRow))
        let cs = Summary.comparisons(rows.filter { $0.key.method == "gradcam" && wanted.contains($0.key.metric) }, factor: .model)
        func p(_ v: Double?) -> String { v.map { $0 < 1e-4 ? String(format: "%.1e", $0) : String(format: "%.4f", $0) } ?? "–" }
        let label = Dictionary(uniqueKeysWithValues: explanationMetrics.map { ($0.primaryRow, $0.label) })
        return PaperTable(caption: "Paired comparisons between architectures (Grad-CAM): two-sided Wilcoxon signed-rank test on per-image "
                          + "values (seeds averaged per image; zero differences dropped, scipy defaults), Holm-adjusted within each metric.",
                          header: ["metric", "a", "b", "pairs", "mean a − b", "W", "p", "p (Holm)"],
                          rows: cs.map { [label[$0.metric] ?? $0.metric, $0.a, $0.b, String($0.n), f($0.meanDifference), f($0.statistic, 1), p($0.pValue), p($0.pHolm)] },
                          csvName: "comparisons")
    }

    /// The shortcut experiment per architecture: the shortcut model (trained on marked slices) and the
    /// study's model trained without markers (the control), on the same marked test slices.
    public static func shortcut(_ archs: [String], _ results: [ShortcutResult]) -> PaperTable {
        var rows: [[String]] = []
        for a in archs {
            for (trainedOn, label) in ShortcutResult.trainings {
                let rs = results.filter { $0.architecture == a && $0.trainedOn == trainedOn }
                guard !rs.isEmpty else { continue }
                let me = rs.flatMap(\.markerEnergy), le = rs.flatMap(\.lesionEnergy)
                func ci(_ x: [Double]) -> String {
                    guard let m = Stats.mean(x), let c = Stats.bootstrapCI(x) else { return "–" }
                    return "\(f(m)) [\(f(c.low)), \(f(c.high))]"
                }
                rows.append([a, label, String(rs[0].images), ci(me), f(rs.map(\.markerArea).reduce(0, +) / Double(rs.count)), ci(le),
                             f(rs.map(\.lesionArea).reduce(0, +) / Double(rs.count)),
                             meanSD(rs.map(\.accuracyMarked)), meanSD(rs.map(\.accuracyClean))])
            }
        }
        return PaperTable(caption: "Shortcut experiment: on the test slices carrying the class-correlated corner marker, the share of "
                          + "each model's Grad-CAM mass on the marker and on the lesion (energy; mean over slices, 95% bootstrap CI), "
                          + "the share of the image each covers (what a uniform map would score), and accuracy on the same slices with the "
                          + "marker and with it removed. Shortcut model: trained on the marked slices; control: the study's model of the "
                          + "architecture (first seed), trained on the same slices without markers.",
                          header: ["architecture", "trained on", "marked slices", "energy on marker", "marker area", "energy on lesion", "lesion area",
                                   "accuracy with marker", "accuracy marker removed"], rows: rows, csvName: "shortcut")
    }
}
