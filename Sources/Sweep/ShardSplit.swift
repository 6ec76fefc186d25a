/// Which units shard K of N runs: a deterministic split of the plan's units into N contiguous runs
/// of near-equal estimated cost.
///
/// Contiguous, because the plan lists units model by model: a shard then loads few models and
/// reuses each for many batches. Balanced by cost, not by count, because a ViT-B/16 unit costs
/// many ResNet-50 units. Shard k ends at the first unit boundary where the running cost reaches
/// (k+1)/N of the total (the nearer of the two boundaries around it), so every shard's cost is
/// within one unit's cost of total/N, and the split depends only on the plan's order and costs —
/// the same on every machine, whatever has already run.
public struct ShardSplit: Sendable, Equatable {
    /// `bounds[k]..<bounds[k+1]` are the unit indices of shard k; `bounds.count == shards + 1`.
    public let bounds: [Int]
    /// Estimated cost of each shard (the sum of its units' estimates).
    public let costs: [Double]

    public var shards: Int { bounds.count - 1 }
    public func units(ofShard k: Int) -> Range<Int> { bounds[k]..<bounds[k + 1] }

    /// The shard holding unit `i` (binary search over the bounds).
    public func shard(ofUnit i: Int) -> Int {
        var lo = 0, hi = shards - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if bounds[mid] <= i { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Splits units with estimated costs `costs` (≥ 0, in plan order) into `shards` parts. More
    /// shards than units leaves the extra shards empty (they finish at once).
    public init(costs unitCosts: [Double], shards n: Int) throws {
        guard n >= 1 else { throw SweepRunError.invalid("the number of shards must be ≥ 1, got \(n)") }
        if let bad = unitCosts.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
            throw SweepRunError.invalid("unit \(bad) has cost estimate \(unitCosts[bad]); estimates must be finite and ≥ 0")
        }
        var prefix = [Double](repeating: 0, count: unitCosts.count + 1)
        for (i, c) in unitCosts.enumerated() { prefix[i + 1] = prefix[i] + c }
        let total = prefix[unitCosts.count]
        var bounds = [0]
        var i = 0
        for k in 1..<n {
            let target = total * Double(k) / Double(n)
            while i < unitCosts.count && prefix[i + 1] <= target { i += 1 }
            // prefix[i] ≤ target < prefix[i+1]: cut before or after unit i, whichever is nearer.
            var cut = i
            if i < unitCosts.count && prefix[i + 1] - target < target - prefix[i] { cut = i + 1 }
            cut = max(cut, bounds.last!)
            bounds.append(cut)
        }
        bounds.append(unitCosts.count)
        self.bounds = bounds
        self.costs = (0..<n).map { prefix[bounds[$0 + 1]] - prefix[bounds[$0]] }
    }

    /// Parses `K/N` (0 ≤ K < N): shard K of N, as Slurm's `$SLURM_ARRAY_TASK_ID/N`.
    public static func parse(_ s: String, option: String = "--shard") throws -> (index: Int, count: Int) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw SweepRunError.invalid("\(option) '\(s)': expected K/N, e.g. 0/4 (shards are numbered 0…N-1)")
        }
        guard n >= 1, n <= 1_000_000 else { throw SweepRunError.invalid("\(option) '\(s)': N must be in 1…1000000") }
        guard k >= 0, k < n else { throw SweepRunError.invalid("\(option) '\(s)': K must be in 0…\(n - 1) (shards are numbered from 0)") }
        return (k, n)
    }
}

extension ShardSplit {
    /// Per-unit costs for splitting a plan across processes. A unit that compares maps of several
    /// models (Consist, cross-architecture) is cheap when those maps are still in memory — a single
    /// run — but in a shard or worker that did not compute them it recomputes them: one forward
    /// and the CAMs per image and model. Shards are balanced for that case, or the shard holding
    /// the comparison units would carry several times its share.
    public static func unitCosts(_ plan: Plan) -> [Double] {
        let scale = Double(plan.config.imageSize * plan.config.imageSize) / (224.0 * 224.0)
        let perImage = 1 + plan.resolved.methods.reduce(0.0) { $0 + Plan.camCost($1) }
        return plan.units.map { u in
            switch u.kind {
            case .model, .cascade: return u.cost
            case .consist, .crossArchitecture:
                let recompute = u.weights.reduce(0.0) { $0 + Plan.archCost(plan.weights[$1].arch) } * scale * Double(u.images.count) * perImage
                return u.cost + recompute
            }
        }
    }

    /// The split of a plan into `shards` (by `unitCosts`).
    public init(plan: Plan, shards n: Int) throws { try self.init(costs: ShardSplit.unitCosts(plan), shards: n) }
}
