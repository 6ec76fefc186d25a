import Foundation
import Crypto

/// SHA-256 digests as lowercase hex, for content keys: checkpoint digests, image content hashes,
/// row keys. The hashing is swift-crypto's; this only streams files through it and spells the result.
public struct ContentDigest {
    private var hasher = SHA256()

    public init() {}

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        hasher.update(data: Array(bytes))
    }

    /// Hashes the string's UTF-8 bytes in place (no copy: plans hash millions of short strings).
    public mutating func update(_ text: String) {
        var t = text
        t.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The digest as 64 lowercase hex digits.
    public func finalizeHex() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in hasher.finalize() {
            out.append(Self.hexDigits[Int(byte >> 4)])
            out.append(Self.hexDigits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Digest of bytes.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = ContentDigest(); s.update(bytes); return s.finalizeHex()
    }

    /// Digest of a string's UTF-8 bytes.
    public static func hex(_ text: String) -> String { var s = ContentDigest(); s.update(text); return s.finalizeHex() }

    /// Digest of a file's bytes, read in 4 MB chunks (a checkpoint is never held twice).
    public static func hex(file path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw SweepError.io(path: path, detail: "cannot read file") }
        defer { try? h.close() }
        var s = ContentDigest()
        while true {
            let chunk: Data
            do { chunk = try h.read(upToCount: 4 << 20) ?? Data() } catch { throw SweepError.io(path: path, detail: "read failed: \(error)") }
            if chunk.isEmpty { break }
            s.hasher.update(data: chunk)
        }
        return s.finalizeHex()
    }
}
