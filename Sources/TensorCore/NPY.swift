import Foundation

/// NumPy `.npy` reading and writing (format versions 1.0–3.0 read, 1.0 written; C order only).
///
/// Arrays cross the CLI boundary in this format. Reading accepts little-endian float32/float64/
/// float16, uint8, int32 and int64 (converted to float32); Fortran order and object arrays are
/// refused with a message naming the file.
public enum NPY {
    public enum DType: String, Sendable { case float32 = "<f4", uint8 = "|u1" }

    public struct FormatError: Error, CustomStringConvertible, LocalizedError {
        public let path: String
        public let reason: String
        public var description: String { "\(path): not a readable .npy file: \(reason)" }
        public var errorDescription: String? { description }
    }

    /// Reads a `.npy` file into a float32 tensor.
    public static func read(path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, reason: "cannot open file")
        }
        return try decode(data, name: path)
    }

    /// Decodes `.npy` bytes into a float32 tensor.
    public static func decode(_ data: Data, name: String = "<bytes>") throws -> Tensor {
        let bytes = [UInt8](data)
        func fail(_ r: String) -> FormatError { FormatError(path: name, reason: r) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw fail("missing NUMPY magic")
        }
        let major = bytes[6]
        var headerLen: Int
        var offset: Int
        switch major {
        case 1:
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            offset = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            offset = 12
        default:
            throw fail("unsupported format version \(major)")
        }
        guard headerLen >= 0, offset + headerLen <= bytes.count else { throw fail("truncated header") }
        guard let header = String(bytes: bytes[offset..<offset + headerLen], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail("header is not text")
        }
        offset += headerLen
        guard let descr = field(header, "descr") else { throw fail("header has no descr") }
        let fortran = field(header, "fortran_order") ?? "False"
        guard fortran.hasPrefix("False") else { throw fail("Fortran-order arrays are not supported") }
        guard let shapeText = field(header, "shape") else { throw fail("header has no shape") }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let v = Int(d), v >= 0 else { throw fail("bad shape \(shapeText)") }
            shape.append(v)
        }
        var n = 1
        for d in shape {
            let (m, o) = n.multipliedReportingOverflow(by: d)
            guard !o, m <= 1 << 34 else { throw fail("shape \(shape) too large") }
            n = m
        }
        let d = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        let itemSize: Int
        switch d {
        case "<f4", "f4": itemSize = 4
        case "<f8", "f8": itemSize = 8
        case "<f2", "f2": itemSize = 2
        case "|u1", "u1", "<u1", "|b1", "b1": itemSize = 1
        case "<i4", "i4": itemSize = 4
        case "<i8", "i8": itemSize = 8
        default: throw fail("unsupported dtype \(d) (float32/64/16, uint8, bool, int32, int64 are read)")
        }
        guard bytes.count - offset >= n * itemSize else {
            throw fail("truncated data: shape \(shape) needs \(n * itemSize) bytes, file has \(bytes.count - offset)")
        }
        let t = Tensor(uninitialized: shape)
        bytes.withUnsafeBytes { raw in
            let p = raw.baseAddress! + offset
            switch d {
            case "<f4", "f4":
                for i in 0..<n { t.data[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case "<f8", "f8":
                for i in 0..<n { t.data[i] = Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            case "<f2", "f2":
                for i in 0..<n { t.data[i] = Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
            case "<i4", "i4":
                for i in 0..<n { t.data[i] = Float(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case "<i8", "i8":
                for i in 0..<n { t.data[i] = Float(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            default:
                for i in 0..<n { t.data[i] = Float(p.load(fromByteOffset: i, as: UInt8.self)) }
            }
        }
        return t
    }

    /// Encodes a tensor as `.npy` v1.0 bytes in `dtype` ('<f4' or '|u1'; uint8 values are rounded and clamped).
    public static func encode(_ t: Tensor, dtype: DType = .float32) -> Data {
        let shapeText = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let hl = header.utf8.count
        out.append(contentsOf: [UInt8(hl & 0xff), UInt8(hl >> 8)])
        out.append(contentsOf: Array(header.utf8))
        switch dtype {
        case .float32:
            var buf = [UInt8](repeating: 0, count: t.count * 4)
            buf.withUnsafeMutableBytes { raw in
                for i in 0..<t.count { raw.storeBytes(of: t.data[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
            out.append(contentsOf: buf)
        case .uint8:
            out.append(contentsOf: (0..<t.count).map { i -> UInt8 in
                let v = t.data[i]
                return v.isNaN ? 0 : UInt8(max(0, min(255, v.rounded())))
            })
        }
        return out
    }

    /// Writes a tensor as `.npy` atomically (temporary file + rename).
    public static func write(_ t: Tensor, path: String, dtype: DType = .float32) throws {
        try encode(t, dtype: dtype).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    private static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[r.upperBound...].drop(while: { $0 == " " || $0 == ":" })
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        if let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) { rest = rest[..<end] }
        return rest.trimmingCharacters(in: .whitespaces)
    }
}
