import Foundation
import Models
import Sweep
import Training

/// Phantoms the data stage synthesises (`SynthDataset.generate`).
public struct PhantomSpec: Codable, Equatable, Sendable {
    public var count: Int
    /// Slice size in pixels (square).
    public var size: Int
    public var seed: UInt64
    /// Fraction of slices carrying the class-correlated corner marker (the shortcut experiment).
    public var shortcutFraction: Double
    public init(count: Int, size: Int, seed: UInt64, shortcutFraction: Double) {
        self.count = count; self.size = size; self.seed = seed; self.shortcutFraction = shortcutFraction
    }
}

/// Where the images come from: phantoms, or the user's folder (IQ-OTH/NCCD or one folder per class).
public struct DataSpec: Codable, Equatable, Sendable {
    public var phantom: PhantomSpec? = PhantomSpec(count: 36, size: 64, seed: 7, shortcutFraction: 0.5)
    /// A dataset folder; replaces the phantoms.
    public var folder: String? = nil
    /// Lesion masks of the folder's images (PNG, non-zero = lesion).
    public var masks: String? = nil
    /// Seed of the stratified, duplicate-safe split of a folder.
    public var splitSeed: UInt64 = 42
    public init() {}
}

/// Where one architecture's recipe differs from the shared one (nil: as shared).
public struct ArchitectureRecipe: Codable, Equatable, Sendable {
    public var epochs: Int?
    public var lr: Double?
    public init(epochs: Int? = nil, lr: Double? = nil) { self.epochs = epochs; self.lr = lr }
}

/// The training recipe shared by every architecture and seed (`camaudit train`'s options), with
/// per-architecture exceptions.
public struct TrainingRecipe: Codable, Equatable, Sendable {
    public var imageSize: Int
    public var epochs: Int
    public var batchSize: Int
    public var lr: Double
    public var weightDecay = 0.01
    public var optimizer: OptimizerKind = .adamw
    public var augment: Augmentation = .none
    public var schedule: Schedule = .none
    public var warmupEpochs = 0
    /// How the classifier's last Linear starts (nil: torchvision's rule).
    public var headInit: HeadInit?
    /// Exceptions by architecture name (nil or absent: the shared recipe).
    public var perArchitecture: [String: ArchitectureRecipe]?
    /// The checkpoint each architecture starts from (absent: from scratch, torchvision's seeded
    /// initialisation); `Pipeline` fills it from `PaperConfig.pretrained`.
    public var initialCheckpoints: [String: InitialCheckpoint]?
    public init(imageSize: Int, epochs: Int, batchSize: Int, lr: Double) {
        self.imageSize = imageSize; self.epochs = epochs; self.batchSize = batchSize; self.lr = lr
    }

    /// The trainer's options for one architecture and seed.
    public func options(architecture: String, seed: UInt64) -> TrainingOptions {
        var o = TrainingOptions(architecture: architecture)
        o.imageSize = imageSize; o.epochs = epochs; o.batchSize = batchSize; o.lr = lr
        o.weightDecay = weightDecay; o.optimizer = optimizer; o.augment = augment; o.seed = seed
        o.schedule = schedule; o.warmupEpochs = warmupEpochs; o.headInit = headInit
        if let x = perArchitecture?[architecture] {
            if let e = x.epochs { o.epochs = e }
            if let lr = x.lr { o.lr = lr }
        }
        o.initFrom = initialCheckpoints?[architecture]?.path
        if o.headInit == .torchvision { o.headInit = nil }
        return o
    }
}

/// What the explanation stages compute and how the statistics are drawn.
public struct AnalysisSpec: Codable, Equatable, Sendable {
    /// Deletion/insertion steps (RISE).
    public var deletionSteps = 50
    /// Test images per architecture whose deletion/insertion curves are drawn (first in manifest order).
    public var curveImages = 40
    /// The CAM methods compared on `methodArchitecture` (its first seed), RandomCAM among them.
    public var methods = ["gradcam", "hirescam", "gradcam++", "xgradcam", "layercam", "eigencam", "random"]
    public var methodArchitecture = "resnet50"
    /// Seed of the stochastic CAM methods and metrics (RandomCAM, cascade re-initialisation).
    public var camSeed: UInt64 = 0
    /// Models whose mean test accuracy is below this have their explanation metrics flagged.
    public var accuracyFloor = 0.7
    /// Binarisation threshold of LocAcc, Consist and the agreement IoUs.
    public var threshold: Float = 0.5
    public var bootstrapResamples = 1000
    /// Images per forward batch in the sweeps.
    public var batchSize = 8
    public init() {}
}

/// Slurm submission of the training runs and sweeps (`make paper SLURM=1`).
public struct SlurmSpec: Codable, Equatable, Sendable {
    /// Partition, account, time and memory of every job.
    public var resources = SlurmResources()
    public var cpusPerTask = 2
    /// Array tasks of each sweep.
    public var shards = 4
    public init() {}
}

/// The whole study as one configuration: recorded in the run manifest; each stage's cache key is the
/// digest of the part of it that stage reads (plus the digests of its inputs).
public struct PaperConfig: Codable, Equatable, Sendable {
    public var profile: PaperProfile
    public var data = DataSpec()
    public var training = TrainingRecipe(imageSize: 64, epochs: 1, batchSize: 8, lr: 1e-4)
    /// Training seeds: R models per architecture.
    public var seeds: [UInt64] = [42]
    public var architectures: [String] = Architecture.allCases.map(\.rawValue)
    public var analysis = AnalysisSpec()
    public var slurm: SlurmSpec? = nil
    /// Independent work (trainings, sweep units) as this many concurrent processes on this machine,
    /// sharing the run's threads. Not part of any key: where work runs does not change it.
    public var workers: Int? = nil
    /// A folder of torchvision's ImageNet checkpoints to start every architecture from (`Pretrained.find`).
    public var pretrained: String? = nil
    public init(profile: PaperProfile) { self.profile = profile }

    /// Refuses a configuration that cannot run, naming the field.
    public func validate() throws {
        func bad(_ s: String) -> PaperError { .invalid(s) }
        guard !architectures.isEmpty else { throw bad("--model: give at least one architecture") }
        if profile.needsPretrained, pretrained == nil {
            throw bad("--profile \(profile.rawValue) starts from torchvision's ImageNet weights: give --pretrained DIR (docs/PAPER.md says how to get the files)")
        }
        for a in architectures where Architecture(rawValue: a) == nil {
            throw bad("--model: unknown '\(a)'; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard Set(architectures).count == architectures.count else { throw bad("--model: an architecture is listed twice") }
        guard !seeds.isEmpty, Set(seeds).count == seeds.count else { throw bad("--seeds: give one or more distinct seeds") }
        if data.folder == nil, data.phantom == nil { throw bad("no data: give --data FOLDER or use the phantoms") }
        if let p = data.phantom, data.folder == nil {
            guard (9...10_000_000).contains(p.count) else { throw bad("--count must be in 9...10000000 (3 phantoms per class at least), got \(p.count)") }
            guard (64...4096).contains(p.size) else { throw bad("--phantom-size must be in 64...4096, got \(p.size)") }
            guard (0...1).contains(p.shortcutFraction) else { throw bad("--shortcut must be in [0, 1], got \(p.shortcutFraction)") }
        }
        guard (1...10_000).contains(analysis.deletionSteps) else { throw bad("--steps must be in 1...10000, got \(analysis.deletionSteps)") }
        guard (1...1_000_000).contains(analysis.curveImages) else { throw bad("--curve-images must be in 1...1000000, got \(analysis.curveImages)") }
        guard (0...1).contains(analysis.accuracyFloor) else { throw bad("--accuracy-floor must be in [0, 1]") }
        guard !analysis.methods.isEmpty else { throw bad("--methods: give at least one CAM method") }
        for a in architectures {
            try training.options(architecture: a, seed: seeds[0]).validate()
        }
        if let w = workers {
            guard (1...4096).contains(w) else { throw bad("--workers must be in 1...4096, got \(w)") }
            guard slurm == nil else { throw bad("--workers runs processes on this machine; with --slurm, Slurm places the work") }
        }
        if let s = slurm {
            do { try s.resources.validate() } catch let e as SweepRunError { throw bad(e.description) }
            guard (1...4096).contains(s.cpusPerTask) else { throw bad("--cpus-per-task must be in 1...4096, got \(s.cpusPerTask)") }
            guard (1...1_000_000).contains(s.shards) else { throw bad("--shards must be in 1...1000000, got \(s.shards)") }
        }
    }

    /// Canonical JSON (sorted keys): what digests and the run manifest see.
    public func json() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }
}

/// Errors of the paper pipeline; each names the stage, file or option to fix.
public enum PaperError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case invalid(String)
    case stage(String, String)

    public var description: String {
        switch self {
        case let .invalid(s): return s
        case let .stage(stage, detail): return "\(stage): \(detail)"
        }
    }
    public var errorDescription: String? { description }
}
