import Foundation
import TensorCore

/// The `.safetensors` format: an 8-byte little-endian header length, a JSON header
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`, then the data.
/// Offsets are relative to the data region, which the tensors must cover exactly.
public enum Safetensors {
    /// Headers larger than this are refused (the reference implementation's limit is 100 MB too).
    public static let maxHeaderBytes = 100_000_000

    /// The first 8 bytes of a plausible safetensors file: a header length that fits in the file,
    /// followed by `{`.
    static func looksLike(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard raw.count >= 9 else { return false }
        let n = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        return n <= UInt64(raw.count - 8) && raw[8] == UInt8(ascii: "{")
    }

    /// Parses safetensors bytes into a state dict (entries in header order).
    /// - Parameters:
    ///   - raw: the whole file.
    ///   - file: named in error messages.
    public static func decode(_ raw: UnsafeRawBufferPointer, file: String) throws -> StateDict {
        func fail(_ r: String) -> CheckpointError { CheckpointError(file: file, reason: "safetensors: " + r) }
        guard raw.count >= 8 else { throw fail("truncated: \(raw.count) bytes, the header length alone needs 8") }
        let n64 = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        guard n64 <= UInt64(maxHeaderBytes) else { throw fail("corrupt header: declared header length \(n64) exceeds the \(maxHeaderBytes)-byte limit") }
        let n = Int(n64)
        guard n <= raw.count - 8 else { throw fail("truncated: header length \(n) but only \(raw.count - 8) bytes follow") }
        let header: JSONValue
        do {
            header = try MiniJSONParser.parse(Array(raw[8..<8 + n]))
        } catch let e as MiniJSONParser.Failure {
            throw fail("corrupt header: \(e.message)")
        }
        guard case let .object(members) = header else { throw fail("corrupt header: not a JSON object") }
        let dataStart = 8 + n
        let dataLength = raw.count - dataStart

        struct Item { let key: String; let dtype: CheckpointDType; let shape: [Int]; let begin: Int; let end: Int }
        var items: [Item] = []
        var seen = Set<String>()
        for (key, value) in members {
            guard seen.insert(key).inserted else { throw fail("corrupt header: key '\(key)' appears twice") }
            if key == "__metadata__" {
                guard case let .object(meta) = value, meta.allSatisfy({ if case .string = $0.1 { return true } else { return false } }) else {
                    throw fail("corrupt header: __metadata__ must map strings to strings")
                }
                continue
            }
            guard case let .object(fields) = value else { throw fail("corrupt header: entry '\(key)' is not an object") }
            func field(_ name: String) -> JSONValue? { fields.first(where: { $0.0 == name })?.1 }
            guard case let .string(dtypeName)? = field("dtype") else { throw fail("corrupt header: entry '\(key)' has no dtype") }
            guard let dtype = CheckpointDType(rawValue: dtypeName) else {
                throw fail("tensor '\(key)' has unsupported dtype '\(dtypeName)' (F32, F16, BF16, F64 and integer types are read)")
            }
            guard case let .array(dims)? = field("shape") else { throw fail("corrupt header: entry '\(key)' has no shape") }
            var shape: [Int] = []
            var numel = 1
            for d in dims {
                guard let v = d.nonNegativeInt else { throw fail("corrupt header: entry '\(key)' has a bad shape") }
                let (m, o) = numel.multipliedReportingOverflow(by: v)
                guard !o else { throw fail("corrupt header: shape of '\(key)' overflows") }
                shape.append(v)
                numel = m
            }
            guard case let .array(offs)? = field("data_offsets"), offs.count == 2,
                  let begin = offs[0].nonNegativeInt, let end = offs[1].nonNegativeInt, begin <= end else {
                throw fail("corrupt header: entry '\(key)' has bad data_offsets")
            }
            guard end <= dataLength else {
                throw fail("truncated: tensor '\(key)' ends at data byte \(end) but the file has \(dataLength) data bytes")
            }
            let (bytes, o) = numel.multipliedReportingOverflow(by: dtype.itemSize)
            guard !o, bytes == end - begin else {
                throw fail("size mismatch: tensor '\(key)' \(dtypeName) \(shape) needs \(o ? "too many" : String(bytes)) bytes, data_offsets span \(end - begin)")
            }
            if dtype.isInteger, !StateDict.allowsInteger(key: key) {
                throw CheckpointError(file: file, reason: "tensor '\(key)' has integer dtype \(dtypeName); only *num_batches_tracked may be integer in a state dict")
            }
            items.append(Item(key: key, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // The reference reader requires the tensors to tile the data region: no overlap, no gap.
        var cursor = 0
        for it in items.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            guard it.begin >= cursor else { throw fail("corrupt header: tensor '\(it.key)' overlaps another tensor's data") }
            guard it.begin == cursor else { throw fail("corrupt header: \(it.begin - cursor) data bytes before '\(it.key)' belong to no tensor") }
            cursor = it.end
        }
        guard cursor == dataLength else { throw fail("corrupt file: \(dataLength - cursor) trailing data bytes belong to no tensor") }

        var sd = StateDict()
        for it in items {
            let slice = UnsafeRawBufferPointer(rebasing: raw[(dataStart + it.begin)..<(dataStart + it.end)])
            let t = ElementDecoding.contiguous(slice, dtype: it.dtype, shape: it.shape)
            try sd.set(it.key, t, sourceDType: it.dtype, file: file)
        }
        return sd
    }

    /// The `__metadata__` strings of a safetensors file, reading only its header.
    public static func metadata(path: String) throws -> [String: String] {
        func fail(_ r: String) -> CheckpointError { CheckpointError(file: path, reason: "safetensors: " + r) }
        guard let h = FileHandle(forReadingAtPath: path) else { throw CheckpointError(file: path, reason: "cannot read file") }
        defer { try? h.close() }
        let lengthBytes = (try? h.read(upToCount: 8)) ?? Data()
        guard lengthBytes.count == 8 else { throw fail("truncated: \(lengthBytes.count) bytes, the header length alone needs 8") }
        let n = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(maxHeaderBytes) else { throw fail("corrupt header: declared header length \(n) exceeds the \(maxHeaderBytes)-byte limit") }
        let bytes = (try? h.read(upToCount: Int(n))) ?? Data()
        guard bytes.count == Int(n) else { throw fail("truncated: header length \(n) but only \(bytes.count) bytes follow") }
        let header: JSONValue
        do { header = try MiniJSONParser.parse(Array(bytes)) } catch let e as MiniJSONParser.Failure { throw fail("corrupt header: \(e.message)") }
        guard case let .object(members) = header else { throw fail("corrupt header: not a JSON object") }
        guard case let .object(meta)? = members.first(where: { $0.0 == "__metadata__" })?.1 else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in meta { if case let .string(s) = v { out[k] = s } }
        return out
    }

    /// Encodes a state dict as safetensors: float32 (`F32`) for every entry except those marked
    /// `.int64` (BatchNorm counters), which are written as `I64` so PyTorch's strict load accepts them.
    /// - Parameter metadata: extra `__metadata__` entries (strings), written after `format`.
    public static func encode(_ sd: StateDict, file: String = "<state dict>", metadata: [String: String] = [:]) throws -> Data {
        var header = "{\"__metadata__\":{\"format\":\"pt\""
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) where k != "format" { header += "," + jsonQuoted(k) + ":" + jsonQuoted(v) }
        header += "}"
        var offset = 0
        for e in sd.entries {
            let dtype: CheckpointDType = e.sourceDType == .int64 ? .int64 : .float32
            let end = offset + e.tensor.count * dtype.itemSize
            header += "," + jsonQuoted(e.key) + ":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[" +
                e.tensor.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        let pad = (8 - header.utf8.count % 8) % 8
        header += String(repeating: " ", count: pad)
        let headerBytes = Array(header.utf8)

        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for e in sd.entries {
            let t = e.tensor
            if e.sourceDType == .int64 {
                var buf = [UInt8](repeating: 0, count: t.count * 8)
                for i in 0..<t.count {
                    let v = t.data[i]
                    guard v.isFinite, v.rounded() == v, abs(v) <= 9.0e18 else {
                        throw CheckpointError(file: file, reason: "cannot write '\(e.key)' as int64: element \(i) is \(v)")
                    }
                    withUnsafeBytes(of: Int64(v).littleEndian) { buf.replaceSubrange(8 * i..<8 * i + 8, with: $0) }
                }
                out.append(contentsOf: buf)
            } else {
                var buf = [UInt8](repeating: 0, count: t.count * 4)
                buf.withUnsafeMutableBytes { raw in
                    for i in 0..<t.count { raw.storeBytes(of: t.data[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                }
                out.append(contentsOf: buf)
            }
        }
        return out
    }
}
