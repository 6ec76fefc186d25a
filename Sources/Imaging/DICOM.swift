import CDicom
import Foundation

/// What a DICOM file says about its pixels and where they came from.
public struct DicomInfo: Sendable, Equatable {
    public var rows: Int, columns: Int, frames: Int
    public var bitsAllocated: Int, bitsStored: Int, highBit: Int
    /// 0 unsigned, 1 two's complement.
    public var pixelRepresentation: Int
    /// RescaleSlope and RescaleIntercept; 1 and 0 when the file has none (as pydicom's modality LUT).
    public var rescaleSlope: Double, rescaleIntercept: Double
    /// PixelPaddingValue (a stored value), if the file has one.
    public var paddingValue: Int?
    /// MONOCHROME1 or MONOCHROME2.
    public var photometric: String
    /// The first WindowCenter/WindowWidth, if the file has a usable one (width > 0).
    public var window: HUWindow?
    public var sopInstanceUID: String
    public var seriesInstanceUID: String
    /// PixelSpacing as written (row spacing\column spacing, mm); empty when absent.
    public var pixelSpacing: String
    public var transferSyntaxUID: String
    public var transferSyntaxName: String

    /// Whether displayed values run white to black (the window's output is inverted).
    public var invertsGrey: Bool { photometric == "MONOCHROME1" }
}

/// One frame of a DICOM file: its stored values and the Hounsfield units they stand for.
public struct DicomSlice: Sendable {
    public var info: DicomInfo
    /// 1-based frame number (DICOM numbers frames from 1).
    public var frame: Int
    /// rows × columns stored values, row-major: bits above BitsStored masked off, sign-extended
    /// when PixelRepresentation is 1.
    public var stored: [Int32]
    public var width: Int { info.columns }
    public var height: Int { info.rows }

    /// HU = stored × RescaleSlope + RescaleIntercept in float64, multiply then add: what pydicom's
    /// `apply_modality_lut` returns, padding pixels included.
    public var hounsfield: [Double] {
        let (m, b) = (info.rescaleSlope, info.rescaleIntercept)
        return stored.map { DicomSlice.modality(Double($0), m, b) }
    }

    /// The HU a model input is made from: `hounsfield`, with PixelPaddingValue pixels set to air
    /// (`DICOM.airHU`) so the padded field-of-view border looks like the air around the body.
    public var inputHounsfield: [Double] {
        let (m, b) = (info.rescaleSlope, info.rescaleIntercept)
        guard let pad = info.paddingValue.map(Int32.init(truncatingIfNeeded:)) else { return hounsfield }
        return stored.map { $0 == pad ? DICOM.airHU : DicomSlice.modality(Double($0), m, b) }
    }

    // Kept out of line so the product and the sum round separately, as numpy's do (no fused multiply-add).
    @inline(never) static func modality(_ v: Double, _ m: Double, _ b: Double) -> Double {
        let p = v * m
        return p + b
    }
}

/// DICOM files through DCMTK (the `CDicom` shim): recognised by the 128-byte preamble followed by
/// `DICM`, not by the extension.
///
/// Decoded transfer syntaxes: implicit and explicit VR little endian, explicit VR big endian,
/// deflated explicit VR little endian, RLE Lossless, JPEG lossless (process 14, incl. SV1),
/// JPEG baseline/extended and JPEG-LS (lossless and near-lossless). JPEG 2000 is not in the free
/// DCMTK and is refused, as is any other transfer syntax, with its UID and name.
public enum DICOM {
    /// The HU that PixelPaddingValue pixels become.
    public static let airHU = -1000.0
    /// Cap on the decompressed pixel data of all frames of one file (2 GiB).
    public static let maxBytes: UInt64 = 1 << 31

    /// Whether the bytes open with a DICOM Part 10 preamble: 128 bytes, then `DICM`.
    public static func isDICOM(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 132 && bytes[128] == 0x44 && bytes[129] == 0x49 && bytes[130] == 0x43 && bytes[131] == 0x4D
    }

    /// Whether the file at `path` opens with the DICOM preamble (reads 132 bytes).
    public static func isDICOM(path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        guard let d = try? h.read(upToCount: 132) else { return false }
        return isDICOM([UInt8](d))
    }

    /// The header only (no pixel data decoded): for counting frames and recording UIDs.
    public static func info(_ bytes: [UInt8], maxPixels: Int? = ImageFile.defaultMaxPixels, name: String = "<bytes>") throws -> DicomInfo {
        try call(bytes, frame: 0, headerOnly: true, maxPixels: maxPixels, name: name).info
    }

    /// Decodes frame `frame` (1-based) of a DICOM file held in memory.
    public static func decode(_ bytes: [UInt8], frame: Int = 1, maxPixels: Int? = ImageFile.defaultMaxPixels, name: String = "<bytes>") throws -> DicomSlice {
        guard frame >= 1, frame <= Int(Int32.max) else {
            throw ImagingError(.invalidArgument, path: name, "frame \(frame): frames are numbered from 1")
        }
        let r = try call(bytes, frame: frame, headerOnly: false, maxPixels: maxPixels, name: name)
        return DicomSlice(info: r.info, frame: frame, stored: r.values)
    }

    private static func call(_ bytes: [UInt8], frame: Int, headerOnly: Bool, maxPixels: Int?, name: String) throws -> (info: DicomInfo, values: [Int32]) {
        var raw = camaudit_dicom_info()
        var out: UnsafeMutablePointer<Int32>? = nil
        var msg = [CChar](repeating: 0, count: 512)
        let cap = UInt64(max(0, maxPixels ?? 0))
        let rc = bytes.withUnsafeBufferPointer { src in
            msg.withUnsafeMutableBufferPointer { m in
                camaudit_dicom_read(src.baseAddress, src.count, Int32(frame - 1), headerOnly ? 1 : 0, cap, maxBytes, &raw, &out, m.baseAddress, m.count)
            }
        }
        defer { camaudit_dicom_free(out) }
        let text = cString(msg)
        switch rc {
        case 0: break
        case 2: throw ImagingError(.tooLarge, path: name, "DICOM is \(text)")
        case 3: throw ImagingError(.unsupported, path: name, text)
        case 4: throw ImagingError(.unknownFormat, path: name, text)
        default:
            if text.hasPrefix("zero-size") { throw ImagingError(.zeroSize, path: name, "zero-size DICOM image") }
            throw ImagingError(.corrupt, path: name, "corrupt DICOM: \(text)")
        }
        let info = try makeInfo(raw, name: name)
        if headerOnly { return (info, []) }
        guard let values = out else { throw ImagingError(.corrupt, path: name, "corrupt DICOM: decoder returned no pixels") }
        return (info, Array(UnsafeBufferPointer(start: values, count: info.rows * info.columns)))
    }

    private static func makeInfo(_ r: camaudit_dicom_info, name: String) throws -> DicomInfo {
        // Fixed-size C char arrays arrive as tuples: read their bytes up to the NUL.
        func text<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { p in String(decoding: p.prefix(while: { $0 != 0 }), as: UTF8.self).trimmingCharacters(in: .whitespaces) }
        }
        // Decimal strings are parsed here, correctly rounded, so a slope of "0.7" is the same double
        // pydicom uses.
        func decimal(_ text: String, _ what: String, default d: Double?) throws -> Double? {
            if text.isEmpty { return d }
            guard let v = Double(text), v.isFinite else { throw ImagingError(.corrupt, path: name, "corrupt DICOM: \(what) '\(text)' is not a number") }
            return v
        }
        let slope = try decimal(text(r.rescale_slope), "RescaleSlope", default: 1)!
        let intercept = try decimal(text(r.rescale_intercept), "RescaleIntercept", default: 0)!
        var window: HUWindow? = nil
        if let c = try? decimal(text(r.window_center), "WindowCenter", default: nil),
           let w = try? decimal(text(r.window_width), "WindowWidth", default: nil), w > 0 {
            window = HUWindow(center: c, width: w)
        }
        return DicomInfo(rows: Int(r.rows), columns: Int(r.columns), frames: Int(r.frames),
                         bitsAllocated: Int(r.bits_allocated), bitsStored: Int(r.bits_stored), highBit: Int(r.high_bit),
                         pixelRepresentation: Int(r.pixel_representation), rescaleSlope: slope, rescaleIntercept: intercept,
                         paddingValue: r.has_padding_value != 0 ? Int(r.padding_value) : nil,
                         photometric: text(r.photometric), window: window,
                         sopInstanceUID: text(r.sop_instance_uid), seriesInstanceUID: text(r.series_instance_uid),
                         pixelSpacing: text(r.pixel_spacing), transferSyntaxUID: text(r.transfer_syntax_uid),
                         transferSyntaxName: text(r.transfer_syntax_name))
    }

    private static func cString(_ b: [CChar]) -> String {
        b.withUnsafeBufferPointer { p in String(decoding: p.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }
}
