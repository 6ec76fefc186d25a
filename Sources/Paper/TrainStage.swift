import Foundation
import TensorCore
import NN
import Models
import Datasets
import Training
import Sweep

/// One trained model of the study.
public struct TrainedModel: Sendable {
    public var architecture: String
    public var seed: UInt64
    public var checkpoint: String
    /// The trainer's test-split scores (accuracy, macro-F1, per-class sensitivity/specificity, ms/image).
    public var testJSON: String
    public var parameters: Int
    public var key: String
}

/// Stage 2: every architecture × seed trained with the Training library's `Trainer`, one model after
/// another in this process (or as Slurm jobs running `camaudit train`, see `SlurmTraining`). The key
/// of a model is the data's key, the trainer's options and the software version: a changed recipe
/// retrains every model, a new seed trains only that seed.
public enum TrainStage {
    /// The checkpoint's file name: the sweep's `weights` column, so it names the model.
    public static func checkpointName(_ arch: String, _ seed: UInt64) -> String { item(arch, seed) + ".safetensors" }

    /// A model starting from a checkpoint is keyed by the checkpoint's content (its SHA-256), not its
    /// path: a moved folder reuses the model, a replaced file retrains it. Without one the key is as
    /// it always was.
    public static func key(data: PaperData, options: TrainingOptions, version: String) throws -> String {
        var o = options
        var start: [String] = []
        if let path = options.initFrom {
            o.initFrom = nil
            do { start = ["init sha256=" + (try ContentDigest.hex(file: path))] } catch {
                throw PaperError.stage("train \(item(options.architecture, options.seed))", "the initial checkpoint \(path): \(error)")
            }
        }
        return StageCache.key(["train", data.digest, String(decoding: try JSONEncoder.sorted.encode(o), as: UTF8.self), version] + start)
    }

    public static func item(_ arch: String, _ seed: UInt64) -> String { "\(arch)-seed\(seed)" }

    public static func run(_ config: PaperConfig, data: PaperData, cache: StageCache, version: String,
                           log: @escaping (String) -> Void) throws -> [TrainedModel] {
        var out: [TrainedModel] = []
        for arch in config.architectures {
            for seed in config.seeds {
                let options = config.training.options(architecture: arch, seed: seed)
                let key = try key(data: data, options: options, version: version)
                let dir = try cache.run(stage: "train", item: item(arch, seed), key: key) { work in
                    try train(options, data: data, into: work, version: version, log: log)
                }
                out.append(try collect(dir: dir, arch: arch, seed: seed, key: key))
            }
        }
        return out
    }

    /// Trains into `work` (resuming a run interrupted there) and drops the resume state once done.
    static func train(_ options: TrainingOptions, data: PaperData, into work: String, version: String, log: @escaping (String) -> Void) throws {
        guard let arch = Architecture(rawValue: options.architecture) else { throw PaperError.invalid("unknown architecture \(options.architecture)") }
        let model = try makeModel(arch, numClasses: data.manifest.classes.count, imageSize: options.imageSize)
        model.initialize(seed: options.seed, head: options.headInit ?? .torchvision)
        var notes: [String] = []
        if let path = options.initFrom {
            do { notes = try fineTuneStart(model, from: path) } catch {
                throw PaperError.stage("train \(item(options.architecture, options.seed))", "\(error)")
            }
            for n in notes { log("  \(options.architecture) seed \(options.seed): note: \(n)") }
        }
        let outputs = TrainingOutputs(checkpoint: work + "/" + checkpointName(options.architecture, options.seed))
        let trainer: Trainer
        do { trainer = try Trainer(options: options, manifest: data.manifest, model: model, outputs: outputs, version: version) } catch {
            throw PaperError.stage("train \(item(options.architecture, options.seed))", "\(error)")
        }
        trainer.log = { log("  \(options.architecture) seed \(options.seed): \($0)") }
        trainer.note = notes.isEmpty ? nil : notes.joined(separator: " ")
        // A partial folder holding a saved epoch is a run interrupted there: it continues (and one
        // that finished before the folder was committed is done). The folder belongs to this stage's
        // key, so whatever else an interrupted attempt left in it is replaced.
        trainer.overwrite = true
        try trainer.run(resume: true)
        try finish(outputs, model: model, options: options, work: work)
    }

    /// Drops the resume state (the optimizer's moments triple a checkpoint) and records the parameter count.
    static func finish(_ outputs: TrainingOutputs, model: ImageClassifier, options: TrainingOptions, work: String) throws {
        for f in [outputs.resumeState, outputs.legacyResumeProgress] { try? FileManager.default.removeItem(atPath: f) }
        let info: [String: Any] = ["architecture": options.architecture, "seed": options.seed, "parameters": parameterCount(model)]
        try atomicWrite(try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys, .prettyPrinted]), to: work + "/info.json")
    }

    /// Trainable parameters (buffers and counters left out), as `sum(p.numel() for p in model.parameters())`.
    public static func parameterCount(_ model: ImageClassifier) -> Int {
        model.namedParameters().filter { $0.1.kind == .parameter }.reduce(0) { $0 + $1.1.value.count }
    }

    static func collect(dir: String, arch: String, seed: UInt64, key: String) throws -> TrainedModel {
        let ckpt = dir + "/" + checkpointName(arch, seed)
        let test = TrainingOutputs(checkpoint: ckpt).testJSON
        for f in [ckpt, test] where !FileManager.default.fileExists(atPath: f) {
            throw PaperError.stage("train \(item(arch, seed))", "\(f) is missing (an empty test split writes none)")
        }
        var params = 0
        if let d = FileManager.default.contents(atPath: dir + "/info.json"), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] {
            params = (o["parameters"] as? Int) ?? 0
        }
        return TrainedModel(architecture: arch, seed: seed, checkpoint: ckpt, testJSON: test, parameters: params, key: key)
    }
}
