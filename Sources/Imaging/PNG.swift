import CPNG
import Foundation

/// PNG reading and writing through libpng's simplified `png_image_*` API.
///
/// Reading keeps the file's samples unchanged: 8-bit (and 1/2/4-bit, expanded; palette, expanded
/// to RGB/RGBA) files come out 8-bit, 16-bit files come out 16-bit. The simplified API converts
/// gamma when a file's colour-space chunks (gAMA, sRGB, iCCP, cHRM) disagree with the output's
/// assumed encoding (sRGB for 8-bit, linear for 16-bit); PIL and torchvision ignore those chunks,
/// so we drop them from the byte stream before libpng sees it and the stored values — Hounsfield
/// units in a 16-bit slice — come through exactly.
public enum PNG {
    /// The eight bytes every PNG starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    private static let formatAlpha: UInt32 = 0x01
    private static let formatColor: UInt32 = 0x02
    private static let formatLinear: UInt32 = 0x04
    private static let formatColormap: UInt32 = 0x08
    private static let imageFlagFast: UInt32 = 0x02

    /// Decodes PNG bytes.
    /// - Parameters:
    ///   - maxPixels: cap on width × height checked before any pixel buffer is allocated; nil = no cap.
    ///   - name: the file name used in error messages.
    public static func decode(_ data: [UInt8], maxPixels: Int? = ImageFile.defaultMaxPixels, name: String = "<bytes>") throws -> Image {
        guard data.count >= 8, Array(data[0..<8]) == signature else {
            throw ImagingError(.unknownFormat, path: name, "not a PNG file (no PNG signature)")
        }
        let bytes = stripColorspaceChunks(data)
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.opaque = nil
        defer { png_image_free(&image) }
        func message() -> String {
            withUnsafeBytes(of: image.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        }
        return try bytes.withUnsafeBytes { raw -> Image in
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
                throw ImagingError(.corrupt, path: name, "corrupt PNG: \(message())")
            }
            let width = Int(image.width), height = Int(image.height)
            guard width > 0, height > 0 else {
                throw ImagingError(.zeroSize, path: name, "zero-size PNG (\(width)x\(height))")
            }
            let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
            if let cap = maxPixels, overflow || pixels > cap {
                throw ImagingError(.tooLarge, path: name, "PNG is \(width)x\(height) = \(pixels) pixels, above the cap of \(cap) (decompression bomb?)")
            }
            let fileFormat = image.format
            var format = fileFormat & ~formatColormap
            format &= (formatAlpha | formatColor | formatLinear)
            image.format = format
            let channels = 1 + ((format & formatColor) != 0 ? 2 : 0) + ((format & formatAlpha) != 0 ? 1 : 0)
            let sixteen = (format & formatLinear) != 0
            let count = pixels * channels
            if sixteen {
                var buffer = [UInt16](repeating: 0, count: count)
                let ok = buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
                guard ok != 0 else { throw ImagingError(.corrupt, path: name, "corrupt PNG: \(message())") }
                return Image(unchecked: width, height, channels, words: buffer)
            } else {
                var buffer = [UInt8](repeating: 0, count: count)
                let ok = buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
                guard ok != 0 else { throw ImagingError(.corrupt, path: name, "corrupt PNG: \(message())") }
                return Image(unchecked: width, height, channels, bytes: buffer)
            }
        }
    }

    /// Encodes an image as PNG: 8-bit grey, grey+alpha, RGB, RGBA, or 16-bit grey (16-bit images
    /// with more than one channel are written as 8-bit).
    /// - Parameter fast: favour speed over compression (libpng's `PNG_IMAGE_FLAG_FAST`).
    public static func encode(_ img: Image, fast: Bool = false, name: String = "<image>") throws -> [UInt8] {
        if img.bitDepth == 16 && img.channels == 1 {
            return try img.words.withUnsafeBytes { raw in
                try encodeRaw(raw, width: img.width, height: img.height, format: formatLinear, fast: fast, name: name)
            }
        }
        let bytes = img.bytes8()
        return try encode8(bytes, width: img.width, height: img.height, channels: img.channels, fast: fast, name: name)
    }

    /// Encodes interleaved 8-bit samples (channels 1...4) as PNG without building an `Image`.
    public static func encode8(_ bytes: [UInt8], width: Int, height: Int, channels: Int, fast: Bool = false, name: String = "<image>") throws -> [UInt8] {
        guard width > 0, height > 0, (1...4).contains(channels), bytes.count == width * height * channels else {
            throw ImagingError(.invalidArgument, path: name, "cannot write PNG: \(width)x\(height)x\(channels) with \(bytes.count) bytes")
        }
        let format: UInt32 = (channels >= 3 ? formatColor : 0) | (channels == 2 || channels == 4 ? formatAlpha : 0)
        return try bytes.withUnsafeBytes { raw in
            try encodeRaw(raw, width: width, height: height, format: format, fast: fast, name: name)
        }
    }

    /// Writes an image as a PNG file atomically (temporary file + rename).
    public static func write(_ img: Image, to path: String, fast: Bool = false) throws {
        try writeBytes(try encode(img, fast: fast, name: path), to: path)
    }

    /// Reads a PNG file.
    public static func read(path: String, maxPixels: Int? = ImageFile.defaultMaxPixels) throws -> Image {
        try decode(try ImageFile.readBytes(path), maxPixels: maxPixels, name: path)
    }

    /// Writes bytes to a file atomically (see `ImageFile.writeBytes`).
    public static func writeBytes(_ bytes: [UInt8], to path: String) throws { try ImageFile.writeBytes(bytes, to: path) }

    private static func encodeRaw(_ raw: UnsafeRawBufferPointer, width: Int, height: Int, format: UInt32, fast: Bool, name: String) throws -> [UInt8] {
        guard width <= Int(UInt32.max), height <= Int(UInt32.max) else {
            throw ImagingError(.invalidArgument, path: name, "image \(width)x\(height) too large for PNG")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = format
        image.flags = fast ? imageFlagFast : 0
        defer { png_image_free(&image) }
        let channels = 1 + ((format & formatColor) != 0 ? 2 : 0) + ((format & formatAlpha) != 0 ? 1 : 0)
        let sampleBytes = (format & formatLinear) != 0 ? 2 : 1
        // Room for stored (uncompressed) deflate blocks plus headers: one write call suffices.
        var capacity = height * (width * channels * sampleBytes + 1) * 1001 / 1000 + 4096 + height * 8
        for _ in 0..<2 {
            var out = [UInt8](repeating: 0, count: capacity)
            var size = capacity
            let ok = out.withUnsafeMutableBytes { dst in
                png_image_write_to_memory(&image, dst.baseAddress, &size, 0, raw.baseAddress, 0, nil)
            }
            if ok != 0 {
                out.removeLast(out.count - size)
                return out
            }
            if size > capacity {
                capacity = size
                image.warning_or_error = 0
                continue
            }
            let msg = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            throw ImagingError(.writeFailed, path: name, "PNG encoding failed: \(msg)")
        }
        throw ImagingError(.writeFailed, path: name, "PNG encoding failed: output buffer too small")
    }

    /// Returns the bytes with gAMA, sRGB, iCCP and cHRM chunks removed (whole chunks, so every
    /// remaining CRC stays valid); returns the input unchanged if there are none or the chunk
    /// structure cannot be walked (libpng then reports the corruption).
    static func stripColorspaceChunks(_ data: [UInt8]) -> [UInt8] {
        let drop: Set<UInt32> = [0x6741_4D41 /* gAMA */, 0x7352_4742 /* sRGB */, 0x6943_4350 /* iCCP */, 0x6348_524D /* cHRM */]
        var ranges: [Range<Int>] = []
        var p = 8
        while p + 12 <= data.count {
            let len = Int(data[p]) << 24 | Int(data[p + 1]) << 16 | Int(data[p + 2]) << 8 | Int(data[p + 3])
            let type = UInt32(data[p + 4]) << 24 | UInt32(data[p + 5]) << 16 | UInt32(data[p + 6]) << 8 | UInt32(data[p + 7])
            let end = p + 12 + len
            guard len >= 0, len < 1 << 31, end <= data.count else { break }
            if drop.contains(type) { ranges.append(p..<end) }
            if type == 0x4945_4E44 /* IEND */ { break }
            p = end
        }
        if ranges.isEmpty { return data }
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var last = 0
        for r in ranges {
            out.append(contentsOf: data[last..<r.lowerBound])
            last = r.upperBound
        }
        out.append(contentsOf: data[last...])
        return out
    }
}
