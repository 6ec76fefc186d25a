import Foundation
import TensorCore
import Datasets
import Evaluation
import Sweep

/// Everything a run produced, for the report and for tests.
public struct PaperRun {
    public var config: PaperConfig
    public var data: PaperData
    public var models: [TrainedModel]
    /// One per architecture, trained on the marked slices (the shortcut experiment); empty without markers.
    public var shortcutModels: [TrainedModel]
    public var main: SweepOutcome
    public var methods: SweepOutcome?
    public var curves: [CurveSet]
    public var grid: GridResult?
    public var shortcut: [ShortcutResult]
    public var events: [StageEvent]
}

/// `camaudit paper`: data → train → explain + metrics → statistics → shortcut experiment → figures
/// and report, each stage cached under OUT/cache by the SHA-256 of its inputs and configuration.
public struct Pipeline {
    public var config: PaperConfig
    public var out: String
    /// Software version (part of every key: a new camaudit recomputes).
    public var version: String
    public var log: (String) -> Void = { _ in }

    public init(config: PaperConfig, out: String, version: String) {
        self.config = config; self.out = out; self.version = version
    }

    public func run() throws -> PaperRun {
        try self.config.validate()
        // Found and checked before any stage runs: a missing or altered file stops nothing half-done.
        var config = self.config
        if let dir = config.pretrained {
            config.training.initialCheckpoints = try Pretrained.find(in: dir, architectures: config.architectures, imageSize: config.training.imageSize)
        }
        if config.slurm != nil {
            // Paths that go into the batch scripts, refused before any stage runs.
            try Slurm.checkPath(out, "--out")
            try Slurm.checkPath(WorkerPool.currentExecutable(), "the camaudit executable's path")
        }
        let started = Date()
        let cache = try StageCache(root: out + "/cache")
        cache.log = log
        let data = try DataStage.run(config.data, cache: cache, log: log)
        guard !data.manifest.items(in: .test).isEmpty else { throw PaperError.stage("data", "the test split is empty: give more images") }
        let models = try train(config, data, cache)
        // The shortcut models: one seed per architecture, on the marked slices.
        var shortcutConfig = config
        shortcutConfig.seeds = Array(config.seeds.prefix(1))
        let shortcutModels = try data.marked.map { try train(shortcutConfig, $0.data, cache) } ?? []
        let main = try SweepStage.run(name: "main", config: SweepStage.mainConfig(config, data: data, models: models), data: data, models: models,
                                      version: version, slurm: config.slurm, workers: config.workers, cache: cache, log: log)
        let methods = try SweepStage.run(name: "methods", config: SweepStage.methodsConfig(config, data: data, models: models), data: data,
                                         models: models.filter { $0.architecture == SweepStage.methodArchitecture(config) }.prefix(1).map { $0 },
                                         version: version, slurm: config.slurm, workers: config.workers, cache: cache, log: log)
        let curves = try CurvesStage.run(config, data: data, models: models, version: version, cache: cache)
        let shortcut = try ShortcutStage.run(config, marked: data.marked, shortcutModels: shortcutModels,
                                             controls: models.filter { $0.seed == config.seeds.first }, version: version, cache: cache)
        let grid = try GridStage.run(config, data: data, models: models, mainRows: main.rows, version: version, cache: cache)
        var run = PaperRun(config: config, data: data, models: models, shortcutModels: shortcutModels, main: main, methods: methods, curves: curves, grid: grid,
                           shortcut: shortcut, events: cache.events)
        let reportStart = Date()
        try PaperReport.write(run, to: out, version: version, seconds: Date().timeIntervalSince(started))
        run.events.append(StageEvent(stage: "report", item: "report", key: "", cached: false, seconds: Date().timeIntervalSince(reportStart)))
        try atomicWrite(try JSONEncoder.sorted.encode(run.events), to: out + "/stages.json")
        log(String(format: "report: %@/report.html (%.0f s in all)", out, Date().timeIntervalSince(started)))
        return run
    }

    /// The plan of the run with each stage's estimated time (`--dry-run`). Only the data stage runs
    /// (every later stage's size depends on it; it is cached like any run's), then a calibration of
    /// each architecture on this machine; nothing is trained.
    public func estimate() throws -> RunEstimate {
        try config.validate()
        let cache = try StageCache(root: out + "/cache")
        cache.log = log
        let data = try DataStage.run(config.data, cache: cache, log: log)
        let threads = Parallel.threads, workers = config.workers ?? 1
        let jobs = config.architectures.count * config.seeds.count
        let perJob = workers > 1 ? max(1, threads / max(1, min(workers, jobs))) : threads
        log("calibrating \(config.architectures.joined(separator: ", ")) at \(config.training.imageSize) px on 1\(Set([threads, perJob, threads / workers]).subtracting([1]).sorted().map { ", \($0)" }.joined()) threads")
        let k = try Calibration.measure(architectures: config.architectures, imageSize: config.training.imageSize,
                                        forwardBatch: config.analysis.batchSize, trainBatch: config.training.batchSize,
                                        threads: [1, threads, perJob, max(1, threads / workers)], numClasses: max(2, data.manifest.classes.count),
                                        scratch: out)
        return try RunEstimate(config, data: data, calibration: k, threads: threads, workers: workers)
    }

    /// Every architecture × seed of `c` trained on `data`: in this process, as concurrent processes
    /// on this machine (`workers`), or as Slurm jobs.
    func train(_ c: PaperConfig, _ data: PaperData, _ cache: StageCache) throws -> [TrainedModel] {
        if let s = c.slurm { return try TrainingJobs.run(c, data: data, launcher: .slurm(s), cache: cache, version: version, log: log) }
        if let w = c.workers, w > 1 {
            return try TrainingJobs.run(c, data: data, launcher: .local(workers: w, threads: Parallel.threads), cache: cache, version: version, log: log)
        }
        return try TrainStage.run(c, data: data, cache: cache, version: version, log: log)
    }
}
