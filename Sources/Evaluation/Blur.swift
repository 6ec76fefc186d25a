import Foundation
import TensorCore

/// Gaussian blur matching `torchvision.transforms.functional.gaussian_blur(img, [k, k], [σ, σ])`:
/// 1-D kernel `exp(−x²/2σ²)` at x = −(k−1)/2 … (k−1)/2, normalised to sum 1, applied separably
/// (rows then columns) with *reflect* padding of (k−1)/2 (torch 'reflect': the edge pixel is not
/// repeated). For planes smaller than the padding the reflection is repeated periodically, where
/// torch would refuse. Differences from torchvision's float32 2-D convolution are rounding only.
public enum GaussianBlur {
    /// The normalised 1-D kernel (Double).
    public static func kernel1D(size: Int, sigma: Double) -> [Double] {
        let half = Double(size - 1) / 2
        let pdf = (0..<size).map { i -> Double in
            let x = -half + Double(i)
            return Foundation.exp(-0.5 * (x / sigma) * (x / sigma))
        }
        let s = pdf.reduce(0, +)
        return pdf.map { $0 / s }
    }

    /// torch 'reflect' index for `i` in a dimension of length `n`.
    static func reflect(_ i: Int, _ n: Int) -> Int {
        guard n > 1 else { return 0 }
        let period = 2 * (n - 1)
        var j = i % period
        if j < 0 { j += period }
        return j < n ? j : period - j
    }

    /// Blurs every plane of `x` (shape `[..., H, W]`).
    public static func apply(_ x: Tensor, kernelSize: Int = 11, sigma: Double = 5) throws -> Tensor {
        guard x.rank >= 2 else {
            throw EvaluationError.shapeMismatch(op: "GaussianBlur", detail: "need [..., H, W], got \(x.shape)")
        }
        guard kernelSize >= 1, kernelSize % 2 == 1, sigma > 0 else {
            throw EvaluationError.invalidArgument(op: "GaussianBlur", detail: "kernel size must be odd and positive and σ > 0, got \(kernelSize), \(sigma)")
        }
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let planes = h * w == 0 ? 0 : x.count / (h * w)
        let k = kernel1D(size: kernelSize, sigma: sigma)
        let r = kernelSize / 2
        let out = Tensor(uninitialized: x.shape)
        let src = UncheckedBox(x.data), dst = UncheckedBox(out.data)
        Parallel.forEach(planes) { p in
            let a = src.value + p * h * w, b = dst.value + p * h * w
            var tmp = [Double](repeating: 0, count: h * w)
            for y in 0..<h {
                for xx in 0..<w {
                    var s = 0.0
                    for t in 0..<kernelSize { s += k[t] * Double(a[y * w + reflect(xx + t - r, w)]) }
                    tmp[y * w + xx] = s
                }
            }
            for y in 0..<h {
                for xx in 0..<w {
                    var s = 0.0
                    for t in 0..<kernelSize { s += k[t] * tmp[reflect(y + t - r, h) * w + xx] }
                    b[y * w + xx] = Float(s)
                }
            }
        }
        return out
    }
}
