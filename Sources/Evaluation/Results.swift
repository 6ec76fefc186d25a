/// What identifies one number of a run for a reader: image × model × weights × method × metric,
/// plus the parameters that define the number (e.g. `tau=0.5` or `steps=50;baseline=zero`).
/// Summaries group by these fields; resuming uses the row's content key instead (`ResultRow.id`).
public struct ResultKey: Hashable, Sendable, Codable {
    public var image: String
    public var model: String
    public var weights: String
    public var method: String
    public var metric: String
    public var params: String
    public init(image: String, model: String, weights: String, method: String, metric: String, params: String = "") {
        self.image = image; self.model = model; self.weights = weights
        self.method = method; self.metric = metric; self.params = params
    }
}

/// One number of a run.
///
/// `value` nil = undefined (an empty mask, a constant map, two empty binarised maps): `reason` then
/// says why, and the number is counted apart, never averaged. `id` is the content key: a digest of
/// everything that defines the number (image bytes, weights bytes, parameters, preprocessing), so a
/// row is reused only when its inputs are the same, whatever the files are called.
public struct ResultRow: Sendable, Equatable {
    public var key: ResultKey
    public var value: Double?
    public var reason: String
    public var id: String
    public init(key: ResultKey, value: Double?, reason: String = "", id: String = "") {
        self.key = key; self.value = value; self.reason = value == nil ? reason : ""; self.id = id
    }
}

/// Metrics rows that are facts about an image rather than measurements (summaries leave them out
/// of the metric groups and read them for the classification report).
public enum FactMetric {
    /// The manifest's class of the image (value = class index; params `class=<name>`).
    public static let truth = "truth"
    public static let predicted = "predicted"
    /// 1 if the predicted class is the manifest's, else 0.
    public static let correct = "correct"
}
