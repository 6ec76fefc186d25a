/// A phantom study at one size: the data set to synthesise and the training recipe measured to
/// teach it (docs/PHANTOMS.md has the table and the accuracies reached).
///
/// The recipe is given as plain values (the optimizer, schedule and augmentation by their
/// `camaudit train` option names) so this module stays below Training; a caller turns them into
/// `TrainingOptions` with `OptimizerKind(rawValue:)`, `Schedule(rawValue:)`, `Augmentation(rawValue:)`.
public struct PhantomProfile: Sendable, Equatable {
    public var name: String
    // Data: `SynthDataset.generate(out:count:size:seed:)`, split 60/20/20 by class.
    public var count: Int
    public var size: Int
    public var seed: UInt64
    /// Marker fraction of the shortcut experiment's set (same count, size and seed otherwise).
    public var shortcutFraction: Double
    // Recipe: `camaudit train` options.
    public var optimizer: String
    public var lr: Double
    public var weightDecay: Double
    public var batchSize: Int
    public var epochs: Int
    public var schedule: String
    public var warmupEpochs: Int
    public var augment: String
    /// `--image-size`: the slices' own size, so Resize is the identity.
    public var imageSize: Int { size }
    /// Training seeds (R models per architecture, for the consistency measure).
    public var seeds: [UInt64]
    /// `--head-init` of every architecture (`torchvision` or `zeros`). Zeros in every profile:
    /// torchvision's EfficientNet head, U(±1/√classes), starts three classes with logits near ±10
    /// and a loss of 3–4, and EfficientNet-B0 then stayed at chance on the quick set.
    public var headInit = "torchvision"
    /// Where an architecture's recipe differs from the above, by architecture name.
    public var exceptions: [String: Exception] = [:]

    /// One architecture's departures from the profile's recipe (nil: as the profile).
    public struct Exception: Sendable, Equatable {
        public var epochs: Int?
        public var lr: Double?
        public init(epochs: Int? = nil, lr: Double? = nil) { self.epochs = epochs; self.lr = lr }
    }

    /// CI: the whole pipeline at toy size; the models learn little and the report says so.
    public static let tiny = PhantomProfile(name: "tiny", count: 36, size: 64, seed: 0, shortcutFraction: 0.9,
                                            optimizer: "adamw", lr: 1e-3, weightDecay: 0.01, batchSize: 16, epochs: 1,
                                            schedule: "none", warmupEpochs: 0, augment: "none", seeds: [42, 43],
                                            headInit: "zeros")
    /// A real result on 2 cores in under an hour (measured: docs/PHANTOMS.md).
    public static let quick = PhantomProfile(name: "quick", count: 1200, size: 64, seed: 0, shortcutFraction: 0.9,
                                             optimizer: "adamw", lr: 1e-3, weightDecay: 0.01, batchSize: 16, epochs: 10,
                                             schedule: "cosine", warmupEpochs: 1, augment: "none", seeds: [42, 43],
                                             headInit: "zeros", exceptions: ["efficientnet_b0": Exception(epochs: 20)])
    /// The study's recipe: 224 px, 60/20/20, AdamW 1e-4, batch 16, 20 epochs, R = 3.
    public static let full = PhantomProfile(name: "full", count: 1200, size: 224, seed: 0, shortcutFraction: 0.9,
                                            optimizer: "adamw", lr: 1e-4, weightDecay: 0.01, batchSize: 16, epochs: 20,
                                            schedule: "none", warmupEpochs: 0, augment: "none", seeds: [42, 43, 44],
                                            headInit: "zeros")

    public static let all = [tiny, quick, full]

    public static func named(_ name: String) -> PhantomProfile? { all.first { $0.name == name } }
}
