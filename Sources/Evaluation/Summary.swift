import Foundation

/// Summary of one model × method × metric × params group, pooling images and weights.
public struct SummaryGroup: Sendable, Equatable, Codable {
    public let model: String
    public let method: String
    public let metric: String
    public let params: String
    /// Rows with a defined (finite) value.
    public let n: Int
    /// Rows whose value is undefined or not finite (excluded from the statistics).
    public let undefined: Int
    /// Why they are undefined, with counts (e.g. "constant map": 12).
    public let undefinedReasons: [String: Int]
    public let mean: Double?
    public let median: Double?
    /// Seeded bootstrap percentile interval of the mean (`Stats.bootstrapCI`).
    public let ciLow: Double?
    public let ciHigh: Double?
}

/// What a paired comparison varies.
public enum ComparisonFactor: String, Sendable, Codable {
    /// Architectures compared for each method × metric; values paired by image (a model's
    /// several weights are averaged per image first).
    case model
    /// Methods compared for each model × metric; values paired by (image, weights).
    case method
}

/// A paired Wilcoxon comparison of two levels `a`, `b` of the factor.
public struct Comparison: Sendable, Equatable, Codable {
    public let factor: ComparisonFactor
    public let metric: String
    public let params: String
    /// The level of the other factor held fixed (the method when comparing models, and vice versa).
    public let within: String
    public let a: String
    public let b: String
    /// Pairs with both values defined.
    public let n: Int
    /// Mean of a − b over the pairs.
    public let meanDifference: Double?
    public let statistic: Double?
    public let pValue: Double?
    /// Holm-adjusted within the family of all comparisons of this factor for the same metric and params.
    public let pHolm: Double?
}

/// Summaries of a results store: grouping, bootstrap intervals, paired tests, and the
/// summary.json / summary.md writers (atomic).
public enum Summary {
    /// Groups rows by model, method, metric and params (sorted by those keys). Facts about an
    /// image (its true class) are not metrics and are left out. Each group's values are taken in
    /// ascending order, so the numbers do not depend on the order rows were written in (a sharded
    /// run merged gives the summary of a single-process run).
    public static func groups(_ rows: [ResultRow], resamples: Int = 1000, level: Double = 0.95, seed: UInt64 = 0) -> [SummaryGroup] {
        struct G: Hashable, Comparable {
            let model, method, metric, params: String
            static func < (l: G, r: G) -> Bool { (l.model, l.method, l.metric, l.params) < (r.model, r.method, r.metric, r.params) }
        }
        var buckets: [G: (values: [Double], undefined: Int, reasons: [String: Int])] = [:]
        for r in rows where r.key.metric != FactMetric.truth {
            let g = G(model: r.key.model, method: r.key.method, metric: r.key.metric, params: r.key.params)
            if let v = r.value, v.isFinite { buckets[g, default: ([], 0, [:])].values.append(v) } else {
                buckets[g, default: ([], 0, [:])].undefined += 1
                let why = r.value == nil ? (r.reason.isEmpty ? "undefined" : r.reason) : "not finite"
                buckets[g, default: ([], 0, [:])].reasons[why, default: 0] += 1
            }
        }
        return buckets.keys.sorted().map { g in
            let b = buckets[g]!
            let values = b.values.sorted()
            let ci = Stats.bootstrapCI(values, level: level, resamples: resamples, seed: seed)
            return SummaryGroup(model: g.model, method: g.method, metric: g.metric, params: g.params, n: values.count,
                                undefined: b.undefined, undefinedReasons: b.reasons, mean: Stats.mean(values),
                                median: Stats.median(values), ciLow: ci?.low, ciHigh: ci?.high)
        }
    }

    /// Paired two-sided Wilcoxon tests (`Stats.wilcoxon`, scipy defaults) between every pair of
    /// levels of `factor`, Holm-corrected per (metric, params) family.
    public static func comparisons(_ rows: [ResultRow], factor: ComparisonFactor) -> [Comparison] {
        // family key → within → level → pairing unit → values
        var table: [String: [String: [String: [String: [Double]]]]] = [:]
        var familyParts: [String: (metric: String, params: String)] = [:]
        for r in rows where r.key.metric != FactMetric.truth {
            guard let v = r.value, v.isFinite else { continue }
            let k = r.key
            let family = k.metric + "\u{1}" + k.params
            familyParts[family] = (k.metric, k.params)
            let within = factor == .model ? k.method : k.model
            let level = factor == .model ? k.model : k.method
            let unit = factor == .model ? k.image : k.image + "\u{1}" + k.weights
            table[family, default: [:]][within, default: [:]][level, default: [:]][unit, default: []].append(v)
        }
        var out: [Comparison] = []
        for family in table.keys.sorted() {
            let (metric, params) = familyParts[family]!
            var part: [Comparison] = []
            for within in table[family]!.keys.sorted() {
                let levels = table[family]![within]!
                let names = levels.keys.sorted()
                for i in 0..<names.count {
                    for j in (i + 1)..<names.count where j > i {
                        let ua = levels[names[i]]!, ub = levels[names[j]]!
                        var xa: [Double] = [], xb: [Double] = []
                        for u in ua.keys.sorted() {
                            guard let vb = ub[u], let va = ua[u] else { continue }
                            // Sorted first: the average must not depend on the order rows were written in.
                            xa.append(va.sorted().reduce(0, +) / Double(va.count)); xb.append(vb.sorted().reduce(0, +) / Double(vb.count))
                        }
                        let w = Stats.wilcoxon(xa, xb)
                        part.append(Comparison(factor: factor, metric: metric, params: params, within: within, a: names[i], b: names[j],
                                               n: xa.count, meanDifference: Stats.mean(zip(xa, xb).map { $0 - $1 }),
                                               statistic: w?.statistic, pValue: w?.pValue, pHolm: nil))
                    }
                }
            }
            let idx = part.indices.filter { part[$0].pValue != nil }
            let adj = Stats.holm(idx.map { part[$0].pValue! })
            for (k, i) in idx.enumerated() {
                let c = part[i]
                part[i] = Comparison(factor: c.factor, metric: c.metric, params: c.params, within: c.within, a: c.a, b: c.b, n: c.n,
                                     meanDifference: c.meanDifference, statistic: c.statistic, pValue: c.pValue, pHolm: adj[k])
            }
            out += part
        }
        return out
    }

    /// The document summary.json holds.
    public struct Document: Sendable, Codable {
        public let resultsFile: String
        public let rows: Int
        public let bootstrap: Bootstrap
        public let groups: [SummaryGroup]
        public let comparisons: [Comparison]
        /// Images of the run with no results (missing or unreadable file), with the reason; a run
        /// with any is incomplete.
        public let incomplete: [String: String]
        public struct Bootstrap: Sendable, Codable { public let resamples: Int; public let level: Double; public let seed: UInt64; public let statistic: String }
    }

    /// Builds the summary of `rows`: groups and the model and method comparisons. `incomplete`
    /// names the images that have no rows (missing or unreadable), with the reason.
    public static func document(_ rows: [ResultRow], resultsFile: String = "results.csv", incomplete: [String: String] = [:],
                                resamples: Int = 1000, level: Double = 0.95, seed: UInt64 = 0) -> Document {
        Document(resultsFile: resultsFile, rows: rows.count,
                 bootstrap: .init(resamples: resamples, level: level, seed: seed, statistic: "mean (percentile interval)"),
                 groups: groups(rows, resamples: resamples, level: level, seed: seed),
                 comparisons: comparisons(rows, factor: .model) + comparisons(rows, factor: .method),
                 incomplete: incomplete)
    }

    /// summary.json's bytes (sorted keys, pretty, trailing newline).
    public static func json(_ doc: Document) throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { return [UInt8](try enc.encode(doc)) + [UInt8(ascii: "\n")] } catch {
            throw EvaluationError.invalidArgument(op: "Summary.json", detail: "cannot encode summary: \(error)")
        }
    }

    /// summary.md's text: a table per section.
    public static func markdown(_ doc: Document) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "–" }
        func p(_ v: Double?) -> String { v.map { $0 < 1e-4 ? String(format: "%.1e", $0) : String(format: "%.4f", $0) } ?? "–" }
        let pct = Int((doc.bootstrap.level * 100).rounded())
        var s = "# Evaluation summary\n\n"
        s += "\(doc.rows) rows from `\(doc.resultsFile)`. Mean, median and a seeded bootstrap \(pct)% percentile interval of the mean "
        s += "(B = \(doc.bootstrap.resamples), seed \(doc.bootstrap.seed)); n counts defined values, undefined ones (empty masks, "
        s += "constant maps, two empty binarised maps) are counted apart and never averaged.\n\n"
        if !doc.incomplete.isEmpty {
            s += "**Incomplete run:** \(doc.incomplete.count) image(s) have no results:\n\n"
            for (file, why) in doc.incomplete.sorted(by: { $0.key < $1.key }) { s += "- `\(file)`: \(why)\n" }
            s += "\n"
        }
        s += "| model | method | metric | params | n | undefined | mean | median | \(pct)% CI |\n|---|---|---|---|---:|---:|---:|---:|---|\n"
        for g in doc.groups {
            s += "| \(g.model) | \(g.method) | \(g.metric) | \(g.params) | \(g.n) | \(g.undefined) | \(f(g.mean)) | \(f(g.median)) | [\(f(g.ciLow)), \(f(g.ciHigh))] |\n"
        }
        if !doc.comparisons.isEmpty {
            s += "\n## Paired comparisons\n\nTwo-sided Wilcoxon signed-rank (zeros dropped, scipy defaults), Holm-adjusted per factor × metric.\n\n"
            s += "| factor | metric | params | within | a | b | n | mean a−b | W | p | p (Holm) |\n|---|---|---|---|---|---|---:|---:|---:|---:|---:|\n"
            for c in doc.comparisons {
                s += "| \(c.factor.rawValue) | \(c.metric) | \(c.params) | \(c.within) | \(c.a) | \(c.b) | \(c.n) | \(f(c.meanDifference)) | \(f(c.statistic)) | \(p(c.pValue)) | \(p(c.pHolm)) |\n"
            }
        }
        return s
    }

    /// A short table for a terminal: one line per group (model, method, metric, params), n,
    /// undefined, mean — without intervals and comparisons (those are in summary.md).
    public static func brief(_ doc: Document) -> String {
        let header = ["model", "method", "metric", "params", "n", "undef", "mean"]
        var rows = doc.groups.filter { $0.metric != FactMetric.predicted }.map { g in
            [g.model, g.method, g.metric, g.params.count > 28 ? String(g.params.prefix(27)) + "…" : g.params,
             String(g.n), String(g.undefined), g.mean.map { String(format: "%.4f", $0) } ?? "–"]
        }
        rows.insert(header, at: 0)
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            r.enumerated().map { i, c in i >= 4 ? String(repeating: " ", count: widths[i] - c.count) + c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
