import Foundation
import TensorCore

/// Map-to-map similarity: binary IoU at a threshold, Spearman over pixels, SSIM.
public enum Similarity {
    /// IoU of `[a ≥ τ]` and `[b ≥ τ]` over the pixels where `valid` is true (all if nil).
    /// `nil` when both binarised maps are empty: two blank maps carry no localisation to agree on,
    /// and scoring them 1 would read as perfect agreement (`Undefined.emptyBinarisedMaps`).
    public static func binaryIoU(_ a: Tensor, _ b: Tensor, threshold: Float = 0.5, valid: [Bool]? = nil) throws -> Double? {
        _ = try samePlanes(a, b, "binaryIoU", "first map", "second map")
        var inter = 0, union = 0
        for i in 0..<a.count where valid?[i] ?? true {
            let x = a.data[i] >= threshold, y = b.data[i] >= threshold
            if x && y { inter += 1 }
            if x || y { union += 1 }
        }
        return union == 0 ? nil : Double(inter) / Double(union)
    }

    /// Spearman's ρ between the pixel values of two maps (average ranks for ties), over `valid`
    /// pixels; `nil` when either map is constant there.
    public static func spearman(_ a: Tensor, _ b: Tensor, valid: [Bool]? = nil) throws -> Double? {
        _ = try samePlanes(a, b, "spearman", "first map", "second map")
        var x: [Double] = [], y: [Double] = []
        for i in 0..<a.count where valid?[i] ?? true { x.append(Double(a.data[i])); y.append(Double(b.data[i])) }
        return Stats.spearman(x, y)
    }

    /// Mean SSIM (Wang et al. 2004) with scikit-image's `structural_similarity(a, b,
    /// data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` conventions:
    /// Gaussian window σ 1.5 truncated at radius 5 (11×11), K1 = 0.01, K2 = 0.03, data range
    /// `dataRange` (1 for maps in [0, 1]); local statistics are computed only where the whole
    /// window fits (scikit-image crops the 5-pixel border before averaging, which is the same).
    /// Maps must be at least 11×11.
    public static func ssim(_ a: Tensor, _ b: Tensor, dataRange: Double = 1, sigma: Double = 1.5) throws -> Double {
        let (h, w) = try samePlanes(a, b, "ssim", "first map", "second map")
        let r = Int(3.5 * sigma + 0.5), k = 2 * r + 1
        guard h >= k, w >= k else {
            throw EvaluationError.invalidArgument(op: "ssim", detail: "maps \(h)×\(w) are smaller than the \(k)×\(k) window")
        }
        let g = GaussianBlur.kernel1D(size: k, sigma: sigma)
        let c1 = (0.01 * dataRange) * (0.01 * dataRange), c2 = (0.03 * dataRange) * (0.03 * dataRange)
        let oh = h - k + 1, ow = w - k + 1
        // Five planes: x, y, x², y², xy — filtered along rows (valid), then columns.
        var rows = [[Double]](repeating: [Double](repeating: 0, count: h * ow), count: 5)
        for y in 0..<h {
            for x in 0..<ow {
                var s = [Double](repeating: 0, count: 5)
                for t in 0..<k {
                    let u = Double(a.data[y * w + x + t]), v = Double(b.data[y * w + x + t])
                    s[0] += g[t] * u; s[1] += g[t] * v; s[2] += g[t] * u * u; s[3] += g[t] * v * v; s[4] += g[t] * u * v
                }
                for q in 0..<5 { rows[q][y * ow + x] = s[q] }
            }
        }
        var total = 0.0
        for y in 0..<oh {
            for x in 0..<ow {
                var s = [Double](repeating: 0, count: 5)
                for t in 0..<k { for q in 0..<5 { s[q] += g[t] * rows[q][(y + t) * ow + x] } }
                let ux = s[0], uy = s[1]
                let vx = s[2] - ux * ux, vy = s[3] - uy * uy, vxy = s[4] - ux * uy
                total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
            }
        }
        return total / Double(oh * ow)
    }
}
