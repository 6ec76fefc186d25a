import ArgumentParser
import Foundation
import Sweep

/// The Slurm fields a user gives every submitting command (sweep, evaluate, paper), each checked as
/// it is parsed by the one check of values that reach a batch script.
struct SlurmResourceArguments: ParsableArguments {
    @Option(help: "With --slurm: partition.", transform: slurmField("--partition")) var partition: String?
    @Option(help: "With --slurm: account to charge.", transform: slurmField("--account")) var account: String?
    @Option(help: "With --slurm: time limit per job (e.g. 2:00:00).", transform: slurmField("--time")) var time: String?
    @Option(help: "With --slurm: memory per job (e.g. 8G).", transform: slurmField("--mem")) var mem: String?

    var resources: SlurmResources { SlurmResources(partition: partition, account: account, time: time, mem: mem) }
}

/// A transform that holds a Slurm field to `SlurmValue.check` (exit 64 naming the option).
func slurmField(_ option: String) -> @Sendable (String) throws -> String {
    { text in
        do { try SlurmValue.check(text, option: option) } catch let e as SweepRunError { throw ValidationError(e.description) }
        return text
    }
}

/// Options that say where a plan runs; `sweep` and `evaluate` share them (each has its own
/// `--threads` and `--dry-run`, passed to `launch`).
struct ScaleArguments: ParsableArguments {
    @Option(help: "Run only shard K of N (0 ≤ K < N): a deterministic split of the units into N parts of equal estimated cost. Rows go to OUT/parts/; `camaudit merge OUT` combines them.")
    var shard: String?

    @Option(help: "Worker processes on this machine, each on its own units and part of OUT (\(OptionRange.workers), default 1).",
            transform: intOption(OptionRange.workers))
    var workers: Int?

    @Flag(help: "Submit the shards as a Slurm job array, and a merge job after it.")
    var slurm = false

    @Option(help: "With --slurm: array tasks (shards; \(OptionRange.shards)).", transform: intOption(OptionRange.shards)) var shards: Int?
    @OptionGroup var slurmResources: SlurmResourceArguments
    @Option(name: .customLong("cpus-per-task"), help: "With --slurm: cores per task (its threads; \(OptionRange.threads)).",
            transform: intOption(OptionRange.threads)) var cpusPerTask: Int?
    @Option(name: .customLong("max-parallel"), help: "With --slurm: at most this many tasks at once (--array=…%MAX; \(OptionRange.shards)).",
            transform: intOption(OptionRange.shards)) var maxParallel: Int?

    @Option(help: .hidden) var worker: String?

    /// True when any option asks for more than one process here (or Slurm).
    var isSet: Bool { shard != nil || workers != nil || slurm || worker != nil }

    func options(threads: Int?, dryRun: Bool) throws -> LaunchOptions {
        try optionValue { try launchOptions(threads: threads, dryRun: dryRun) }
    }

    private func launchOptions(threads: Int?, dryRun: Bool) throws -> LaunchOptions {
        var o = LaunchOptions()
        if let shard { o.shard = try ShardSplit.parse(shard) }
        if let worker { o.worker = try ShardSplit.parse(worker, option: "--worker") }
        o.workers = workers
        o.threads = threads
        o.dryRun = dryRun
        if slurm {
            guard let shards else { throw ValidationError("--slurm needs --shards N (the array's tasks)") }
            var s = SlurmOptions(shards: shards)
            s.resources = slurmResources.resources; s.maxParallel = maxParallel
            if let c = cpusPerTask { s.cpusPerTask = c }
            o.slurm = s
        } else if shards != nil || slurmResources.resources != SlurmResources() || cpusPerTask != nil || maxParallel != nil {
            throw ValidationError("--shards, --partition, --account, --time, --mem, --cpus-per-task and --max-parallel go with --slurm (for one shard here: --shard K/N)")
        }
        do { try o.validate() } catch let e as SweepRunError { throw ValidationError(e.description) }
        return o
    }

    /// Runs or submits, and says what happened. Exit status: 0 done, 1 error.
    func launch(plan: Plan, out: String, threads: Int?, dryRun: Bool) throws {
        let tty = isatty(2) != 0
        let outcome = try Launch.run(plan: plan, out: out, options: try options(threads: threads, dryRun: dryRun), log: { writeStderr($0) }, progress: { line in
            FileHandle.standardError.write(((tty ? "\r\u{1B}[K" : "") + line + (tty ? "" : "\n")).data(using: .utf8)!)
        })
        if tty { writeStderr("") }
        switch outcome {
        case .dryRun(let s):
            print("# \(Slurm.arrayScriptPath(out)) (sbatch)\n\(s.array)\n# \(Slurm.mergeScriptPath(out)) (sbatch --dependency=afterany:ARRAY_JOB)\n\(s.merge)")
        case let .submitted(sub, _):
            print("submitted array job \(sub.arrayJob) (\(sub.shards) tasks) and merge job \(sub.mergeJob); scripts and logs in \(Slurm.directory(out))")
            print("follow with: camaudit sweep --status \(out)")
        case .shardDone(let r):
            if worker != nil { return }  // a worker's parent reports for it
            if let r { print("shard done: \(r.unitsComputed) units computed, \(r.unitsReused) reused, \(r.rowsWritten) rows written to \(Parts.directory(out))") }
            print("when every shard is done: camaudit merge \(out)")
        case .finished(let r):
            if let r { print("\(r.unitsComputed) units computed, \(r.unitsReused) reused, \(r.rowsWritten) rows written") }
            print("results: \(out)/results.csv; summaries: \(out)/summary.md, summary.json, classification.json")
        }
    }
}

/// Runs `body`, turning the run driver's refusal of an option value (`--shard 5/4`, `--workers 0`)
/// into a usage error: exit 64, as for every bad option.
func optionValue<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch SweepRunError.invalid(let message) { throw ValidationError(message) }
}

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a sweep configuration (SWEEP.json): here, in shards, on worker processes, or as a Slurm job array.",
        discussion: """
        The configuration expands into work units (an image batch × one model's weights, with its methods and \
        metrics), each keyed by content. Every run resumes: finished units are skipped, and a killed run loses at \
        most the units it was computing. Each process appends to its own part of OUT (OUT/parts/); without \
        --shard the run then merges them into OUT/results.csv and the summaries. With --shard K/N or --slurm, \
        `camaudit merge OUT` does that once every shard is done — the files equal those of one process running \
        everything.

        --plan shows the units, their estimated cost and the shard split; --status OUT which shards are done, \
        running or failed, and the command that resumes the rest. --slurm writes OUT/slurm/shards.sbatch (a job \
        array, one task per shard, logs OUT/slurm/logs/%A_%a.out) and OUT/slurm/merge.sbatch (afterany), and \
        submits both; --dry-run prints them. A failed task resumes alone: sbatch --array=K OUT/slurm/shards.sbatch.
        """)

    @Option(help: "The sweep configuration (SWEEP.json; `camaudit evaluate --save-config` writes one).")
    var config: String?

    @Option(help: "Output folder.")
    var out: String?

    @Flag(help: "Print the work units, their estimated cost and the shard split (with --shard K/N or --shards N); run nothing.")
    var plan = false

    @Option(help: "Say which shards of this sweep folder are done, running or failed, and how to resume.")
    var status: String?

    @OptionGroup var scale: ScaleArguments

    @Option(help: "Threads per process (\(OptionRange.threads); default: the cores divided among the workers).", transform: intOption(OptionRange.threads))
    var threads: Int?

    @Flag(name: .customLong("dry-run"), help: "With --slurm: print the job scripts, submit nothing.")
    var dryRun = false

    func run() throws {
        if let dir = status {
            let cfg = try SweepConfig.read(path: config ?? dir + "/" + RunRecord.fileName)
            let p = try Plan.expand(cfg, log: { writeStderr($0) })
            print(try SweepStatus(plan: p, out: dir).describe(out: dir), terminator: "")
            return
        }
        guard let config else { throw ValidationError("--config SWEEP.json is required (or --status DIR)") }
        let cfg = try SweepConfig.read(path: config)
        let p = try Plan.expand(cfg, log: { writeStderr($0) })
        if plan {
            let n = try scale.shards ?? scale.shard.map { s in try optionValue { try ShardSplit.parse(s).count } } ?? 1
            print(p.describe(), terminator: "")
            print(try describeSplit(p, shards: n), terminator: "")
            return
        }
        guard let out else { throw ValidationError("--out DIR is required") }
        try scale.launch(plan: p, out: out, threads: threads, dryRun: dryRun)
    }

    func describeSplit(_ p: Plan, shards n: Int) throws -> String {
        let split = try ShardSplit(plan: p, shards: n)
        let total = max(split.costs.reduce(0, +), 1e-12)
        var s = "shard  units          count  est. cost  share\n"
        for k in 0..<n {
            let r = split.units(ofShard: k)
            let range = r.isEmpty ? "-" : "\(r.lowerBound)…\(r.upperBound - 1)"
            s += String(format: "%5d  %@ %6d  %9.1f  %5.1f%%\n", k, range.padding(toLength: 14, withPad: " ", startingAt: 0), r.count,
                        split.costs[k], 100 * split.costs[k] / total)
        }
        return s
    }
}
