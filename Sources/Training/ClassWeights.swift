/// How cross-entropy weighs the classes.
public enum ClassWeighting: String, CaseIterable, Sendable, Codable {
    case none
    /// w_c = N / (K·n_c) over the training split (scikit-learn's "balanced"): each class contributes
    /// as much to the loss as it would in a balanced set. A class absent from the split gets 0.
    case balanced

    /// The weights for `counts[c]` training images per class, or nil for `none`.
    public func weights(counts: [Int]) -> [Float]? {
        guard self == .balanced else { return nil }
        let n = counts.reduce(0, +), k = counts.count
        return counts.map { $0 > 0 ? Float(Double(n) / Double(k * $0)) : 0 }
    }
}
