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

/// Stage 2 on a cluster (`make paper SLURM=1`): every model not in the cache becomes one Slurm job
/// running `camaudit train` into the stage's partial folder (with `--resume`, so a requeued job
/// continues); once every job has left the queue, each folder is checked and committed to the cache
/// as the in-process stage would.
enum SlurmTraining {
    static func run(_ c: PaperConfig, data: PaperData, slurm: SlurmSpec, cache: StageCache, version: String,
                    log: @escaping (String) -> Void) throws -> [TrainedModel] {
        guard Slurm.available() else {
            throw PaperError.stage("train", "no Slurm controller answers (sinfo failed); on one machine start one with scripts/slurm/start.sh, or run without SLURM=1")
        }
        let exe = WorkerPool.currentExecutable()
        let runs = try c.architectures.flatMap { arch in
            try c.seeds.map { seed in
                let o = c.training.options(architecture: arch, seed: seed)
                return (arch: arch, seed: seed, options: o, key: try TrainStage.key(data: data, options: o, version: version))
            }
        }
        var jobs: [String] = []
        for (arch, seed, o, key) in runs {
            let item = TrainStage.item(arch, seed)
            guard cache.finished(stage: "train", item: item, key: key) == nil else { continue }
            let work = cache.folder(stage: "train", item: item, key: key) + ".partial"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            var script = SbatchScript(shell: "/bin/sh")
            try script.directive("job-name", "camaudit-train-\(item)", option: "the job name")
            script.directive("cpus-per-task", slurm.cpusPerTask)
            try script.directive("output", path: work, pattern: "/slurm-%j.log", option: "--out")
            try slurm.resources.write(into: &script)
            // The job reads its options from the recipe file: the same value that keys the cache.
            let recipe = work + "/recipe.json"
            try atomicWrite(JSONEncoder().encode(o), to: recipe)
            let args = ["train", "--data", data.manifestPath, "--out", work + "/" + TrainStage.checkpointName(arch, seed),
                        "--recipe", recipe, "--threads", String(slurm.cpusPerTask), "--resume", "--quiet"]
            try script.exec(([exe] + args).map { .literal($0) })
            let scriptPath = work + "/train.sbatch"
            try atomicWrite(script.text, to: scriptPath)
            let id = try Slurm.sbatch(["--parsable", scriptPath])
            log("  \(item): Slurm job \(id)")
            jobs.append(id)
        }
        if !jobs.isEmpty { try SlurmWait.until(jobs: jobs, log: log) }
        var out: [TrainedModel] = []
        for (arch, seed, o, key) in runs {
            let ckptName = TrainStage.checkpointName(arch, seed)
            let dir = try cache.run(stage: "train", item: TrainStage.item(arch, seed), key: key,
                                    measured: { jobSeconds(TrainingOutputs(checkpoint: $0 + "/" + ckptName)) }) { work in
                let ckpt = work + "/" + ckptName
                guard FileManager.default.fileExists(atPath: TrainingOutputs(checkpoint: ckpt).testJSON) else {
                    throw PaperError.stage("train \(TrainStage.item(arch, seed))", "the Slurm job wrote no test scores; see \(work)/slurm-*.log")
                }
                let model = try makeModel(Architecture(rawValue: arch)!, numClasses: data.manifest.classes.count, imageSize: o.imageSize)
                try TrainStage.finish(TrainingOutputs(checkpoint: ckpt), model: model, options: o, work: work)
            }
            out.append(try TrainStage.collect(dir: dir, arch: arch, seed: seed, key: key))
        }
        return out
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
