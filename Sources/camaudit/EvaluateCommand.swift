import ArgumentParser
import Foundation
import TensorCore
import Models
import Explain
import Imaging
import Datasets
import Evaluation
import Sweep

struct Evaluate: ParsableCommand, ConfiguresRun {
    /// Exit code of a run that finished but left images without results (missing or unreadable files).
    static let incompleteExitCode: Int32 = 3

    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score CAMs on a dataset: localization, faithfulness, consistency, classification; resumable.",
        discussion: """
        A sweep with one configuration: the options below are written into a sweep configuration \
        (--save-config writes it as SWEEP.json), expanded into work units and run.

        Writes OUT/results.csv (one row per image × model × weights × method × metric, with the parameters \
        that define the number and a content key: a digest of the image bytes, the checkpoint bytes, every \
        parameter and the preprocessing), summary.json, summary.md, classification.json and config.json (this \
        run's configuration). Rerunning into the same OUT reuses exactly the rows whose inputs are unchanged \
        and recomputes the rest ("resuming: N rows reused, M units to compute"); changed weights or images \
        behind the same file names are recomputed. One run writes to an OUT at a time (a lock on OUT/.lock).

        Undefined numbers (empty masks, constant maps, two empty binarised maps) are recorded with the \
        reason, counted in the summary's `undefined` column and never averaged.

        Exit codes: 0 done; 1 error; 64 bad option; 3 finished, but some images have no results (missing or \
        unreadable files, named on stderr and in summary.md).

        Metrics: \(MetricName.allCases.map(\.rawValue).joined(separator: ", ")).
        """)

    @Option(help: "A manifest.csv (from `camaudit synth` or a previous scan) or a dataset folder (IQ-OTH/NCCD or class-per-folder).")
    var data: String

    @Option(help: "Architecture, a comma-separated list, or 'all' (\(Architecture.allCases.map(\.rawValue).joined(separator: ", "))).")
    var model: String

    @Option(help: ArgumentHelp("Checkpoints, comma-separated; repeat the option per architecture as ARCH=a.safetensors,b.pth. A bare list applies to every architecture without its own. Several weights of one architecture give the Consist measure. Default: random weights.",
                               valueName: "[ARCH=]FILE,..."))
    var weights: [String] = []

    @OptionGroup var checkpoint: CheckpointOptions

    @Option(help: "Seeds of random models for architectures without --weights (comma-separated).")
    var seeds: String = "0,1"

    @Option(name: .customLong("num-classes"), help: "Class count of random models (\(OptionRange.numClasses); default: the manifest's, at least 2).",
            transform: intOption(OptionRange.numClasses))
    var numClasses: Int?

    @Option(help: "CAM methods, comma-separated (\(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))).")
    var methods: String = "gradcam"

    @Option(help: "Metrics, comma-separated (default: the study's three and the cheap standard ones).")
    var metrics: String = MetricName.defaults.map(\.rawValue).joined(separator: ",")

    @Option(help: "Output folder (created; resumable).")
    var out: String

    @Option(help: "Only this split (train, val, test); default all.")
    var split: String?

    @Option(help: "Deletion/insertion steps (1…10000); a comma-separated list runs each.")
    var steps: String = "50"

    @Option(help: "Binarisation threshold τ in [0, 1]; a comma-separated list runs each.")
    var threshold: String = "0.5"

    @Option(name: .customLong("cam-seed"), help: "Seed of stochastic methods and metrics (RISE, ROAD noise, random logits, cascade; 0...2^64-1).",
            transform: seedOption)
    var camSeed: UInt64 = 0

    @Option(name: .customLong("overlay-dir"), help: "Write overlays of the first images per model, weights and method here (named by the image's relative path).")
    var overlayDir: String?

    @Option(name: .customLong("overlays"), help: "How many images per model, weights and method get an overlay (0...\(OptionRange.images.upperBound)).",
            transform: intOption(0...OptionRange.images.upperBound))
    var overlaysPerModel: Int = 6

    @Option(name: .customLong("save-config"), help: "Write the equivalent sweep configuration (SWEEP.json) to this file.")
    var saveConfig: String?

    @Flag(name: .customLong("dry-run"), help: "Print the plan (work units, cost estimates, what is already done) without computing.")
    var dryRun = false

    @OptionGroup var input: DatasetOptions

    @OptionGroup var sweep: SweepRunArguments

    @OptionGroup(title: "Shards, workers and Slurm") var scale: ScaleArguments

    /// The sweep configuration these options describe.
    func sweepConfig() throws -> SweepConfig {
        guard !model.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--model is empty; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) or all")
        }
        let archNames: [String] = model == "all" ? Architecture.allCases.map(\.rawValue) : model.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: .whitespaces)
        }
        func numbers<T>(_ text: String, _ option: String, _ parse: (String) -> T?) throws -> [T] {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--\(option) is empty") }
            return try parts.map {
                guard let v = parse($0) else { throw ValidationError("--\(option): '\($0)' is not a valid value") }
                return v
            }
        }
        let perArch = try configValue { try SweepConfig.parseWeights(weights, architectures: archNames) }
        _ = try input.scanOptions(strict: sweep.strict)  // --masks and --boxes must exist
        var config = SweepConfig(data: .init(path: data, split: split, limit: sweep.limit, splitSeed: sweep.splitSeed, strict: sweep.strict,
                                             masks: input.masks, boxes: input.boxes),
                                 models: zip(archNames, perArch).map {
                                     .init(architecture: $0, weights: $1, checkpointKey: checkpoint.checkpointKey, stripPrefix: checkpoint.stripPrefix)
                                 })
        config.methods = methods.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
        config.metrics = metrics.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
        if config.models.contains(where: { $0.weights.isEmpty }) { config.seeds = try numbers(seeds, "seeds") { UInt64($0) } }
        config.numClasses = numClasses
        config.grid = .init(steps: try numbers(steps, "steps") { Int($0) }, threshold: try numbers(threshold, "threshold") { Float($0) })
        config.camSeed = camSeed
        sweep.apply(to: &config, input: input)
        if let overlayDir { config.overlays = .init(directory: overlayDir, perModel: overlaysPerModel) }
        _ = try configValue { try config.resolve() }
        return config
    }


    var runSettings: RunSettings { RunSettings(threads: sweep.threads) }
    var checkpointDefaults: CheckpointDefaults { checkpoint.defaults(numClasses: numClasses) }

    func run() throws {
        // A bad --shard or --workers is a bad option: refused (exit 64) before anything is read or written.
        if scale.isSet { _ = try scale.options(threads: sweep.threads, dryRun: dryRun && scale.slurm) }
        let config = try sweepConfig()
        if let saveConfig { try checkWritableFile(saveConfig, option: "--save-config") }
        if let saveConfig {
            try OutputFolder.checkNotInput(saveConfig, option: "--save-config",
                                           inputs: [(data, "--data"), (input.masks ?? "", "--masks"), (input.boxes ?? "", "--boxes")])
        }
        var runner = SweepRunner(config: config, out: out, scale: scale, threads: sweep.threads, wait: sweep.wait, dryRun: dryRun)
        runner.inputs = [(data, "--data"), (input.masks ?? "", "--masks"), (input.boxes ?? "", "--boxes")]
        runner.checkOutputs = { inputs in
            if let overlayDir { try OutputFolder.check(overlayDir, option: "--overlay-dir", inputs: inputs, writes: []) }
        }
        runner.afterLoad = {
            if let saveConfig {
                try atomicWrite(try config.json(), to: saveConfig)
                writeStderr("wrote the sweep configuration to \(saveConfig)")
            }
        }
        var incomplete: [String: String] = [:]
        try runner.run { r in
            let doc = try Summary.write(rows: r.rows, directory: out, incomplete: r.incomplete)
            print("wrote \(r.report.rowsWritten) new rows to \(out)/results.csv; summaries in \(out)/summary.md, summary.json, classification.json")
            print(Summary.brief(doc), terminator: "")
            incomplete = r.incomplete
        }
        if !incomplete.isEmpty { throw ExitCode(Evaluate.incompleteExitCode) }
    }
}

/// The options of a sweep run that `evaluate` and `audit` share: which images, at what size and
/// batch, with how many threads, and how a run meets another one holding OUT.
struct SweepRunArguments: ParsableArguments {
    @Option(help: "At most this many images (\(OptionRange.images)); default all.", transform: intOption(OptionRange.images))
    var limit: Int?

    @Option(name: .customLong("image-size"), help: "Side images are resized to (\(OptionRange.imageSize); ViT: a multiple of 16).",
            transform: intOption(OptionRange.imageSize))
    var imageSize: Int = 224

    @Option(name: .customLong("batch-size"), help: "Images per forward and per work unit (\(OptionRange.batchSize)).",
            transform: intOption(OptionRange.batchSize))
    var batchSize: Int = SweepConfig.defaultBatchSize

    @Flag(name: .customLong("imagenet-norm"), help: "Apply ImageNet mean/std to the inputs (off by default, as in the study).")
    var imagenetNorm = false

    @Option(help: "Threads for BLAS and our loops (\(OptionRange.threads); default: all cores).", transform: intOption(OptionRange.threads))
    var threads: Int?

    @Option(name: .customLong("split-seed"), help: "Seed for splitting a scanned folder (0...2^64-1).", transform: seedOption)
    var splitSeed: UInt64 = 42

    @Flag(help: "Refuse bad files in a scanned folder instead of skipping them.")
    var strict = false

    @Flag(help: "If another run holds OUT, wait for it instead of refusing.")
    var wait = false

    @Option(help: "CAM target layer by PyTorch module path, as `cam --layer` (default: the architecture's usual layer: \(Architecture.allCases.map { "\($0.rawValue) \($0.defaultCAMLayer)" }.joined(separator: ", "))). Checked against the model's modules before any work.")
    var layer: String?

    /// Image size, batch, CAM layer and preprocessing (with the input options' window and HU offset).
    func apply(to config: inout SweepConfig, input: DatasetOptions) {
        config.imageSize = imageSize
        config.batchSize = batchSize
        config.layer = layer
        config.preprocessing = .init(imagenetNormalize: imagenetNorm, window: input.image.window.text, huOffset: input.image.huOffset)
    }
}

/// The part of a run `evaluate` and `audit` share: refuse an OUT that cannot be written, read the
/// data (a scanned folder's manifest kept in OUT), expand the plan and run it — here, in workers,
/// as one shard or on Slurm — into OUT's locked, resumable store.
struct SweepRunner {
    var config: SweepConfig
    var out: String
    var scale: ScaleArguments
    var threads: Int?
    var wait: Bool
    var dryRun: Bool
    /// Input files OUT must not be, with their options (the weights are added from the configuration).
    var inputs: [(path: String, option: String)] = []
    /// Files the command writes into OUT besides the run's own.
    var extraWrites: [String] = []
    /// Further output checks, before anything is read or written.
    var checkOutputs: ([(path: String, option: String)]) throws -> Void = { _ in }
    /// Runs once the data is read, before OUT is created.
    var afterLoad: () throws -> Void = {}
    /// After workers on this machine finish, run `finish` on the merged rows too (evaluate's
    /// workers write their summaries themselves).
    var finishAfterWorkers = false

    /// A finished run, as `finish` sees it while OUT is still locked.
    struct Finished {
        var report: ExecutionReport
        /// Every row in OUT's store.
        var rows: [ResultRow]
        /// Images without results, with the reason (named on stderr).
        var incomplete: [String: String]
        var plan: Plan
        /// The run's executor (it can recompute maps for a report).
        var executor: Executor
    }

    init(config: SweepConfig, out: String, scale: ScaleArguments, threads: Int?, wait: Bool, dryRun: Bool) {
        self.config = config; self.out = out; self.scale = scale; self.threads = threads; self.wait = wait; self.dryRun = dryRun
    }

    /// Runs the plan, then `finish` while OUT is locked; `finish` is not called when the units ran
    /// elsewhere (a shard, Slurm) or only the plan was printed.
    func run(finish: (Finished) throws -> Void) throws {
        let data = config.data.path
        var isDir: ObjCBool = false
        let scanned = FileManager.default.fileExists(atPath: data, isDirectory: &isDir) && isDir.boolValue
        let manifestPath = (out as NSString).appendingPathComponent("manifest.csv")
        if !dryRun {
            // Refused before any compute: an output that cannot be written, that is one of the
            // inputs, or that would replace a file no camaudit run wrote.
            let inputs = self.inputs + config.models.flatMap(\.weights).map { (path: $0, option: "--weights") }
            try OutputFolder.check(out, option: "--out", inputs: inputs, writes: OutputFolder.runFiles + extraWrites + (scanned ? ["manifest.csv"] : []))
            try checkOutputs(inputs)
            // OUT/manifest.csv is replaced only when an earlier run wrote it: from a scanned folder.
            if scanned, FileManager.default.fileExists(atPath: manifestPath), let earlier = RunRecord.read(directory: out),
               !(FileManager.default.fileExists(atPath: earlier.data.path, isDirectory: &isDir) && isDir.boolValue) {
                throw CLIError("--out \(out): \(manifestPath) is the manifest an earlier run read (its --data was \(earlier.data.path)), not one a scan of --data \(data) wrote; choose another --out")
            }
        }
        // A scanned folder is split once and its manifest kept beside the results.
        var manifest = try Plan.loadManifest(config.data, log: { writeStderr($0) })
        try afterLoad()
        // Created once the data is read: a run refused on its data leaves no folder behind.
        if !dryRun { try OutputFolder.create(out, option: "--out") }
        if scanned, !dryRun {
            try manifest.write(to: manifestPath)
            manifest = try Manifest.read(path: manifestPath)
        }
        let plan = try configValue { try Plan.expand(config, manifest: manifest, log: { writeStderr($0) }) }
        if config.models.contains(where: { $0.weights.isEmpty }) {
            writeStderr("note: random weights for \(config.models.filter { $0.weights.isEmpty }.map(\.architecture).joined(separator: ", ")) (seeds \(config.seeds.map(String.init).joined(separator: ",")), \(plan.numClasses) classes) — the numbers show the pipeline, not a trained model")
        }
        if scale.isSet && (!dryRun || scale.slurm) {
            try scale.launch(plan: plan, out: out, threads: threads, dryRun: dryRun)
            // Workers on this machine leave the merged store in OUT; a shard or Slurm leaves parts.
            guard finishAfterWorkers, scale.workers != nil, scale.shard == nil, !scale.slurm, scale.worker == nil, !dryRun else { return }
            let store = try Store(directory: out, wait: wait)
            defer { store.close() }
            return try finish(Finished(report: ExecutionReport(), rows: store.rows, incomplete: plan.missing, plan: plan, executor: Executor(plan: plan)))
        }
        if dryRun {
            print(plan.describe(), terminator: "")
            if let done = try? Store.read(path: out + "/" + Store.fileName) {
                let ids = Set(done.map(\.id))
                let finished = plan.units.filter { plan.expectedRows($0).allSatisfy { ids.contains($0.id) } }.count
                print("\(finished) of \(plan.units.count) units already complete in \(out)")
            }
            return
        }
        let store = try Store(directory: out, wait: wait)
        defer { store.close() }
        if store.repairedBytes > 0 { writeStderr("repaired \(out)/results.csv: removed a torn last line (\(store.repairedBytes) bytes) left by an interrupted run") }
        var reused = 0, toCompute = 0
        for u in plan.units {
            let expected = plan.expectedRows(u)
            let have = expected.filter { store.contains($0.id) }.count
            reused += have
            if have < expected.count { toCompute += 1 }
        }
        writeStderr(reused > 0 ? "resuming: \(reused) rows reused, \(toCompute) units to compute" : "computing \(toCompute) units")
        try RunRecord.write(config, to: out)
        let executor = Executor(plan: plan)
        executor.log = { writeStderr($0) }
        let tty = isatty(2) != 0
        executor.progress = { line in
            FileHandle.standardError.write(((tty ? "\r\u{1B}[K" : "") + line + (tty ? "" : "\n")).data(using: .utf8)!)
        }
        let report = try executor.run(plan.units, store: store)
        if tty { writeStderr("") }
        let incomplete = plan.missing.merging(executor.unreadable) { a, _ in a }
        if !incomplete.isEmpty {
            writeStderr("incomplete: \(incomplete.count) image(s) have no results:")
            for (file, why) in incomplete.sorted(by: { $0.key < $1.key }) { writeStderr("  \(file): \(why)") }
        }
        try finish(Finished(report: report, rows: store.rows, incomplete: incomplete, plan: plan, executor: executor))
    }

}

/// Runs `body`, turning a configuration refusal into a usage error (exit 64) naming the option.
func configValue<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as SweepError {
        if case let .invalidConfig(field, detail) = e { throw ValidationError("--\(field): \(detail)") }
        throw e
    }
}
