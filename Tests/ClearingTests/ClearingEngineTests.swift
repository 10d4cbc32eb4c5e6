import City
import Clearing
import OneCardTestSupport
import Foundation
import OneCardCore
import OneCardCrypto
import Testing
import UploadBatch


@Suite("Clearing engine")
struct ClearingEngineTests {
    @Test("a day posts every fare and load exactly, and every account nets to zero")
    func cleanDay() {
        var d = Day()
        let loads = [d.load(cardA, 5000, at: "2026-11-29T07:00:00"), d.load(cardB, 1000, at: "2026-11-29T07:05:00")]
        let taps = [d.tap(cardA, 200, at: "2026-11-29T08:00:00"), d.tap(cardB, 100, at: "2026-11-29T08:01:00"),
                    d.tap(cardA, 200, at: "2026-11-29T18:00:00")]
        let e = Day.engine()
        // Bus batch first: the loads come later in the same run and the per-card sort fixes the order.
        let r = e.run([Day.batch(Day.bus, 1, taps), Day.batch(Day.counter, 1, loads)])
        #expect(r.summary.accepted == 5)
        #expect(r.summary.acceptedAmountFen == 6500)
        #expect(r.summary.refused.values.reduce(0, +) == 0)
        #expect(r.exceptions.isEmpty)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 4600)
        #expect(e.state.cards[cardB.rawValue]?.balanceFen == 900)
        #expect(e.state.accountNetFen[.operatorPayable(2)] == 500)
        #expect(e.state.accountNetFen[.agentCash(Day.counter)] == -6000)
        #expect(e.state.totalNetFen == 0)
        #expect(r.transfers.count == 5)
        #expect(Set(r.transfers.map(\.id)).count == 5)
    }

    @Test("a card's TAC key kept from an earlier run still refuses a forged TAC, and an unknown key version")
    func cachedKeysStillCheck() {
        var d = Day()
        let e = Day.engine()
        let first = e.run([Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")])])
        #expect(first.summary.accepted == 1)
        // The same card in later runs: its key now comes from the engine's cache.
        var forged = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        forged.tac ^= 0x0100
        var otherVersion = d.tap(cardA, 200, at: "2026-11-29T08:30:00")
        otherVersion.keyVersion = 0x02
        let good = d.tap(cardA, 300, at: "2026-11-29T09:00:00")
        let r = e.run([Day.batch(Day.bus, 1, [forged, otherVersion, good])])
        #expect(r.refusals.map(\.code) == [.tacError, .illegalData])
        #expect(r.refusals.map(\.field) == [.none, .keyVersion])
        #expect(r.summary.accepted == 1)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 4700)
        // A card of another master signs nothing this engine accepts, cached key or not.
        var stranger = Day(tacMaster: try! TripleDESKey(hex: "55555555555555556666666666666666"))
        _ = stranger.load(cardB, 500, at: "2026-11-29T09:50:00")
        let alien = stranger.tap(cardB, 100, at: "2026-11-29T10:00:00")
        #expect(e.run([Day.batch(Day.bus, 2, [alien])]).refusals.map(\.code) == [.tacError])
    }

    @Test("re-ingesting a batch returns its original outcome and applies nothing")
    func replay() {
        var d = Day()
        let b = Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")])
        let e = Day.engine()
        let first = e.run([b])
        let again = e.run([b, b])
        #expect(again.replayed == [true, true])
        #expect(again.outcomes[0] == first.outcomes[0])
        #expect(again.transfers.isEmpty)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 5000)
    }

    @Test("a forged TAC is refused 01, a duplicate 03, a grey record 04, an old record 05, a foreign terminal 06, a hotlisted card 07")
    func refusals() {
        var d = Day()
        let load = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
        var forged = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        forged.tac ^= 1
        var grey = d.tap(cardA, 200, at: "2026-11-29T08:10:00")
        grey.kind = .grey
        let old = d.tap(cardA, 200, at: "2026-11-01T08:00:00")
        let ok = d.tap(cardA, 300, at: "2026-11-29T09:00:00")
        var foreign = d.tap(cardA, 100, at: "2026-11-29T09:30:00")
        foreign.terminal = Day.metro
        let e = Day.engine()
        e.hotlist(cardB, from: ClearingTime.seconds(bcd: Day.bcd("2026-11-29T12:00:00")))
        let before = d.load(cardB, 1000, at: "2026-11-29T11:00:00")
        let hotTap = d.tap(cardB, 100, at: "2026-11-29T13:00:00")
        let r = e.run([
            Day.batch(Day.counter, 1, [load, before]),
            Day.batch(Day.bus, 1, [forged, grey, old, ok, ok, foreign, hotTap]),
        ])
        let s = r.summary
        #expect(s.refused == ["01": 1, "02": 0, "03": 1, "04": 1, "05": 1, "06": 1, "07": 1])
        #expect(s.accepted == 3)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 4700)
        #expect(e.state.cards[cardB.rawValue]?.balanceFen == 1000)
    }

    @Test("illegal data is refused 02: amount 0, balances that do not add up, a load from a bus")
    func illegal() {
        var d = Day()
        let load = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
        var zero = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        zero.amountFen = 0
        var sums = d.tap(cardA, 200, at: "2026-11-29T08:30:00")
        sums.balanceAfterFen += 1
        var badDate = d.tap(cardA, 200, at: "2026-11-29T08:40:00")
        badDate.dateTimeBCD = 0x2026_1331_0000_00
        let e = Day.engine()
        let r = e.run([Day.batch(Day.counter, 1, [load]), Day.batch(Day.bus, 1, [zero, sums, badDate])])
        #expect(r.summary.refused["02"] == 3)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 5000)
    }

    @Test("a counter gap filled by a later batch is accepted; one left open past the window opens an exception")
    func gaps() {
        var d = Day()
        let load = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
        let t0 = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        let t1 = d.tap(cardA, 200, at: "2026-11-29T09:00:00")
        let t2 = d.tap(cardA, 200, at: "2026-11-29T10:00:00")
        let e = Day.engine()
        var r = e.run([Day.batch(Day.counter, 1, [load]), Day.batch(Day.bus, 1, [t0, t2])])
        #expect(r.exceptions.isEmpty)
        #expect(e.state.cards[cardA.rawValue]?.missingCounters(offline: true).count == 1)
        r = e.run([Day.batch(Day.bus, 2, [t1])])
        #expect(r.summary.accepted == 1)
        #expect(e.state.cards[cardA.rawValue]?.hasOpenGaps == false)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 4400)
        // A gap nobody fills: exception once the window (2 days) has passed.
        let t3 = d.tap(cardA, 200, at: "2026-11-29T11:00:00")
        _ = t3
        let t4 = d.tap(cardA, 200, at: "2026-11-29T12:00:00")
        r = e.run([Day.batch(Day.bus, 3, [t4])])
        #expect(r.exceptions.isEmpty)
        let later = d.tap(cardA, 100, at: "2026-12-02T08:00:00")
        r = e.run([Day.batch(Day.bus, 4, [later], created: "2026-12-02T23:00:00")])
        #expect(r.exceptions.map(\.kind) == [.counterGap])
        #expect(e.state.totalNetFen == 0)
    }

    @Test("a balance that does not follow the card's own records opens one possible-clone exception when the day closes, and the fare is posted")
    func clone() {
        var d = Day()
        let load = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
        let t0 = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        // A clone: same keys, next counter, but a balance the real card never had.
        var d2 = d
        d2.cards[cardA]!.balance = 9999
        let t1 = d2.tap(cardA, 200, at: "2026-11-29T09:00:00")
        let e = Day.engine()
        var r = e.run([Day.batch(Day.counter, 1, [load]), Day.batch(Day.bus, 1, [t0, t1])])
        #expect(r.exceptions.isEmpty, "records may still arrive late: the day is checked when it closes")
        #expect(r.summary.accepted == 3)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 4600)
        // The next receipt day closes the 29th: 9999 - 200 was left where 5000 - 400 is explained.
        r = e.run([], receivedAt: ClearingTime.seconds(BCDDateTime(iso: "2026-11-30T01:00:00")!))
        #expect(r.exceptions.map(\.kind) == [.balanceMismatch])
        #expect(r.exceptions.first?.detail.hasSuffix("51.99 yuan unexplained") == true, "\(r.exceptions)")
        // Reported once: the next day finds nothing new.
        r = e.run([], receivedAt: ClearingTime.seconds(BCDDateTime(iso: "2026-12-01T01:00:00")!))
        #expect(r.exceptions.isEmpty)
    }

    @Test("the same records in any order of arrival leave the same shadow, transfers and exceptions")
    func arrivalOrder() {
        var d = Day()
        let load = d.load(cardA, 1000, at: "2026-11-29T07:00:00")
        let t0 = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        let load2 = d.load(cardA, 500, at: "2026-11-29T12:00:00")
        let t1 = d.tap(cardA, 300, at: "2026-11-29T13:00:00")
        let batches = [Day.batch(Day.counter, 1, [load]), Day.batch(Day.bus, 1, [t0]), Day.batch(Day.counter, 2, [load2]), Day.batch(Day.bus, 2, [t1])]
        let close = ClearingTime.seconds(BCDDateTime(iso: "2026-11-30T01:00:00")!)
        func clear(_ runs: [[IncomingBatch]]) -> (CardShadow?, [Transfer], [ClearingException]) {
            let e = Day.engine()
            var transfers: [Transfer] = []
            var exceptions: [ClearingException] = []
            for run in runs + [[]] {
                let r = e.run(run, receivedAt: run.isEmpty ? close : nil)
                transfers += r.transfers
                exceptions += r.exceptions
            }
            return (e.state.cards[cardA.rawValue], transfers.sorted { $0.id < $1.id }, exceptions)
        }
        let one = clear([batches])
        #expect(one.0?.ledgerFen == 1000)
        #expect(one.2.isEmpty)
        for order in [[3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]] {
            let other = clear(order.map { [batches[$0]] })
            #expect(other.0 == one.0)
            #expect(other.1 == one.1)
            #expect(other.2 == one.2)
        }
    }

    @Test("a counter that jumps past the 64-counter window reports the records it leaves behind at once, and both fares post")
    func jumpPastWindow() {
        var d = Day()
        d.cards[cardA] = (balance: 5000, offline: 10, online: 0)
        let t0 = d.tap(cardA, 100, at: "2026-11-29T08:00:00")
        d.cards[cardA]!.offline = 200
        let t1 = d.tap(cardA, 100, at: "2026-11-29T09:00:00")
        let e = Day.engine()
        let r = e.run([Day.batch(Day.bus, 1, [t0, t1])])
        #expect(r.summary.accepted == 2)
        #expect(r.exceptions.map(\.kind) == [.counterGap])
        #expect(r.exceptions.first?.detail.contains("from 10 to 200") == true, "\(r.exceptions)")
        #expect(e.state.cards[cardA.rawValue]?.hasOpenGaps == false)
        #expect(e.state.cards[cardA.rawValue]?.nextOffline == 201)
    }

    @Test("fares of one card arriving in a scattered order are conserved: no exception when the day closes")
    func scatteredFares() {
        var d = Day()
        // A card whose history began before this clearing centre: its first record is a fare.
        d.cards[cardA] = (balance: 2000, offline: 3269, online: 7)
        let taps = (0..<7).map { d.tap(cardA, 200, at: "2026-11-29T\(String(format: "%02d", 7 + $0)):00:00") }
        let e = Day.engine()
        for (n, i) in [3, 5, 2, 0, 6, 1, 4].enumerated() { _ = e.run([Day.batch(Day.bus, UInt32(n + 1), [taps[i]])]) }
        let r = e.run([], receivedAt: ClearingTime.seconds(BCDDateTime(iso: "2026-11-30T01:00:00")!))
        #expect(r.exceptions.isEmpty, "\(r.exceptions.map(\.detail))")
        #expect(e.state.cards[cardA.rawValue]?.ledgerFen == -1400)
    }

    @Test("fares uploaded before the load that funds them leave the purse below zero until the load clears")
    func arrears() {
        var d = Day()
        let load = d.load(cardA, 1000, at: "2026-11-29T07:00:00")
        let t0 = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        let e = Day.engine()
        var r = e.run([Day.batch(Day.bus, 1, [t0])])
        #expect(e.state.cards[cardA.rawValue]?.arrearsFen == 200)
        #expect(e.state.netFen(.purse(cardA)) == -200)
        #expect(r.transfers.map(\.debit) == [.purse(cardA)])
        r = e.run([Day.batch(Day.counter, 1, [load])])
        #expect(e.state.cards[cardA.rawValue]?.arrearsFen == 0)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 800)
        #expect(e.state.accountNetFen[.suspense] == nil)
        #expect(e.state.netFen(.purse(cardA)) == 800)
        #expect(e.state.totalNetFen == 0)
    }

    @Test("the register load TAC equals the card's")
    func loadTACFastPath() {
        var d = Day()
        let r = d.load(cardA, 0x1C37, at: "2026-11-29T07:00:00")
        let e = Day.engine()
        #expect(e.run([Day.batch(Day.counter, 1, [r])]).summary.accepted == 1)
    }
}

@Suite("Ledger audit")
struct LedgerAuditTests {
    static func audit(_ r: RunResult, _ e: ClearingEngine, transfers: [Transfer]? = nil) -> LedgerAudit {
        var a = LedgerAudit()
        var page: [UInt8] = []
        for t in transfers ?? r.transfers { Packing.append(t, to: &page) }
        a.add(Packing.transfers(page)!)
        a.finish(accepted: Packing.acceptedRefs(r.details)!, shadows: e.state.cards)
        return a
    }

    @Test("a clean day holds every invariant after a round trip through the packed pages")
    func holds() {
        var d = Day()
        let e = Day.engine()
        let r = e.run([
            Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")]),
            Day.batch(Day.bus, 1, [d.tap(cardA, 200, at: "2026-11-29T08:00:00"), d.tap(cardA, 300, at: "2026-11-29T09:00:00")]),
        ])
        let a = Self.audit(r, e)
        #expect(a.holds, "\(a.violations)")
        #expect(a.transferCount == 3 && a.totalFen == 5500)
    }

    @Test("a lost transfer, a doubled transfer and an invented one are each caught")
    func violations() {
        var d = Day()
        let e = Day.engine()
        let r = e.run([
            Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")]),
            Day.batch(Day.bus, 1, [d.tap(cardA, 200, at: "2026-11-29T08:00:00")]),
        ])
        #expect(!Self.audit(r, e, transfers: [r.transfers[0]]).holds)
        #expect(!Self.audit(r, e, transfers: r.transfers + [r.transfers[1]]).holds)
        var invented = r.transfers[1]
        invented.id &+= 1
        invented.source.index = 99
        #expect(!Self.audit(r, e, transfers: r.transfers + [invented]).holds)
    }
}

@Suite("Clearing engine: service counter records")
struct CounterRecordTests {
    @Test("a replacement moves the ledger balance to the new card once; the new card's later load follows on without a gap")
    func replacement() {
        var d = Day()
        let e = Day.engine()
        let load = d.load(cardA, 3000, at: "2026-11-29T07:00:00")
        let tap = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        let swap = d.replace(cardA, with: cardB, at: "2026-11-29T10:00:00")
        let next = d.load(cardB, 1000, at: "2026-11-29T11:00:00")
        var forged = swap
        forged.tac ^= 1
        let r = e.run([Day.batch(Day.counter, 1, [load, swap, next]), Day.batch(Day.bus, 1, [tap])])
        #expect(r.summary.accepted == 4)
        #expect(r.exceptions.isEmpty)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 0)
        #expect(e.state.cards[cardB.rawValue]?.balanceFen == 3800)
        #expect(!e.state.cards.values.contains { $0.hasOpenGaps })
        #expect(e.state.totalNetFen == 0)
        let again = e.run([Day.batch(Day.counter, 2, [swap]), Day.batch(Day.counter, 3, [forged])])
        #expect(again.summary.refused["03"] == 1)
        #expect(again.summary.refused["01"] == 1)
        #expect(e.state.cards[cardB.rawValue]?.balanceFen == 3800)
    }
}
