/// The three sizes of the study's pipeline. Each profile is a complete `PaperConfig`: data, training
/// recipe and analysis settings; command-line options override single fields.
///
/// - `tiny`: the whole pipeline at toy size for CI (all five architectures, a few dozen 64-px
///   phantoms, one epoch, two seeds so Consist is defined). Its numbers show the pipeline works,
///   not a finding: the models have not learned, and the report flags them below the accuracy floor.
/// - `quick`: a real result on a laptop in under an hour on 2 cores.
/// - `full`: the study's recipe (224 px, 60/20/20, AdamW 1e-4, batch 16, 20 epochs, R = 3 seeds).
public enum PaperProfile: String, CaseIterable, Sendable, Codable {
    case tiny, quick, full

    /// The profile's configuration with phantom data.
    public var config: PaperConfig {
        var c = PaperConfig(profile: self)
        switch self {
        case .tiny:
            c.data.phantom = PhantomSpec(count: 36, size: 64, seed: 0, shortcutFraction: 0.9)
            c.training = TrainingRecipe(imageSize: 64, epochs: 1, batchSize: 16, lr: 1e-3)
            c.seeds = [42, 43]
            c.analysis.deletionSteps = 8
            c.analysis.curveImages = 4
            // Three methods keep the comparison and the cascade while the CI run stays in minutes.
            c.analysis.methods = ["gradcam", "gradcam++", "random"]
            c.analysis.bootstrapResamples = 1000
        case .quick:
            // The phantom set and recipe measured to teach every CNN within the budget (docs/PHANTOMS.md).
            c.data.phantom = PhantomSpec(count: 900, size: 96, seed: 0, shortcutFraction: 0.9)
            c.training = TrainingRecipe(imageSize: 96, epochs: 8, batchSize: 32, lr: 1e-3)
            c.training.schedule = .cosine
            c.training.warmupEpochs = 1
            c.seeds = [42, 43]
            c.analysis.deletionSteps = 20
            c.analysis.curveImages = 40
        case .full:
            c.data.phantom = PhantomSpec(count: 1200, size: 224, seed: 0, shortcutFraction: 0.9)
            c.training = TrainingRecipe(imageSize: 224, epochs: 20, batchSize: 16, lr: 1e-4)
            c.seeds = [42, 43, 44]
            c.analysis.deletionSteps = 50
            c.analysis.curveImages = 100
        }
        return c
    }
}
