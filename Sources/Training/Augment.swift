import Foundation
import TensorCore

/// Training-time augmentation.
public enum Augmentation: String, CaseIterable, Sendable, Codable {
    case none
    /// On the resized image [3,S,S], each drawn from the image's own seeded stream (seed, epoch, row):
    /// random resized crop (area 0.8–1 of the image, aspect 3/4–4/3, resized back to S×S, bilinear),
    /// horizontal flip (p = 0.5), rotation by U(−10°, 10°) about the centre (bilinear, zero fill),
    /// intensity jitter (brightness ×U(0.9, 1.1), contrast ×U(0.9, 1.1) about the image mean,
    /// clamped to [0, 1]).
    case basic

    /// Applies the augmentation to one image [3,S,S] in place of a copy.
    public func apply(_ image: Tensor, rng: inout SeededRNG) -> Tensor {
        guard self == .basic, image.rank == 3 else { return image }
        let c = image.shape[0], h = image.shape[1], w = image.shape[2]
        // Random resized crop: a box of the drawn area and aspect that fits, at a random place.
        let area = rng.uniform(0.8, 1.0) * Double(h * w)
        let aspect = exp(rng.uniform(log(3.0 / 4.0), log(4.0 / 3.0)))
        let cw = min(Double(w), (area * aspect).squareRoot()), ch = min(Double(h), (area / aspect).squareRoot())
        let x0 = rng.uniform(0, Double(w) - cw), y0 = rng.uniform(0, Double(h) - ch)
        let flip = rng.unit() < 0.5
        let angle = rng.uniform(-10, 10) * Double.pi / 180
        let brightness = Float(rng.uniform(0.9, 1.1)), contrast = Float(rng.uniform(0.9, 1.1))
        // One inverse map per output pixel: rotate about the centre, flip, then into the crop box.
        let out = Tensor(zeros: image.shape)
        let cosA = cos(angle), sinA = sin(angle)
        let cx = Double(w) / 2, cy = Double(h) / 2
        for oy in 0..<h {
            for ox in 0..<w {
                let dx = Double(ox) + 0.5 - cx, dy = Double(oy) + 0.5 - cy
                var u = cosA * dx + sinA * dy + cx, v = -sinA * dx + cosA * dy + cy   // rotated position
                if u < 0 || v < 0 || u >= Double(w) || v >= Double(h) { continue }
                if flip { u = Double(w) - u }
                // Crop box → full image: output position u ∈ [0, w) samples x0 + u·cw/w.
                let sx = x0 + u * cw / Double(w) - 0.5, sy = y0 + v * ch / Double(h) - 0.5
                let fx = max(0, min(Double(w - 1), sx)), fy = max(0, min(Double(h - 1), sy))
                let ix = Int(fx), iy = Int(fy)
                let ix1 = min(ix + 1, w - 1), iy1 = min(iy + 1, h - 1)
                let ax = Float(fx - Double(ix)), ay = Float(fy - Double(iy))
                for ci in 0..<c {
                    let p = image.data + ci * h * w
                    let top = p[iy * w + ix] * (1 - ax) + p[iy * w + ix1] * ax
                    let bottom = p[iy1 * w + ix] * (1 - ax) + p[iy1 * w + ix1] * ax
                    out.data[ci * h * w + oy * w + ox] = top * (1 - ay) + bottom * ay
                }
            }
        }
        var mean: Float = 0
        for i in 0..<out.count { mean += out.data[i] }
        mean /= Float(max(out.count, 1))
        for i in 0..<out.count {
            let v = ((out.data[i] * brightness) - mean * brightness) * contrast + mean * brightness
            out.data[i] = min(1, max(0, v))
        }
        return out
    }
}
