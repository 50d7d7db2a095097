/// A small, fast, seedable generator (SplitMix64). Every random decision in MMCore draws from one of
/// these, seeded from the machine's seed, so the same seed and inputs give the same results byte for byte.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The generator's whole state: `SeededRandom(seed: g.stateWord)` continues exactly where `g` is
    /// (machine snapshots, MachineState.swift).
    var stateWord: UInt64 { state }

    @inline(__always)
    public mutating func next() -> UInt64 {
        // Wrapping arithmetic is the algorithm's definition (mod 2^64).
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<bound` (Lemire's multiply-shift; the tiny bias is irrelevant here and keeps it fast).
    @inline(__always)
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int((UInt128(next()) &* UInt128(UInt64(bound))) >> 64)
    }

    /// A uniform double in [0, 1).
    @inline(__always)
    public mutating func unit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Mixes a value into a well-spread 64-bit word (used for content words derived from handles).
    @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
