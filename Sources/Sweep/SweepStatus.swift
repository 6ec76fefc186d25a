import Foundation

/// Where each shard of a sweep folder stands: `camaudit sweep --status DIR`.
public struct SweepStatus {
    public enum State: String, Sendable {
        /// Every unit of the shard has its rows.
        case done
        /// A process holds the shard's part, or Slurm runs its task.
        case running
        /// Queued in Slurm, not started.
        case pending
        /// Started, ended without finishing (an error, a kill, a time limit).
        case failed
        /// Never started and not queued.
        case notStarted = "not started"
    }

    public struct Shard: Sendable {
        public let index: Int
        public let state: State
        public let units: Int
        public let unitsDone: Int
        public let estimatedCost: Double
        /// Why it failed, when known (the recorded error, "killed", Slurm's log).
        public let detail: String
    }

    public let shards: [Shard]
    public let submission: SlurmSubmission?
    public let merged: Bool

    /// Reads the folder: its parts, records and locks, and (when it was submitted to Slurm and the
    /// client answers) the array's tasks still in the queue.
    public init(plan: Plan, out: String, shards n: Int? = nil) throws {
        submission = Slurm.submission(out)
        var count = n ?? submission?.shards
        if count == nil {
            count = Parts.list([out]).compactMap { Parts.parse(($0 as NSString).lastPathComponent)?.of }.max()
        }
        let shardCount = max(1, count ?? 1)
        let split = try ShardSplit(plan: plan, shards: shardCount)
        let done = try Completion(plan: plan, outs: [out])
        var queued: [Int: String] = [:]
        if let sub = submission, Slurm.available() { queued = (try? Slurm.queuedTasks(arrayJob: sub.arrayJob)) ?? [:] }
        let parts = Parts.list([out])
        var result: [Shard] = []
        for k in 0..<shardCount {
            let units = plan.units[split.units(ofShard: k)]
            let finished = units.filter(done.isComplete).count
            let mine = parts.filter { p in
                guard let x = Parts.parse((p as NSString).lastPathComponent) else { return false }
                return x.shard == k && x.of == shardCount
            }
            let records = mine.compactMap(ShardRecord.read)
            let locked = mine.contains(where: Parts.isLocked)
            var state: State
            var detail = ""
            if finished == units.count {
                state = .done
            } else if locked || queued[k] == "RUNNING" || queued[k] == "COMPLETING" || queued[k] == "CONFIGURING" {
                state = .running
            } else if let q = queued[k] {
                state = q == "PENDING" ? .pending : .running
                detail = q.lowercased()
            } else if records.isEmpty {
                state = .notStarted
            } else {
                state = .failed
                if let e = records.compactMap(\.error).first { detail = e } else { detail = "stopped before finishing (killed, cancelled or out of time)" }
                if let sub = submission {
                    let log = Slurm.logDirectory(out) + "/\(sub.arrayJob)_\(k).out"
                    if FileManager.default.fileExists(atPath: log) { detail += "; log: \(log)" }
                }
            }
            result.append(Shard(index: k, state: state, units: units.count, unitsDone: finished, estimatedCost: split.costs[k], detail: detail))
        }
        shards = result
        merged = FileManager.default.fileExists(atPath: out + "/" + Store.fileName) && result.allSatisfy { $0.state == .done }
    }

    /// The table `--status` prints, with the commands that finish the sweep.
    public func describe(out: String) -> String {
        let n = shards.count
        var s = "shard  state        units done/all  est. cost  detail\n"
        for sh in shards {
            s += String(format: "%5d  %@  %9d/%-4d  %9.1f  %@\n", sh.index, sh.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0),
                        sh.unitsDone, sh.units, sh.estimatedCost, sh.detail)
        }
        let count = { (st: State) in shards.filter { $0.state == st }.count }
        s += "\(count(.done)) done, \(count(.running)) running, \(count(.pending)) pending, \(count(.failed)) failed, \(count(.notStarted)) not started"
        if let sub = submission { s += " (Slurm array \(sub.arrayJob), merge job \(sub.mergeJob))" }
        s += "\n"
        let redo = shards.filter { $0.state == .failed || $0.state == .notStarted }.map(\.index)
        if !redo.isEmpty {
            let list = redo.map(String.init).joined(separator: ",")
            if submission != nil {
                s += "resume on Slurm:  sbatch --array=\(list) \(Slurm.arrayScriptPath(out))   (then: sbatch \(Slurm.mergeScriptPath(out)))\n"
            }
            s += "resume here:      " + redo.map { "camaudit sweep --config \(out)/\(RunRecord.fileName) --out \(out) --shard \($0)/\(n)" }.joined(separator: "\n                  ") + "\n"
        } else if shards.allSatisfy({ $0.state == .done }) {
            s += merged ? "merged: \(out)/\(Store.fileName)\n" : "all shards done; merge with: camaudit merge \(out)\n"
        }
        return s
    }
}
