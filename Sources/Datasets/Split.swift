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
    ///   - groups: sets of item indices that must share a split (duplicates, slices of one series);
    ///     groups that share an item are one unit, which counts towards the class of its first item.
    public static func assign(classes: [Int], groups: [[Int]] = [], seed: UInt64, fractions: SplitFractions = .study) -> [Split] {
        let n = classes.count
        // Union-find with the smallest index as each unit's root: overlapping groups (a duplicate
        // pair that spans two series) become one unit instead of the later group winning.
        var parent = Array(0..<n)
        func root(_ i: Int) -> Int {
            var r = i
            while parent[r] != r { r = parent[r] }
            var j = i
            while parent[j] != r { (parent[j], j) = (r, parent[j]) }
            return r
        }
        for g in groups {
            let valid = g.filter { $0 >= 0 && $0 < n }
            guard let first = valid.first else { continue }
            for i in valid.dropFirst() {
                let (a, b) = (root(first), root(i))
                if a != b { parent[max(a, b)] = min(a, b) }
            }
        }
        let unitOf = (0..<n).map(root)
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
