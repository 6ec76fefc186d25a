import Foundation
import TensorCore

/// How to execute a plan: here in one process, as shard K of N, on W worker processes, or as a
/// Slurm job array. `camaudit sweep` and `camaudit evaluate` share it, so their options mean the
/// same thing.
public struct LaunchOptions: Sendable {
    /// Run only shard K of N (0-based).
    public var shard: (index: Int, count: Int)? = nil
    /// Worker processes (nil: this process alone).
    public var workers: Int? = nil
    /// Threads per process (nil: fill the cores: cores / workers).
    public var threads: Int? = nil
    /// Submit to Slurm instead of running.
    public var slurm: SlurmOptions? = nil
    /// With `slurm`: print the scripts, submit nothing.
    public var dryRun = false
    /// Internal: this process is worker I of W of a `WorkerPool`.
    public var worker: (index: Int, count: Int)? = nil
    public init() {}

    public func validate() throws {
        if let w = workers, !(1...4096).contains(w) { throw SweepRunError.invalid("--workers must be in 1…4096, got \(w)") }
        if let t = threads, !(1...4096).contains(t) { throw SweepRunError.invalid("--threads must be in 1…4096, got \(t)") }
        if let s = slurm {
            try s.validate()
            if shard != nil { throw SweepRunError.invalid("--slurm submits every shard; --shard K/N runs one of them here: pass one or the other") }
            if workers != nil { throw SweepRunError.invalid("--workers runs processes here; with --slurm each array task is one process (use --cpus-per-task)") }
        }
        if dryRun && slurm == nil { throw SweepRunError.invalid("--dry-run prints the Slurm scripts: use it with --slurm (or --plan to see the work units)") }
    }
}

/// What a launch did, for the command to report.
public enum LaunchOutcome {
    /// Every unit ran here (single process, or workers then merge): results and summaries written.
    case finished(ExecutionReport?)
    /// One shard (or one worker's share) ran; `camaudit merge` writes the results.
    case shardDone(ExecutionReport?)
    case submitted(SlurmSubmission, SlurmScripts)
    case dryRun(SlurmScripts)
}

public enum Launch {
    /// Runs or submits `plan` into `out` as `options` say. The configuration is recorded as
    /// OUT/config.json first: workers and Slurm tasks read it from there.
    public static func run(plan: Plan, out outPath: String, options o: LaunchOptions,
                           log: @escaping (String) -> Void, progress: @escaping (String) -> Void) throws -> LaunchOutcome {
        try o.validate()
        let out = absolute(outPath)
        let configPath = out + "/" + RunRecord.fileName
        if !o.dryRun {
            let d = plan.config.data
            let inputs: [(path: String, option: String)] = [(d.path, "data"), (d.masks ?? "", "masks"), (d.boxes ?? "", "boxes")]
                + plan.config.models.flatMap(\.weights).map { (path: $0, option: "weights") }
            try OutputFolder.check(out, option: "--out", inputs: inputs)
        }
        if let s = o.slurm {
            try Slurm.checkPath(out, "--out")
            try Slurm.checkPath(FileManager.default.currentDirectoryPath, "the working directory")
            let scripts = try Slurm.scripts(executable: WorkerPool.currentExecutable(), config: configPath, out: out,
                                        workingDirectory: FileManager.default.currentDirectoryPath, options: s)
            if o.dryRun { return .dryRun(scripts) }
            guard Slurm.available() else {
                throw SweepRunError.slurm("no Slurm controller answers (sinfo failed); on one machine start one with scripts/slurm/start.sh, or run shards with --shard K/N")
            }
            try OutputFolder.create(out, option: "--out")
            try RunRecord.write(plan.config, to: out)
            return .submitted(try Slurm.submit(scripts, out: out, shards: s.shards), scripts)
        }
        let cores = WorkerPool.availableCores()
        if let w = o.worker, let (k, n) = o.shard {
            var run = ShardRun(plan: plan, out: out, shard: k, of: n)
            run.worker = w.index
            run.log = log
            run.progress = { progress("[worker \(w.index)] " + $0) }
            let units = try WorkerPool.assignedUnits(plan: plan, out: out, shard: k, of: n, worker: w.index)
            return .shardDone(try Parallel.with(threads: o.threads) { try run.run(units: units) })
        }
        let (k, n) = o.shard ?? (0, 1)
        if let workers = o.workers, workers > 1 {
            try OutputFolder.create(out, option: "--out")
            try RunRecord.write(plan.config, to: out)
            var pool = WorkerPool(plan: plan, out: out, shard: k, of: n, workers: workers,
                                  threads: o.threads ?? WorkerPool.threadsPerWorker(workers: workers, cores: cores))
            pool.log = log
            try pool.run(configPath: configPath)
            if o.shard != nil { return .shardDone(nil) }
            let merged = try Merge.run(plan: plan, sources: [out], out: out)
            for c in merged.conflicts { log("warning: rows differ: " + c) }
            guard merged.complete else { throw SweepRunError.incomplete(merged.describeMissing(plan: plan, out: out)) }
            return .finished(nil)
        }
        var run = ShardRun(plan: plan, out: out, shard: k, of: n)
        run.log = log
        run.progress = progress
        let report = try Parallel.with(threads: o.threads ?? cores) { try run.run() }
        if o.shard != nil { return .shardDone(report) }
        let merged = try Merge.run(plan: plan, sources: [out], out: out)
        for c in merged.conflicts { log("warning: rows differ: " + c) }
        guard merged.complete else { throw SweepRunError.incomplete(merged.describeMissing(plan: plan, out: out)) }
        return .finished(report)
    }

    static func absolute(_ p: String) -> String {
        let s = p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
        return (s as NSString).standardizingPath
    }
}
