import Foundation
import Evaluation

/// What `camaudit merge` found and wrote.
public struct MergeReport: Sendable {
    /// Units with rows missing from every part: (unit index, its shard under each shard count seen).
    public var missingUnits: [(unit: Int, shards: [(shard: Int, of: Int)])] = []
    /// Shards (of each shard count seen) that own a missing unit, with how many units they miss.
    public var incompleteShards: [(shard: Int, of: Int, missingUnits: Int, state: String)] = []
    public var rowsWritten = 0
    public var unitCount = 0
    /// Rows of one content key with different numbers in two parts (`Parts.rows`), one line each.
    public var conflicts: [String] = []
    /// Parts run with another configuration than the merge's: the part folder and the fields that differ.
    public var foreignParts: [(part: String, differences: [String])] = []
    public var complete: Bool { missingUnits.isEmpty }

    /// The refusal when units are missing: every missing unit and shard, and how to finish them.
    public func describeMissing(plan: Plan, out: String) -> String {
        var s = "incomplete: \(missingUnits.count) of \(unitCount) units have no rows yet\n"
        if !foreignParts.isEmpty {
            s += "the configurations differ: \(foreignParts.count) part(s) ran another configuration than this merge's (\(out)/\(RunRecord.fileName) or --config), so their rows are not this sweep's (this merge's value vs the part's):\n"
            for f in foreignParts { s += "  \(f.part): \(f.differences.joined(separator: "; "))\n" }
        }
        for sh in incompleteShards {
            s += "  shard \(sh.shard)/\(sh.of): \(sh.missingUnits) unit(s) missing (\(sh.state))\n"
        }
        let redo = incompleteShards.filter { $0.state != "running" }
        if !redo.isEmpty {
            if let sub = Slurm.submission(out), redo.allSatisfy({ $0.of == sub.shards }) {
                s += "resume on Slurm: sbatch --array=\(redo.map { String($0.shard) }.joined(separator: ",")) \(Slurm.arrayScriptPath(out)), then sbatch \(Slurm.mergeScriptPath(out))\n"
            }
            for sh in redo {
                s += "resume here: camaudit sweep --config \(out)/\(RunRecord.fileName) --out \(out) --shard \(sh.shard)/\(sh.of)\n"
            }
        }
        s += "missing units:\n"
        for m in missingUnits {
            let u = plan.units[m.unit]
            let w = u.weights.map { "\(plan.weights[$0].architecture)/\(plan.weights[$0].tag)" }.joined(separator: ",")
            let where_ = m.shards.map { "shard \($0.shard)/\($0.of)" }.joined(separator: ", ")
            s += "  unit \(u.index) (\(u.kind.rawValue)\(u.stage.map { "[\($0)]" } ?? ""), \(u.images.count) images, \(w))\(where_.isEmpty ? "" : " — \(where_)")\n"
        }
        return s
    }
}

/// Merges the parts of sharded or multi-worker runs into one results.csv and its summaries.
///
/// Rows are taken by content key, unit by unit in plan order, each unit's rows in the order the
/// plan lists them (the order the executor writes them), every key once: the file equals the
/// results.csv of one process running the whole configuration, whichever processes computed the
/// rows, however often they were killed and resumed.
public enum Merge {
    /// Checks completeness over the parts of `sources`; when complete, writes `out`/results.csv,
    /// summary.json, summary.md, classification.json and config.json. Nothing is written when units
    /// are missing (the report lists them).
    public static func run(plan: Plan, sources: [String], out: String) throws -> MergeReport {
        let done = try Completion(plan: plan, outs: sources)
        var report = MergeReport()
        report.unitCount = plan.units.count
        // Shard counts the parts were run with (a sweep may have been re-sharded).
        var counts = Set<Int>()
        var states: [String: String] = [:]
        for p in Parts.list(sources) {
            guard let parsed = Parts.parse((p as NSString).lastPathComponent) else { continue }
            counts.insert(parsed.of)
            let key = "\(parsed.shard)/\(parsed.of)"
            let st: String
            if Parts.isLocked(p) { st = "running" } else {
                switch ShardRecord.read(p)?.state {
                case .done?: st = "done"
                case .failed?: st = "failed"
                // Recorded as running but nobody holds its lock: the process was killed.
                case .running?: st = "stopped before finishing: killed, cancelled or out of time"
                case nil: st = "started, no record"
                }
            }
            var state = st
            if let c = ShardRecord.read(p)?.config, c != plan.config {
                report.foreignParts.append((p, plan.config.differences(from: c)))
                state += ", with another configuration"
            }
            if states[key] == nil || st == "running" { states[key] = state }
        }
        let splits = try counts.sorted().map { try ShardSplit(plan: plan, shards: $0) }
        var perShard: [String: (shard: Int, of: Int, n: Int)] = [:]
        for u in plan.units where !done.isComplete(u) {
            let owners = splits.map { (shard: $0.shard(ofUnit: u.index), of: $0.shards) }
            report.missingUnits.append((u.index, owners))
            for o in owners { perShard["\(o.shard)/\(o.of)", default: (o.shard, o.of, 0)].n += 1 }
        }
        report.incompleteShards = perShard.values.sorted { ($0.of, $0.shard) < ($1.of, $1.shard) }
            .map { ($0.shard, $0.of, $0.n, states["\($0.shard)/\($0.of)"] ?? "never started") }
        report.conflicts = done.conflicts
        guard report.complete else { return report }

        try OutputFolder.prepare(out, option: "--out", inputs: [])
        let tmpName = Store.fileName + ".merging"
        let tmp = out + "/" + tmpName
        try? FileManager.default.removeItem(atPath: tmp)
        // The output folder's lock: a merge and a single-process run into one folder exclude each other.
        let store = try Store(directory: out, file: tmpName)
        var emitted = Set<String>()
        for u in plan.units {
            for e in plan.expectedRows(u) where emitted.insert(e.id).inserted {
                guard let row = done.rows[e.id] else { continue }  // an unreadable image's row
                if try store.append(row) { report.rowsWritten += 1 }
            }
        }
        guard rename(tmp, out + "/" + Store.fileName) == 0 else {
            store.close()
            throw SweepError.io(path: out + "/" + Store.fileName, detail: "cannot move the merged results into place: \(String(cString: strerror(errno)))")
        }
        store.close()
        try RunRecord.write(plan.config, to: out)
        try Summary.write(rows: store.rows, directory: out, incomplete: plan.missing.merging(done.unreadable) { a, _ in a })
        return report
    }
}
