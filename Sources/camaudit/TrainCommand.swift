import ArgumentParser
import Foundation
import TensorCore
import NN
import Models
import Datasets
import Training

/// `camaudit train`: trains or fine-tunes one architecture on a manifest (the study's recipe by default).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train or fine-tune a model on a dataset (defaults: the study's recipe).",
        discussion: """
        Defaults: AdamW, lr 1e-4, weight decay 0.01, 20 epochs, batch 16, cross-entropy, no augmentation, \
        Resize to --image-size + ToTensor (no mean/std), seed 42; the checkpoint with the best validation accuracy is kept. \
        Writes NAME.safetensors (loadable by torchvision with strict=True), NAME.json (configuration, history), \
        NAME.epochs.csv, NAME.test.json (test-split scores) and NAME.resume.* (state for --resume).
        """)

    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).") var model: String
    @Option(help: "A manifest.csv or a dataset folder (split as `evaluate` splits it).") var data: String
    @Option(help: "Where the best checkpoint goes (NAME.safetensors).") var out: String
    @Option(name: .customLong("init"), help: "Fine-tune from this checkpoint (.safetensors/.pth); a head of another class count is replaced.") var initFrom: String?
    @OptionGroup var checkpoint: CheckpointOptions
    @Option(help: "Epochs.") var epochs = 20
    @Option(name: .customLong("batch-size"), help: "Images per optimizer step.") var batchSize = 16
    @Option(help: "adamw or sgd.") var optimizer = "adamw"
    @Option(help: "Learning rate.") var lr = 1e-4
    @Option(name: .customLong("weight-decay"), help: "Weight decay (default 0.01 for AdamW, 0 for SGD).") var weightDecay: Double?
    @Option(help: "SGD momentum.") var momentum = 0.9
    @Flag(help: "SGD with Nesterov momentum.") var nesterov = false
    @Option(help: "Learning-rate schedule, stepped per epoch: none, cosine, step.") var schedule = "none"
    @Option(name: .customLong("warmup-epochs"), help: "Linear warmup epochs before the schedule.") var warmupEpochs = 0
    @Option(name: .customLong("label-smoothing"), help: "Label smoothing of the cross-entropy.") var labelSmoothing: Float = 0
    @Option(name: .customLong("class-weights"), help: "none or balanced (N / (K·n_c) from the train split).") var classWeights = "none"
    @Option(help: "none or basic (random resized crop, flip, small rotation, intensity jitter).") var augment = "none"
    @Option(name: .customLong("image-size"), help: "Images are resized to this square size.") var imageSize = 224
    @Option(help: "Seed of the initial weights, shuffling, augmentation and dropout.") var seed: UInt64 = 42
    @Option(help: "Threads (default: OPENBLAS_NUM_THREADS or all cores); the same seed and threads give the same bytes.") var threads: Int?
    @Flag(help: "Continue from the last completed epoch saved beside --out.") var resume = false
    @Option(name: .customLong("head-init"), help: "How the classifier's last Linear starts: torchvision (its own rule) or zeros (every class at the same logit; EfficientNet's torchvision rule starts a 3-class head with logits near ±10).") var headInit = "torchvision"
    @Flag(name: .customLong("no-dropout"), help: "Dropout and stochastic depth off (BatchNorm still in training mode).") var noDropout = false
    @Option(help: "Shuffle the train split every epoch: true or false.") var shuffle = "true"
    @Option(name: .customLong("max-steps"), help: "Stop after this many optimizer steps.") var maxSteps: Int?
    @Option(name: .customLong("log-steps"), help: "CSV with one row per optimizer step: step, epoch, loss, lr.") var logSteps: String?
    @Option(name: .customLong("split-seed"), help: "Seed for splitting a scanned folder.") var splitSeed: UInt64 = 42
    @Flag(help: "No progress bar.") var quiet = false

    func parse<T: RawRepresentable & CaseIterable>(_ value: String, _ flag: String, _: T.Type) throws -> T where T.RawValue == String {
        guard let v = T(rawValue: value) else {
            throw ValidationError("\(flag) '\(value)': choose one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    func run() throws {
        if let threads { guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1") }; Parallel.setThreads(threads) }
        guard let arch = Architecture(rawValue: model) else {
            throw ValidationError("unknown model '\(model)'; choose one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard shuffle == "true" || shuffle == "false" else { throw ValidationError("--shuffle must be true or false, got '\(shuffle)'") }
        var o = TrainingOptions(architecture: arch.rawValue)
        o.epochs = epochs; o.batchSize = batchSize
        o.optimizer = try parse(optimizer, "--optimizer", OptimizerKind.self)
        o.lr = lr; o.weightDecay = weightDecay ?? (o.optimizer == .adamw ? 0.01 : 0)
        o.momentum = o.optimizer == .sgd ? momentum : 0; o.nesterov = nesterov
        o.schedule = try parse(schedule, "--schedule", Schedule.self); o.warmupEpochs = warmupEpochs
        o.labelSmoothing = labelSmoothing
        o.classWeights = try parse(classWeights, "--class-weights", ClassWeighting.self)
        o.augment = try parse(augment, "--augment", Augmentation.self)
        o.imageSize = imageSize; o.seed = seed; o.dropout = !noDropout; o.shuffle = shuffle == "true"; o.maxSteps = maxSteps
        let head = try parse(headInit, "--head-init", HeadInit.self)
        o.headInit = head == .torchvision ? nil : head
        o.initFrom = initFrom
        do { try o.validate() } catch let e as TrainingError { throw ValidationError(e.description) }
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must name a .safetensors file, got '\(out)'") }

        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else { throw CLIError("\(data): no such file or folder") }
        let manifest: Manifest
        if isDir.boolValue {
            let scanned = try DatasetScanner.scan(root: data, options: ScanOptions())
            writeStderr(scanned.summary)
            manifest = scanned.manifest(seed: splitSeed)
            guard manifest.classes.count >= 2 else {
                throw CLIError("\(data): \(manifest.items.count) readable images in \(manifest.classes.count) class folders; training needs at least two classes")
            }
            // The split this run used, so PyTorch (scripts/train_torch.py) and later runs see the same one.
            let path = TrainingOutputs(checkpoint: out).base + ".manifest.csv"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try manifest.write(to: path)
            writeStderr("split written to \(path)")
        } else {
            manifest = try Manifest.read(path: data)
        }
        try manifest.check(for: .training, source: data, warn: writeStderr)
        let classes = manifest.classes
        guard classes.count >= 2 else { throw CLIError(TrainingError.singleClass(classes.first ?? "none").description) }
        let net = try makeModel(arch, numClasses: classes.count, imageSize: imageSize)
        net.initialize(seed: seed, head: o.headInit ?? .torchvision)
        var notes: [String] = []
        if let initFrom {
            guard FileManager.default.fileExists(atPath: initFrom) else { throw CLIError("\(initFrom): no such file") }
            notes = try fineTuneStart(net, from: initFrom, selection: checkpoint.selection)
            for n in notes { writeStderr("note: " + n) }
        }
        let trainer: Trainer
        do {
            trainer = try Trainer(options: o, manifest: manifest, model: net, outputs: TrainingOutputs(checkpoint: out, stepLog: logSteps),
                                  version: "camaudit \(CamAudit.version)")
        } catch let e as TrainingError { throw CLIError(e.description) }
        trainer.note = notes.isEmpty ? nil : notes.joined(separator: " ")
        trainer.log = { writeStderr($0) }
        let tty = isatty(2) != 0
        if !quiet {
            trainer.progressBar = { line in FileHandle.standardError.write(Data(((tty ? "\r\u{1B}[K" : "") + line + (tty ? "" : "\n")).utf8)) }
        }
        do {
            if !quiet && tty { trainer.log = { writeStderr("\r\u{1B}[K" + $0) } }
            try trainer.run(resume: resume)
        } catch let e as TrainingError { throw CLIError(e.description) }
        writeStderr("best checkpoint: \(out)")
    }
}
