/// Resizing that matches what PyTorch users get from torchvision `transforms.Resize((h, w))` on a
/// PIL image: PIL's `Image.resize(size, BILINEAR)` (Pillow ≥ 7, `reducing_gap=None`).
///
/// PIL's bilinear is a separable triangle filter whose support grows with the downscale factor
/// (antialiasing): for output x the centre is `(x + 0.5) · scale`, support = max(scale, 1), taps
/// `xmin = trunc(centre − support + 0.5)` … `trunc(centre + support + 0.5)` clamped to the image,
/// weights `tri((i − centre + 0.5) / max(scale, 1))` normalised to sum 1. For 8-bit images the
/// weights become 22-bit fixed point, the horizontal pass runs first and rounds to uint8
/// (`(Σ + 2²¹) >> 22`, clipped), then the vertical pass — all reproduced here, so 8-bit output
/// is bit-identical to PIL's. Float planes use the same weights without rounding.
public enum Resize {
    /// PIL's fixed-point precision for 8-bit resampling (32 − 8 − 2).
    static let precisionBits = 22

    /// Per-output-pixel taps: `bounds[2o]` first input index, `bounds[2o+1]` tap count, and
    /// `ksize` weights per output pixel in `weights`.
    struct Taps {
        var ksize: Int
        var bounds: [Int]
        var weights: [Double]

        /// PIL's `precompute_coeffs` for the bilinear (triangle, support 1) filter.
        init(inSize: Int, outSize: Int) {
            let scale = Double(inSize) / Double(outSize)
            let filterScale = max(scale, 1)
            let support = 1.0 * filterScale
            ksize = Int(support.rounded(.up)) * 2 + 1
            bounds = [Int](repeating: 0, count: outSize * 2)
            weights = [Double](repeating: 0, count: outSize * ksize)
            let ss = 1 / filterScale
            for xx in 0..<outSize {
                let center = (Double(xx) + 0.5) * scale
                var xmin = Int(center - support + 0.5)
                if xmin < 0 { xmin = 0 }
                var xmax = Int(center + support + 0.5)
                if xmax > inSize { xmax = inSize }
                xmax -= xmin
                var ww = 0.0
                for x in 0..<xmax {
                    var t = (Double(x + xmin) - center + 0.5) * ss
                    if t < 0 { t = -t }
                    let w = t < 1 ? 1 - t : 0
                    weights[xx * ksize + x] = w
                    ww += w
                }
                if ww != 0 { for x in 0..<xmax { weights[xx * ksize + x] /= ww } }
                bounds[2 * xx] = xmin
                bounds[2 * xx + 1] = xmax
            }
        }

        /// PIL's `normalize_coeffs_8bpc`: round-half-away to 22-bit fixed point.
        var fixedPoint: [Int32] {
            let one = Double(1 << Resize.precisionBits)
            return weights.map { $0 < 0 ? Int32(-0.5 + $0 * one) : Int32(0.5 + $0 * one) }
        }
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        if v >= Int32(1 << (precisionBits + 8)) { return 255 }
        if v <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: v >> Int32(precisionBits))
    }

    /// Bilinear (antialiased) resize of interleaved 8-bit samples, bit-identical to PIL.
    /// - Parameters:
    ///   - src: `height * width * channels` bytes.
    /// - Returns: `outHeight * outWidth * channels` bytes.
    public static func bilinear8(_ src: [UInt8], width: Int, height: Int, channels: Int, outWidth: Int, outHeight: Int) -> [UInt8] {
        // Zero sizes would divide by zero in the taps.
        guard width > 0, height > 0, outWidth > 0, outHeight > 0 else { return [] }
        let h = Taps(inSize: width, outSize: outWidth)
        let v = Taps(inSize: height, outSize: outHeight)
        let kh = h.fixedPoint, kv = v.fixedPoint
        let half = Int32(1 << (precisionBits - 1))
        // Horizontal pass first (PIL order), rounding to uint8: [height, outWidth, channels].
        var tmp = [UInt8](repeating: 0, count: height * outWidth * channels)
        src.withUnsafeBufferPointer { s in
            tmp.withUnsafeMutableBufferPointer { t in
                for y in 0..<height {
                    let row = y * width * channels
                    for xx in 0..<outWidth {
                        let xmin = h.bounds[2 * xx], n = h.bounds[2 * xx + 1]
                        let k = xx * h.ksize
                        for c in 0..<channels {
                            var acc = half
                            for x in 0..<n { acc &+= Int32(s[row + (xmin + x) * channels + c]) &* kh[k + x] }
                            t[(y * outWidth + xx) * channels + c] = clip8(acc)
                        }
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: outHeight * outWidth * channels)
        let rowLen = outWidth * channels
        tmp.withUnsafeBufferPointer { t in
            out.withUnsafeMutableBufferPointer { o in
                for yy in 0..<outHeight {
                    let ymin = v.bounds[2 * yy], n = v.bounds[2 * yy + 1]
                    let k = yy * v.ksize
                    for i in 0..<rowLen {
                        var acc = half
                        for y in 0..<n { acc &+= Int32(t[(ymin + y) * rowLen + i]) &* kv[k + y] }
                        o[yy * rowLen + i] = clip8(acc)
                    }
                }
            }
        }
        return out
    }

    /// Bilinear (antialiased) resize of one float plane [height, width] with PIL's weights, no rounding.
    public static func bilinear(_ src: [Float], width: Int, height: Int, outWidth: Int, outHeight: Int) -> [Float] {
        guard width > 0, height > 0, outWidth > 0, outHeight > 0 else { return [] }
        let h = Taps(inSize: width, outSize: outWidth)
        let v = Taps(inSize: height, outSize: outHeight)
        let wh = h.weights.map { Float($0) }, wv = v.weights.map { Float($0) }
        var tmp = [Float](repeating: 0, count: height * outWidth)
        for y in 0..<height {
            for xx in 0..<outWidth {
                let xmin = h.bounds[2 * xx], n = h.bounds[2 * xx + 1]
                var acc: Float = 0
                for x in 0..<n { acc += src[y * width + xmin + x] * wh[xx * h.ksize + x] }
                tmp[y * outWidth + xx] = acc
            }
        }
        var out = [Float](repeating: 0, count: outHeight * outWidth)
        for yy in 0..<outHeight {
            let ymin = v.bounds[2 * yy], n = v.bounds[2 * yy + 1]
            for x in 0..<outWidth {
                var acc: Float = 0
                for y in 0..<n { acc += tmp[(ymin + y) * outWidth + x] * wv[yy * v.ksize + y] }
                out[yy * outWidth + x] = acc
            }
        }
        return out
    }

    /// Source index of each output index for PIL's NEAREST resize (pixel centres, accumulated in
    /// double exactly as PIL's `ImagingScaleAffine` does, so ties land where PIL puts them).
    public static func nearestIndices(inSize: Int, outSize: Int) -> [Int] {
        let a = Double(inSize) / Double(outSize)
        var xo = a * 0.5
        var idx = [Int](repeating: 0, count: outSize)
        for x in 0..<outSize {
            let xin = xo < 0 ? -1 : Int(xo)
            idx[x] = min(max(xin, 0), inSize - 1)
            xo += a
        }
        return idx
    }

    /// Nearest-neighbour resize of interleaved samples (masks), matching PIL's NEAREST.
    public static func nearest<T>(_ src: [T], width: Int, height: Int, channels: Int, outWidth: Int, outHeight: Int) -> [T] {
        let xs = nearestIndices(inSize: width, outSize: outWidth)
        let ys = nearestIndices(inSize: height, outSize: outHeight)
        var out: [T] = []
        out.reserveCapacity(outWidth * outHeight * channels)
        for y in ys {
            for x in xs {
                for c in 0..<channels { out.append(src[(y * width + x) * channels + c]) }
            }
        }
        return out
    }

    /// Resizes an image: bilinear (PIL-exact for 8-bit) or nearest.
    public static func image(_ img: Image, width: Int, height: Int, nearest: Bool = false) throws -> Image {
        guard width > 0, height > 0 else {
            throw ImagingError(.invalidArgument, path: "<resize>", "target size \(width)x\(height) must be positive")
        }
        if nearest {
            return img.bitDepth == 8
                ? Image(unchecked: width, height, img.channels,
                        bytes: Resize.nearest(img.bytes, width: img.width, height: img.height, channels: img.channels, outWidth: width, outHeight: height))
                : Image(unchecked: width, height, img.channels,
                        words: Resize.nearest(img.words, width: img.width, height: img.height, channels: img.channels, outWidth: width, outHeight: height))
        }
        if img.bitDepth == 8 {
            let out = bilinear8(img.bytes, width: img.width, height: img.height,
                                channels: img.channels, outWidth: width, outHeight: height)
            return Image(unchecked: width, height, img.channels, bytes: out)
        }
        // 16-bit: float per channel, rounded back to 16 bits.
        var samples = [UInt16](repeating: 0, count: width * height * img.channels)
        for c in 0..<img.channels {
            let plane = (0..<img.pixelCount).map { Float(img.words[$0 * img.channels + c]) }
            let r = bilinear(plane, width: img.width, height: img.height, outWidth: width, outHeight: height)
            for i in 0..<r.count { samples[i * img.channels + c] = UInt16(max(0, min(65535, r[i].rounded()))) }
        }
        return Image(unchecked: width, height, img.channels, words: samples)
    }
}
