import Foundation
import TensorCore

/// A Hounsfield display window: values `center ± width/2` map linearly to [0, 1], clamped.
public struct HUWindow: Sendable, Equatable {
    public var center: Double
    public var width: Double
    public init(center: Double, width: Double) { self.center = center; self.width = width }
    /// The lung window, −600/1500 (−1350 … 150 HU).
    public static let lung = HUWindow(center: -600, width: 1500)
    /// The mediastinal (soft-tissue) window, 40/400 (−160 … 240 HU).
    public static let mediastinum = HUWindow(center: 40, width: 400)
    /// The bone window, 400/1800 (−500 … 1300 HU).
    public static let bone = HUWindow(center: 400, width: 1800)
    public static let presets: [(name: String, window: HUWindow)] = [("lung", .lung), ("mediastinum", .mediastinum), ("bone", .bone)]
    /// The `--window` value that takes each DICOM file's own WindowCenter/WindowWidth; `named` turns
    /// it into the lung window, which files without one (and 16-bit PNG) get.
    public static let fromFile = "file"

    /// Parses `"center,width"` (e.g. `-600,1500`).
    public init(parsing text: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let c = parts[0], let w = parts[1], w > 0, c.isFinite, w.isFinite, abs(c) <= 1e6, w <= 1e6 else {
            throw ImagingError(.invalidArgument, path: "--window", "expected lung, mediastinum, bone, file, none or center,width (|center| ≤ 1e6, 0 < width ≤ 1e6), got '\(text)'")
        }
        self.init(center: c, width: w)
    }

    /// Parses a `--window` value: a preset name, `none` (→ nil) or `center,width`.
    public static func named(_ text: String) throws -> HUWindow? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "none" { return nil }
        if t == fromFile { return .lung }
        if let p = presets.first(where: { $0.name == t }) { return p.window }
        return try HUWindow(parsing: text)
    }

    /// Whether a `--window` value asks for each DICOM file's own window.
    public static func isFromFile(_ text: String) -> Bool { text.trimmingCharacters(in: .whitespaces).lowercased() == fromFile }

    /// "lung window −600/1500 (−1350 … 150 HU)" or "window 35/350 (…)".
    public var label: String {
        let name = HUWindow.presets.first(where: { $0.window == self }).map { "\($0.name) window" } ?? "window"
        return "\(name) \(numberText(center))/\(numberText(width)) (\(numberText(center - width / 2)) … \(numberText(center + width / 2)) HU)"
    }

    /// Maps a Hounsfield value to [0, 1].
    @inlinable public func apply(_ hu: Double) -> Float {
        let v = (hu - (center - width / 2)) / width
        return Float(min(1, max(0, v)))
    }
}

/// "1024" for whole numbers, "0.5" otherwise: windows and offsets as users type them.
private func numberText(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }

/// Preprocessing as PyTorch users write it for these models:
/// `Image.open(f).convert("RGB")` → `transforms.Resize((224, 224))` → `transforms.ToTensor()`
/// (→ optionally `transforms.Normalize(ImageNet mean, std)`; off by default, as in the study).
///
/// - 8-bit images: grey is replicated to 3 channels, alpha dropped, resized with PIL's antialiased
///   bilinear on uint8 (bit-identical to PIL, see `Resize`), then divided by 255.
/// - 16-bit images (CT slices saved as 16-bit PNG): stored values become Hounsfield units as
///   `HU = stored · rescaleSlope + rescaleIntercept` (default slope 1, intercept −1024: the usual
///   "HU + 1024" unsigned storage), the window maps them to [0, 1], then the float plane is resized
///   with the same PIL weights (no uint8 rounding) and replicated to 3 channels. With no window
///   (`window == nil`) the stored value is scaled to [0, 1] by 65535, as for any 16-bit image.
/// - Float slices in Hounsfield units ([H, W] arrays): the same window and resize as a 16-bit
///   image, without the stored-value rescale; with no window the values are resized as they are.
public struct Preprocessing: Sendable, Equatable {
    public var height: Int = 224
    public var width: Int = 224
    /// Apply ImageNet mean/std after scaling to [0, 1].
    public var imagenetNormalize: Bool = false
    /// Window for 16-bit images and HU slices; nil = none (see above).
    public var window: HUWindow? = .lung
    public var rescaleSlope: Double = 1
    public var rescaleIntercept: Double = -1024
    /// DICOM slices take their file's WindowCenter/WindowWidth (`--window file`); `window` is then
    /// the window of files without one and of 16-bit PNG.
    public var windowFromFile: Bool = false
    /// Decompression-bomb cap on width × height; nil = none.
    public var maxPixels: Int? = ImageFile.defaultMaxPixels

    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    public init(size: Int = 224, imagenetNormalize: Bool = false, window: HUWindow? = .lung,
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
            let resized = Resize.bilinear8(src.bytes, width: img.width, height: img.height,
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
            if let window {
                for i in 0..<plane.count { plane[i] = window.apply(Double(g.words[i]) * rescaleSlope + rescaleIntercept) }
            } else {
                for i in 0..<plane.count { plane[i] = Float(g.words[i]) / 65535 }
            }
            fill(out, resizedFrom: plane, width: g.width, height: g.height)
        }
        normalize(out)
        return out
    }

    /// One DICOM frame → Tensor [3, height, width]: `inputHounsfield` (the file's rescale, padding
    /// as air), the window (the file's own with `windowFromFile`), inverted for MONOCHROME1, then
    /// resized and replicated as a HU slice. With no window the HU are used as they are.
    public func tensor(_ slice: DicomSlice) -> Tensor {
        let out = Tensor(uninitialized: [3, height, width])
        let hu = slice.inputHounsfield
        let plane: [Float]
        if let win = windowFromFile ? (slice.info.window ?? window) : window {
            plane = slice.info.invertsGrey ? hu.map { 1 - win.apply($0) } : hu.map { win.apply($0) }
        } else {
            plane = hu.map { Float($0) }
        }
        fill(out, resizedFrom: plane, width: slice.width, height: slice.height)
        normalize(out)
        return out
    }

    /// A decoded file → Tensor [3, height, width].
    public func tensor(_ file: DecodedFile) -> Tensor {
        switch file {
        case .image(let img): return tensor(img)
        case .dicom(let slice): return tensor(slice)
        }
    }

    /// A float slice in Hounsfield units, row-major [height, width] → Tensor [3, self.height, self.width]:
    /// windowed (or left as it is with no window), resized with PIL's float weights, replicated to 3 channels.
    public func tensor(hu plane: [Float], width w: Int, height h: Int) -> Tensor {
        let out = Tensor(uninitialized: [3, height, width])
        let windowed = window.map { win in plane.map { win.apply(Double($0)) } } ?? plane
        fill(out, resizedFrom: windowed, width: w, height: h)
        normalize(out)
        return out
    }

    /// Resizes one plane into all three channels of `out`.
    private func fill(_ out: Tensor, resizedFrom plane: [Float], width w: Int, height h: Int) {
        let r = Resize.bilinear(plane, width: w, height: h, outWidth: width, outHeight: height)
        let n = height * width
        for c in 0..<3 { (out.data + c * n).update(from: r, count: n) }
    }

    /// How 16-bit images and HU slices become [0, 1], for the one line a run prints about it.
    public var intensityMapping: String {
        guard let window else { return "no window: 16-bit samples / 65535, HU slices used as they are" }
        let offset = rescaleSlope == 1 ? "HU = stored \(rescaleIntercept <= 0 ? "−" : "+") \(numberText(abs(rescaleIntercept)))"
                                       : "HU = stored · \(numberText(rescaleSlope)) + \(numberText(rescaleIntercept))"
        return "\(offset), \(window.label) → [0, 1]"
    }

    /// How DICOM slices become [0, 1], for the one line a run prints about it.
    public var dicomMapping: String {
        let win: String
        if windowFromFile {
            win = "each file's WindowCenter/WindowWidth (\(window?.label ?? "no window") where a file has none)"
        } else {
            win = window?.label ?? "no window (HU used as they are)"
        }
        return "HU = stored · RescaleSlope + RescaleIntercept (each file's), PixelPaddingValue → \(numberText(DICOM.airHU)) HU, \(win)"
            + (window != nil || windowFromFile ? " → [0, 1], MONOCHROME1 inverted" : "")
    }

    /// Every setting that changes the tensor an image becomes, as one stable string (for result keys).
    public var key: String {
        var win = window.map { "\(numberText($0.center)),\(numberText($0.width))" } ?? "none"
        if windowFromFile { win = "file(else \(win))" }
        return "size=\(height)x\(width);imagenet_norm=\(imagenetNormalize ? 1 : 0);window=\(win);hu_slope=\(numberText(rescaleSlope));hu_intercept=\(numberText(rescaleIntercept))"
    }

    /// ImageNet mean/std, when asked for.
    private func normalize(_ out: Tensor) {
        let n = height * width
        if imagenetNormalize {
            for c in 0..<3 {
                let dst = out.data + c * n
                let m = Preprocessing.imagenetMean[c], s = Preprocessing.imagenetStd[c]
                for i in 0..<n { dst[i] = (dst[i] - m) / s }
            }
        }
    }

    /// Reads and preprocesses one file → Tensor [3, height, width].
    public func load(_ path: String) throws -> Tensor {
        try checkSize(path)
        return tensor(try ImageFile.readAny(path, maxPixels: maxPixels))
    }

    /// A zero or negative target size would divide by zero in the resize taps.
    private func checkSize(_ path: String) throws {
        guard height >= 1, width >= 1 else {
            throw ImagingError(.invalidArgument, path: path, "target size \(width)x\(height) must be at least 1x1")
        }
    }

    /// The readable files of a list, preprocessed, and why the others could not be read.
    public struct Loaded: Sendable {
        /// [n, 3, height, width] for the `files` that loaded, in input order; nil when none did.
        public var tensor: Tensor?
        public var files: [String]
        /// One error per unreadable file (naming it), in input order.
        public var failures: [ImagingError]
        /// How many loaded files were 16-bit (so went through the HU window).
        public var sixteenBit: Int
        /// How many loaded files were DICOM slices (`dicomMapping`).
        public var dicom: Int = 0
    }

    /// Reads files (in parallel), keeping the readable ones in input order and listing the rest.
    public func load(files paths: [String]) -> Loaded {
        let per = 3 * height * width
        let staging = Tensor(uninitialized: [paths.count, 3, height, width])
        // Success: the bit depth of an image, 0 for a DICOM slice.
        var results = [Result<Int, ImagingError>](repeating: .success(8), count: paths.count)
        results.withUnsafeMutableBufferPointer { res in
            let box = UncheckedBox(res)
            Parallel.forEach(paths.count) { i in
                do {
                    try checkSize(paths[i])
                    let file = try ImageFile.readAny(paths[i], maxPixels: maxPixels)
                    let t = tensor(file)
                    (staging.data + i * per).update(from: t.data, count: per)
                    if case .image(let img) = file { box.value[i] = .success(img.bitDepth) } else { box.value[i] = .success(0) }
                } catch let e as ImagingError {
                    box.value[i] = .failure(e)
                } catch {
                    box.value[i] = .failure(ImagingError(.unreadable, path: paths[i], "\(error)"))
                }
            }
        }
        var keep: [Int] = [], failures: [ImagingError] = [], sixteen = 0, dicom = 0
        for (i, r) in results.enumerated() {
            switch r {
            case .success(let depth): keep.append(i); if depth == 16 { sixteen += 1 } else if depth == 0 { dicom += 1 }
            case .failure(let e): failures.append(e)
            }
        }
        guard !keep.isEmpty else { return Loaded(tensor: nil, files: [], failures: failures, sixteenBit: 0) }
        if keep.count == paths.count { return Loaded(tensor: staging, files: paths, failures: [], sixteenBit: sixteen, dicom: dicom) }
        let out = Tensor(uninitialized: [keep.count, 3, height, width])
        for (j, i) in keep.enumerated() { (out.data + j * per).update(from: staging.data + i * per, count: per) }
        return Loaded(tensor: out, files: keep.map { paths[$0] }, failures: failures, sixteenBit: sixteen, dicom: dicom)
    }

    /// Reads files (in parallel) into a batch Tensor [N, 3, height, width], in the given order.
    /// The first failing file (in input order) is thrown.
    public func batch(_ paths: [String]) throws -> Tensor {
        guard !paths.isEmpty else { throw ImagingError(.invalidArgument, path: "<inputs>", "no images to load") }
        let r = load(files: paths)
        if let e = r.failures.first { throw e }
        guard let t = r.tensor else { throw ImagingError(.invalidArgument, path: "<inputs>", "no images to load") }
        return t
    }

    /// CLI inputs (image files or folders) → (batch [N, 3, height, width], the files in batch order).
    public func batch(inputs: [String]) throws -> (tensor: Tensor, files: [String]) {
        let files = try ImageFile.expandInputs(inputs)
        guard !files.isEmpty else {
            throw ImagingError(.invalidArgument, path: inputs.joined(separator: ", "), "no PNG, JPEG or DICOM files found")
        }
        return (try batch(files), files)
    }

    /// A lesion mask resized with PIL's nearest neighbour → Tensor [height, width] of 0/1
    /// (any non-zero sample in the first channel counts as lesion).
    public func mask(_ img: Image) -> Tensor {
        let g = (0..<img.pixelCount).map { img.sample($0 * img.channels) != 0 }
        let r = Resize.nearest(g, width: img.width, height: img.height, channels: 1, outWidth: width, outHeight: height)
        let t = Tensor(uninitialized: [height, width])
        for i in 0..<r.count { t.data[i] = r[i] ? 1 : 0 }
        return t
    }

    /// Reads a mask file → Tensor [height, width] of 0/1.
    public func loadMask(_ path: String) throws -> Tensor {
        mask(try ImageFile.read(path, maxPixels: maxPixels))
    }
}

/// Sweep unit keys hash `"\(preprocessing)"`. `windowFromFile` is listed only when set, so every
/// key made before it existed (and every run without `--window file`) stays the same and existing
/// results folders keep resuming; with it set, the key changes, as another input mapping must.
extension Preprocessing: CustomReflectable {
    public var customMirror: Mirror {
        var children: [(label: String?, value: Any)] = [("height", height), ("width", width), ("imagenetNormalize", imagenetNormalize),
                                                        ("window", window as Any), ("rescaleSlope", rescaleSlope), ("rescaleIntercept", rescaleIntercept)]
        if windowFromFile { children.append(("windowFromFile", windowFromFile)) }
        children.append(("maxPixels", maxPixels as Any))
        return Mirror(self, children: children, displayStyle: .struct)
    }
}
