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

    public mutating func update(_ text: String) { hasher.update(data: Array(text.utf8)) }

    /// The digest as 64 lowercase hex digits.
    public func finalizeHex() -> String {
        hasher.finalize().map { byte in
            let s = String(byte, radix: 16)
            return byte < 16 ? "0" + s : s
        }.joined()
    }

    /// Digest of bytes.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = ContentDigest(); s.update(bytes); return s.finalizeHex()
    }

    /// Digest of a string's UTF-8 bytes.
    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }

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
