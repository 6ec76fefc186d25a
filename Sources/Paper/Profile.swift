import Datasets
import Models
import Training

/// The three sizes of the study's pipeline. Each profile is a complete `PaperConfig`: data, training
/// recipe and analysis settings; command-line options override single fields.
///
/// - `tiny`: the whole pipeline at toy size for CI (all five architectures, a few dozen 64-px
///   phantoms, one epoch, two seeds so Consist is defined). Its numbers show the pipeline works,
///   not a finding: the models have not learned, and the report flags them below the accuracy floor.
/// - `quick`: a real result (every CNN above 85% test accuracy) in about 2.5 h on 2 cores: 1200
///   64-px phantoms, two seeds, fifteen models trained (docs/PAPER.md has the measured stages).
/// - `full`: the study's recipe (224 px, 60/20/20, AdamW 1e-4, batch 16, 20 epochs, R = 3 seeds).
/// - `study`: `full` with the study's initialisation, torchvision's ImageNet weights (`--pretrained
///   DIR`), and its head: a new `nn.Linear` as torchvision initialises it. The study's code has no
///   other per-architecture exception (every model: AdamW 1e-4, batch 16, 20 epochs); which weights
///   enum each architecture starts from is the file found, and the report names it.
public enum PaperProfile: String, CaseIterable, Sendable, Codable {
    case tiny, quick, full, study

    /// Whether the profile's models start from pretrained weights, so it cannot run without them.
    public var needsPretrained: Bool { self == .study }

    /// The phantom set and training recipe measured for this profile (docs/PHANTOMS.md).
    public var phantom: PhantomProfile {
        switch self {
        case .tiny: return .tiny
        case .quick: return .quick
        case .full, .study: return .full
        }
    }

    /// The profile's configuration with phantom data.
    public var config: PaperConfig {
        var c = PaperConfig(profile: self)
        let p = phantom
        c.data.phantom = PhantomSpec(count: p.count, size: p.size, seed: p.seed, shortcutFraction: p.shortcutFraction)
        var t = TrainingRecipe(imageSize: p.imageSize, epochs: p.epochs, batchSize: p.batchSize, lr: p.lr)
        t.weightDecay = p.weightDecay
        t.optimizer = OptimizerKind(rawValue: p.optimizer) ?? .adamw
        t.schedule = Schedule(rawValue: p.schedule) ?? .none
        t.warmupEpochs = p.warmupEpochs
        t.augment = Augmentation(rawValue: p.augment) ?? .none
        if let h = HeadInit(rawValue: p.headInit), h != .torchvision { t.headInit = h }
        if !p.exceptions.isEmpty {
            t.perArchitecture = p.exceptions.mapValues { ArchitectureRecipe(epochs: $0.epochs, lr: $0.lr) }
        }
        c.training = t
        c.seeds = p.seeds
        switch self {
        case .tiny:
            c.analysis.deletionSteps = 8
            c.analysis.curveImages = 4
            // Three methods keep the comparison and the cascade while the CI run stays in minutes.
            c.analysis.methods = ["gradcam", "gradcam++", "random"]
        case .quick:
            c.analysis.deletionSteps = 20
            c.analysis.curveImages = 40
        case .full, .study:
            c.analysis.deletionSteps = 50
            c.analysis.curveImages = 100
        }
        // The study replaces the ImageNet head with a fresh nn.Linear (torchvision's initialisation).
        if self == .study { c.training.headInit = nil }
        return c
    }
}
