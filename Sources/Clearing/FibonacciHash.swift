/// The slot of a 64-bit key in a table of a power-of-two number of slots: the top bits of the
/// key times 2⁶⁴/φ (Fibonacci hashing), which spreads serials, terminal numbers and sequences
/// that differ in their low bits across the whole table. Taking the table's size rather than
/// a bit count keeps every table's slots within it (the TAC key cache once used a fixed 18 bits
/// whatever its size).
enum FibonacciHash {
    @inline(__always)
    static func slot(_ key: UInt64, tableSize: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - tableSize.trailingZeroBitCount))
    }
}
