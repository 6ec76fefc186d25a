import Foundation
import TensorCore

/// Several processes on one server sharing one shard (or a whole sweep) of one output folder.
///
/// The parent splits the shard's unfinished units into `workers` contiguous runs of near-equal
/// estimated cost (`ShardSplit` again), writes the assignment beside the parts, and starts one
/// `camaudit sweep … --worker I/W` process per run, each with its own part (`Parts`) and
/// `threads` threads. Units are disjoint, so no row is computed twice; a killed worker's finished
/// rows stay in its part and the next run reassigns only what is still missing.
public struct WorkerPool {
    public let plan: Plan
    public let out: String
    public let shard: Int
    public let shards: Int
    public let workers: Int
    public let threads: Int
    /// The camaudit binary the workers run (default: this process's own executable).
    public var executable: String = WorkerPool.currentExecutable()
    public var log: (String) -> Void = { _ in }

    public init(plan: Plan, out: String, shard: Int, of shards: Int, workers: Int, threads: Int) {
        self.plan = plan; self.out = out; self.shard = shard; self.shards = shards
        self.workers = workers; self.threads = threads
    }

    /// Workers × threads that fill `cores`: as many single-threaded workers as cores by default
    /// (a unit's forwards are small batches, where processes scale better than threads).
    public static func threadsPerWorker(workers: Int, cores: Int) -> Int { max(1, cores / max(1, workers)) }

    /// Cores this process may use: Slurm's allocation when inside a job, else the machine's.
    public static func availableCores() -> Int {
        if let s = ProcessInfo.processInfo.environment["SLURM_CPUS_PER_TASK"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    public static func assignmentPath(_ out: String, shard: Int, of n: Int) -> String {
        Parts.directory(out) + "/" + Parts.name(shard: shard, of: n) + ".workers.json"
    }

    /// The units worker `w` was assigned by the last `run()` of this shard.
    public static func assignedUnits(plan: Plan, out: String, shard: Int, of n: Int, worker w: Int) throws -> [WorkUnit] {
        let path = assignmentPath(out, shard: shard, of: n)
        guard let d = FileManager.default.contents(atPath: path), let lists = try? JSONDecoder().decode([[Int]].self, from: d) else {
            throw SweepRunError.invalid("\(path): no worker assignment (workers are started by `camaudit sweep --workers W`)")
        }
        guard w >= 0, w < lists.count else { throw SweepRunError.invalid("\(path): no worker \(w) (the assignment has \(lists.count))") }
        return try lists[w].map { i in
            guard i >= 0, i < plan.units.count else { throw SweepRunError.invalid("\(path): unit \(i) is not in the plan (\(plan.units.count) units): the configuration changed; rerun without --worker") }
            return plan.units[i]
        }
    }

    /// Splits the unfinished units, runs the workers and waits for them all. Throws naming every
    /// worker that failed (its rows so far are kept).
    public func run(configPath: String) throws {
        let runner = ShardRun(plan: plan, out: out, shard: shard, of: shards)
        let all = try runner.shardUnits()
        let done = try Completion(plan: plan, outs: [out])
        let todo = all.filter { !done.isComplete($0) }
        log("shard \(shard)/\(shards): \(todo.count) of \(all.count) units to compute on \(workers) worker(s) × \(threads) thread(s)")
        guard !todo.isEmpty else { return }
        let costs = ShardSplit.unitCosts(plan)
        let split = try ShardSplit(costs: todo.map { costs[$0.index] }, shards: workers)
        let lists = (0..<workers).map { split.units(ofShard: $0).map { todo[$0].index } }
        try FileManager.default.createDirectory(atPath: Parts.directory(out), withIntermediateDirectories: true)
        try atomicWrite(try JSONEncoder().encode(lists), to: WorkerPool.assignmentPath(out, shard: shard, of: shards))
        var procs: [(Int, Process)] = []
        for w in 0..<workers where !lists[w].isEmpty {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = ["sweep", "--config", configPath, "--out", out, "--shard", "\(shard)/\(shards)",
                           "--worker", "\(w)/\(workers)", "--threads", "\(threads)"]
            try p.run()
            procs.append((w, p))
        }
        var failed: [String] = []
        for (w, p) in procs {
            p.waitUntilExit()
            if p.terminationStatus != 0 {
                let how = p.terminationReason == .uncaughtSignal ? "killed by signal \(p.terminationStatus)" : "exit \(p.terminationStatus)"
                failed.append("worker \(w) (\(how); part \(Parts.path(out, shard: shard, of: shards, worker: w)))")
            }
        }
        guard failed.isEmpty else {
            throw SweepRunError.incomplete("shard \(shard)/\(shards): \(failed.joined(separator: ", ")) failed; their finished rows are kept — rerun the same command to finish")
        }
    }

    /// Absolute path of the running executable.
    public static func currentExecutable() -> String {
        #if os(Linux)
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        #endif
        let a = CommandLine.arguments[0]
        return a.hasPrefix("/") ? a : FileManager.default.currentDirectoryPath + "/" + a
    }
}
