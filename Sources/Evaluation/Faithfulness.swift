import Foundation
import TensorCore

/// What deleted pixels become in the RISE deletion metric.
public enum DeletionBaseline: String, Sendable, Codable, CaseIterable {
    /// 0 in every channel (black for inputs in [0, 1]).
    case zero
    /// The Gaussian-blurred image (same blur as insertion).
    case blur
    /// The per-channel mean of the image.
    case mean
}

/// A deletion or insertion curve: `scores[k]` is the score after `fractions[k]` of the pixels
/// were changed; `auc` is the trapezoid area over `fractions` (which run from 0 to 1).
public struct PerturbationCurve: Sendable, Equatable {
    public let fractions: [Double]
    public let scores: [Double]
    public var auc: Double { trapezoid(x: fractions, y: scores) }
}

/// Trapezoid rule Σ (x_{k+1} − x_k)(y_k + y_{k+1}) / 2.
public func trapezoid(x: [Double], y: [Double]) -> Double {
    var s = 0.0
    for k in 0..<max(0, min(x.count, y.count) - 1) { s += (x[k + 1] - x[k]) * (y[k] + y[k + 1]) / 2 }
    return s
}

/// Score of an image under the map used as a soft mask, and the clean score: the pair behind
/// average drop and increase in confidence.
public struct ConfidenceChange: Sendable, Equatable {
    /// Y: score of the clean image.
    public let clean: Double
    /// O: score of x ⊙ L.
    public let explained: Double
    /// Chattopadhyay et al. (Grad-CAM++, 2018) per-image drop, in percent: 100 · max(0, Y − O) / Y.
    /// (pytorch-grad-cam's DropInConfidence is the absolute max(0, Y − O) instead: see `absoluteDrop`.)
    public var dropPercent: Double { clean > 0 ? 100 * max(0, clean - explained) / clean : 0 }
    /// max(0, Y − O), pytorch-grad-cam's DropInConfidence.
    public var absoluteDrop: Double { max(0, clean - explained) }
    /// 1 if O > Y else 0 (Chattopadhyay's increase in confidence; its mean × 100 is the percentage).
    public var increased: Double { explained > clean ? 1 : 0 }
}

/// Which pixels ROAD removes first.
public enum ROADOrder: String, Sendable, Codable {
    /// MoRF at percentile p imputes pixels with L ≥ percentile(L, p) (the top 100 − p %).
    case mostRelevantFirst
    /// LeRF at percentile p imputes pixels with 1 − L ≥ percentile(1 − L, p) (the lowest 100 − p %).
    case leastRelevantFirst
}

/// Perturbation faithfulness metrics. Images are in the model's input space (for the study,
/// [0, 1] without mean/std normalisation, so "0" is black). Maps are at input resolution.
public enum Faithfulness {

    // MARK: - The study's Faith

    /// The study's Faith (Eq. 5): f(x)_y − f(x ⊙ (1 − L))_y with raw logits, the continuous map L
    /// broadcast over channels, and y the predicted class unless `classes` is given (e.g. the
    /// true class).
    /// - Parameters:
    ///   - images: `[N, C, H, W]`; maps: `[N, H, W]`.
    ///   - cleanLogits: `[N, K]` from a forward already done (the clean forward is shared); computed if nil.
    ///   - batchSize: images per model call.
    public static func faith(images: Tensor, maps: Tensor, model: LogitsFunction, classes: [Int]? = nil,
                             cleanLogits: Tensor? = nil, batchSize: Int = 16) throws -> [Double] {
        let (n, c, h, w) = try imageShape(images, "faith")
        try checkMaps(maps, n, h, w, "faith")
        let clean = try cleanLogits ?? logitsInBatches(model, images, batchSize: batchSize)
        let cls = try classes ?? rowArgmax(clean)
        let y0 = try readScores(clean, classes: cls, kind: .logit, op: "faith")
        let masked = Tensor(uninitialized: images.shape)
        for i in 0..<n {
            for ch in 0..<c {
                let src = images.data + (i * c + ch) * h * w, dst = masked.data + (i * c + ch) * h * w
                let m = maps.data + i * h * w
                for p in 0..<h * w { dst[p] = src[p] * (1 - m[p]) }
            }
        }
        let y1 = try scores(model, masked, classes: cls, kind: .logit, batchSize: batchSize, op: "faith")
        return zip(y0, y1).map { $0 - $1 }
    }

    // MARK: - RISE deletion / insertion

    /// RISE deletion (Petsiuk et al. 2018): pixels in descending map value (ties by ascending
    /// index) are set to the baseline in all channels, ⌈HW/steps⌉ per step, until none is left.
    ///
    /// The curve has ⌈HW/s⌉ + 1 points (s = ⌈HW/steps⌉); point k has changed min(k·s, HW) pixels
    /// and x_k = min(k·s, HW)/HW, so the last (possibly partial) step keeps its true width in the
    /// trapezoid AUC (RISE's own code assumes equal widths). Score = softmax probability of
    /// `targetClass` by default.
    /// - Parameters:
    ///   - image: `[C, H, W]` or `[1, C, H, W]`; map: `[H, W]`.
    ///   - baseline: `.zero` (default), `.blur` (Gaussian `blurKernel`, `blurSigma`) or `.mean` (per channel).
    ///   - cleanScore: the score of the unperturbed image if known (skips one forward).
    ///   - batchSize: perturbed images per model call (default 16).
    public static func deletion(image: Tensor, map: Tensor, targetClass: Int, model: LogitsFunction,
                                steps: Int = 50, baseline: DeletionBaseline = .zero, score: ScoreKind = .probability,
                                blurKernel: Int = 11, blurSigma: Double = 5, cleanScore: Double? = nil,
                                batchSize: Int = 16) throws -> PerturbationCurve {
        let x = try singleImage(image, "deletion")
        let finish: Tensor
        switch baseline {
        case .zero: finish = Tensor(zeros: x.shape)
        case .blur: finish = try GaussianBlur.apply(x, kernelSize: blurKernel, sigma: blurSigma)
        case .mean:
            finish = Tensor(uninitialized: x.shape)
            let hw = x.shape[2] * x.shape[3]
            for ch in 0..<x.shape[1] {
                var s = 0.0
                for p in 0..<hw { s += Double(x.data[ch * hw + p]) }
                let m = Float(s / Double(max(hw, 1)))
                for p in 0..<hw { finish.data[ch * hw + p] = m }
            }
        }
        return try curve(start: x, finish: finish, map: map, targetClass: targetClass, model: model, steps: steps,
                         score: score, knownFirst: cleanScore, knownLast: nil, batchSize: batchSize, op: "deletion")
    }

    /// RISE insertion: starts from the Gaussian blur of the image (kernel 11, σ 5, torchvision
    /// convention, see `GaussianBlur`) and reveals the original pixels in descending map value,
    /// with the same steps, fractions and AUC as `deletion`.
    /// - Parameter cleanScore: the score of the unperturbed image (the curve's last point) if known.
    public static func insertion(image: Tensor, map: Tensor, targetClass: Int, model: LogitsFunction,
                                 steps: Int = 50, score: ScoreKind = .probability,
                                 blurKernel: Int = 11, blurSigma: Double = 5, cleanScore: Double? = nil,
                                 batchSize: Int = 16) throws -> PerturbationCurve {
        let x = try singleImage(image, "insertion")
        let blurred = try GaussianBlur.apply(x, kernelSize: blurKernel, sigma: blurSigma)
        return try curve(start: blurred, finish: x, map: map, targetClass: targetClass, model: model, steps: steps,
                         score: score, knownFirst: nil, knownLast: cleanScore, batchSize: batchSize, op: "insertion")
    }

    /// The shared engine: moves pixels from `start` to `finish` in map order; perturbed images
    /// are built and scored `batchSize` at a time, never all at once.
    static func curve(start: Tensor, finish: Tensor, map: Tensor, targetClass: Int, model: LogitsFunction,
                      steps: Int, score: ScoreKind, knownFirst: Double?, knownLast: Double?,
                      batchSize: Int, op: String) throws -> PerturbationCurve {
        let c = start.shape[1], h = start.shape[2], w = start.shape[3], hw = h * w
        let (mh, mw) = try planeSize(map, op, "map")
        guard mh == h, mw == w else {
            throw EvaluationError.shapeMismatch(op: op, detail: "map is \(mh)×\(mw) but image is \(h)×\(w)")
        }
        guard steps >= 1, batchSize >= 1, hw > 0 else {
            throw EvaluationError.invalidArgument(op: op, detail: "steps and batchSize must be ≥ 1 (got \(steps), \(batchSize)) and the image non-empty")
        }
        let s = (hw + steps - 1) / steps
        let points = (hw + s - 1) / s + 1
        let order = descendingOrder(map.data, hw)
        let fractions = (0..<points).map { Double(min($0 * s, hw)) / Double(hw) }
        var result = [Double](repeating: 0, count: points)
        // Points that need a forward (the clean end may be known already).
        var todo: [Int] = []
        for k in 0..<points {
            if k == 0, let v = knownFirst { result[k] = v } else if k == points - 1, let v = knownLast { result[k] = v } else { todo.append(k) }
        }
        let work = start.copy()   // [1, C, H, W], pixels changed so far
        var changed = 0
        var t = 0
        while t < todo.count {
            let chunk = Array(todo[t..<min(todo.count, t + batchSize)])
            let batch = Tensor(uninitialized: [chunk.count, c, h, w])
            for (b, k) in chunk.enumerated() {
                let target = min(k * s, hw)
                while changed < target {
                    let p = order[changed]
                    for ch in 0..<c { work.data[ch * hw + p] = finish.data[ch * hw + p] }
                    changed += 1
                }
                (batch.data + b * c * hw).update(from: work.data, count: c * hw)
            }
            let logits = try model(batch)
            let v = try readScores(logits, classes: Array(repeating: targetClass, count: chunk.count), kind: score, op: op)
            for (b, k) in chunk.enumerated() { result[k] = v[b] }
            t += chunk.count
        }
        return PerturbationCurve(fractions: fractions, scores: result)
    }

    // MARK: - Average drop / increase in confidence

    /// Scores of x and x ⊙ L for each image (Chattopadhyay et al. 2018's explanation map
    /// E = L ⊙ x); `ConfidenceChange` derives average drop (percent, relative) and increase.
    /// Default score: softmax probability of the predicted class (or `classes`).
    public static func confidenceChange(images: Tensor, maps: Tensor, model: LogitsFunction, classes: [Int]? = nil,
                                        score: ScoreKind = .probability, cleanLogits: Tensor? = nil,
                                        batchSize: Int = 16) throws -> [ConfidenceChange] {
        let (n, c, h, w) = try imageShape(images, "confidenceChange")
        try checkMaps(maps, n, h, w, "confidenceChange")
        let clean = try cleanLogits ?? logitsInBatches(model, images, batchSize: batchSize)
        let cls = try classes ?? rowArgmax(clean)
        let y = try readScores(clean, classes: cls, kind: score, op: "confidenceChange")
        let explained = Tensor(uninitialized: images.shape)
        for i in 0..<n {
            for ch in 0..<c {
                let off = (i * c + ch) * h * w
                for p in 0..<h * w { explained.data[off + p] = images.data[off + p] * maps.data[i * h * w + p] }
            }
        }
        let o = try scores(model, explained, classes: cls, kind: score, batchSize: batchSize, op: "confidenceChange")
        return zip(y, o).map { ConfidenceChange(clean: $0, explained: $1) }
    }

    // MARK: - ROAD

    /// ROAD (Rong et al. 2022) as pytorch-grad-cam 1.5 computes it: for each percentile p the
    /// pixels chosen by `order` (see `ROADOrder`; percentile = numpy linear interpolation) are
    /// replaced by noisy linear imputation, and the result is score(imputed) − score(clean).
    /// Default percentiles 10…90 (pytorch-grad-cam's *Average classes; their mean is the usual
    /// summary, and ROADCombined = (mean LeRF − mean MoRF)/2). Noise: `noise` × N(0, 1) added to
    /// each imputed value, from a seeded generator (torch's generator cannot be reproduced).
    /// - Returns: one difference per percentile.
    public static func road(image: Tensor, map: Tensor, targetClass: Int, model: LogitsFunction, order: ROADOrder,
                            percentiles: [Double] = [10, 20, 30, 40, 50, 60, 70, 80, 90], noise: Double = 0.01,
                            seed: UInt64 = 0, score: ScoreKind = .probability, cleanScore: Double? = nil,
                            batchSize: Int = 16) throws -> [Double] {
        let x = try singleImage(image, "road")
        let h = x.shape[2], w = x.shape[3], hw = h * w
        let (mh, mw) = try planeSize(map, "road", "map")
        guard mh == h, mw == w else { throw EvaluationError.shapeMismatch(op: "road", detail: "map is \(mh)×\(mw) but image is \(h)×\(w)") }
        let y0 = try cleanScore ?? scores(model, x, classes: [targetClass], kind: score, batchSize: 1, op: "road")[0]
        var rng = SeededRNG(seed: seed)
        let values: [Double] = (0..<hw).map { order == .mostRelevantFirst ? Double(map.data[$0]) : 1 - Double(map.data[$0]) }
        var out: [Double] = []
        var pending: [Tensor] = []
        func flush() throws {
            guard !pending.isEmpty else { return }
            let batch = try Tensor.concat0(pending)
            out += try scores(model, batch, classes: Array(repeating: targetClass, count: pending.count), kind: score,
                              batchSize: batchSize, op: "road").map { $0 - y0 }
            pending = []
        }
        for p in percentiles {
            guard p >= 0 && p <= 100 else { throw EvaluationError.invalidArgument(op: "road", detail: "percentile \(p) outside [0, 100]") }
            let thr = percentile(values, p)
            // pytorch-grad-cam: binary_mask = (value < threshold); 0 = imputed.
            let keep = values.map { $0 < thr }
            pending.append(try ROADImputer.impute(image: x, keep: keep, noise: noise, rng: &rng))
            if pending.count >= batchSize { try flush() }
        }
        try flush()
        return out
    }

    // MARK: - Faithfulness correlation

    /// Faithfulness correlation (Bhatt et al. 2020, Quantus defaults): `runs` (100) random subsets
    /// of `subsetSize` (224) spatial pixels, drawn without replacement from a seeded generator, are
    /// set to `baseline` (0) in all channels; the result is the Pearson correlation between the sum
    /// of the map over each subset and the score drop f(x)_y − f(x_S)_y (raw logit by default, as
    /// Quantus). `nil` when either series is constant.
    public static func faithfulnessCorrelation(image: Tensor, map: Tensor, targetClass: Int, model: LogitsFunction,
                                               runs: Int = 100, subsetSize: Int = 224, baseline: Float = 0,
                                               seed: UInt64 = 0, score: ScoreKind = .logit, cleanScore: Double? = nil,
                                               batchSize: Int = 16) throws -> Double? {
        let x = try singleImage(image, "faithfulnessCorrelation")
        let c = x.shape[1], h = x.shape[2], w = x.shape[3], hw = h * w
        let (mh, mw) = try planeSize(map, "faithfulnessCorrelation", "map")
        guard mh == h, mw == w else { throw EvaluationError.shapeMismatch(op: "faithfulnessCorrelation", detail: "map is \(mh)×\(mw) but image is \(h)×\(w)") }
        guard runs >= 2, subsetSize >= 1, subsetSize <= hw, batchSize >= 1 else {
            throw EvaluationError.invalidArgument(op: "faithfulnessCorrelation", detail: "need runs ≥ 2 and 1 ≤ subsetSize ≤ \(hw); got \(runs), \(subsetSize)")
        }
        let y0 = try cleanScore ?? scores(model, x, classes: [targetClass], kind: score, batchSize: 1, op: "faithfulnessCorrelation")[0]
        var rng = SeededRNG(seed: seed)
        var attr: [Double] = [], drop: [Double] = []
        var r = 0
        while r < runs {
            let m = min(batchSize, runs - r)
            let batch = Tensor(uninitialized: [m, c, h, w])
            for b in 0..<m {
                let dst = batch.data + b * c * hw
                dst.update(from: x.data, count: c * hw)
                var s = 0.0
                for p in rng.sample(subsetSize, from: hw) {
                    s += Double(map.data[p])
                    for ch in 0..<c { dst[ch * hw + p] = baseline }
                }
                attr.append(s)
            }
            drop += try scores(model, batch, classes: Array(repeating: targetClass, count: m), kind: score,
                               batchSize: batchSize, op: "faithfulnessCorrelation").map { y0 - $0 }
            r += m
        }
        return Stats.pearson(attr, drop)
    }

    // MARK: - helpers

    static func singleImage(_ image: Tensor, _ op: String) throws -> Tensor {
        if image.rank == 3 { return try image.reshaped([1] + image.shape) }
        guard image.rank == 4, image.shape[0] == 1 else {
            throw EvaluationError.shapeMismatch(op: op, detail: "image must be [C, H, W] or [1, C, H, W], got \(image.shape)")
        }
        return image
    }

    static func checkMaps(_ maps: Tensor, _ n: Int, _ h: Int, _ w: Int, _ op: String) throws {
        guard maps.count == n * h * w, maps.rank >= 2, maps.shape.suffix(2) == [h, w] else {
            throw EvaluationError.shapeMismatch(op: op, detail: "maps must be [\(n), \(h), \(w)] for images [\(n), C, \(h), \(w)], got \(maps.shape)")
        }
    }

    static func logitsInBatches(_ model: LogitsFunction, _ images: Tensor, batchSize: Int) throws -> Tensor {
        let n = images.shape[0]
        guard batchSize >= 1 else { throw EvaluationError.invalidArgument(op: "forward", detail: "batchSize must be ≥ 1") }
        if n <= batchSize { return try model(images) }
        var parts: [Tensor] = []
        var s = 0
        while s < n { parts.append(try model(images.slice0(s..<min(n, s + batchSize)))); s += batchSize }
        return try Tensor.concat0(parts)
    }
}

/// numpy.percentile with the default linear interpolation.
public func percentile(_ v: [Double], _ p: Double) -> Double {
    guard !v.isEmpty else { return .nan }
    let s = v.sorted()
    let pos = p / 100 * Double(s.count - 1)
    let lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
    let t = pos - Double(lo), a = s[lo], b = s[hi], diff = b - a
    // numpy's _lerp: the form that is exact at the nearer end.
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t
}
