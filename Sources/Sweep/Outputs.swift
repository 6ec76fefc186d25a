import Foundation
import TensorCore
import Evaluation

/// The run's configuration, recorded beside its results (OUT/config.json): what the rows came from.
public enum RunRecord {
    public static let fileName = "config.json"

    public static func write(_ config: SweepConfig, to directory: String) throws {
        try atomicWrite(try config.json(), to: (directory as NSString).appendingPathComponent(fileName))
    }

    /// The configuration a previous run recorded, if any.
    public static func read(directory: String) -> SweepConfig? {
        try? SweepConfig.read(path: (directory as NSString).appendingPathComponent(fileName))
    }
}

extension Summary {
    /// Writes summary.json, summary.md and classification.json into `directory` from rows alone
    /// (any order: the numbers do not depend on it). `incomplete` names the images without rows.
    @discardableResult
    public static func write(rows: [ResultRow], directory: String, incomplete: [String: String] = [:], resultsFile: String = Store.fileName) throws -> Document {
        let doc = document(rows, resultsFile: resultsFile, incomplete: incomplete)
        try atomicWrite(Data(try json(doc)), to: directory + "/summary.json")
        try atomicWrite(markdown(doc), to: directory + "/summary.md")
        try atomicWrite(try classificationJSON(rows, incomplete: incomplete), to: directory + "/classification.json")
        return doc
    }

    /// classification.json: per model × weights, accuracy, macro-F1, per-class sensitivity and
    /// specificity, confusion matrix; truth from the `truth` rows, predictions from `predicted`.
    public static func classificationJSON(_ rows: [ResultRow], incomplete: [String: String]) throws -> Data {
        var truth: [String: Int] = [:]
        var names: [Int: String] = [:]
        for r in rows where r.key.metric == FactMetric.truth {
            guard let v = r.value else { continue }
            truth[r.key.image] = Int(v)
            if r.key.params.hasPrefix("class=") { names[Int(v)] = String(r.key.params.dropFirst(6)) }
        }
        let predictedRows = rows.filter { $0.key.metric == FactMetric.predicted }
        let groups = Dictionary(grouping: predictedRows) { "\($0.key.model)\t\($0.key.weights)" }
        let maxName = names.keys.max() ?? -1
        var reports: [[String: Any]] = []
        for (g, rs) in groups.sorted(by: { $0.key < $1.key }) {
            let pairs = rs.sorted { $0.key.image < $1.key.image }.compactMap { r -> (Int, Int)? in
                guard let t = truth[r.key.image], let v = r.value else { return nil }
                return (t, Int(v))
            }
            let k = max(maxName + 1, (pairs.map { max($0.0, $0.1) }.max() ?? 0) + 1)
            let classes = (0..<k).map { names[$0] ?? "class\($0)" }
            guard let rep = try? ClassificationReport(truth: pairs.map(\.0), predicted: pairs.map(\.1), numClasses: k) else { continue }
            let parts = g.split(separator: "\t").map(String.init)
            func opt(_ xs: [Double?]) -> [Any] { xs.map { $0.map { $0 as Any } ?? NSNull() } }
            reports.append(["model": parts[0], "weights": parts.count > 1 ? parts[1] : "", "n": pairs.count, "classes": classes,
                            "accuracy": rep.accuracy, "macro_f1": rep.macroF1, "confusion": rep.confusion,
                            "sensitivity": opt(rep.sensitivity), "specificity": opt(rep.specificity)])
        }
        return try JSONSerialization.data(withJSONObject: ["models": reports, "skipped_images": incomplete.keys.sorted()],
                                          options: [.prettyPrinted, .sortedKeys])
    }
}
