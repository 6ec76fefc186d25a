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

    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) (or the recipe's).") var model: String?
    @Option(help: "A manifest.csv or a dataset folder (split as `evaluate` splits it).") var data: String
    @Option(help: "Where the best checkpoint goes (NAME.safetensors).") var out: String
    @Option(help: "A training recipe: JSON of the options below (a run's NAME.json repeats that run); options given here override it.") var recipe: String?
    @Option(name: .customLong("init"), help: "Fine-tune from this checkpoint (.safetensors/.pth); a head of another class count is replaced.") var initFrom: String?
    @OptionGroup var checkpoint: CheckpointOptions
    @Option(help: "Epochs (\(OptionRange.epochs); default \(Self.study.epochs)).", transform: intOption(OptionRange.epochs)) var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Images per optimizer step (\(OptionRange.batchSize); default \(Self.study.batchSize)).", transform: intOption(OptionRange.batchSize)) var batchSize: Int?
    @Option(help: "adamw or sgd (default \(Self.study.optimizer.rawValue)).") var optimizer: String?
    @Option(help: "Learning rate (> 0, at most 10; default \(Self.study.lr)).", transform: doubleOption(0...10)) var lr: Double?
    @Option(name: .customLong("weight-decay"), help: "Weight decay, 0...10 (default 0.01 for AdamW, 0 for SGD).", transform: doubleOption(0...10)) var weightDecay: Double?
    @Option(help: "SGD momentum, in [0, 1) (default \(Self.study.momentum)).", transform: doubleOption(0...1)) var momentum: Double?
    @Flag(help: "SGD with Nesterov momentum.") var nesterov = false
    @Option(help: "Learning-rate schedule, stepped per epoch: none, cosine, step (default \(Self.study.schedule.rawValue)).") var schedule: String?
    @Option(name: .customLong("warmup-epochs"), help: "Linear warmup epochs before the schedule (0...\(OptionRange.epochs.upperBound); default \(Self.study.warmupEpochs)).", transform: intOption(0...OptionRange.epochs.upperBound)) var warmupEpochs: Int?
    @Option(name: .customLong("label-smoothing"), help: "Label smoothing of the cross-entropy (0...1; default \(Self.study.labelSmoothing)).", transform: { Float(try doubleOption(0...1)($0)) }) var labelSmoothing: Float?
    @Option(name: .customLong("class-weights"), help: "none or balanced (N / (K·n_c) from the train split; default \(Self.study.classWeights.rawValue)).") var classWeights: String?
    @Option(help: "none or basic (random resized crop, flip, small rotation, intensity jitter; default \(Self.study.augment.rawValue)).") var augment: String?
    @Option(name: .customLong("image-size"), help: "Images are resized to this square size (\(OptionRange.imageSize); ViT: a multiple of 16; default \(Self.study.imageSize)).", transform: intOption(OptionRange.imageSize)) var imageSize: Int?
    @Option(help: "Progressive resizing of a CNN: the first EPOCHS epochs at SIZE px, the rest at --image-size (only those can be the best checkpoint; default: every epoch at --image-size).") var progressive: String?
    @Option(help: "Seed of the initial weights, shuffling, augmentation and dropout (0...2^64-1; default \(Self.study.seed)).", transform: seedOption) var seed: UInt64?
    @Option(help: "Threads (\(OptionRange.threads); default: OPENBLAS_NUM_THREADS or all cores); the same seed and threads give the same bytes.", transform: intOption(OptionRange.threads)) var threads: Int?
    @Flag(help: "Continue from the last completed epoch saved beside --out.") var resume = false
    @Option(name: .customLong("head-init"), help: "How the classifier's last Linear starts: torchvision (its own rule, the default) or zeros (every class at the same logit; EfficientNet's torchvision rule starts a 3-class head with logits near ±10).") var headInit: String?
    @Flag(name: .customLong("no-dropout"), help: "Dropout and stochastic depth off (BatchNorm still in training mode).") var noDropout = false
    @Option(help: "Shuffle the train split every epoch: true or false (default true).") var shuffle: String?
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

    /// The study's recipe: every default of the options above, declared once in `TrainingOptions`.
    static let study = TrainingOptions(architecture: "")

    /// The recipe (`--recipe`, or the study's), then every option given on the command line over it.
    func options() throws -> TrainingOptions {
        var o: TrainingOptions
        if let recipe {
            guard FileManager.default.fileExists(atPath: recipe) else { throw ValidationError("--recipe \(recipe): no such file") }
            do { o = try TrainingOptions.recipe(contentsOf: recipe, architecture: model) } catch let e as TrainingError { throw ValidationError(e.description) }
        } else {
            guard let model else { throw ValidationError("give --model (or a --recipe that names the architecture)") }
            o = TrainingOptions(architecture: model)
        }
        guard Architecture(rawValue: o.architecture) != nil else {
            throw ValidationError("unknown model '\(o.architecture)'; choose one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let optimizer { o.optimizer = try parse(optimizer, "--optimizer", OptimizerKind.self) }
        if recipe == nil || optimizer != nil {
            // The optimizer's own defaults; AdamW records its (unused) momentum as 0.
            o.weightDecay = weightDecay ?? (o.optimizer == .adamw ? 0.01 : 0)
            o.momentum = o.optimizer == .sgd ? (momentum ?? Self.study.momentum) : 0
        } else {
            if let weightDecay { o.weightDecay = weightDecay }
            if let momentum { o.momentum = momentum }
        }
        if nesterov { o.nesterov = true }
        if noDropout { o.dropout = false }
        if let epochs { o.epochs = epochs }
        if let batchSize { o.batchSize = batchSize }
        if let lr { o.lr = lr }
        if let schedule { o.schedule = try parse(schedule, "--schedule", Schedule.self) }
        if let warmupEpochs { o.warmupEpochs = warmupEpochs }
        if let labelSmoothing { o.labelSmoothing = labelSmoothing }
        if let classWeights { o.classWeights = try parse(classWeights, "--class-weights", ClassWeighting.self) }
        if let augment { o.augment = try parse(augment, "--augment", Augmentation.self) }
        if let imageSize { o.imageSize = imageSize }
        if let progressive {
            guard let p = ProgressiveResize(progressive) else { throw ValidationError("--progressive must be SIZE:EPOCHS (e.g. 64:8), got '\(progressive)'") }
            o.progressive = p
        }
        if let seed { o.seed = seed }
        if let shuffle {
            guard shuffle == "true" || shuffle == "false" else { throw ValidationError("--shuffle must be true or false, got '\(shuffle)'") }
            o.shuffle = shuffle == "true"
        }
        if let maxSteps { o.maxSteps = maxSteps }
        if let headInit {
            let head = try parse(headInit, "--head-init", HeadInit.self)
            o.headInit = head == .torchvision ? nil : head
        }
        if let initFrom { o.initFrom = initFrom }
        do { try o.validate() } catch let e as TrainingError {
            throw ValidationError(e.description + (recipe.map { " (options from --recipe \($0) and the command line)" } ?? ""))
        }
        return o
    }

    func run() throws {
        let o = try options()
        let arch = Architecture(rawValue: o.architecture)!
        let imageSize = o.imageSize, batchSize = o.batchSize, initFrom = o.initFrom
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must name a .safetensors file, got '\(out)'") }
        try MemoryBudget.require(MemoryBudget.modelRun(arch, imageSize: imageSize, numClasses: 2, images: batchSize, backward: true),
                                 for: "train \(arch.rawValue) at --image-size \(imageSize), --batch-size \(batchSize)")

        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else { throw CLIError("\(data): no such file or folder") }
        // The split this run used, so PyTorch (scripts/train_torch.py) and later runs see the same one.
        let outputs = TrainingOutputs(checkpoint: out, stepLog: logSteps,
                                      splitManifest: isDir.boolValue ? TrainingOutputs(checkpoint: out).base + ".manifest.csv" : nil)
        do {
            try refuseWritingOverInputs(outputs: outputs.named, inputs: [NamedPath("--data", data)] + (initFrom.map { [NamedPath("--init", $0)] } ?? [])
                                                                             + (recipe.map { [NamedPath("--recipe", $0)] } ?? []))
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
        net.initialize(seed: o.seed, head: o.headInit ?? .torchvision)
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
