import TensorCore

/// A decoded raster image: interleaved samples, row-major, `channels` per pixel.
///
/// 8-bit images keep their samples as bytes (`bytes`) and 16-bit images as `UInt16` (`words`):
/// the decode path never widens an 8-bit file, which is most of what anyone feeds a model.
/// `bitDepth` (8 or 16) says which is set and which range the samples use (0...255 or 0...65535).
/// Channel layouts: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (alpha not premultiplied, except 16-bit
/// files with alpha, which libpng's simplified API hands out premultiplied).
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let bitDepth: Int
    /// `height * width * channels` samples of an 8-bit image, interleaved; empty when 16-bit.
    public private(set) var bytes: [UInt8]
    /// `height * width * channels` samples of a 16-bit image, interleaved; empty when 8-bit.
    public private(set) var words: [UInt16]

    /// Every sample as `UInt16` whatever the depth (a widened copy for 8-bit images): for code and
    /// tests that treat both depths alike; hot paths read `bytes` / `words` or `sample(_:)`.
    public var samples: [UInt16] { bitDepth == 8 ? bytes.map { UInt16($0) } : words }

    /// Creates an image from `UInt16` samples (8-bit images store them as bytes); throws if the
    /// sample count or layout is inconsistent or an 8-bit sample exceeds 255.
    public init(width: Int, height: Int, channels: Int, bitDepth: Int, samples: [UInt16]) throws {
        try Image.check(width: width, height: height, channels: channels, bitDepth: bitDepth, count: samples.count)
        if bitDepth == 8 {
            guard let big = samples.first(where: { $0 > 255 }) else {
                self.init(unchecked: width, height, channels, bytes: samples.map { UInt8($0) })
                return
            }
            throw ImagingError(.invalidArgument, path: "<image>", "8-bit image with sample \(big) > 255")
        }
        self.init(unchecked: width, height, channels, words: samples)
    }

    /// An 8-bit image from bytes (interleaved).
    public init(width: Int, height: Int, channels: Int, bytes: [UInt8]) throws {
        try Image.check(width: width, height: height, channels: channels, bitDepth: 8, count: bytes.count)
        self.init(unchecked: width, height, channels, bytes: bytes)
    }

    static func check(width: Int, height: Int, channels: Int, bitDepth: Int, count: Int) throws {
        guard width > 0, height > 0, (1...4).contains(channels), bitDepth == 8 || bitDepth == 16 else {
            throw ImagingError(.invalidArgument, path: "<image>", "invalid image \(width)x\(height), \(channels) channels, \(bitDepth)-bit")
        }
        let (n, overflow) = width.multipliedReportingOverflow(by: height * channels)
        guard !overflow, count == n else {
            throw ImagingError(.invalidArgument, path: "<image>", "\(width)x\(height)x\(channels) needs \(n) samples, got \(count)")
        }
    }

    /// The largest sample value for the bit depth (255 or 65535).
    public var maxValue: Int { bitDepth == 16 ? 65535 : 255 }
    public var hasAlpha: Bool { channels == 2 || channels == 4 }
    public var pixelCount: Int { width * height }

    /// Sample number `i` of the interleaved array.
    @inlinable public func sample(_ i: Int) -> Int { bitDepth == 8 ? Int(bytes[i]) : Int(words[i]) }

    /// Sample at (x, y, channel c); no bounds check beyond the array's.
    @inlinable public func sample(x: Int, y: Int, c: Int = 0) -> UInt16 {
        UInt16(sample((y * width + x) * channels + c))
    }

    /// The colour channels as RGB (grey replicated, alpha dropped) — what PIL's `convert("RGB")`
    /// does; bit depth kept.
    public func rgb() -> Image {
        if channels == 3 { return self }
        return bitDepth == 8 ? Image(unchecked: width, height, 3, bytes: Image.rgb(bytes, channels, pixelCount))
                             : Image(unchecked: width, height, 3, words: Image.rgb(words, channels, pixelCount))
    }

    static func rgb<T: FixedWidthInteger>(_ s: [T], _ channels: Int, _ pixels: Int) -> [T] {
        var out = [T](repeating: 0, count: pixels * 3)
        for i in 0..<pixels {
            if channels <= 2 {
                let v = s[i * channels]
                out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v
            } else {
                out[3 * i] = s[4 * i]; out[3 * i + 1] = s[4 * i + 1]; out[3 * i + 2] = s[4 * i + 2]
            }
        }
        return out
    }

    /// Luma (grey) as PIL's `convert("L")` computes it: L = (R·299 + G·587 + B·114) / 1000 rounded
    /// (PIL's fixed-point version of ITU-R 601-2); grey images lose only their alpha.
    public func grey() -> Image {
        if channels == 1 { return self }
        return bitDepth == 8 ? Image(unchecked: width, height, 1, bytes: Image.grey(bytes, channels, pixelCount))
                             : Image(unchecked: width, height, 1, words: Image.grey(words, channels, pixelCount))
    }

    static func grey<T: FixedWidthInteger>(_ s: [T], _ channels: Int, _ pixels: Int) -> [T] {
        var out = [T](repeating: 0, count: pixels)
        for i in 0..<pixels {
            if channels <= 2 {
                out[i] = s[i * channels]
            } else {
                let r = Int(s[i * channels]), g = Int(s[i * channels + 1]), b = Int(s[i * channels + 2])
                // PIL: L24(rgb) = r*19595 + g*38470 + b*7471 + 0x8000, >> 16.
                out[i] = T(truncatingIfNeeded: (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
            }
        }
        return out
    }

    /// One channel as a float plane [H, W] in [0, 1] (sample / maxValue).
    public func plane(_ c: Int) -> [Float] {
        let scale = 1 / Float(maxValue)
        return (0..<pixelCount).map { Float(sample($0 * channels + c)) * scale }
    }

    /// The image as a float tensor [C, H, W] in [0, 1] (torchvision `ToTensor` for 8-bit images).
    public func tensor() -> Tensor {
        let t = Tensor(uninitialized: [channels, height, width])
        let scale = 1 / Float(maxValue)
        let n = pixelCount
        for c in 0..<channels {
            let dst = t.data + c * n
            if bitDepth == 8 {
                bytes.withUnsafeBufferPointer { s in for i in 0..<n { dst[i] = Float(s[i * channels + c]) * scale } }
            } else {
                words.withUnsafeBufferPointer { s in for i in 0..<n { dst[i] = Float(s[i * channels + c]) * scale } }
            }
        }
        return t
    }

    /// 8-bit bytes (16-bit samples are scaled by 255/65535 and rounded).
    public func bytes8() -> [UInt8] {
        if bitDepth == 8 { return bytes }
        return words.map { UInt8((UInt32($0) * 255 + 32767) / 65535) }
    }

    init(unchecked width: Int, _ height: Int, _ channels: Int, bytes: [UInt8]) {
        self.width = width; self.height = height; self.channels = channels
        self.bitDepth = 8
        self.bytes = bytes
        self.words = []
    }

    init(unchecked width: Int, _ height: Int, _ channels: Int, words: [UInt16]) {
        self.width = width; self.height = height; self.channels = channels
        self.bitDepth = 16
        self.bytes = []
        self.words = words
    }
}
