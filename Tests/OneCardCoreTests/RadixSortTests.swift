import OneCardCore
import Testing

@Suite("radix sort by a 64-bit key")
struct RadixSortTests {
    /// Around the insertion-sort limit (32), the 8-bit digit limit (4096) and above.
    static let sizes = [0, 1, 2, 31, 32, 33, 4095, 4096, 50_000]
    static let masks: [UInt64] = [.max, 0xFFFF, 0xFFFF_0000, 0xFF, 0xFFFF_0000_0000_0000, 0x0000_FFFF_FFFF_0000, 0x8000_0000_0000_0001]

    @Test("the same order as the standard sort: random keys, narrow keys, duplicates, short arrays")
    func matchesStandardSort() {
        var rng = SplitMix64(seed: 12)
        for n in Self.sizes {
            for mask in Self.masks {
                var keys = (0..<n).map { _ in rng.next() & mask }
                let expected = keys.sorted()
                RadixSort.sort(&keys)
                #expect(keys == expected, "\(n) keys under mask \(String(mask, radix: 16))")
            }
        }
        var same = [UInt64](repeating: 7, count: 10_000)
        RadixSort.sort(&same)
        #expect(same == [UInt64](repeating: 7, count: 10_000))
    }

    @Test("large arrays (16-bit digits from 2²¹ elements on): a stable sort, checked in one pass")
    func large() {
        var rng = SplitMix64(seed: 21)
        let n = 1 << 21
        for mask: UInt64 in [.max, 0xF_FFFF << 7] {
            var pairs = (0..<n).map { Pair(key: rng.next() & mask, index: $0) }
            RadixSort.sort(&pairs) { $0.key }
            // Ordered by key, equal keys in their original order, and every element once.
            var seen = [Bool](repeating: false, count: n)
            var ordered = true
            for i in 0..<n {
                seen[pairs[i].index] = true
                if i > 0, (pairs[i - 1].key, pairs[i - 1].index) >= (pairs[i].key, pairs[i].index) { ordered = false }
            }
            #expect(ordered, "mask \(String(mask, radix: 16))")
            #expect(!seen.contains(false))
        }
    }

    struct Pair: Equatable {
        var key: UInt64
        var index: Int
    }

    @Test("stable: elements of equal keys keep their order, at every size and key width")
    func stable() {
        var rng = SplitMix64(seed: 7)
        for n in Self.sizes {
            for mask in Self.masks {
                // Few distinct keys, so that most elements share theirs with others.
                var pairs = (0..<n).map { Pair(key: (rng.next() % 17) &* 0x0101_0101_0101_0101 & mask, index: $0) }
                let expected = pairs.sorted { ($0.key, $0.index) < ($1.key, $1.index) }
                RadixSort.sort(&pairs) { $0.key }
                #expect(pairs == expected, "\(n) elements under mask \(String(mask, radix: 16))")
            }
        }
    }

    @Test("by a minor key, then a major one: ordered by both, ties in the original order")
    func twoKeys() {
        var rng = SplitMix64(seed: 3)
        let n = 20_000
        var pairs = (0..<n).map { i in (major: rng.next() % 1_000, minor: rng.next() % 50, index: i) }
        let expected = pairs.sorted { ($0.major, $0.minor, $0.index) < ($1.major, $1.minor, $1.index) }
        RadixSort.sort(&pairs) { $0.minor }
        RadixSort.sort(&pairs) { $0.major }
        #expect(pairs.map(\.index) == expected.map(\.index))
    }
}
