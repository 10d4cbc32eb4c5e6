/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable generator, the same stream for
/// the same seed on every machine: the load generator, the clearing fuzzer and the property
/// tests draw from it. The load generator gives every card and every batch file its own
/// stream derived from the run seed, so its output does not depend on the order or the thread
/// in which they are generated.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A stream for `seed`.
    public init(seed: UInt64) { state = seed }

    /// A stream for one item (`a`, `b`) of a run with seed `seed`.
    public init(seed: UInt64, _ a: UInt64, _ b: UInt64 = 0) {
        state = Self.mix(seed ^ Self.mix(a &+ 0x632B_E59B_D9B4_E019) ^ Self.mix(b &+ 0x9E37_79B9_7F4A_7C15))
    }

    /// The SplitMix64 finaliser: a strong 64-bit mix.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (Lemire's multiply-high; the bias is below 2⁻⁴⁰ for our `n`).
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0, "below(\(n))")
        return Int(UInt64(n).multipliedFullWidth(by: next()).high)
    }

    /// A number in `range`.
    @inline(__always)
    public mutating func int(in range: ClosedRange<Int>) -> Int { range.lowerBound + below(range.count) }

    /// A uniform number in `[0, 1)`.
    @inline(__always)
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// `true` with probability `p`.
    @inline(__always)
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// An approximately normal number (Irwin–Hall of 4 uniforms), mean 0, standard deviation 1.
    public mutating func normal() -> Double { (unit() + unit() + unit() + unit() - 2) * 1.7320508075688772 }
}
