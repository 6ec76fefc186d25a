import Foundation

/// The numbers a box plot draws (Tukey's convention).
struct BoxSummary: Equatable {
    var q1: Double, median: Double, q3: Double
    /// Whisker ends: the most extreme data within 1.5 × IQR of the box.
    var lowWhisker: Double, highWhisker: Double
    var count: Int

    /// nil for no finite values.
    init?(_ values: [Double]) {
        let v = values.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return nil }
        count = v.count
        let (a, b) = (quantile(v, 0.25), quantile(v, 0.75))
        q1 = a; median = quantile(v, 0.5); q3 = b
        lowWhisker = v.first { $0 >= a - 1.5 * (b - a) } ?? a
        highWhisker = v.last { $0 <= b + 1.5 * (b - a) } ?? b
    }
}

/// The `p` quantile of sorted values with linear interpolation (numpy's default, "type 7").
func quantile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let h = Double(sorted.count - 1) * p
    let i = Int(h.rounded(.down)), j = min(i + 1, sorted.count - 1)
    return sorted[i] + (h - Double(i)) * (sorted[j] - sorted[i])
}

/// Deterministic jitter in [-1, 1] for point `index` of group `group`: the same figure every run
/// (a hash, not a random generator, so no state is shared between figures).
func jitter(group: Int, index: Int) -> Double {
    var z = UInt64(truncatingIfNeeded: group &* 0x9E3779B1) ^ UInt64(truncatingIfNeeded: index &* 0x85EBCA77) &+ 0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9   // splitmix64 finaliser
    z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
    z ^= z >> 31
    return Double(z >> 11) / Double(1 << 53) * 2 - 1
}
