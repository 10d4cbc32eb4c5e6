/// Least-significant-digit radix sort of 64-bit keys, 16 bits a pass: four passes over the
/// data and a 64k-entry count table, against the ~log₂ n passes of a comparison sort. A pass
/// whose digit is the same in every key is skipped (keys that use only their low bits cost
/// fewer passes). Stable; needs one scratch array of the input's size.
public enum RadixSort {
    /// Below this many keys the standard library's sort is faster.
    public static let minimumCount = 4096

    /// Sorts `keys` ascending.
    public static func sort(_ keys: inout [UInt64]) {
        guard keys.count >= minimumCount else {
            keys.sort()
            return
        }
        var scratch = [UInt64](repeating: 0, count: keys.count)
        var counts = [Int](repeating: 0, count: 1 << 16)
        var inScratch = false
        for pass in 0..<4 {
            let shift = UInt64(pass * 16)
            for i in counts.indices { counts[i] = 0 }
            keys.withUnsafeBufferPointer { k in
                scratch.withUnsafeBufferPointer { s in
                    let from = inScratch ? s : k
                    for v in from { counts[Int(truncatingIfNeeded: (v >> shift) & 0xFFFF)] &+= 1 }
                }
            }
            // Every key has the same digit: this pass would move nothing.
            if counts.contains(keys.count) { continue }
            var total = 0
            for i in counts.indices {
                let c = counts[i]
                counts[i] = total
                total &+= c
            }
            keys.withUnsafeMutableBufferPointer { k in
                scratch.withUnsafeMutableBufferPointer { s in
                    let (from, to) = inScratch ? (s, k) : (k, s)
                    counts.withUnsafeMutableBufferPointer { c in
                        for v in from {
                            let d = Int(truncatingIfNeeded: (v >> shift) & 0xFFFF)
                            to[c[d]] = v
                            c[d] &+= 1
                        }
                    }
                }
            }
            inScratch.toggle()
        }
        if inScratch { keys = scratch }
    }
}
