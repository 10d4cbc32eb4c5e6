import OneCardCore
import Testing

@Suite("radix sort of 64-bit keys")
struct RadixSortTests {
    @Test("the same order as the standard sort: random keys, narrow keys, duplicates, short arrays")
    func matchesStandardSort() {
        var rng = SplitMix64(seed: 12)
        let sizes = [0, 1, 2, RadixSort.minimumCount - 1, RadixSort.minimumCount, 50_000]
        let masks: [UInt64] = [.max, 0xFFFF, 0xFFFF_0000, 0xFF, 0xFFFF_0000_0000_0000, 0x0000_FFFF_FFFF_0000]
        for n in sizes {
            for mask in masks {
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
}
