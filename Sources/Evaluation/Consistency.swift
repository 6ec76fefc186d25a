import Foundation
import TensorCore

/// A perturbation for consistency tests that should not change the explanation. Geometric ones warp
/// the image with bilinear sampling and zero fill; the map of the augmented image is warped back to
/// the original frame, and only pixels whose content stayed inside the frame are compared. Noise
/// leaves the geometry alone, so its map is compared as it is, everywhere.
public enum Augmentation: Sendable, Equatable, CustomStringConvertible {
    /// Mirror left–right (exactly invertible).
    case horizontalFlip
    /// Content moves right by `dx` and down by `dy` pixels.
    case shift(dx: Int, dy: Int)
    /// Rotation by `degrees` about the image centre ((W−1)/2, (H−1)/2), counter-clockwise as displayed.
    case rotation(degrees: Double)
    /// Additive Gaussian noise with σ = `relativeSigma` × (max − min) of each image `[C, H, W]`,
    /// one noise field added to every channel (the channels of a CT slice are copies of one grey
    /// image, and scanner noise is a property of the slice, not of a colour). Its stream is seeded
    /// by the image's own values and the caller's seed, so the same image and seed always get the
    /// same noise, whatever batch it sits in.
    case gaussianNoise(relativeSigma: Double)

    /// hflip, a shift of 16 px right and down, a 10° rotation, and noise of σ = 2% of the image's
    /// range (docs/AUDIT.md says why 2%).
    public static let defaults: [Augmentation] = [.horizontalFlip, .shift(dx: 16, dy: 16), .rotation(degrees: 10), .gaussianNoise(relativeSigma: 0.02)]

    public var description: String {
        switch self {
        case .horizontalFlip: return "hflip"
        case let .shift(dx, dy): return "shift(\(dx),\(dy))"
        case let .rotation(d): return "rotate(\(d))"
        case let .gaussianNoise(s): return "noise(σ=\(formatted(100 * s))% of range)"
        }
    }

    /// The kind of perturbation (a row name's suffix): hflip, shift, rot or noise.
    public var family: String {
        switch self {
        case .horizontalFlip: return "hflip"
        case .shift: return "shift"
        case .rotation: return "rot"
        case .gaussianNoise: return "noise"
        }
    }

    /// The perturbation with its parameters, as row parameters spell it: hflip, shift16 (shift16x8
    /// when dx ≠ dy), rot10, noise0.02.
    public var key: String {
        switch self {
        case .horizontalFlip: return "hflip"
        case let .shift(dx, dy): return dx == dy ? "shift\(dx)" : "shift\(dx)x\(dy)"
        case let .rotation(d): return "rot\(formatted(d))"
        case let .gaussianNoise(s): return "noise\(formatted(s))"
        }
    }

    /// 10 for 10.0, 0.02 for 0.02.
    func formatted(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)" }

    /// Where output pixel (y, x) samples the input.
    func source(_ y: Double, _ x: Double, _ h: Int, _ w: Int) -> (Double, Double) {
        switch self {
        case .horizontalFlip: return (y, Double(w - 1) - x)
        case let .shift(dx, dy): return (y - Double(dy), x - Double(dx))
        case let .rotation(deg): return Augmentation.rotate(y, x, h, w, -deg)
        case .gaussianNoise: return (y, x)
        }
    }

    /// The inverse of `source`: where input pixel (y, x) lands in the output.
    func destination(_ y: Double, _ x: Double, _ h: Int, _ w: Int) -> (Double, Double) {
        switch self {
        case .horizontalFlip: return (y, Double(w - 1) - x)
        case let .shift(dx, dy): return (y + Double(dy), x + Double(dx))
        case let .rotation(deg): return Augmentation.rotate(y, x, h, w, deg)
        case .gaussianNoise: return (y, x)
        }
    }

    /// Rotates (y, x) about the centre by `deg` counter-clockwise on screen (y grows downwards).
    static func rotate(_ y: Double, _ x: Double, _ h: Int, _ w: Int, _ deg: Double) -> (Double, Double) {
        let cy = Double(h - 1) / 2, cx = Double(w - 1) / 2
        let t = deg * Double.pi / 180, c = cos(t), s = sin(t)
        let dx = x - cx, dy = y - cy
        return (cy - dx * s + dy * c, cx + dx * c + dy * s)
    }

    /// Bilinear sample of one plane with zero outside; returns nil outside the frame.
    static func sample(_ p: UnsafePointer<Float>, _ h: Int, _ w: Int, _ y: Double, _ x: Double) -> Float? {
        let eps = 1e-9
        guard y >= -eps, y <= Double(h - 1) + eps, x >= -eps, x <= Double(w - 1) + eps else { return nil }
        let yc = min(max(y, 0), Double(h - 1)), xc = min(max(x, 0), Double(w - 1))
        let y0 = Int(yc.rounded(.down)), x0 = Int(xc.rounded(.down))
        let y1 = min(y0 + 1, h - 1), x1 = min(x0 + 1, w - 1)
        let fy = yc - Double(y0), fx = xc - Double(x0)
        let v = (1 - fy) * ((1 - fx) * Double(p[y0 * w + x0]) + fx * Double(p[y0 * w + x1]))
              + fy * ((1 - fx) * Double(p[y1 * w + x0]) + fx * Double(p[y1 * w + x1]))
        return Float(v)
    }

    /// Applies the augmentation to every plane of `x` `[..., H, W]`. Noise treats each item of the
    /// first dimension of `[N, C, H, W]` (else the whole tensor) as one image, and draws it from
    /// `seed` and that image's values.
    public func apply(_ x: Tensor, seed: UInt64 = 0) throws -> Tensor {
        guard x.rank >= 2 else { throw EvaluationError.shapeMismatch(op: "Augmentation.apply", detail: "need [..., H, W], got \(x.shape)") }
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        if case let .gaussianNoise(s) = self { return Augmentation.addNoise(x, relativeSigma: s, plane: h * w, seed: seed) }
        let out = Tensor(zeros: x.shape)
        for p in 0..<(h * w == 0 ? 0 : x.count / (h * w)) {
            let src = x.data + p * h * w, dst = out.data + p * h * w
            for y in 0..<h { for xx in 0..<w {
                let (sy, sx) = source(Double(y), Double(xx), h, w)
                dst[y * w + xx] = Augmentation.sample(src, h, w, sy, sx) ?? 0
            } }
        }
        return out
    }

    /// `x` plus one Gaussian field per image, added to each of its channels.
    static func addNoise(_ x: Tensor, relativeSigma: Double, plane: Int, seed: UInt64) -> Tensor {
        let out = x.copy()
        let items = x.rank == 4 ? x.shape[0] : 1
        guard plane > 0, x.count > 0 else { return out }
        let per = x.count / items, channels = per / plane
        for i in 0..<items {
            let p = x.data + i * per
            var lo = Float.infinity, hi = -Float.infinity
            // FNV-1a over the image's bits: its content, whatever batch or file it came from.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for k in 0..<per {
                lo = min(lo, p[k]); hi = max(hi, p[k])
                hash = (hash ^ UInt64(p[k].bitPattern)) &* 0x100_0000_01b3
            }
            let sigma = Float(relativeSigma) * (hi.isFinite && lo.isFinite ? hi - lo : 0)
            var rng = SeededRNG(seed: seed, stream: hash)
            let o = out.data + i * per
            for k in 0..<plane {
                let e = sigma * rng.normal()
                for c in 0..<channels { o[c * plane + k] += e }
            }
        }
        return out
    }

    /// Maps a map `[H, W]` of the augmented image back to the original frame; returns it with the
    /// flags of pixels whose content stayed inside the augmented frame.
    public func mapBack(_ m: Tensor) throws -> (map: Tensor, valid: [Bool]) {
        let (h, w) = try planeSize(m, "Augmentation.mapBack", "map")
        let out = Tensor(zeros: [h, w])
        var valid = [Bool](repeating: false, count: h * w)
        for y in 0..<h { for x in 0..<w {
            let (dy, dx) = destination(Double(y), Double(x), h, w)
            if let v = Augmentation.sample(m.data, h, w, dy, dx) { out.data[y * w + x] = v; valid[y * w + x] = true }
        } }
        return (out, valid)
    }
}

/// Agreement of an image's map under one augmentation.
public struct AugmentationScore: Sendable, Equatable {
    public let augmentation: Augmentation
    /// IoU at the threshold over valid pixels; nil if both binarised maps are empty there.
    public let iou: Double?
    /// Spearman ρ over valid pixels; nil when a map is constant there.
    public let spearman: Double?
}

/// A pair's agreement (pairwise across architectures, methods or seeds).
public struct PairScore: Sendable, Equatable {
    public let first: Int
    public let second: Int
    /// nil when both binarised maps are empty.
    public let iou: Double?
    public let spearman: Double?
    /// SSIM (see `Similarity.ssim`); nil if not requested or the maps are smaller than 11×11.
    public let ssim: Double?
}

/// Consistency measures.
public enum Consistency {
    /// The study's Consist (Eq. 6) for one image: maps `[H, W]` of the same image from R + 1
    /// runs (seeds / re-initialisations of one architecture), binarised at τ; the mean of
    /// IoU(L_r, L_ref) over r = 1…R with the first map as reference, or over all pairs i < j when
    /// `allPairs`. A pair is undefined — and left out of the mean — when either map is constant
    /// (it holds no localisation) or both binarised maps are empty. `nil` for fewer than two maps
    /// or when no pair is defined (e.g. every map blank, as with a zero classifier head).
    public static func consist(maps: [Tensor], threshold: Float = 0.5, allPairs: Bool = false) throws -> Double? {
        guard maps.count >= 2 else { return nil }
        let constant = maps.map(isConstantMap)
        var s = 0.0, n = 0
        for i in 0..<(allPairs ? maps.count - 1 : 1) {
            for j in (i + 1)..<maps.count {
                let iou = try Similarity.binaryIoU(maps[j], maps[i], threshold: threshold)
                guard let v = iou, !constant[i], !constant[j] else { continue }
                s += v; n += 1
            }
        }
        return n == 0 ? nil : s / Double(n)
    }

    /// Every pair i < j of maps `[H, W]` of one image (from different architectures, methods or
    /// seeds): IoU at τ, Spearman, and SSIM when `withSSIM`.
    public static func pairwise(maps: [Tensor], threshold: Float = 0.5, withSSIM: Bool = true) throws -> [PairScore] {
        var out: [PairScore] = []
        for i in 0..<maps.count {
            for j in (i + 1)..<maps.count where j > i {
                let (h, w) = try samePlanes(maps[i], maps[j], "pairwise", "map \(i)", "map \(j)")
                let ssim = (withSSIM && h >= 11 && w >= 11) ? try Similarity.ssim(maps[i], maps[j]) : nil
                out.append(PairScore(first: i, second: j, iou: try Similarity.binaryIoU(maps[i], maps[j], threshold: threshold),
                                     spearman: try Similarity.spearman(maps[i], maps[j]), ssim: ssim))
            }
        }
        return out
    }

    /// Consistency under augmentations: for each augmentation the images are transformed (noise drawn
    /// from `seed` and each image's values), explained
    /// for the same classes, the maps warped back, and compared with the reference maps (the maps
    /// of the unaugmented images; computed if nil) over the pixels that stayed in frame.
    /// - Parameters:
    ///   - images: `[N, C, H, W]`; classes: N target classes; referenceMaps: `[N, H, W]`.
    ///   - batchSize: images per `explain` call.
    /// - Returns: `[image][augmentation]`.
    public static func underAugmentations(images: Tensor, classes: [Int], explain: MapFunction, referenceMaps: Tensor? = nil,
                                          augmentations: [Augmentation] = Augmentation.defaults, threshold: Float = 0.5,
                                          batchSize: Int = 16, seed: UInt64 = 0) throws -> [[AugmentationScore]] {
        let (n, _, h, w) = try imageShape(images, "underAugmentations")
        guard classes.count == n else {
            throw EvaluationError.invalidArgument(op: "underAugmentations", detail: "\(n) images but \(classes.count) classes")
        }
        let ref = try referenceMaps ?? explainInBatches(explain, images, classes, batchSize)
        try Faithfulness.checkMaps(ref, n, h, w, "underAugmentations")
        var out = [[AugmentationScore]](repeating: [], count: n)
        for aug in augmentations {
            let maps = try explainInBatches(explain, aug.apply(images, seed: seed), classes, batchSize)
            try Faithfulness.checkMaps(maps, n, h, w, "underAugmentations")
            for i in 0..<n {
                let (back, valid) = try aug.mapBack(maps.slice0(i..<i + 1))
                let r = try ref.reshaped([n, h, w]).slice0(i..<i + 1).reshaped([h, w])
                out[i].append(AugmentationScore(augmentation: aug,
                                                iou: try Similarity.binaryIoU(back, r, threshold: threshold, valid: valid),
                                                spearman: try Similarity.spearman(back, r, valid: valid)))
            }
        }
        return out
    }

    static func explainInBatches(_ explain: MapFunction, _ images: Tensor, _ classes: [Int], _ batchSize: Int) throws -> Tensor {
        let n = images.shape[0]
        guard batchSize >= 1 else { throw EvaluationError.invalidArgument(op: "explain", detail: "batchSize must be ≥ 1") }
        if n <= batchSize { return try explain(images, classes) }
        var parts: [Tensor] = []
        var s = 0
        while s < n {
            let e = min(n, s + batchSize)
            parts.append(try explain(images.slice0(s..<e), Array(classes[s..<e])))
            s = e
        }
        return try Tensor.concat0(parts)
    }
}
