import CJPEG
import Foundation

/// JPEG decoding and encoding through libjpeg-turbo (baseline and progressive, grey and colour).
///
/// Decoding uses libjpeg's defaults (ISLOW integer IDCT, fancy upsampling), the same settings PIL
/// uses, so pixel values agree with PIL up to differences between library versions. Grey files
/// come out as one channel, colour files as RGB; CMYK files are refused. A truncated file is an
/// error (PIL's default), not a grey-padded image.
public enum JPEG {
    /// Decodes JPEG bytes into an 8-bit image (1 or 3 channels).
    public static func decode(_ data: [UInt8], maxPixels: Int? = ImageFile.defaultMaxPixels, name: String = "<bytes>") throws -> Image {
        guard data.count >= 3, data[0] == 0xFF, data[1] == 0xD8, data[2] == 0xFF else {
            throw ImagingError(.unknownFormat, path: name, "not a JPEG file (no SOI marker)")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
        var msg = [CChar](repeating: 0, count: 256)
        let cap = UInt64(max(0, maxPixels ?? 0))
        let rc = data.withUnsafeBufferPointer { src in
            msg.withUnsafeMutableBufferPointer { m in
                camaudit_jpeg_decode(src.baseAddress, src.count, cap, &out, &w, &h, &c, m.baseAddress, m.count)
            }
        }
        defer { camaudit_jpeg_free(out) }
        let text = msg.withUnsafeBufferPointer { b in String(decoding: b.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        switch rc {
        case 0: break
        case 2: throw ImagingError(.tooLarge, path: name, "JPEG is \(text)")
        default:
            if text.hasPrefix("zero-size") { throw ImagingError(.zeroSize, path: name, "zero-size JPEG") }
            if text.hasPrefix("CMYK") { throw ImagingError(.unsupported, path: name, text) }
            throw ImagingError(.corrupt, path: name, "corrupt JPEG: \(text)")
        }
        guard let pixels = out, w > 0, h > 0, c == 1 || c == 3 else {
            throw ImagingError(.corrupt, path: name, "corrupt JPEG: decoder returned no pixels")
        }
        let n = Int(w) * Int(h) * Int(c)
        return Image(unchecked: Int(w), Int(h), Int(c), bytes: Array(UnsafeBufferPointer(start: pixels, count: n)))
    }

    /// Encodes an 8-bit grey or RGB image (other layouts are converted: alpha dropped, 16-bit scaled).
    public static func encode(_ img: Image, quality: Int = 90, progressive: Bool = false, name: String = "<image>") throws -> [UInt8] {
        let src = img.channels == 1 || img.channels == 3 ? img : (img.channels == 2 ? img.grey() : img.rgb())
        let bytes = src.bytes8()
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var msg = [CChar](repeating: 0, count: 256)
        let rc = bytes.withUnsafeBufferPointer { p in
            msg.withUnsafeMutableBufferPointer { m in
                camaudit_jpeg_encode(p.baseAddress, Int32(src.width), Int32(src.height), Int32(src.channels), Int32(quality),
                                     progressive ? 1 : 0, &out, &size, m.baseAddress, m.count)
            }
        }
        defer { camaudit_jpeg_free(out) }
        guard rc == 0, let o = out else {
            let text = msg.withUnsafeBufferPointer { b in String(decoding: b.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
            throw ImagingError(.writeFailed, path: name, "JPEG encoding failed: \(text)")
        }
        return Array(UnsafeBufferPointer(start: o, count: size))
    }

    /// Writes an image as a JPEG file atomically.
    public static func write(_ img: Image, to path: String, quality: Int = 90, progressive: Bool = false) throws {
        try PNG.writeBytes(try encode(img, quality: quality, progressive: progressive, name: path), to: path)
    }
}
