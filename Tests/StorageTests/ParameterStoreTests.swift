import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Storage
import Testing
import StoreTestSupport

@Suite("Parameter versions kept by clearing: the city file by effective day, the hotlist by change")
struct ParameterStoreTests {
    @Test("each city version is kept; a day uses the version in force on it; the same bytes store nothing; a closed day cannot get a new version")
    func cityVersions() throws {
        try withTempDir { dir in
            let store = try TestBackend.open(dir + "/c.sqlite")
            #expect(try store.newestCity() == nil)
            #expect(try store.city(forDay: BCDDate("2026-11-01")!) == nil)
            let v1 = Data("{\"v\":1}".utf8), v2 = Data("{\"v\":2}".utf8), v3 = Data("{\"v\":3}".utf8)
            #expect(try store.addCity(v1) == 1)
            #expect(try store.addCity(v1) == 1, "the same bytes again store nothing")
            #expect(try store.addCity(v2, effective: BCDDate("2026-11-10")!) == 2)
            #expect(try store.addCity(v3, effective: BCDDate("2026-11-20")!) == 3)
            #expect(try store.city(forDay: BCDDate("2026-11-09")!)?.version == 1)
            #expect(try store.city(forDay: BCDDate("2026-11-10")!)?.version == 2)
            #expect(try store.city(forDay: BCDDate("2026-11-19")!)?.file == v2)
            #expect(try store.city(forDay: BCDDate("2026-11-25")!)?.version == 3)
            #expect(try store.newestCity()?.version == 3)
            let listed = try store.cityVersions()
            #expect(listed.map(\.version) == [1, 2, 3])
            #expect(listed[0].effective == nil && listed[1].effective == BCDDate("2026-11-10"))
            #expect(listed[2].sha256 == Hex.encode(SHA256Digest.hash(Array(v3))) && listed[2].bytes == v3.count)
            #expect(try store.cityFile(version: 2) == v2)
            #expect(try store.cityFile(version: 9) == nil)

            // Close 2026-11-12: a version for it or before is refused; one with no date starts after it.
            try store.saveSettlement(day: BCDDate("2026-11-12")!, runs: [], adjustments: [], transfers: [], closedAt: "2026-11-13T01:00:00Z")
            #expect(throws: StorageError.self) { try store.addCity(Data("{}".utf8), effective: BCDDate("2026-11-12")!) }
            #expect(throws: StorageError.self) { try store.addCity(Data("{}".utf8), effective: BCDDate("2026-11-01")!) }
            #expect(try store.cityVersions().count == 3, "nothing stored by a refused version")
            let v4 = try store.addCity(Data("{\"v\":4}".utf8))
            #expect(try store.cityVersions().last?.effective == BCDDate("2026-11-13"))
            #expect(try store.city(forDay: BCDDate("2026-11-12")!)?.version == 2, "the closed day keeps its version")
            #expect(try store.city(forDay: BCDDate("2026-11-13")!)?.version == v4)
        }
    }

    @Test("the hotlist's version counts membership changes; the changes since any version bring that list to the newest")
    func hotlistChanges() throws {
        try withTempDir { dir in
            let store = try TestBackend.open(dir + "/c.sqlite")
            #expect(try store.hotlistVersion() == 1)
            #expect(try store.hotlistSerials().serials.isEmpty)
            // A history of adds and removes, with the list as it stood after each version.
            var rng = SplitMix64(seed: 5)
            var lists: [UInt64: Set<UInt64>] = [1: []]
            var current: Set<UInt64> = []
            // Serials with the top bit set, to check the unsigned order.
            let pool = (0..<40).map { UInt64($0) * 0x0123_4567_89AB_CDEF }
            for _ in 0..<120 {
                let s = pool[Int(rng.next() % UInt64(pool.count))]
                if current.contains(s), rng.next() % 2 == 0 {
                    try store.hotlistRemove(CardSerial(rawValue: s))
                    current.remove(s)
                } else {
                    let was = current.contains(s)
                    try store.hotlistAdd(CardSerial(rawValue: s), since: 100, reason: "r\(rng.next() % 9)")
                    current.insert(s)
                    if was { continue }
                }
                lists[try store.hotlistVersion()] = current
            }
            let newest = try store.hotlistVersion()
            #expect(newest == UInt64(lists.count), "one version per membership change (re-adding a listed card is none)")
            #expect(try store.hotlistSerials() == (newest, current.sorted()))
            for (base, list) in lists {
                let c = try #require(try store.hotlistChanges(since: base))
                #expect(c.version == newest && c.added == c.added.sorted() && c.removed == c.removed.sorted())
                #expect(list.union(c.added).subtracting(c.removed) == current, "since \(base)")
                #expect(Set(c.added).isDisjoint(with: list) && Set(c.removed).isSubset(of: list), "since \(base): only real changes")
            }
            #expect(try store.hotlistChanges(since: 0).map { Set($0.added) } == current)
            #expect(try store.hotlistChanges(since: newest + 1) == nil)
            #expect(try store.hotlistChanges(since: UInt64.max) == nil)
        }
    }
}
