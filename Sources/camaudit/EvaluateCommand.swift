import ArgumentParser
import Foundation
import TensorCore
import Models
import Explain
import Imaging
import Datasets
import Evaluation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score CAMs on a dataset: localization, faithfulness, consistency, classification; resumable.",
        discussion: """
        Writes OUT/results.csv (one row per image × model × weights × method × metric, with the parameters
        that define the number; append-only, so an interrupted run resumes where it stopped), summary.json,
        summary.md and classification.json. Metrics: \(MetricName.allCases.map(\.rawValue).joined(separator: ", ")).
        """)

    @Option(help: "A manifest.csv (from `camaudit synth` or a previous scan) or a dataset folder (IQ-OTH/NCCD or class-per-folder).")
    var data: String

    @Option(help: "Architecture, a comma-separated list, or 'all'.")
    var model: String

    @Option(help: "Checkpoint(s), comma-separated: several weights of one architecture give the Consist measure. Default: random weights.")
    var weights: String?

    @OptionGroup var checkpoint: CheckpointOptions

    @Option(help: "Seeds of random models when no --weights (comma-separated).")
    var seeds: String = "0,1"

    @Option(name: .customLong("num-classes"), help: "Class count of random models.")
    var numClasses: Int?

    @Option(help: "CAM methods, comma-separated.")
    var methods: String = "gradcam"

    @Option(help: "Metrics, comma-separated (default: the study's three and the cheap standard ones).")
    var metrics: String = MetricName.defaults.map(\.rawValue).joined(separator: ",")

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Only this split (train, val, test); default all.")
    var split: String?

    @Option(help: "At most this many images.")
    var limit: Int?

    @Option(name: .customLong("image-size"), help: "Side images are resized to (16…4096; ViT: a multiple of 16).") var imageSize: Int = 224
    @Option(name: .customLong("batch-size"), help: "Images per forward (1…4096).") var batchSize: Int = 8
    @Option(help: "Deletion/insertion steps.") var steps: Int = 50
    @Option(help: "Binarisation threshold τ.") var threshold: Float = 0.5
    @Option(name: .customLong("overlay-dir"), help: "Write overlays of the first images per model here.") var overlayDir: String?
    @Option(help: "Threads for BLAS and our loops.") var threads: Int?
    @Option(name: .customLong("split-seed"), help: "Seed for splitting a scanned folder.") var splitSeed: UInt64 = 42
    @Flag(help: "Refuse bad files in a scanned folder instead of skipping them.") var strict = false
    @OptionGroup var input: DatasetOptions

    func run() throws {
        if let threads { Parallel.setThreads(threads) }
        let archs: [Architecture] = try model == "all" ? Architecture.allCases : model.split(separator: ",").map {
            guard let a = Architecture(rawValue: String($0)) else {
                throw ValidationError("unknown model '\($0)'; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) or all")
            }
            return a
        }
        let methodList: [CAMMethod] = try methods.split(separator: ",").map {
            guard let m = CAMMethod(rawValue: String($0)) else {
                throw ValidationError("unknown method '\($0)'; choose from \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return m
        }
        let metricList: [MetricName] = try metrics.split(separator: ",").map {
            guard let m = MetricName(rawValue: String($0)) else {
                throw ValidationError("unknown metric '\($0)'; choose from \(MetricName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return m
        }
        guard batchSize >= 1, steps >= 1, imageSize >= 16 else { throw ValidationError("--batch-size, --steps must be ≥ 1 and --image-size ≥ 16") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else { throw CLIError("\(data): no such file or folder") }
        let manifest: Manifest
        if isDir.boolValue {
            let scanned = try DatasetScanner.scan(root: data, options: input.scanOptions(strict: strict))
            writeStderr(scanned.summary)
            manifest = scanned.manifest(seed: splitSeed)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try manifest.write(to: out + "/manifest.csv")
        } else {
            manifest = try Manifest.read(path: data)
        }
        var plan = EvaluationPlan(architectures: archs)
        plan.methods = methodList
        plan.metrics = metricList
        plan.imageSize = imageSize
        plan.batchSize = batchSize
        plan.steps = steps
        plan.threshold = threshold
        plan.overlayDir = overlayDir
        plan.limit = limit
        if let split {
            guard let s = Split(rawValue: split) else { throw ValidationError("--split must be train, val or test") }
            plan.split = s
        }
        if let weights {
            plan.weights = weights.split(separator: ",").map(String.init)
            checkpoint.expect(numClasses: numClasses)
            for w in plan.weights where !FileManager.default.fileExists(atPath: w) { throw CLIError("\(w): no such file") }
        } else {
            plan.randomSeeds = try seeds.split(separator: ",").map {
                guard let s = UInt64($0) else { throw ValidationError("--seeds: '\($0)' is not a non-negative integer") }
                return s
            }
            plan.numClasses = numClasses ?? max(2, manifest.classes.count)
            writeStderr("note: no --weights: random weights (seeds \(seeds), \(plan.numClasses) classes) — the numbers show the pipeline, not a trained model")
        }
        let runner = EvaluationRunner(plan: plan, manifest: manifest, outDir: out)
        runner.log = { writeStderr($0) }
        let tty = isatty(2) != 0
        runner.progress = { line in
            FileHandle.standardError.write(((tty ? "\r\u{1B}[K" : "") + line + (tty ? "" : "\n")).data(using: .utf8)!)
        }
        let written = try runner.run()
        if tty { writeStderr("") }
        if !runner.skippedItems.isEmpty {
            writeStderr("\(runner.skippedItems.count) image(s) skipped: " + runner.skippedItems.joined(separator: ", "))
        }
        print("wrote \(written) new rows to \(out)/results.csv; summaries in \(out)/summary.md, summary.json, classification.json")
        if let md = try? String(contentsOfFile: out + "/summary.md", encoding: .utf8) { print(md) }
    }
}
