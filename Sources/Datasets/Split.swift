import TensorCore
/// Train/validation/test assignment.
public enum Split: String, Sendable, CaseIterable, Equatable {
    case train, val, test
}

/// Split fractions (default 60/20/20, as in the study).
public struct SplitFractions: Sendable, Equatable {
    public var train: Double, val: Double, test: Double
    public init(train: Double = 0.6, val: Double = 0.2, test: Double = 0.2) { self.train = train; self.val = val; self.test = test }
    public static let study = SplitFractions()
}

public enum Splitter {
    /// Deterministic stratified split: within each class, units (single files, or whole duplicate
    /// groups, which never straddle splits) are shuffled with a seeded generator (one hashed stream per
    /// class, independent of the others, so adding a class does not reshuffle the others) and dealt greedily to the split
    /// furthest below its target count `round(n·fraction)` for val/test (train gets the rest);
    /// ties go train, val, test.
    /// - Parameters:
    ///   - classes: class index of each item.
    ///   - groups: sets of item indices that must share a split (duplicates); a group counts
    ///     towards the class of its first item.
    public static func assign(classes: [Int], groups: [[Int]] = [], seed: UInt64, fractions: SplitFractions = .study) -> [Split] {
        let n = classes.count
        var unitOf = Array(0..<n)
        for g in groups {
            guard let first = g.min() else { continue }
            for i in g where i >= 0 && i < n { unitOf[i] = first }
        }
        var members: [Int: [Int]] = [:]
        for i in 0..<n { members[unitOf[i], default: []].append(i) }
        var unitsByClass: [Int: [Int]] = [:]
        for u in members.keys.sorted() { unitsByClass[classes[u], default: []].append(u) }
        var out = [Split](repeating: .train, count: n)
        let total = max(fractions.train + fractions.val + fractions.test, 1e-12)
        for c in unitsByClass.keys.sorted() {
            var units = unitsByClass[c] ?? []
            var rng = StreamSeed.rng(seed, index: UInt64(truncatingIfNeeded: c), purpose: .split)
            rng.shuffle(&units)
            let count = units.reduce(0) { $0 + (members[$1]?.count ?? 0) }
            let nVal = Int((Double(count) * fractions.val / total).rounded())
            let nTest = Int((Double(count) * fractions.test / total).rounded())
            let target = [count - nVal - nTest, nVal, nTest]
            var have = [0, 0, 0]
            for u in units {
                let m = members[u] ?? []
                var best = 0
                for s in 1..<3 where target[s] - have[s] > target[best] - have[best] { best = s }
                have[best] += m.count
                for i in m { out[i] = Split.allCases[best] }
            }
        }
        return out
    }
}
