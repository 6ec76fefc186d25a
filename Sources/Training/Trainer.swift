import Foundation
import TensorCore
import Autograd
import NN
import Models
import Imaging
import Datasets
import Evaluation

/// One epoch's numbers (a row of the per-epoch CSV).
public struct EpochRecord: Sendable, Codable, Equatable {
    public var epoch: Int
    public var trainLoss: Double, trainAccuracy: Double
    public var valLoss: Double, valAccuracy: Double, valMacroF1: Double
    public var lr: Double
    public var seconds: Double
}

/// The JSON record written beside the best checkpoint.
public struct TrainingRecord: Sendable, Codable {
    public var version: String
    public var options: TrainingOptions
    public var seed: UInt64
    public var threads: Int
    public var manifestDigest: String
    public var classNames: [String]
    public var splitCounts: [String: Int]
    public var bestEpoch: Int?
    public var bestValAccuracy: Double?
    public var steps: Int
    public var history: [EpochRecord]
    public var note: String?
}

/// Where a run writes, derived from `--out NAME.safetensors`.
public struct TrainingOutputs: Sendable {
    public let checkpoint: String
    public var base: String { checkpoint.hasSuffix(".safetensors") ? String(checkpoint.dropLast(".safetensors".count)) : checkpoint }
    /// The commit mark of a finished run: written last, removed first (see `Trainer.run`).
    public var record: String { base + ".json" }
    public var epochsCSV: String { base + ".epochs.csv" }
    public var testJSON: String { base + ".test.json" }
    /// Weights, optimizer state and progress (in the header's metadata): one file, one rename.
    public var resumeState: String { base + ".resume.safetensors" }
    /// The progress file of resume states written before the progress moved into `resumeState`.
    public var legacyResumeProgress: String { base + ".resume.json" }
    /// Held (flock) by the run writing these files.
    public var lock: String {
        let dir = parentFolder(checkpoint)
        return (dir.isEmpty ? "" : dir + "/") + "." + (checkpoint as NSString).lastPathComponent + ".lock"
    }
    public var stepLog: String?
    /// Where the split of a scanned folder is written (`camaudit train --data FOLDER`), if anywhere.
    public var splitManifest: String?

    public init(checkpoint: String, stepLog: String? = nil, splitManifest: String? = nil) {
        self.checkpoint = checkpoint; self.stepLog = stepLog; self.splitManifest = splitManifest
    }

    /// Every file the run writes, named as a user would recognise it (for `refuseWritingOverInputs`).
    public var named: [NamedPath] {
        [NamedPath("--out", checkpoint), NamedPath("the record", record), NamedPath("the epoch log", epochsCSV),
         NamedPath("the test scores", testJSON), NamedPath("the resume state", resumeState),
         NamedPath("the resume progress", legacyResumeProgress), NamedPath("the lock", lock)]
            + (stepLog.map { [NamedPath("--log-steps", $0)] } ?? []) + (splitManifest.map { [NamedPath("the split", $0)] } ?? [])
    }

    /// The files that make up a run's result, which a new run may replace only with `overwrite`.
    var owned: [String] { [checkpoint, record, testJSON, epochsCSV, resumeState, legacyResumeProgress] + [stepLog].compactMap { $0 } }
}

/// Progress of a run, saved after every epoch for `--resume`.
struct Progress: Codable {
    var options: TrainingOptions
    var manifestDigest: String
    var epochsCompleted: Int
    var steps: Int
    var history: [EpochRecord]
    var bestEpoch: Int?
    var bestValAccuracy: Double?
    var stepLogRows: Int
}

/// The training loop: epochs of `trainStep` over the train split, validation after each, the best
/// checkpoint kept, per-epoch state saved for `--resume`, the test split scored at the end.
public final class Trainer {
    public let options: TrainingOptions
    public let manifest: Manifest
    public let model: ImageClassifier
    public let outputs: TrainingOutputs
    public let version: String
    public var note: String?
    /// Progress lines (stderr in the CLI); nil for silence.
    public var log: ((String) -> Void)?
    /// The progress bar, redrawn in place (stderr in the CLI).
    public var progressBar: ((String) -> Void)?
    /// Return after this many epochs in this call, as if killed after the epoch's state was saved
    /// (tests of `--resume`).
    public var interruptAfterEpochs: Int?
    /// Replace the result of another run at these outputs (`--overwrite`); without it such a run is refused.
    public var overwrite = false

    let classNames: [String]
    let train: [ManifestItem], val: [ManifestItem], test: [ManifestItem]
    let lossConfig: LossConfig
    let preprocessing: Preprocessing

    /// Checks the data and the outputs before anything is trained (clear errors, nothing lost).
    public init(options: TrainingOptions, manifest: Manifest, model: ImageClassifier, outputs: TrainingOutputs, version: String) throws {
        try options.validate()
        self.options = options; self.manifest = manifest; self.model = model; self.outputs = outputs; self.version = version
        classNames = manifest.classes
        train = manifest.items(in: .train); val = manifest.items(in: .val); test = manifest.items(in: .test)
        guard !train.isEmpty else { throw TrainingError.emptySplit("train") }
        guard !val.isEmpty else { throw TrainingError.emptySplit("val") }
        guard classNames.count >= 2 else { throw TrainingError.singleClass(classNames.first ?? "none") }
        guard model.numClasses == classNames.count else {
            throw TrainingError.invalidOption("the model has \(model.numClasses) outputs but the data has \(classNames.count) classes")
        }
        var counts = [Int](repeating: 0, count: classNames.count)
        for it in train where it.classIndex >= 0 && it.classIndex < counts.count { counts[it.classIndex] += 1 }
        lossConfig = LossConfig(labelSmoothing: options.labelSmoothing, classWeights: options.classWeights.weights(counts: counts))
        preprocessing = Preprocessing(size: options.imageSize)
        for path in [outputs.checkpoint, outputs.record, outputs.epochsCSV, outputs.testJSON, outputs.resumeState] + [outputs.stepLog].compactMap({ $0 }) {
            try Self.checkWritable(path)
        }
    }

    /// Creates the folder and proves a file can be created there.
    static func checkWritable(_ path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw TrainingError.unwritable(path: path, reason: "cannot create the folder \(dir.path)")
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw TrainingError.unwritable(path: path, reason: "it is a folder")
        }
        let probe = dir.appendingPathComponent(".\(url.lastPathComponent).probe-\(getpid())")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else {
            throw TrainingError.unwritable(path: path, reason: "the folder \(dir.path) is not writable")
        }
        try? FileManager.default.removeItem(at: probe)
    }

    public var manifestDigest: String { ContentHash.fnv1a64(Array(manifest.csv().utf8)) }

    func makeOptimizer() -> Optimizer {
        switch options.optimizer {
        case .adamw: return AdamW(weightDecay: options.weightDecay)
        case .sgd: return SGD(momentum: Float(options.momentum), weightDecay: Float(options.weightDecay), nesterov: options.nesterov)
        }
    }

    // MARK: - The loop

    /// Trains (continuing a saved state with `resume`), then scores the test split.
    /// - Returns: the record written beside the best checkpoint (nil when `interruptAfterEpochs` stopped it).
    ///
    /// Ownership of the outputs: the run holds `outputs.lock` until it returns (a second run on the
    /// same `--out` is refused, naming the holder). A fresh run refuses outputs left by another run
    /// unless `overwrite`; `resume` continues the run whose state is saved there, and finds a run
    /// already finished with these options and data done. Before writing anything it removes the
    /// record and test scores, and writes them back only at the very end, the record last: a
    /// checkpoint beside a record is always the one that record describes, and a run that fails
    /// leaves its own checkpoint with no record rather than one labelled with another run's.
    @discardableResult
    public func run(resume: Bool = false) throws -> TrainingRecord? {
        let lock: FileLock
        do { lock = try FileLock(path: outputs.lock) } catch FileLockError.locked(_, let holder) {
            throw TrainingError.busy(path: outputs.checkpoint, holder: holder)
        } catch let e as FileLockError {
            throw TrainingError.unwritable(path: outputs.lock, reason: e.description)
        }
        defer { lock.release() }
        for (folder, names) in Dictionary(grouping: outputs.named.map(\.path), by: { parentFolder($0) }) {
            for p in Temporaries.sweep(folder: folder, targets: Set(names.map { ($0 as NSString).lastPathComponent })) {
                log?("removed \(p), a temporary file of a killed run")
            }
        }
        let optimizer = makeOptimizer()
        var progress = Progress(options: options, manifestDigest: manifestDigest, epochsCompleted: 0, steps: 0, history: [],
                                bestEpoch: nil, bestValAccuracy: nil, stepLogRows: 0)
        if resume, let done = finishedRecord() {
            log?("\(outputs.checkpoint) is this run, already finished (\(outputs.record)): nothing to do")
            return done
        }
        if resume, let saved = try restore(into: optimizer) {
            progress = saved
            log?("resuming after epoch \(progress.epochsCompleted) of \(options.epochs) (step \(progress.steps))")
        } else {
            try claimOutputs()
            if resume { log?("no saved state at \(outputs.resumeState): starting from the beginning") }
        }
        for f in [outputs.record, outputs.testJSON] { try removeOutput(f) }
        if let split = outputs.splitManifest {
            try manifest.write(to: split)
            log?("split written to \(split)")
        }
        try prepareStepLog(keepRows: progress.stepLogRows)
        let stochastic = options.dropout
        var stop = options.maxSteps.map { progress.steps >= $0 } ?? false
        var epoch = progress.epochsCompleted
        var epochsThisCall = 0
        while epoch < options.epochs && !stop {
            if let n = interruptAfterEpochs, epochsThisCall >= n { return nil }
            epochsThisCall += 1
            let started = Date()
            let lr = options.schedule.learningRate(base: options.lr, epoch: epoch, epochs: options.epochs, warmupEpochs: options.warmupEpochs)
            var order = Array(train.indices)
            if options.shuffle {
                var rng = SeededRNG(seed: options.seed, stream: UInt64(epoch))
                rng.shuffle(&order)
            }
            let size = options.imageSize(epoch: epoch)
            let epochPreprocessing = size == options.imageSize ? preprocessing : Preprocessing(size: size)
            let loader = BatchLoader(items: train, order: order, batchSize: options.batchSize, manifest: manifest, preprocessing: epochPreprocessing,
                                     augmentation: options.augment, seed: options.seed, epoch: epoch)
            var lossSum: Double = 0, correct = 0, seen = 0, stepRows: [String] = []
            var batchIndex = 0
            while let batch = try loader.next() {
                var stepRng = SeededRNG(seed: options.seed ^ 0x5EED_D809_0000_0000, stream: UInt64(progress.steps))
                let r: StepResult
                do {
                    r = try trainStep(model, images: batch.images, labels: batch.labels, optimizer: optimizer, lr: Float(lr),
                                      loss: lossConfig, stochasticLayers: stochastic, seed: stepRng.next())
                } catch TrainingError.nonFiniteLoss(let v) {
                    loader.cancel()
                    let kept = progress.bestEpoch.map { "the best checkpoint (epoch \($0)) is kept at \(outputs.checkpoint)" } ?? "no checkpoint was written yet"
                    throw TrainingError.invalidOption("the loss became \(v) at epoch \(epoch + 1), step \(progress.steps + 1): training stopped (try a lower --lr); \(kept)")
                }
                progress.steps += 1
                batchIndex += 1
                lossSum += Double(r.loss) * Double(r.count); correct += r.correct; seen += r.count
                stepRows.append("\(progress.steps),\(epoch + 1),\(r.loss),\(lr)")
                let elapsed = Date().timeIntervalSince(started)
                progressBar?(Self.bar(epoch: epoch + 1, of: options.epochs, batch: batchIndex, of: loader.count, loss: lossSum / Double(seen),
                                      accuracy: Double(correct) / Double(seen), imagesPerSecond: Double(seen) / max(elapsed, 1e-9),
                                      eta: elapsed / Double(batchIndex) * Double(loader.count - batchIndex)))
                if let m = options.maxSteps, progress.steps >= m { stop = true; loader.cancel(); break }
            }
            let v = try evaluate(val, preprocessing: epochPreprocessing)
            let record = EpochRecord(epoch: epoch + 1, trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: Double(correct) / Double(max(seen, 1)),
                                     valLoss: v.loss, valAccuracy: v.report.accuracy, valMacroF1: v.report.macroF1, lr: lr,
                                     seconds: Date().timeIntervalSince(started))
            progress.history.append(record)
            // A lower-resolution epoch is never the best: the checkpoint is used at --image-size.
            let best = size == options.imageSize && (progress.bestValAccuracy.map({ record.valAccuracy > $0 }) ?? true)
            if best {
                progress.bestValAccuracy = record.valAccuracy
                progress.bestEpoch = epoch + 1
            }
            epoch += 1
            progress.epochsCompleted = epoch
            progress.stepLogRows += stepRows.count
            try appendStepLog(stepRows)
            // The state first: a kill before the checkpoint is written leaves a state whose best
            // epoch is its last, and `restore` writes the checkpoint from the state's weights.
            try save(progress, optimizer)
            if best { try saveModel(model, to: outputs.checkpoint) }
            try writeEpochsCSV(progress.history)
            log?(String(format: "epoch %ld/%ld  train loss %.4f acc %.3f  val loss %.4f acc %.3f F1 %.3f  lr %.3g  %.1fs%@%@",
                        record.epoch, options.epochs, record.trainLoss, record.trainAccuracy, record.valLoss, record.valAccuracy,
                        record.valMacroF1, record.lr, record.seconds, options.progressive == nil ? "" : "  \(size) px",
                        progress.bestEpoch == record.epoch ? "  (best)" : ""))
        }
        let record = TrainingRecord(version: version, options: options, seed: options.seed, threads: Parallel.threads,
                                    manifestDigest: manifestDigest, classNames: classNames,
                                    splitCounts: ["train": train.count, "val": val.count, "test": test.count],
                                    bestEpoch: progress.bestEpoch, bestValAccuracy: progress.bestValAccuracy, steps: progress.steps,
                                    history: progress.history, note: note)
        if test.isEmpty {
            log?("the test split is empty: no test scores")
        } else {
            try scoreTest()
        }
        try writeJSON(record, to: outputs.record)   // the commit mark: last
        return record
    }

    // MARK: - Evaluation

    /// Mean loss and classification report of a split in eval mode (running statistics).
    func evaluate(_ items: [ManifestItem], preprocessing: Preprocessing? = nil) throws -> (loss: Double, report: ClassificationReport, predicted: [Int], seconds: Double) {
        let loader = BatchLoader(items: items, order: Array(items.indices), batchSize: options.batchSize, manifest: manifest,
                                 preprocessing: preprocessing ?? self.preprocessing)
        var lossSum: Double = 0, predicted: [Int] = [], truth: [Int] = [], seconds: Double = 0
        while let batch = try loader.next() {
            let t0 = Date()
            let logits = try model.logits(batch.images, ForwardContext()).value
            seconds += Date().timeIntervalSince(t0)
            let ce = try crossEntropy(logits, targets: batch.labels, labelSmoothing: lossConfig.labelSmoothing, classWeights: lossConfig.classWeights)
            lossSum += Double(ce.loss) * Double(batch.labels.count)
            predicted += try rowArgmax(logits); truth += batch.labels
        }
        let report = try ClassificationReport(truth: truth, predicted: predicted, numClasses: classNames.count)
        return (lossSum / Double(max(truth.count, 1)), report, predicted, seconds)
    }

    /// Loads the best checkpoint and writes the test split's scores (the study's Table I columns).
    func scoreTest() throws {
        try model.load(loadCheckpoint(path: outputs.checkpoint), file: outputs.checkpoint)
        let r = try evaluate(test)
        var perClass: [[String: Any]] = []
        for (k, name) in classNames.enumerated() {
            perClass.append(["class": name, "sensitivity": r.report.sensitivity[k] as Any? ?? NSNull(),
                             "specificity": r.report.specificity[k] as Any? ?? NSNull(), "f1": r.report.f1[k] as Any? ?? NSNull(),
                             "count": r.report.confusion[k].reduce(0, +)])
        }
        let obj: [String: Any] = [
            // The file name only: the checkpoint sits beside this file, and a folder may be renamed
            // after scoring (the paper's stages compute in NAME.partial/ and then move it).
            "checkpoint": (outputs.checkpoint as NSString).lastPathComponent, "images": test.count, "accuracy": r.report.accuracy, "macro_f1": r.report.macroF1,
            "per_class": perClass, "confusion_matrix": r.report.confusion, "classes": classNames,
            "ms_per_image": 1000 * r.seconds / Double(max(test.count, 1)), "threads": Parallel.threads,
        ]
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        try writeAtomically(data, to: outputs.testJSON)
        log?(String(format: "test: accuracy %.3f  macro-F1 %.3f  (%d images) → %@", r.report.accuracy, r.report.macroF1, test.count, outputs.testJSON))
    }

    // MARK: - State for --resume

    /// The metadata key of the progress (JSON) inside the resume state.
    static let progressKey = "camaudit.progress"

    /// Weights, optimizer state and progress in one file, replaced by one rename: the epoch counter
    /// and the tensors it belongs to cannot disagree after any kill.
    func save(_ progress: Progress, _ optimizer: Optimizer) throws {
        var sd = StateDict()
        for (k, p) in model.namedParameters() { try sd.set("model/" + k, p.value) }
        for (k, t) in optimizer.stateTensors() { try sd.set("optimizer/" + k, t) }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = String(decoding: try enc.encode(progress), as: UTF8.self)
        try saveSafetensors(sd, path: outputs.resumeState, metadata: [Self.progressKey: json])
        try removeOutput(outputs.legacyResumeProgress)
    }

    /// The progress saved in a resume state (or, for a state written before progress moved into it,
    /// in the `.resume.json` beside it); nil when there is no state.
    func savedProgress() throws -> Progress? {
        let fm = FileManager.default
        guard fm.fileExists(atPath: outputs.resumeState) else {
            if fm.fileExists(atPath: outputs.legacyResumeProgress) {
                throw TrainingError.resume(path: outputs.legacyResumeProgress, reason: "its weights (\(outputs.resumeState)) are missing; run without --resume (with --overwrite) to start over")
            }
            return nil
        }
        let meta: [String: String]
        do { meta = try Safetensors.metadata(path: outputs.resumeState) } catch {
            throw TrainingError.resume(path: outputs.resumeState, reason: "\(error)")
        }
        let (path, data): (String, Data)
        if let text = meta[Self.progressKey] {
            (path, data) = (outputs.resumeState, Data(text.utf8))
        } else if let old = fm.contents(atPath: outputs.legacyResumeProgress) {
            (path, data) = (outputs.legacyResumeProgress, old)
        } else {
            throw TrainingError.resume(path: outputs.resumeState, reason: "it holds no training progress (not a camaudit resume state); move it away, or start over with --overwrite")
        }
        do { return try JSONDecoder().decode(Progress.self, from: data) } catch {
            throw TrainingError.resume(path: path, reason: "unreadable progress (\(error))")
        }
    }

    /// Loads the saved state into the model and optimizer; nil when there is none.
    func restore(into optimizer: Optimizer) throws -> Progress? {
        guard let progress = try savedProgress() else { return nil }
        let path = outputs.resumeState
        let changed = progress.options.differences(to: options)
        guard changed.isEmpty else {
            throw TrainingError.resume(path: path, reason: "it was written with other options: \(changed.joined(separator: ", ")); rerun with the same options, or start over with --overwrite")
        }
        guard progress.manifestDigest == manifestDigest else {
            throw TrainingError.resume(path: path, reason: "it was written for a different manifest")
        }
        let sd = try loadCheckpoint(path: path)
        var modelSD = StateDict(), optState: [String: Tensor] = [:]
        for k in sd.keys {
            guard let t = sd[k] else { continue }
            if k.hasPrefix("model/") { try modelSD.set(String(k.dropFirst(6)), t) }
            else if k.hasPrefix("optimizer/") { optState[String(k.dropFirst(10))] = t }
        }
        try model.load(modelSD, file: path)
        try optimizer.restore(optState)
        // A kill between the state and the checkpoint of a best epoch: the state's weights are that epoch's.
        if progress.bestEpoch != nil, progress.bestEpoch == progress.epochsCompleted { try saveModel(model, to: outputs.checkpoint) }
        return progress
    }

    // MARK: - Ownership of the outputs

    /// The record of a run finished at these outputs with these options and data (its checkpoint and
    /// test scores present), or nil.
    func finishedRecord() -> TrainingRecord? {
        let fm = FileManager.default
        guard let data = fm.contents(atPath: outputs.record), let r = try? JSONDecoder().decode(TrainingRecord.self, from: data),
              r.options == options, r.manifestDigest == manifestDigest, fm.fileExists(atPath: outputs.checkpoint),
              test.isEmpty || fm.fileExists(atPath: outputs.testJSON) else { return nil }
        return r
    }

    /// Refuses outputs that another run left (its finished result, or the saved state of an
    /// unfinished one), unless `overwrite`; names the file and the run that wrote it.
    func claimOutputs() throws {
        let fm = FileManager.default
        guard !overwrite, let first = outputs.owned.first(where: { fm.fileExists(atPath: $0) }) else { return }
        let remedy = "pass --overwrite to replace it, or choose another --out"
        // A record marks a finished run (whose resume state stays beside it); without one, a state is
        // an unfinished run's.
        if let data = fm.contents(atPath: outputs.record), let r = try? JSONDecoder().decode(TrainingRecord.self, from: data) {
            let when = ((try? fm.attributesOfItem(atPath: outputs.record))?[.modificationDate] as? Date).map { ", finished \(ISO8601DateFormatter().string(from: $0))" } ?? ""
            let best = r.bestEpoch.map { ", best epoch \($0)" } ?? ""
            throw TrainingError.taken(path: fm.fileExists(atPath: outputs.checkpoint) ? outputs.checkpoint : outputs.record,
                                      reason: "is the result of another run (\(outputs.record): \(r.options.architecture), seed \(r.options.seed), \(r.history.count) epochs\(best), \(r.version)\(when)); \(remedy)")
        }
        if let p = try? savedProgress() {
            throw TrainingError.taken(path: outputs.resumeState, reason: "holds the saved state of an unfinished run (\(p.options.architecture), seed \(p.options.seed), after epoch \(p.epochsCompleted) of \(p.options.epochs)); continue it with --resume, or \(remedy)")
        }
        throw TrainingError.taken(path: first, reason: "exists and was not written by this run; \(remedy)")
    }

    /// Removes an output file if present (a failure to remove is a failure to write).
    func removeOutput(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw TrainingError.unwritable(path: path, reason: "cannot remove the old file (\(error.localizedDescription))")
        }
    }

    // MARK: - Files

    func prepareStepLog(keepRows: Int) throws {
        guard let path = outputs.stepLog else { return }
        var lines = ["step,epoch,loss,lr"]
        if keepRows > 0, let old = try? String(contentsOfFile: path, encoding: .utf8) {
            lines += old.split(separator: "\n").dropFirst().prefix(keepRows).map(String.init)
        }
        try writeAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), to: path)
    }

    func appendStepLog(_ rows: [String]) throws {
        guard let path = outputs.stepLog, !rows.isEmpty, let h = FileHandle(forWritingAtPath: path) else { return }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data((rows.joined(separator: "\n") + "\n").utf8))
    }

    func writeEpochsCSV(_ history: [EpochRecord]) throws {
        var s = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_macro_f1,lr,seconds\n"
        for r in history {
            s += "\(r.epoch),\(r.trainLoss),\(r.trainAccuracy),\(r.valLoss),\(r.valAccuracy),\(r.valMacroF1),\(r.lr),\(String(format: "%.3f", r.seconds))\n"
        }
        try writeAtomically(Data(s.utf8), to: outputs.epochsCSV)
    }

    func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(enc.encode(value), to: path)
    }

    func writeAtomically(_ data: Data, to path: String) throws {
        do { try atomicWrite(data, to: path) } catch let e as FileWriteError {
            throw TrainingError.unwritable(path: path, reason: e.reason)
        }
    }

    static func bar(epoch: Int, of epochs: Int, batch: Int, of batches: Int, loss: Double, accuracy: Double, imagesPerSecond: Double, eta: Double) -> String {
        let width = 20, filled = batches > 0 ? width * batch / batches : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return String(format: "epoch %ld/%ld [%@] %ld/%ld  loss %.4f  acc %.3f  %.1f img/s  ETA %ds",
                      epoch, epochs, bar, batch, batches, loss, accuracy, imagesPerSecond, Int(eta.rounded()))
    }
}
