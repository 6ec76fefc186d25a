import TensorCore
import Imaging

/// CAM overlays as in the study's figure and pytorch-grad-cam's `show_cam_on_image`:
/// 0.5·image + 0.5·JET(map), the map in [0, 1], rescaled by the blend's maximum.
public enum Overlay {
    /// OpenCV's COLORMAP_JET as the piecewise-linear MATLAB jet (r, g, b in [0, 1]).
    public static func jet(_ v: Float) -> (Float, Float, Float) {
        let x = min(max(v.isNaN ? 0 : v, 0), 1)
        func c(_ t: Float) -> Float { min(max(1.5 - abs(4 * x - t), 0), 1) }
        return (c(3), c(2), c(1))
    }

    /// Blends a map [H,W] onto an image [3,H,W] (values in [0,1]; ImageNet-normalised inputs are
    /// clamped) → 8-bit RGB image, as pytorch-grad-cam's `show_cam_on_image(img, map, use_rgb=True)`:
    /// the map quantised to 8 bits (`uint8(255·map)`) and coloured by JET, blended
    /// `(1 − w)·JET + w·image`, divided by the blend's maximum, truncated to 8 bits.
    public static func render(image: Tensor, map: Tensor, imageWeight: Float = 0.5) throws -> Image {
        guard image.rank == 3, image.shape[0] == 3, map.rank == 2, map.shape == [image.shape[1], image.shape[2]] else {
            throw TensorError.shapeMismatch(op: "Overlay.render", detail: "image \(image.shape), map \(map.shape)")
        }
        let (h, w) = (map.shape[0], map.shape[1])
        var blend = [Float](repeating: 0, count: h * w * 3)   // [H,W,3]
        for i in 0..<(h * w) {
            let m = map.data[i]
            let level = m.isFinite ? Float(UInt8(min(max(255 * m, 0), 255))) : 0   // np.uint8 truncates
            let (r, g, b) = jet(level / 255)
            let heat = [r, g, b]
            for c in 0..<3 {
                let px = min(max(image.data[c * h * w + i], 0), 1)
                blend[i * 3 + c] = (1 - imageWeight) * heat[c] + imageWeight * px
            }
        }
        // show_cam_on_image rescales by the maximum so the brightest sample is 1.
        let peak = blend.max() ?? 1
        let scale: Float = peak > 0 ? 1 / peak : 1
        let bytes = blend.map { UInt8(min(max($0 * scale * 255, 0), 255)) }
        return try Image(width: w, height: h, channels: 3, bytes: bytes)
    }

    /// A map alone as an 8-bit JET image.
    public static func heatmap(_ map: Tensor) throws -> Image {
        let grey = Tensor(zeros: [3] + map.shape)
        return try render(image: grey, map: map, imageWeight: 0)
    }
}
