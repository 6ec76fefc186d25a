import Foundation
import TensorCore

/// Localisation metrics: a map `[H, W]` against a ground-truth mask `[H, W]`.
///
/// Conventions shared by every function here:
/// - maps are used as given (expected in [0, 1], as `MapFunction` returns them); pass
///   `Localization.minMaxNormalized(_:)` first for raw maps;
/// - a mask pixel is "in" when its value is > 0.5 (so 0/1 and 0/255-scaled-to-[0,1] masks work);
/// - ties between equal map values are broken by ascending row-major pixel index;
/// - a score whose denominator is empty (e.g. an empty mask) is `nil` — undefined, not 0.
public enum Localization {

    /// `(x − min) / (max − min)`; a constant map becomes all zeros.
    public static func minMaxNormalized(_ map: Tensor) -> Tensor {
        let out = map.copy()
        guard map.count > 0 else { return out }
        var lo = Float.infinity, hi = -Float.infinity
        for i in 0..<map.count { lo = min(lo, map.data[i]); hi = max(hi, map.data[i]) }
        let range = hi - lo
        for i in 0..<map.count { out.data[i] = range > 0 ? (map.data[i] - lo) / range : 0 }
        return out
    }

    static func maskBits(_ mask: Tensor) -> [Bool] { (0..<mask.count).map { mask.data[$0] > 0.5 } }

    /// The study's LocAcc (Eq. 4): |[L ≥ τ] ∩ M| / |M| — recall of the mask, not IoU.
    /// `nil` when the mask is empty.
    /// - Parameters:
    ///   - threshold: τ, default 0.5.
    public static func locAcc(map: Tensor, mask: Tensor, threshold: Float = 0.5) throws -> Double? {
        _ = try samePlanes(map, mask, "locAcc")
        var hit = 0, total = 0
        for i in 0..<map.count where mask.data[i] > 0.5 {
            total += 1
            if map.data[i] >= threshold { hit += 1 }
        }
        return total == 0 ? nil : Double(hit) / Double(total)
    }

    /// Pointing game (Zhang et al. 2016): 1 if the map's maximum pixel (first in row-major order
    /// among ties) lies in the mask, or within `tolerance` pixels (Euclidean) of a mask pixel; else 0.
    /// `nil` when the mask is empty.
    public static func pointingGame(map: Tensor, mask: Tensor, tolerance: Double = 0) throws -> Double? {
        let (h, w) = try samePlanes(map, mask, "pointingGame")
        let m = maskBits(mask)
        guard m.contains(true) else { return nil }
        var best = 0
        for i in 1..<max(map.count, 1) where map.data[i] > map.data[best] { best = i }
        if m[best] { return 1 }
        guard tolerance > 0 else { return 0 }
        let (by, bx) = (best / w, best % w)
        let r = Int(tolerance.rounded(.down))
        for y in max(0, by - r)...min(h - 1, by + r) {
            for x in max(0, bx - r)...min(w - 1, bx + r) where m[y * w + x] {
                let d2 = Double((y - by) * (y - by) + (x - bx) * (x - bx))
                if d2 <= tolerance * tolerance { return 1 }
            }
        }
        return 0
    }

    /// Energy-based pointing game (Wang et al., Score-CAM): Σ L·M / Σ L, the share of map mass
    /// inside the mask. `nil` when the mask is empty or the map has zero mass. Maps are expected
    /// non-negative.
    public static func energyPointingGame(map: Tensor, mask: Tensor) throws -> Double? {
        _ = try samePlanes(map, mask, "energyPointingGame")
        var inside = 0.0, total = 0.0, any = false
        for i in 0..<map.count {
            let v = Double(map.data[i])
            total += v
            if mask.data[i] > 0.5 { inside += v; any = true }
        }
        return (!any || total == 0) ? nil : inside / total
    }

    static func iouDice(_ pred: [Bool], _ m: [Bool]) -> (iou: Double?, dice: Double?) {
        guard m.contains(true) else { return (nil, nil) }
        var inter = 0, a = 0, b = 0
        for i in 0..<pred.count {
            if pred[i] { a += 1 }
            if m[i] { b += 1 }
            if pred[i] && m[i] { inter += 1 }
        }
        return (Double(inter) / Double(a + b - inter), 2 * Double(inter) / Double(a + b))
    }

    /// IoU and Dice of `[L ≥ threshold]` against the mask. `nil` when the mask is empty.
    public static func overlapAtThreshold(map: Tensor, mask: Tensor, threshold: Float = 0.5) throws -> (iou: Double?, dice: Double?) {
        _ = try samePlanes(map, mask, "overlapAtThreshold")
        let pred = (0..<map.count).map { map.data[$0] >= threshold }
        return iouDice(pred, maskBits(mask))
    }

    /// IoU and Dice of the top ⌈percent·HW/100⌉ pixels (descending value, ties by index) against
    /// the mask. `nil` when the mask is empty.
    public static func overlapAtTopPercent(map: Tensor, mask: Tensor, percent: Double = 10) throws -> (iou: Double?, dice: Double?) {
        _ = try samePlanes(map, mask, "overlapAtTopPercent")
        guard percent > 0 && percent <= 100 else {
            throw EvaluationError.invalidArgument(op: "overlapAtTopPercent", detail: "percent must be in (0, 100], got \(percent)")
        }
        let n = map.count
        let k = min(n, Int((percent * Double(n) / 100 - 1e-9).rounded(.up)))
        let order = descendingOrder(map.data, n)
        var pred = [Bool](repeating: false, count: n)
        for i in order.prefix(k) { pred[i] = true }
        return iouDice(pred, maskBits(mask))
    }

    /// Relevance rank accuracy (Arras et al. 2022): with K = |M|, the share of the K highest map
    /// pixels (ties by index) that lie in the mask. `nil` when the mask is empty.
    public static func relevanceRankAccuracy(map: Tensor, mask: Tensor) throws -> Double? {
        _ = try samePlanes(map, mask, "relevanceRankAccuracy")
        let m = maskBits(mask)
        let k = m.lazy.filter { $0 }.count
        guard k > 0 else { return nil }
        let hits = descendingOrder(map.data, map.count).prefix(k).lazy.filter { m[$0] }.count
        return Double(hits) / Double(k)
    }

    /// ROC-AUC of map values as scores for mask membership (Mann–Whitney U / (n₁·n₀), ties by
    /// average ranks, = sklearn's roc_auc_score). `nil` when the mask is empty or covers every pixel.
    public static func rocAUC(map: Tensor, mask: Tensor) throws -> Double? {
        _ = try samePlanes(map, mask, "rocAUC")
        return rocAUC(scores: (0..<map.count).map { Double(map.data[$0]) }, labels: maskBits(mask))
    }

    /// ROC-AUC of `scores` for binary `labels` with average ranks for ties; `nil` if one class is absent.
    public static func rocAUC(scores: [Double], labels: [Bool]) -> Double? {
        let pos = labels.lazy.filter { $0 }.count, neg = labels.count - pos
        guard pos > 0, neg > 0, scores.count == labels.count else { return nil }
        let r = averageRanks(scores)
        var sumPos = 0.0
        for i in 0..<r.count where labels[i] { sumPos += r[i] }
        let u = sumPos - Double(pos) * Double(pos + 1) / 2
        return u / (Double(pos) * Double(neg))
    }
}
