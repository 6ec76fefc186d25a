import Foundation

/// Classification metrics from true and predicted labels in 0..<K.
///
/// Conventions (sklearn's): confusion[t][p] counts images of true class t predicted as p;
/// precision/recall/F1 of a class with an empty denominator are 0 (zero_division = 0) for the
/// macro average, which runs over the classes that occur in the truth or the predictions
/// (sklearn's default label set); per-class sensitivity and specificity are nil when undefined.
public struct ClassificationReport: Sendable, Equatable {
    public let numClasses: Int
    /// [K][K], rows = true class, columns = predicted class.
    public let confusion: [[Int]]
    public let accuracy: Double
    public let macroF1: Double
    /// Per class F1 (0 where precision + recall = 0; nil for a class absent from truth and predictions).
    public let f1: [Double?]
    /// Recall: TP / (TP + FN); nil when the class has no true images.
    public let sensitivity: [Double?]
    /// TN / (TN + FP); nil when every image is of this class.
    public let specificity: [Double?]

    public init(truth: [Int], predicted: [Int], numClasses: Int) throws {
        guard truth.count == predicted.count, !truth.isEmpty, numClasses >= 1 else {
            throw EvaluationError.invalidArgument(op: "ClassificationReport", detail: "need equally many (≥ 1) labels, got \(truth.count) true and \(predicted.count) predicted")
        }
        guard (truth + predicted).allSatisfy({ $0 >= 0 && $0 < numClasses }) else {
            throw EvaluationError.invalidArgument(op: "ClassificationReport", detail: "labels must be in 0..<\(numClasses)")
        }
        self.numClasses = numClasses
        var cm = [[Int]](repeating: [Int](repeating: 0, count: numClasses), count: numClasses)
        for (t, p) in zip(truth, predicted) { cm[t][p] += 1 }
        confusion = cm
        let n = truth.count
        accuracy = Double((0..<numClasses).reduce(0) { $0 + cm[$1][$1] }) / Double(n)
        var f1s: [Double?] = [], sens: [Double?] = [], spec: [Double?] = []
        for k in 0..<numClasses {
            let tp = cm[k][k]
            let fn = cm[k].reduce(0, +) - tp
            let fp = (0..<numClasses).reduce(0) { $0 + cm[$1][k] } - tp
            let tn = n - tp - fn - fp
            sens.append(tp + fn > 0 ? Double(tp) / Double(tp + fn) : nil)
            spec.append(tn + fp > 0 ? Double(tn) / Double(tn + fp) : nil)
            if tp + fn + fp == 0 { f1s.append(nil) } else { f1s.append(2 * Double(tp) / Double(2 * tp + fn + fp)) }
        }
        f1 = f1s; sensitivity = sens; specificity = spec
        let present = f1s.compactMap { $0 }
        macroF1 = present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
    }
}
