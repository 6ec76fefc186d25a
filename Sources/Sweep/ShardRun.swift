import Foundation
import Evaluation

/// Which units of a plan are finished, judged from the rows in an output folder's parts.
public struct Completion {
    public let plan: Plan
    /// Rows of every part, by content key.
    public let rows: [String: ResultRow]
    /// Images the executors could not decode (no rows, by design).
    public let unreadable: [String: String]
    /// Rows of one content key with different numbers in two parts (`Parts.rows`).
    public let conflicts: [String]

    public init(plan: Plan, outs: [String]) throws {
        self.plan = plan
        (self.rows, self.conflicts) = try Parts.rows(outs)
        self.unreadable = Parts.unreadable(outs)
    }

    /// The rows of `unit` that no part holds (rows of unreadable images are not expected).
    public func missingRows(_ unit: WorkUnit) -> [ExpectedRow] {
        plan.expectedRows(unit).filter { rows[$0.id] == nil && unreadable[$0.key.image] == nil }
    }

    public func isComplete(_ unit: WorkUnit) -> Bool { missingRows(unit).isEmpty }
}

/// Runs the units of one shard (or one worker's share of it) into its own part of the output folder.
public struct ShardRun {
    public let plan: Plan
    public let out: String
    public let shard: Int
    public let shards: Int
    /// Worker index when several processes share the shard; their units come from `units`.
    public var worker: Int? = nil
    public var log: (String) -> Void = { _ in }
    public var progress: (String) -> Void = { _ in }

    public init(plan: Plan, out: String, shard: Int, of shards: Int) {
        self.plan = plan; self.out = out; self.shard = shard; self.shards = shards
    }

    /// The units of this shard in plan order.
    public func shardUnits() throws -> [WorkUnit] {
        let split = try ShardSplit(plan: plan, shards: shards)
        return Array(plan.units[split.units(ofShard: shard)])
    }

    /// Runs `units` (default: the whole shard), skipping those another part already completed.
    /// Records what it does in the part's record.json; a failure is recorded, then rethrown.
    @discardableResult
    public func run(units given: [WorkUnit]? = nil) throws -> ExecutionReport {
        let dir = Parts.path(out, shard: shard, of: shards, worker: worker)
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw SweepError.io(path: dir, detail: "cannot create the shard's folder: \(error.localizedDescription)")
        }
        try RunRecord.write(plan.config, to: out)
        // The part's store is locked for the whole run: running one shard twice at once is refused.
        let store = try Store(directory: dir)
        defer { store.close() }
        var record = ShardRecord.starting(shard: shard, of: shards, worker: worker)
        record.config = plan.config
        try record.write(dir)
        do {
            let all = try given ?? shardUnits()
            let done = try Completion(plan: plan, outs: [out])
            let todo = all.filter { !done.isComplete($0) }
            if all.count > todo.count { log("shard \(shard)/\(shards): \(all.count - todo.count) of \(all.count) units already done") }
            let executor = Executor(plan: plan)
            executor.log = log
            executor.progress = progress
            var report = try executor.run(todo, store: store)
            report.unitsReused += all.count - todo.count
            record.state = .done
            record.unitsComputed = report.unitsComputed
            record.unitsReused = report.unitsReused
            record.rowsWritten = report.rowsWritten
            record.unreadable = executor.unreadable
            record.ended = timestamp()
            try record.write(dir)
            return report
        } catch {
            record.state = .failed
            record.error = "\(error)"
            record.ended = timestamp()
            try? record.write(dir)
            throw error
        }
    }
}
