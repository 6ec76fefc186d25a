import Foundation
import TensorCore
import Models
import Training
import Sweep

/// Waits for Slurm jobs to leave the queue.
enum SlurmWait {
    static func until(jobs: [String], log: (String) -> Void, poll: Double = 5) throws {
        var last = ""
        while true {
            let active = try jobs.filter { try Slurm.isActive(job: $0) }
            if active.isEmpty { return }
            let line = "  waiting for Slurm jobs \(active.joined(separator: ", "))"
            if line != last { log(line); last = line }
            Thread.sleep(forTimeInterval: poll)
        }
    }
}

/// Stage 2 as separate `camaudit train` processes: Slurm jobs (`make paper SLURM=1`) or, with
/// `--workers N`, N processes at a time on this machine, each with its share of the cores. Every
/// model not in the cache becomes one run of `camaudit train --recipe` (its options as the file the
/// cache key is made of) into the stage's partial folder, with `--resume`, so a requeued job or a
/// rerun after an interruption continues; once every run has ended, each folder is checked and
/// committed to the cache as the in-process stage would.
enum TrainingJobs {
    enum Launcher {
        case slurm(SlurmSpec)
        /// `workers` processes at a time sharing `threads` threads.
        case local(workers: Int, threads: Int)

        /// Threads per run when `runs` are to be done: a run alone gets every thread.
        func threads(runs: Int) -> Int {
            switch self {
            case .slurm(let s): return s.cpusPerTask
            case .local(let w, let t): return max(1, t / max(1, min(w, runs)))
            }
        }
        /// The run's log in its folder.
        var logName: String {
            switch self { case .slurm: return "slurm-*.log"; case .local: return "train.log" }
        }
    }

    struct Job {
        var item: String
        var work: String
        var arguments: [String]
        /// Relative cost (multiply-accumulates of the whole run), to start the longest first.
        var cost: Double
    }

    static func run(_ c: PaperConfig, data: PaperData, launcher: Launcher, cache: StageCache, version: String,
                    log: @escaping (String) -> Void) throws -> [TrainedModel] {
        if case .slurm = launcher, !Slurm.available() {
            throw PaperError.stage("train", "no Slurm controller answers (sinfo failed); on one machine start one with scripts/slurm/start.sh, or run without SLURM=1")
        }
        let runs = try c.architectures.flatMap { arch in
            try c.seeds.map { seed in
                let o = c.training.options(architecture: arch, seed: seed)
                return (arch: arch, seed: seed, options: o, key: try TrainStage.key(data: data, options: o, version: version))
            }
        }
        let pending = runs.filter { cache.finished(stage: "train", item: TrainStage.item($0.arch, $0.seed), key: $0.key) == nil }
        let threads = launcher.threads(runs: pending.count)
        var jobs: [Job] = []
        for (arch, seed, o, key) in pending {
            let item = TrainStage.item(arch, seed)
            let work = cache.folder(stage: "train", item: item, key: key) + ".partial"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            // The run reads its options from the recipe file: the same value that keys the cache.
            let recipe = work + "/recipe.json"
            try atomicWrite(JSONEncoder().encode(o), to: recipe)
            let arguments = ["train", "--data", data.manifestPath, "--out", work + "/" + TrainStage.checkpointName(arch, seed),
                             "--recipe", recipe, "--threads", String(threads), "--resume", "--quiet"]
            let side = Double(o.imageSize) / 224
            let cost = (Architecture(rawValue: arch)?.spec.cost.gmacs224 ?? 1) * side * side * Double(o.epochs)
            jobs.append(Job(item: item, work: work, arguments: arguments, cost: cost))
        }
        switch launcher {
        case .slurm(let slurm): try submit(jobs, slurm: slurm, log: log)
        case .local(let workers, _): try runHere(jobs, workers: workers, threads: threads, log: log)
        }
        var out: [TrainedModel] = []
        for (arch, seed, o, key) in runs {
            let ckptName = TrainStage.checkpointName(arch, seed)
            let dir = try cache.run(stage: "train", item: TrainStage.item(arch, seed), key: key,
                                    measured: { jobSeconds(TrainingOutputs(checkpoint: $0 + "/" + ckptName)) }) { work in
                let ckpt = work + "/" + ckptName
                guard FileManager.default.fileExists(atPath: TrainingOutputs(checkpoint: ckpt).testJSON) else {
                    throw PaperError.stage("train \(TrainStage.item(arch, seed))", "the run wrote no test scores; see \(work)/\(launcher.logName)")
                }
                let model = try makeModel(Architecture(rawValue: arch)!, numClasses: data.manifest.classes.count, imageSize: o.imageSize)
                try TrainStage.finish(TrainingOutputs(checkpoint: ckpt), model: model, options: o, work: work)
            }
            out.append(try TrainStage.collect(dir: dir, arch: arch, seed: seed, key: key))
        }
        return out
    }

    /// One batch script per run, submitted, then waits for all of them to leave the queue.
    static func submit(_ jobs: [Job], slurm: SlurmSpec, log: @escaping (String) -> Void) throws {
        let exe = WorkerPool.currentExecutable()
        var ids: [String] = []
        for job in jobs {
            var script = SbatchScript(shell: "/bin/sh")
            try script.directive("job-name", "camaudit-train-\(job.item)", option: "the job name")
            script.directive("cpus-per-task", slurm.cpusPerTask)
            try script.directive("output", path: job.work, pattern: "/slurm-%j.log", option: "--out")
            try slurm.resources.write(into: &script)
            try script.exec(([exe] + job.arguments).map { .literal($0) })
            let scriptPath = job.work + "/train.sbatch"
            try atomicWrite(script.text, to: scriptPath)
            let id = try Slurm.sbatch(["--parsable", scriptPath])
            log("  \(job.item): Slurm job \(id)")
            ids.append(id)
        }
        if !ids.isEmpty { try SlurmWait.until(jobs: ids, log: log) }
    }

    /// Runs the jobs as child processes, `workers` at a time, the most expensive first (so the last
    /// to start are the short ones and the workers finish close together). A failed run does not stop
    /// the others; all failures are reported together, each with its log.
    static func runHere(_ jobs: [Job], workers: Int, threads: Int, log: @escaping (String) -> Void) throws {
        guard !jobs.isEmpty else { return }
        let exe = WorkerPool.currentExecutable()
        let n = min(workers, jobs.count)
        log("  training \(jobs.count) model\(jobs.count == 1 ? "" : "s"), \(n) process\(n == 1 ? "" : "es") at a time × \(threads) thread\(threads == 1 ? "" : "s")")
        var queue = jobs.sorted { $0.cost > $1.cost }
        let ended = DispatchSemaphore(value: 0)
        var running = 0
        var failed: [String] = []
        var processes: [(Job, Process)] = []
        while !queue.isEmpty || running > 0 {
            while running < workers, !queue.isEmpty {
                let job = queue.removeFirst()
                let logPath = job.work + "/train.log"
                guard FileManager.default.createFile(atPath: logPath, contents: nil), let handle = FileHandle(forWritingAtPath: logPath) else {
                    throw PaperError.stage("train \(job.item)", "cannot write \(logPath)")
                }
                let p = Process()
                p.executableURL = URL(fileURLWithPath: exe)
                p.arguments = job.arguments
                p.standardOutput = handle
                p.standardError = handle
                p.terminationHandler = { _ in ended.signal() }
                try p.run()
                log("  \(job.item): process \(p.processIdentifier)")
                processes.append((job, p))
                running += 1
            }
            ended.wait()
            running -= 1
        }
        for (job, p) in processes {
            p.waitUntilExit()
            guard p.terminationStatus != 0 else { continue }
            let how = p.terminationReason == .uncaughtSignal ? "killed by signal \(p.terminationStatus)" : "exit \(p.terminationStatus)"
            let last = (try? String(contentsOfFile: job.work + "/train.log", encoding: .utf8))?
                .split(separator: "\n").last.map(String.init) ?? ""
            failed.append("\(job.item) (\(how); \(job.work)/train.log: \(last))")
        }
        guard failed.isEmpty else { throw PaperError.stage("train", "\(failed.count) run\(failed.count == 1 ? "" : "s") failed: " + failed.joined(separator: "; ")) }
    }

    /// The job's own time: its epochs (each timed by the trainer, from the run record) and its test
    /// pass, so stages.json reports the training, not the few seconds spent collecting it.
    static func jobSeconds(_ o: TrainingOutputs) -> Double? {
        guard let d = FileManager.default.contents(atPath: o.record),
              let record = try? JSONDecoder().decode(TrainingRecord.self, from: d) else { return nil }
        let epochs = record.history.reduce(0) { $0 + $1.seconds }
        guard let test = try? Tables.readTest(o.testJSON), test.msPerImage.isFinite else { return epochs }
        return epochs + test.msPerImage * Double(test.images) / 1000
    }
}
