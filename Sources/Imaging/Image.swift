import TensorCore

/// A decoded raster image: interleaved samples, row-major, `channels` per pixel.
///
/// Samples are stored as `UInt16` whatever the bit depth so 8- and 16-bit files share one type;
/// `bitDepth` (8 or 16) says which range they use (0...255 or 0...65535). Channel layouts:
/// 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (alpha not premultiplied, except 16-bit files with alpha,
/// which libpng's simplified API hands out premultiplied).
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let bitDepth: Int
    /// `height * width * channels` samples, interleaved.
    public var samples: [UInt16]

    /// Creates an image; throws if the sample count or layout is inconsistent.
    public init(width: Int, height: Int, channels: Int, bitDepth: Int, samples: [UInt16]) throws {
        guard width > 0, height > 0, (1...4).contains(channels), bitDepth == 8 || bitDepth == 16 else {
            throw ImagingError(.invalidArgument, path: "<image>", "invalid image \(width)x\(height), \(channels) channels, \(bitDepth)-bit")
        }
        guard samples.count == width * height * channels else {
            throw ImagingError(.invalidArgument, path: "<image>", "\(width)x\(height)x\(channels) needs \(width * height * channels) samples, got \(samples.count)")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.samples = samples
    }

    /// An 8-bit image from bytes (interleaved).
    public init(width: Int, height: Int, channels: Int, bytes: [UInt8]) throws {
        try self.init(width: width, height: height, channels: channels, bitDepth: 8, samples: bytes.map { UInt16($0) })
    }

    /// The largest sample value for the bit depth (255 or 65535).
    public var maxValue: Int { bitDepth == 16 ? 65535 : 255 }
    public var hasAlpha: Bool { channels == 2 || channels == 4 }
    public var pixelCount: Int { width * height }

    /// Sample at (x, y, channel c); no bounds check beyond the array's.
    @inlinable public func sample(x: Int, y: Int, c: Int = 0) -> UInt16 {
        samples[(y * width + x) * channels + c]
    }

    /// The colour channels as RGB (grey replicated, alpha dropped) — what PIL's `convert("RGB")`
    /// does; bit depth kept.
    public func rgb() -> Image {
        if channels == 3 { return self }
        var out = [UInt16](repeating: 0, count: pixelCount * 3)
        for i in 0..<pixelCount {
            switch channels {
            case 1, 2:
                let v = samples[i * channels]
                out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v
            default:
                out[3 * i] = samples[4 * i]; out[3 * i + 1] = samples[4 * i + 1]; out[3 * i + 2] = samples[4 * i + 2]
            }
        }
        // Layout is consistent by construction.
        return Image(unchecked: width, height, 3, bitDepth, out)
    }

    /// Luma (grey) as PIL's `convert("L")` computes it: L = (R·299 + G·587 + B·114) / 1000 rounded
    /// (PIL's fixed-point version of ITU-R 601-2); grey images lose only their alpha.
    public func grey() -> Image {
        if channels == 1 { return self }
        var out = [UInt16](repeating: 0, count: pixelCount)
        for i in 0..<pixelCount {
            if channels <= 2 {
                out[i] = samples[i * channels]
            } else {
                let r = Int(samples[i * channels]), g = Int(samples[i * channels + 1]), b = Int(samples[i * channels + 2])
                // PIL: L24(rgb) = r*19595 + g*38470 + b*7471 + 0x8000, >> 16.
                out[i] = UInt16((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
            }
        }
        return Image(unchecked: width, height, 1, bitDepth, out)
    }

    /// One channel as a float plane [H, W] in [0, 1] (sample / maxValue).
    public func plane(_ c: Int) -> [Float] {
        let scale = 1 / Float(maxValue)
        var out = [Float](repeating: 0, count: pixelCount)
        for i in 0..<pixelCount { out[i] = Float(samples[i * channels + c]) * scale }
        return out
    }

    /// The image as a float tensor [C, H, W] in [0, 1] (torchvision `ToTensor` for 8-bit images).
    public func tensor() -> Tensor {
        let t = Tensor(uninitialized: [channels, height, width])
        let scale = 1 / Float(maxValue)
        let n = pixelCount
        samples.withUnsafeBufferPointer { s in
            for c in 0..<channels {
                let dst = t.data + c * n
                for i in 0..<n { dst[i] = Float(s[i * channels + c]) * scale }
            }
        }
        return t
    }

    /// 8-bit bytes (16-bit samples are scaled by 255/65535 and rounded).
    public func bytes8() -> [UInt8] {
        if bitDepth == 8 { return samples.map { UInt8(truncatingIfNeeded: $0) } }
        return samples.map { UInt8((UInt32($0) * 255 + 32767) / 65535) }
    }

    init(unchecked width: Int, _ height: Int, _ channels: Int, _ bitDepth: Int, _ samples: [UInt16]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.samples = samples
    }
}
