import TensorCore

/// Seeds for independent random streams, one per (seed, index, purpose).
///
/// `SeededRNG(seed:stream:)` offsets one SplitMix64 state by `index` steps, so stream i+1 replays
/// stream i shifted by one draw: slices drawn from neighbouring streams repeat each other's
/// lesions. Here every stream starts from a hash of all three numbers (SplitMix64's finaliser,
/// a bijection with full avalanche, applied after each one is folded in), so two streams share
/// nothing but the chance of landing within a few million draws of each other in a 2⁶⁴ cycle.
public enum StreamSeed {
    /// What a stream is for, folded into its seed so a slice's anatomy, lesion and noise never
    /// share draws.
    public enum Purpose: UInt64, Sendable {
        case anatomy = 1, lesion = 2, rendering = 3, split = 4
    }

    /// SplitMix64's output function.
    @inline(__always) public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The seed of stream (`seed`, `index`, `purpose`).
    public static func seed(_ seed: UInt64, index: UInt64, purpose: Purpose) -> UInt64 {
        mix(mix(mix(seed ^ 0x6A09_E667_F3BC_C909) ^ index) ^ (purpose.rawValue &* 0xD6E8_FEB8_6659_FD93))
    }

    /// A generator for stream (`seed`, `index`, `purpose`).
    public static func rng(_ seed: UInt64, index: UInt64, purpose: Purpose) -> SeededRNG {
        SeededRNG(seed: Self.seed(seed, index: index, purpose: purpose))
    }
}
