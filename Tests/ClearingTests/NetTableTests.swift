@testable import Clearing
import OneCardCore
import Testing

@Suite("the audit's net table")
struct NetTableTests {
    @Test("the same sums as a dictionary, through growth, with the empty-slot key and missing keys")
    func matchesDictionary() {
        var rng = SplitMix64(seed: 3)
        var table = NetTable()
        var truth: [UInt64: Int64] = [:]
        // Few distinct keys, many adds: sums, and keys whose hashes collide in a small table.
        let pool = (0..<20_000).map { i in i % 5 == 0 ? UInt64(i) : rng.next() } + [UInt64.max, 0]
        for _ in 0..<200_000 {
            let key = pool[Int(rng.next() % UInt64(pool.count))]
            let amount = Int64(rng.next() % 10_000) - 5_000
            table.add(key, amount)
            truth[key, default: 0] += amount
        }
        #expect(table.count == truth.keys.filter { $0 != .max }.count)
        var seen: [UInt64: Int64] = [:]
        table.forEach { seen[$0] = $1 }
        #expect(seen == truth)
        #expect(table.total == truth.values.reduce(0, +))
        for key in truth.keys { #expect(table.sum(key) == truth[key]) }
        #expect(table.sum(0xDEAD_BEEF_0000_0001) == nil)
        #expect(NetTable().sum(.max) == nil)
    }
}
