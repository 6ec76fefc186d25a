import Foundation

/// A check's verdict. `undefined` says the check could not be made (its reason says why); it
/// never counts as passed.
public enum AuditStatus: String, Codable, Sendable, CaseIterable {
    case pass, warn, fail, undefined

    /// Rank for `--fail-on`: a run fails on a status when some check has that rank or higher.
    public var severity: Int {
        switch self {
        case .pass, .undefined: return 0
        case .warn: return 1
        case .fail: return 2
        }
    }
}

/// One number of a check with its 95% bootstrap interval (nil when undefined) over `n` images.
public struct AuditValue: Codable, Sendable, Equatable {
    public var name: String
    public var value: Double?
    public var ci: [Double]?
    public var n: Int
}

/// A check restricted to the images of one true class.
public struct AuditClassResult: Codable, Sendable, Equatable {
    public var className: String
    public var status: AuditStatus
    public var value: Double?
    public var ci: [Double]?
    public var n: Int
    public var reason: String

    enum CodingKeys: String, CodingKey { case className = "class", status, value, ci, n, reason }
}

/// One row of the verdict: what was measured, against what, and what it means.
public struct AuditCheck: Codable, Sendable, Equatable {
    public var id: String
    public var status: AuditStatus
    /// The number the status is judged on, with its 95% CI.
    public var value: Double?
    public var ci: [Double]?
    /// How the value is judged, e.g. "≤ 0.5" (the threshold's number is `thresholdValue`).
    public var threshold: String
    public var thresholdValue: Double?
    /// Why the status is what it is, in one sentence (for undefined: why it could not be made).
    public var reason: String
    /// What the check measures and how, in one sentence.
    public var meaning: String
    /// The chance level the value is compared with, where there is one (RandomCAM, a uniform map).
    public var chance: Double?
    /// Further numbers behind the verdict (macro-F1, pointing game, per-stage similarities …).
    public var evidence: [AuditValue]
    /// The model has not learned (accuracy failed): this check describes an untrained model.
    public var modelNotLearned: Bool
    public var perClass: [AuditClassResult]
}

/// The thresholds every check is judged by: stated defaults (docs/AUDIT.md gives their sources),
/// each overridable as `--threshold ID=VALUE`.
public struct AuditThresholds: Sendable, Equatable {
    /// Default values by name.
    public static let defaults: [String: Double] = [
        // Accuracy must exceed chance (the majority class's share) by this margin.
        "accuracy": 0.10,
        // Excess of map mass outside the body over that region's share of the image.
        "outside_body": 0.10,
        // Share of predictions that change when the outside of the body is blanked.
        "outside_body_flip": 0.30,
        // Spearman ρ between the trained map and the map once every cascade block is randomised.
        "randomization": 0.5,
        // Spearman ρ between the predicted class's map and a random other class's map.
        "random_logit": 0.8,
        // Significance level of the paired tests against RandomCAM.
        "localization": 0.05,
        "faithfulness": 0.05,
        // Mean IoU of [L≥0.5] under flip, shift, rotation and small noise, mapped back.
        "stability": 0.5,
    ]

    public private(set) var values: [String: Double] = AuditThresholds.defaults

    public init() {}

    /// Parses `ID=VALUE` overrides; unknown names and non-finite or negative values are refused.
    public init(overrides: [String]) throws {
        for o in overrides {
            let parts = o.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw AuditError.invalidThreshold("'\(o)' is not ID=VALUE (e.g. outside_body=0.3)")
            }
            guard Self.defaults[parts[0]] != nil else {
                throw AuditError.invalidThreshold("unknown check '\(parts[0])'; known: \(Self.defaults.keys.sorted().joined(separator: ", "))")
            }
            guard let v = Double(parts[1]), v.isFinite, (0...1).contains(v) else {
                throw AuditError.invalidThreshold("\(parts[0]): '\(parts[1])' is not a number in [0, 1]")
            }
            values[parts[0]] = v
        }
    }

    public subscript(_ id: String) -> Double { values[id] ?? Self.defaults[id] ?? 0 }
}

public enum AuditError: Error, CustomStringConvertible, LocalizedError {
    case invalidThreshold(String)
    case noRows(String)

    public var description: String {
        switch self {
        case .invalidThreshold(let d): return "--threshold: \(d)"
        case .noRows(let d): return d
        }
    }
    public var errorDescription: String? { description }
}
