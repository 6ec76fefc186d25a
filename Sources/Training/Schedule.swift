import Foundation

/// Learning-rate schedules, stepped once per epoch (like a torch.optim.lr_scheduler called at the
/// end of each epoch), with optional linear warmup in front.
///
/// For epoch e (0-based) of E, base rate η and W warmup epochs:
/// - warmup (e < W):   η·(e + 1)/(W + 1)   — rises linearly, reaching η at the first epoch after it;
/// - `none`:           η;
/// - `cosine`:         η·½·(1 + cos(π·(e − W)/(E − W)))   (CosineAnnealingLR, T_max = E − W, η_min = 0);
/// - `step`:           η·0.1^⌊(e − W)/s⌋ with s = max(1, ⌊(E − W)/3⌋)   (StepLR, γ = 0.1: three drops at most).
public enum Schedule: String, CaseIterable, Sendable, Codable {
    case none, cosine, step

    /// The learning rate of `epoch`.
    public func learningRate(base: Double, epoch: Int, epochs: Int, warmupEpochs: Int) -> Double {
        if epoch < warmupEpochs { return base * Double(epoch + 1) / Double(warmupEpochs + 1) }
        let e = epoch - warmupEpochs, span = max(1, epochs - warmupEpochs)
        switch self {
        case .none: return base
        case .cosine: return base * 0.5 * (1 + cos(Double.pi * Double(e) / Double(span)))
        case .step: return base * pow(0.1, Double(e / max(1, span / 3)))
        }
    }
}
