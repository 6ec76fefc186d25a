import ArgumentParser
import Foundation
import TensorCore
import NN
import Models
import Datasets
import Training

/// `camaudit train`: trains or fine-tunes one architecture on a manifest (the study's recipe by default).
struct Train: ParsableCommand, ConfiguresRun {
    static let configuration = CommandConfiguration(
        abstract: "Train or fine-tune a model on a dataset (defaults: the study's recipe).",
        discussion: """
        Defaults: AdamW, lr 1e-4, weight decay 0.01, 20 epochs, batch 16, cross-entropy, no augmentation, \
        Resize to --image-size + ToTensor (no mean/std), seed 42; the checkpoint with the best validation accuracy is kept. \
        Writes NAME.safetensors (loadable by torchvision with strict=True), NAME.json (configuration, history), \
        NAME.epochs.csv, NAME.test.json (test-split scores) and NAME.resume.safetensors (state for --resume), \
        holding a lock on them while it runs. Files another run left at --out are refused without --overwrite; \
        NAME.json is written last, so a checkpoint beside it is always the one it describes.
        """)

    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).") var model: String
    @Option(help: "A manifest.csv or a dataset folder (split as `evaluate` splits it).") var data: String
    @Option(help: "Where the best checkpoint goes (NAME.safetensors).") var out: String
    @Option(name: .customLong("init"), help: "Fine-tune from this checkpoint (.safetensors/.pth); a head of another class count is replaced.") var initFrom: String?
    @OptionGroup var checkpoint: CheckpointOptions
    @Option(help: "Epochs (\(OptionRange.epochs)).", transform: intOption(OptionRange.epochs)) var epochs = 20
    @Option(name: .customLong("batch-size"), help: "Images per optimizer step (\(OptionRange.batchSize)).", transform: intOption(OptionRange.batchSize)) var batchSize = 16
    @Option(help: "adamw or sgd.") var optimizer = "adamw"
    @Option(help: "Learning rate (> 0, at most 10).", transform: doubleOption(0...10)) var lr = 1e-4
    @Option(name: .customLong("weight-decay"), help: "Weight decay, 0...10 (default 0.01 for AdamW, 0 for SGD).", transform: doubleOption(0...10)) var weightDecay: Double?
    @Option(help: "SGD momentum, in [0, 1).", transform: doubleOption(0...1)) var momentum = 0.9
    @Flag(help: "SGD with Nesterov momentum.") var nesterov = false
    @Option(help: "Learning-rate schedule, stepped per epoch: none, cosine, step.") var schedule = "none"
    @Option(name: .customLong("warmup-epochs"), help: "Linear warmup epochs before the schedule (0...\(OptionRange.epochs.upperBound)).", transform: intOption(0...OptionRange.epochs.upperBound)) var warmupEpochs = 0
    @Option(name: .customLong("label-smoothing"), help: "Label smoothing of the cross-entropy (0...1).", transform: { Float(try doubleOption(0...1)($0)) }) var labelSmoothing: Float = 0
    @Option(name: .customLong("class-weights"), help: "none or balanced (N / (K·n_c) from the train split).") var classWeights = "none"
    @Option(help: "none or basic (random resized crop, flip, small rotation, intensity jitter).") var augment = "none"
    @Option(name: .customLong("image-size"), help: "Images are resized to this square size (\(OptionRange.imageSize); ViT: a multiple of 16).", transform: intOption(OptionRange.imageSize)) var imageSize = 224
    @Option(help: "Seed of the initial weights, shuffling, augmentation and dropout (0...2^64-1).", transform: seedOption) var seed: UInt64 = 42
    @Option(help: "Threads (\(OptionRange.threads); default: OPENBLAS_NUM_THREADS or all cores); the same seed and threads give the same bytes.", transform: intOption(OptionRange.threads)) var threads: Int?
    @Flag(help: "Continue from the last completed epoch saved beside --out.") var resume = false
    @Option(name: .customLong("head-init"), help: "How the classifier's last Linear starts: torchvision (its own rule) or zeros (every class at the same logit; EfficientNet's torchvision rule starts a 3-class head with logits near ±10).") var headInit = "torchvision"
    @Flag(name: .customLong("no-dropout"), help: "Dropout and stochastic depth off (BatchNorm still in training mode).") var noDropout = false
    @Option(help: "Shuffle the train split every epoch: true or false.") var shuffle = "true"
    @Option(name: .customLong("max-steps"), help: "Stop after this many optimizer steps (\(OptionRange.maxSteps)).", transform: intOption(OptionRange.maxSteps)) var maxSteps: Int?
    @Option(name: .customLong("log-steps"), help: "CSV with one row per optimizer step: step, epoch, loss, lr.") var logSteps: String?
    @Option(name: .customLong("split-seed"), help: "Seed for splitting a scanned folder (0...2^64-1).", transform: seedOption) var splitSeed: UInt64 = 42
    @Flag(help: "No progress bar.") var quiet = false

    @Flag(help: "Replace the result or saved state another run left at --out (otherwise refused).") var overwrite = false

    func parse<T: RawRepresentable & CaseIterable>(_ value: String, _ flag: String, _: T.Type) throws -> T where T.RawValue == String {
        guard let v = T(rawValue: value) else {
            throw ValidationError("\(flag) '\(value)': choose one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    var runSettings: RunSettings { RunSettings(threads: threads) }
    var checkpointDefaults: CheckpointDefaults { checkpoint.defaults(numClasses: nil) }

    func run() throws {
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
        try MemoryBudget.require(MemoryBudget.modelRun(arch, imageSize: imageSize, numClasses: 2, images: batchSize, backward: true),
                                 for: "train \(arch.rawValue) at --image-size \(imageSize), --batch-size \(batchSize)")

        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else { throw CLIError("\(data): no such file or folder") }
        // The split this run used, so PyTorch (scripts/train_torch.py) and later runs see the same one.
        let outputs = TrainingOutputs(checkpoint: out, stepLog: logSteps,
                                      splitManifest: isDir.boolValue ? TrainingOutputs(checkpoint: out).base + ".manifest.csv" : nil)
        do {
            try refuseWritingOverInputs(outputs: outputs.named, inputs: [NamedPath("--data", data)] + (initFrom.map { [NamedPath("--init", $0)] } ?? []))
        } catch let e as PathClashError { throw ValidationError(e.description) }
        let manifest: Manifest
        if isDir.boolValue {
            let scanned = try DatasetScanner.scan(root: data, options: ScanOptions())
            writeStderr(scanned.summary)
            manifest = scanned.manifest(seed: splitSeed)
            guard manifest.classes.count >= 2 else {
                throw CLIError("\(data): \(manifest.items.count) readable images in \(manifest.classes.count) class folders; training needs at least two classes")
            }
        } else {
            manifest = try Manifest.read(path: data)
            guard !manifest.items.isEmpty else { throw CLIError("\(data): the manifest has no rows, only a header; training needs train and val rows") }
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
            trainer = try Trainer(options: o, manifest: manifest, model: net, outputs: outputs, version: "camaudit \(CamAudit.version)")
        } catch let e as TrainingError { throw CLIError(e.description) }
        trainer.note = notes.isEmpty ? nil : notes.joined(separator: " ")
        trainer.overwrite = overwrite
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
