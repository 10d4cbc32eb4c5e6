/// Least-significant-digit radix sort by a 64-bit key: a few passes over the data, against the
/// ~log₂ n passes of a comparison sort. Only the bits in which the keys differ are sorted on
/// (keys that differ in their low 18 bits cost two passes of 11 bits), so no input makes it
/// slower than eight passes (of 8 bits, below 4096 elements). Stable; needs one scratch array of the input's size.
public enum RadixSort {
    /// At or below this many elements an insertion sort is used (stable, and faster there).
    @usableFromInline static let insertionCountMax = 32

    /// Sorts `keys` ascending.
    public static func sort(_ keys: inout [UInt64]) {
        sort(&keys) { $0 }
    }

    /// Sorts `elements` by `key` ascending, stably: elements of equal keys keep their order.
    /// Sorting by a minor key and then by a major one orders by both. Inlinable, so that it is
    /// specialised for the caller's type (unspecialised, each move is a value-witness call).
    @inlinable
    public static func sort<T: BitwiseCopyable>(_ elements: inout [T], by key: (T) -> UInt64) {
        let n = elements.count
        guard n > insertionCountMax else {
            insertionSort(&elements, by: key)
            return
        }
        // The bits in which some key differs from the first: the only ones to sort on.
        let first = key(elements[0])
        var differ: UInt64 = 0
        for e in elements { differ |= key(e) ^ first }
        guard differ != 0 else { return }
        let low = differ.trailingZeroBitCount
        let bits = 64 - differ.leadingZeroBitCount - low
        // Digits as wide as pay for their count table: 11 bits (2048 counts, in the first-level
        // cache) for a run's records, 16 bits (four passes over random 64-bit keys) for a day's
        // 11M transfer ids, as fast there as the 16-bit sort of 64-bit keys this replaced.
        let digitBits = n < 1 << 12 ? 8 : n < 1 << 21 ? 11 : 16
        let passes = (bits + digitBits - 1) / digitBits
        let size = 1 << digitBits
        let mask = UInt64(size - 1)
        @inline(__always) func digit(_ k: UInt64, _ pass: Int) -> Int {
            Int(truncatingIfNeeded: (k >> UInt64(low + pass * digitBits)) & mask)
        }
        var counts = [Int](repeating: 0, count: size)
        var scratch = [T](unsafeUninitializedCapacity: n) { _, initialized in initialized = n }
        for p in 0..<passes {
            for i in 0..<size { counts[i] = 0 }
            elements.withUnsafeBufferPointer { from in
                counts.withUnsafeMutableBufferPointer { c in
                    for e in from { c[digit(key(e), p)] &+= 1 }
                }
            }
            // Every key has the same digit here: the pass would move nothing.
            if counts[digit(first, p)] == n { continue }
            var total = 0
            for i in 0..<size {
                let c = counts[i]
                counts[i] = total
                total &+= c
            }
            elements.withUnsafeBufferPointer { from in
                scratch.withUnsafeMutableBufferPointer { to in
                    counts.withUnsafeMutableBufferPointer { c in
                        for e in from {
                            let d = digit(key(e), p)
                            to[c[d]] = e
                            c[d] &+= 1
                        }
                    }
                }
            }
            swap(&elements, &scratch)
        }
    }

    @inlinable
    static func insertionSort<T>(_ elements: inout [T], by key: (T) -> UInt64) {
        guard elements.count > 1 else { return }
        for i in 1..<elements.count {
            let e = elements[i]
            let k = key(e)
            var j = i
            while j > 0, key(elements[j - 1]) > k {
                elements[j] = elements[j - 1]
                j -= 1
            }
            elements[j] = e
        }
    }
}
