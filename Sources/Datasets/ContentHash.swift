/// Content hashing for duplicate detection: FNV-1a 64 over the bytes, combined with the length.
///
/// Not cryptographic — duplicates found by hash are confirmed byte-for-byte before being reported,
/// so a collision can never merge two different files.
public enum ContentHash {
    /// `"<16 hex digits>-<length>"`.
    public static func fnv1a64(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        bytes.withUnsafeBufferPointer { p in
            for b in p { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex + "-\(bytes.count)"
    }
}
