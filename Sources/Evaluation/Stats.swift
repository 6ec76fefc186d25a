import TensorCore
import Foundation

/// A bootstrap percentile interval.
public struct ConfidenceInterval: Sendable, Equatable, Codable {
    public let low: Double
    public let high: Double
}

/// Result of a Wilcoxon signed-rank test.
public struct WilcoxonResult: Sendable, Equatable {
    /// min(W⁺, W⁻), scipy's two-sided statistic.
    public let statistic: Double
    public let pValue: Double
    /// Differences used (after dropping zeros under `.wilcox`).
    public let n: Int
    /// "exact" or "normal", whichever produced `pValue`.
    public let method: String
}

/// Statistics over per-image scores. Every random step takes a seed.
public enum Stats {
    public static func mean(_ x: [Double]) -> Double? { x.isEmpty ? nil : x.reduce(0, +) / Double(x.count) }

    /// Median; the mean of the two middle values for an even count.
    public static func median(_ x: [Double]) -> Double? {
        guard !x.isEmpty else { return nil }
        let s = x.sorted(), n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    /// Seeded bootstrap percentile interval of the mean: `resamples` (B, default 1000) resamples of
    /// size n with replacement (SplitMix64 `SeededRNG(seed:)`), interval = the (1−level)/2 and
    /// (1+level)/2 percentiles of the B means (numpy linear interpolation). `nil` for no data.
    public static func bootstrapCI(_ x: [Double], level: Double = 0.95, resamples: Int = 1000, seed: UInt64 = 0) -> ConfidenceInterval? {
        guard !x.isEmpty, resamples >= 1 else { return nil }
        var rng = SeededRNG(seed: seed)
        let n = x.count
        var means = [Double](repeating: 0, count: resamples)
        for b in 0..<resamples {
            var s = 0.0
            for _ in 0..<n { s += x[rng.below(n)] }
            means[b] = s / Double(n)
        }
        return ConfidenceInterval(low: percentile(means, 100 * (1 - level) / 2), high: percentile(means, 100 * (1 + level) / 2))
    }

    /// Pearson correlation; `nil` when a series is constant or the lengths differ or n < 2.
    public static func pearson(_ a: [Double], _ b: [Double]) -> Double? {
        guard a.count == b.count, a.count >= 2 else { return nil }
        let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in 0..<a.count {
            let da = a[i] - ma, db = b[i] - mb
            sab += da * db; saa += da * da; sbb += db * db
        }
        guard saa > 0, sbb > 0 else { return nil }
        return max(-1, min(1, sab / (saa * sbb).squareRoot()))
    }

    /// Spearman's ρ: Pearson of average ranks (scipy.stats.spearmanr); `nil` when a series is constant.
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double? {
        guard a.count == b.count else { return nil }
        return pearson(averageRanks(a), averageRanks(b))
    }

    /// How zero differences enter the Wilcoxon test.
    public enum ZeroMethod: String, Sendable { case wilcox, pratt }

    /// Two-sided Wilcoxon signed-rank test of paired samples, following scipy.stats.wilcoxon
    /// (1.17) defaults: zero_method "wilcox" (zero differences dropped; `.pratt` ranks them and
    /// then drops them), no continuity correction, method "auto": with more than `exactMaximum`
    /// (50) pairs (zeros included) the normal approximation with tie correction; otherwise the
    /// exact null distribution when there are no ties and no zeros; with ties or zeros, the exact
    /// sign-flip permutation distribution for n ≤ 13 and the normal approximation above.
    /// Exact p = 2·min(P(W⁺ ≤ w), P(W⁺ ≥ w)) clipped to 1. `nil` when no non-zero difference remains.
    public static func wilcoxon(_ x: [Double], _ y: [Double], zeroMethod: ZeroMethod = .wilcox,
                                continuityCorrection: Bool = false, exactMaximum: Int = 50) -> WilcoxonResult? {
        guard x.count == y.count, !x.isEmpty else { return nil }
        return wilcoxon(differences: zip(x, y).map { $0 - $1 }, zeroMethod: zeroMethod,
                        continuityCorrection: continuityCorrection, exactMaximum: exactMaximum)
    }

    /// The one-sample form on differences d = x − y.
    public static func wilcoxon(differences d0: [Double], zeroMethod: ZeroMethod = .wilcox,
                                continuityCorrection: Bool = false, exactMaximum: Int = 50) -> WilcoxonResult? {
        let nTotal = d0.count
        let nZero = d0.filter { $0 == 0 }.count
        let d = zeroMethod == .wilcox ? d0.filter { $0 != 0 } : d0
        let count = d.count - (zeroMethod == .pratt ? nZero : 0)
        guard count > 0 else { return nil }
        let r = averageRanks(d.map { abs($0) })
        var rPlus = 0.0, rMinus = 0.0
        for i in 0..<d.count { if d[i] > 0 { rPlus += r[i] } else if d[i] < 0 { rMinus += r[i] } }
        // Tie groups among the ranked values (zeros excluded under Pratt, as scipy does).
        var groups: [Double: Int] = [:]
        for v in d where v != 0 { groups[abs(v), default: 0] += 1 }
        let hasTies = groups.values.contains { $0 > 1 }
        let stat = min(rPlus, rMinus)
        let useExact = nTotal <= exactMaximum && (!(hasTies || nZero > 0) || nTotal <= 13)
        if useExact {
            // Null distribution of W⁺ under random signs of the non-zero ranks, by counting
            // subsets of doubled (integral) ranks.
            let doubled = zip(d, r).compactMap { $0.0 != 0 ? Int(($0.1 * 2).rounded()) : nil }
            let total = doubled.reduce(0, +)
            var ways = [Double](repeating: 0, count: total + 1)
            ways[0] = 1
            for v in doubled { for s in stride(from: total, through: v, by: -1) { ways[s] += ways[s - v] } }
            let all = ways.reduce(0, +)
            let w2 = Int((rPlus * 2).rounded())
            var le = 0.0, ge = 0.0
            for s in 0...total { if s <= w2 { le += ways[s] }; if s >= w2 { ge += ways[s] } }
            return WilcoxonResult(statistic: stat, pValue: min(1, 2 * min(le, ge) / all), n: count, method: "exact")
        }
        let n = Double(count)
        var mn = n * (n + 1) / 4
        var se = n * (n + 1) * (2 * n + 1)
        // Under Pratt `count` excludes zeros but the ranks include them: scipy's mean and variance
        // start from the full count.
        if zeroMethod == .pratt {
            let full = Double(d.count)
            mn = full * (full + 1) / 4 - Double(nZero) * Double(nZero + 1) / 4
            se = full * (full + 1) * (2 * full + 1) - Double(nZero) * Double(nZero + 1) * Double(2 * nZero + 1)
        }
        let tie = groups.values.reduce(0.0) { $0 + Double($1 * $1 * $1 - $1) }
        se = ((se - tie / 2) / 24).squareRoot()
        guard se > 0 else { return nil }
        var z = (rPlus - mn) / se
        if continuityCorrection { z -= (z > 0 ? 1 : (z < 0 ? -1 : 0)) * 0.5 / se }
        let p = min(1, erfc(abs(z) / 2.0.squareRoot()))
        return WilcoxonResult(statistic: stat, pValue: p, n: count, method: "normal")
    }

    /// Holm–Bonferroni step-down adjusted p-values, in the input order (= statsmodels
    /// multipletests(method="holm")): p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j)).
    public static func holm(_ p: [Double]) -> [Double] {
        let m = p.count
        let order = (0..<m).sorted { p[$0] < p[$1] || (p[$0] == p[$1] && $0 < $1) }
        var out = [Double](repeating: 0, count: m)
        var running = 0.0
        for (j, i) in order.enumerated() {
            running = max(running, min(1, Double(m - j) * p[i]))
            out[i] = running
        }
        return out
    }
}
