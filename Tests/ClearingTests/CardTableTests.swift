@testable import Clearing
import OneCardCore
import OneCardCrypto
import Testing

@Suite("the card shadow table")
struct CardTableTests {
    static func shadow(_ n: UInt64) -> CardShadow {
        var s = CardShadow()
        s.balanceFen = UInt32(truncatingIfNeeded: n)
        s.offlineSeen = n &* 0x9E37_79B9_7F4A_7C15
        s.baselineAdjustFen = -Int64(n % 1000)
        return s
    }

    @Test("the same cards as a dictionary through growth, updates, removals, the empty-slot serial and copies")
    func matchesDictionary() {
        var rng = SplitMix64(seed: 12)
        var table = CardTable()
        var truth: [UInt64: CardShadow] = [:]
        // Sequential serials (as an issuer numbers its cards), random ones, and the two edges.
        let pool = (0..<30_000).map { i in i % 3 == 0 ? 0x1000_0000_0000_0000 | UInt64(i) : rng.next() } + [UInt64.max, 0]
        var copies: [(CardTable, [UInt64: CardShadow])] = []
        for step in 0..<300_000 {
            let serial = pool[Int(rng.next() % UInt64(pool.count))]
            if rng.next() % 5 == 0 {
                table[serial] = nil
                truth[serial] = nil
            } else {
                let s = Self.shadow(rng.next())
                table[serial] = s
                truth[serial] = s
            }
            // A copy taken now keeps what it held, whatever the original does next.
            if step % 60_000 == 0 { copies.append((table, truth)) }
        }
        #expect(table.count == truth.count)
        for (serial, s) in truth { #expect(table[serial] == s) }
        var seen: [UInt64: CardShadow] = [:]
        for (serial, s) in table {
            #expect(seen[serial] == nil, "each card once")
            seen[serial] = s
        }
        #expect(seen == truth)
        #expect(table[0xDEAD_BEEF_0000_0001] == nil && table.slot(of: 0xDEAD_BEEF_0000_0001) == nil)
        for (copy, held) in copies {
            #expect(copy.count == held.count)
            #expect(Dictionary(uniqueKeysWithValues: copy.map { ($0.key, $0.value) }) == held)
        }
    }

    @Test("a slot reads and writes its card's shadow, and a change through a copy leaves the original")
    func slots() throws {
        var table = CardTable()
        for n in 1...1000 as ClosedRange<UInt64> { table[n] = Self.shadow(n) }
        let original = table
        let slot = try #require(table.slot(of: 500))
        #expect(table[slot: slot] == Self.shadow(500))
        table[slot: slot] = Self.shadow(7)
        #expect(table[500] == Self.shadow(7))
        #expect(original[500] == Self.shadow(500))
        #expect(table != original)
        table[500] = Self.shadow(500)
        #expect(table == original)
        #expect(table.slot(of: UInt64.max) == nil, "the empty-slot serial has no slot")
    }

    @Test("a slot is a serial and its shadow in one cache line")
    func slotIsALine() {
        #expect(MemoryLayout<CardTable.Slot>.stride == 64)
    }

    @Test("reserving room sizes the table once: no growth while the cards are added")
    func reserve() {
        var table = CardTable()
        table.reserveCapacity(100_000)
        let bytes = table.bytes
        #expect(bytes >= 100_000 * 64 * 4 / 3)
        for n in 0..<100_000 as Range<UInt64> { table[n &* 0x1_0000_0001] = Self.shadow(n) }
        #expect(table.bytes == bytes)
        #expect(table.count == 100_000)
    }
}

@Suite("the TAC key cache")
struct TACKeyCacheTests {
    @Test("a lane's cards spread over all of its entries, within the lane")
    func slotsSpanTheLane() {
        var rng = SplitMix64(seed: 5)
        let cache = TACKeyCache(masters: [:], cards: 10_000_000)
        #expect(cache.entriesPerLane == TACKeyCache.entriesPerLaneMax)
        for lane in 0..<TACKeyCache.lanes {
            let slots = (0..<100_000).map { _ in cache.slot(lane: lane, serial: rng.next()) }
            let first = lane * cache.entriesPerLane
            #expect(slots.allSatisfy { $0 >= first && $0 < first + cache.entriesPerLane })
            // The slot once took 18 bits of the hash whatever the lane's size: a quarter of a
            // 2^20-entry lane was used.
            #expect(slots.max()! - first >= cache.entriesPerLane * 15 / 16)
            #expect(Set(slots).count > 90_000)
        }
    }

    @Test("a lane has an entry for each card it sees, up to a national day's 20M cards")
    func roomForANationalDay() {
        for cards in [200_000, 2_000_000, 20_000_000] {
            #expect(TACKeyCache.entriesPerLane(cards: cards) >= cards / TACKeyCache.lanes, "\(cards) cards")
        }
    }

    @Test("the lanes grow with the engine's cards, up to their bound, and keep the right keys")
    func grows() throws {
        let master = try TripleDESKey(hex: "000102030405060708090A0B0C0D0E0F")
        let cache = TACKeyCache(masters: [1: master])
        #expect(cache.entriesPerLane == TACKeyCache.entriesPerLaneMin)
        let serials = (0..<5_000).map { 0x0100_0000_0000_0000 | UInt64($0) }
        func check() {
            cache.inTurn {
                for s in serials {
                    #expect(cache.key(lane: 0, serial: s, version: 1) == TripleDESPurse.tacKey(tacMaster: master, serial: CardSerial(rawValue: s)))
                }
            }
        }
        check()
        cache.noteCards(300_000)
        #expect(cache.entriesPerLane == TACKeyCache.entriesPerLaneMin, "grown at the next turn, not while one may run")
        check()
        #expect(cache.entriesPerLane == 1 << 19)
        cache.noteCards(50_000_000)
        check()
        #expect(cache.entriesPerLane == TACKeyCache.entriesPerLaneMax)
        cache.noteCards(10)
        check()
        #expect(cache.entriesPerLane == TACKeyCache.entriesPerLaneMax, "it does not shrink")
        cache.inTurn { #expect(cache.key(lane: 1, serial: 7, version: 2) == nil, "no master of that version") }
    }
}

@Suite("the cards asked for ahead")
struct CardsAheadTests {
    @Test("each card is asked for once, in order, before it is worked on and at most 32 cards ahead of it")
    func asksEachCardOnceAhead() {
        var rng = SplitMix64(seed: 9)
        var items: [Posting.Item] = []
        var serials: [UInt64] = []
        for c in 0..<1_000 {
            let serial = 0x0300_0000_0000_0000 | UInt64(c) << 8 | (rng.next() & 0xFF)
            serials.append(serial)
            for i in 0...(rng.next() % 5) { items.append(Posting.Item(serial: serial, order: i)) }
        }
        // Both ways it is used: the whole run (posting) and a lane's half (verifying).
        for range in [items.indices, 0..<(items.count / 2), (items.count / 2)..<items.count] {
            let cards = serials.filter { s in items[range].contains { $0.serial == s } }
            var walker = CardsAhead(range)
            var asked: [UInt64] = []
            var card = 0
            for n in range where n == range.lowerBound || items[n].serial != items[n - 1].serial {
                walker.newCard(items) { asked.append($0) }
                #expect(asked.count > card, "card \(card) asked for before it is worked on")
                #expect(asked.count <= card + CardsAhead.count)
                card += 1
            }
            #expect(asked == cards)
        }
    }
}
