import TensorCore
import Imaging

/// CAM overlays as in the study's figure and pytorch-grad-cam's `show_cam_on_image`:
/// 0.5·image + 0.5·JET(map), the map in [0, 1].
public enum Overlay {
    /// OpenCV's COLORMAP_JET as the piecewise-linear MATLAB jet (r, g, b in [0, 1]).
    public static func jet(_ v: Float) -> (Float, Float, Float) {
        let x = min(max(v.isNaN ? 0 : v, 0), 1)
        func c(_ t: Float) -> Float { min(max(1.5 - abs(4 * x - t), 0), 1) }
        return (c(3), c(2), c(1))
    }

    /// Blends a map [H,W] onto an image [3,H,W] (values in [0,1]; ImageNet-normalised inputs are
    /// clamped) → 8-bit RGB image.
    public static func render(image: Tensor, map: Tensor, imageWeight: Float = 0.5) throws -> Image {
        guard image.rank == 3, image.shape[0] == 3, map.rank == 2, map.shape == [image.shape[1], image.shape[2]] else {
            throw TensorError.shapeMismatch(op: "Overlay.render", detail: "image \(image.shape), map \(map.shape)")
        }
        let (h, w) = (map.shape[0], map.shape[1])
        var bytes = [UInt8](repeating: 0, count: h * w * 3)
        for i in 0..<(h * w) {
            let (r, g, b) = jet(map.data[i])
            let heat = [r, g, b]
            for c in 0..<3 {
                let px = min(max(image.data[c * h * w + i], 0), 1)
                let v = (1 - imageWeight) * heat[c] + imageWeight * px
                bytes[i * 3 + c] = UInt8(min(max((v * 255).rounded(), 0), 255))
            }
        }
        return try Image(width: w, height: h, channels: 3, bytes: bytes)
    }

    /// A map alone as an 8-bit JET image.
    public static func heatmap(_ map: Tensor) throws -> Image {
        let grey = Tensor(zeros: [3] + map.shape)
        return try render(image: grey, map: map, imageWeight: 0)
    }
}
