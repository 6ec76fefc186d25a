import Foundation
import TensorCore

/// A Hounsfield display window: values `center ± width/2` map linearly to [0, 1], clamped.
public struct HUWindow: Sendable, Equatable {
    public var center: Double
    public var width: Double
    public init(center: Double, width: Double) { self.center = center; self.width = width }
    /// The lung window, −600/1500 (−1350 … 150 HU).
    public static let lung = HUWindow(center: -600, width: 1500)

    /// Parses `"center,width"` (e.g. `-600,1500`).
    public init(parsing text: String) throws {
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let c = parts[0], let w = parts[1], w > 0, c.isFinite, w.isFinite else {
            throw ImagingError(.invalidArgument, path: "--window", "expected center,width with width > 0, got '\(text)'")
        }
        self.init(center: c, width: w)
    }

    /// Maps a Hounsfield value to [0, 1].
    @inlinable public func apply(_ hu: Double) -> Float {
        let v = (hu - (center - width / 2)) / width
        return Float(min(1, max(0, v)))
    }
}

/// Preprocessing as PyTorch users write it for these models:
/// `Image.open(f).convert("RGB")` → `transforms.Resize((224, 224))` → `transforms.ToTensor()`
/// (→ optionally `transforms.Normalize(ImageNet mean, std)`; off by default, as in the study).
///
/// - 8-bit images: grey is replicated to 3 channels, alpha dropped, resized with PIL's antialiased
///   bilinear on uint8 (bit-identical to PIL, see `Resize`), then divided by 255.
/// - 16-bit images (CT slices saved as 16-bit PNG): stored values become Hounsfield units as
///   `HU = stored · rescaleSlope + rescaleIntercept` (default slope 1, intercept −1024: the usual
///   "HU + 1024" unsigned storage), the window maps them to [0, 1], then the float plane is resized
///   with the same PIL weights (no uint8 rounding) and replicated to 3 channels.
public struct Preprocessing: Sendable, Equatable {
    public var height: Int = 224
    public var width: Int = 224
    /// Apply ImageNet mean/std after scaling to [0, 1].
    public var imagenetNormalize: Bool = false
    /// Window for 16-bit images.
    public var window: HUWindow = .lung
    public var rescaleSlope: Double = 1
    public var rescaleIntercept: Double = -1024
    /// Decompression-bomb cap on width × height; nil = none.
    public var maxPixels: Int? = ImageFile.defaultMaxPixels

    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    public init(size: Int = 224, imagenetNormalize: Bool = false, window: HUWindow = .lung,
                rescaleSlope: Double = 1, rescaleIntercept: Double = -1024, maxPixels: Int? = ImageFile.defaultMaxPixels) {
        self.height = size
        self.width = size
        self.imagenetNormalize = imagenetNormalize
        self.window = window
        self.rescaleSlope = rescaleSlope
        self.rescaleIntercept = rescaleIntercept
        self.maxPixels = maxPixels
    }

    /// One image → Tensor [3, height, width].
    public func tensor(_ img: Image) -> Tensor {
        let out = Tensor(uninitialized: [3, height, width])
        let n = height * width
        if img.bitDepth == 8 {
            let greyish = img.channels <= 2
            let src = greyish ? img.grey() : img.rgb()
            let resized = Resize.bilinear8(src.samples.map { UInt8(truncatingIfNeeded: $0) }, width: img.width, height: img.height,
                                           channels: src.channels, outWidth: width, outHeight: height)
            for c in 0..<3 {
                let dst = out.data + c * n
                if greyish {
                    for i in 0..<n { dst[i] = Float(resized[i]) / 255 }
                } else {
                    for i in 0..<n { dst[i] = Float(resized[i * 3 + c]) / 255 }
                }
            }
        } else {
            let g = img.grey()
            var plane = [Float](repeating: 0, count: g.pixelCount)
            for i in 0..<plane.count {
                plane[i] = window.apply(Double(g.samples[i]) * rescaleSlope + rescaleIntercept)
            }
            let r = Resize.bilinear(plane, width: g.width, height: g.height, outWidth: width, outHeight: height)
            for c in 0..<3 {
                let dst = out.data + c * n
                for i in 0..<n { dst[i] = r[i] }
            }
        }
        if imagenetNormalize {
            for c in 0..<3 {
                let dst = out.data + c * n
                let m = Preprocessing.imagenetMean[c], s = Preprocessing.imagenetStd[c]
                for i in 0..<n { dst[i] = (dst[i] - m) / s }
            }
        }
        return out
    }

    /// Reads and preprocesses one file → Tensor [3, height, width].
    public func load(_ path: String) throws -> Tensor {
        tensor(try ImageFile.read(path, maxPixels: maxPixels))
    }

    /// Reads files (in parallel) into a batch Tensor [N, 3, height, width], in the given order.
    /// The first failing file (in input order) is thrown.
    public func batch(_ paths: [String]) throws -> Tensor {
        guard !paths.isEmpty else { throw ImagingError(.invalidArgument, path: "<inputs>", "no images to load") }
        let per = 3 * height * width
        let out = Tensor(uninitialized: [paths.count, 3, height, width])
        var errors = [ImagingError?](repeating: nil, count: paths.count)
        errors.withUnsafeMutableBufferPointer { errs in
            let box = UncheckedBox(errs)
            Parallel.forEach(paths.count) { i in
                do {
                    let t = try load(paths[i])
                    (out.data + i * per).update(from: t.data, count: per)
                } catch let e as ImagingError {
                    box.value[i] = e
                } catch {
                    box.value[i] = ImagingError(.unreadable, path: paths[i], "\(error)")
                }
            }
        }
        if let e = errors.first(where: { $0 != nil }) ?? nil { throw e }
        return out
    }

    /// CLI inputs (image files or folders) → (batch [N, 3, height, width], the files in batch order).
    public func batch(inputs: [String]) throws -> (tensor: Tensor, files: [String]) {
        let files = try ImageFile.expandInputs(inputs)
        guard !files.isEmpty else {
            throw ImagingError(.invalidArgument, path: inputs.joined(separator: ", "), "no PNG or JPEG files found")
        }
        return (try batch(files), files)
    }

    /// A lesion mask resized with PIL's nearest neighbour → Tensor [height, width] of 0/1
    /// (any non-zero sample in the first channel counts as lesion).
    public func mask(_ img: Image) -> Tensor {
        let g = img.channels == 1 ? img.samples : (0..<img.pixelCount).map { img.samples[$0 * img.channels] }
        let r = Resize.nearest(g, width: img.width, height: img.height, channels: 1, outWidth: width, outHeight: height)
        let t = Tensor(uninitialized: [height, width])
        for i in 0..<r.count { t.data[i] = r[i] != 0 ? 1 : 0 }
        return t
    }

    /// Reads a mask file → Tensor [height, width] of 0/1.
    public func loadMask(_ path: String) throws -> Tensor {
        mask(try ImageFile.read(path, maxPixels: maxPixels))
    }
}
