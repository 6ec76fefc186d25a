import Foundation
import TensorCore

/// A model as the metrics see it: images `[N, C, H, W]` → raw logits `[N, K]`, batched.
///
/// Metrics never call it with more than their `batchSize` images at once.
public typealias LogitsFunction = (Tensor) throws -> Tensor

/// An explanation method as the metrics see it: images `[N, C, H, W]` and one target class per
/// image → maps `[N, H, W]` in [0, 1] at input resolution.
public typealias MapFunction = (Tensor, [Int]) throws -> Tensor

/// Errors of the evaluation layer; every message names the operation and the shapes or file.
public enum EvaluationError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case shapeMismatch(op: String, detail: String)
    case invalidArgument(op: String, detail: String)
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, detail): return "\(op): shape mismatch: \(detail)"
        case let .invalidArgument(op, detail): return "\(op): invalid argument: \(detail)"
        case let .io(path, detail): return "\(path): \(detail)"
        }
    }
    public var errorDescription: String? { description }
}

// MARK: - Plane helpers

/// True when every value of the map is the same (a blank or saturated map): no metric of it is
/// defined, since every ordering and every threshold of it is arbitrary.
public func isConstantMap(_ map: Tensor) -> Bool {
    guard map.count > 1 else { return true }
    let first = map.data[0]
    for i in 1..<map.count where map.data[i] != first { return false }
    return true
}

/// The (H, W) of a single map: shape `[H, W]`, or `[1, H, W]` / `[1, 1, H, W]`.
func planeSize(_ t: Tensor, _ op: String, _ name: String) throws -> (h: Int, w: Int) {
    let s = t.shape
    guard s.count >= 2, s.dropLast(2).allSatisfy({ $0 == 1 }) else {
        throw EvaluationError.shapeMismatch(op: op, detail: "\(name) must be [H, W] (or with leading 1s), got \(s)")
    }
    return (s[s.count - 2], s[s.count - 1])
}

/// Checks that `map` and `mask` are single planes of the same size and returns it.
func samePlanes(_ a: Tensor, _ b: Tensor, _ op: String, _ na: String = "map", _ nb: String = "mask") throws -> (h: Int, w: Int) {
    let sa = try planeSize(a, op, na)
    let sb = try planeSize(b, op, nb)
    guard sa == sb else {
        throw EvaluationError.shapeMismatch(op: op, detail: "\(na) is \(sa.h)×\(sa.w) but \(nb) is \(sb.h)×\(sb.w)")
    }
    return sa
}

/// Pixel indices ordered by descending value, ties broken by ascending (row-major) index.
func descendingOrder(_ v: UnsafePointer<Float>, _ n: Int) -> [Int] {
    var idx = Array(0..<n)
    idx.sort { v[$0] > v[$1] || (v[$0] == v[$1] && $0 < $1) }
    return idx
}

/// Average ranks (1-based; ties share the mean of their positions), as scipy's rankdata('average').
public func averageRanks(_ x: [Double]) -> [Double] {
    let n = x.count
    let order = (0..<n).sorted { x[$0] < x[$1] || (x[$0] == x[$1] && $0 < $1) }
    var ranks = [Double](repeating: 0, count: n)
    var i = 0
    while i < n {
        var j = i
        while j + 1 < n && x[order[j + 1]] == x[order[i]] { j += 1 }
        let r = Double(i + j) / 2 + 1
        for k in i...j { ranks[order[k]] = r }
        i = j + 1
    }
    return ranks
}

/// The stable, seedable generator every stochastic metric uses (SplitMix64), so the same seed
/// gives the same numbers on every machine and thread count.


/// Softmax probability of `cls` in one row of logits (computed in Double, max-subtracted).
func softmaxProbability(_ row: UnsafePointer<Float>, _ k: Int, _ cls: Int) -> Double {
    var m = -Double.infinity
    for j in 0..<k { m = max(m, Double(row[j])) }
    var s = 0.0
    for j in 0..<k { s += Foundation.exp(Double(row[j]) - m) }
    return Foundation.exp(Double(row[cls]) - m) / s
}

/// Which number of a model's output a perturbation metric reads.
public enum ScoreKind: String, Sendable, Codable {
    /// Softmax probability of the explained class (RISE, average drop, ROAD).
    case probability
    /// Raw logit of the explained class (the study's Faith, Quantus' faithfulness correlation).
    case logit
}

/// Runs `model` on `images` in chunks of `batchSize` and returns the score of `classes[i]` for
/// each image; checks the logits shape.
func scores(_ model: LogitsFunction, _ images: Tensor, classes: [Int], kind: ScoreKind, batchSize: Int, op: String) throws -> [Double] {
    let n = images.shape[0]
    guard classes.count == n else {
        throw EvaluationError.invalidArgument(op: op, detail: "\(n) images but \(classes.count) classes")
    }
    guard batchSize >= 1 else { throw EvaluationError.invalidArgument(op: op, detail: "batchSize must be ≥ 1, got \(batchSize)") }
    var out: [Double] = []
    out.reserveCapacity(n)
    var start = 0
    while start < n {
        let end = min(n, start + batchSize)
        let chunk = (start == 0 && end == n) ? images : try images.slice0(start..<end)
        let logits = try model(chunk)
        out += try readScores(logits, classes: Array(classes[start..<end]), kind: kind, op: op)
        start = end
    }
    return out
}

/// Reads one score per row of logits `[N, K]`.
func readScores(_ logits: Tensor, classes: [Int], kind: ScoreKind, op: String) throws -> [Double] {
    guard logits.rank == 2, logits.shape[0] == classes.count else {
        throw EvaluationError.shapeMismatch(op: op, detail: "model returned logits \(logits.shape), expected [\(classes.count), K]")
    }
    let k = logits.shape[1]
    return try classes.enumerated().map { i, c in
        guard c >= 0 && c < k else {
            throw EvaluationError.invalidArgument(op: op, detail: "class \(c) outside 0..<\(k)")
        }
        let row = logits.data + i * k
        return kind == .logit ? Double(row[c]) : softmaxProbability(row, k, c)
    }
}

/// Checks images are `[N, C, H, W]` with N ≥ 1.
func imageShape(_ images: Tensor, _ op: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
    guard images.rank == 4, images.shape[0] >= 1 else {
        throw EvaluationError.shapeMismatch(op: op, detail: "images must be [N, C, H, W], got \(images.shape)")
    }
    return (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
}
