@testable import Clearing
import OneCardCore
import OneCardTestSupport
import Testing
import UploadBatch

/// A run staged ahead on another thread (``Stager``) posts exactly as the same run posted at
/// once, whatever became of its batches since it was staged.
@Suite("Staged runs")
struct StagedRunTests {
    /// Two runs of a small day: loads and fares of two cards, the second run with a fare of the
    /// first again (a duplicate) and a batch of the first run again (a replay).
    static func day() -> (first: [IncomingBatch], second: [IncomingBatch]) {
        var d = Day()
        let loads = Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00"), d.load(cardB, 1000, at: "2026-11-29T07:05:00")])
        let tap = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        let morning = Day.batch(Day.bus, 1, [tap, d.tap(cardB, 100, at: "2026-11-29T08:01:00")])
        let evening = Day.batch(Day.bus, 2, [d.tap(cardA, 300, at: "2026-11-29T18:00:00"), tap, d.tap(cardB, 100, at: "2026-11-29T18:05:00")])
        return ([loads, morning], [morning, evening])
    }

    static func same(_ a: RunResult, _ b: RunResult) {
        #expect(a.status == b.status)
        #expect(a.outcomes == b.outcomes)
        #expect(a.transfers == b.transfers)
        #expect(a.details == b.details)
        #expect(a.refusals == b.refusals)
        #expect(a.postedShadows == b.postedShadows)
        #expect(a.touchedAccounts.sorted { "\($0)" < "\($1)" } == b.touchedAccounts.sorted { "\($0)" < "\($1)" })
    }

    @Test("a staged run posts as the run itself, also when some of its batches were replays by then")
    func stagedEqualsDirect() {
        let (first, second) = Self.day()
        let direct = Day.engine()
        let staged = Day.engine()
        // Both runs staged before anything was posted: the second stage holds `morning`, which
        // the first run posts, so the engine stages the second run's fresh batch again itself.
        let stages = (staged.stager.stage(first), staged.stager.stage(second))
        let a1 = direct.run(first), b1 = staged.run(stages.0)
        Self.same(a1, b1)
        let a2 = direct.run(second), b2 = staged.run(stages.1)
        Self.same(a2, b2)
        #expect(b2.status == [.replayed, .fresh])
        #expect(b2.summary.refused["03"] == 1)
        #expect(direct.state.cards == staged.state.cards)
        #expect(direct.state.accountNetFen == staged.state.accountNetFen)
        #expect(staged.state.totalNetFen == 0)
    }

    @Test("a stage orders its records by card, then time, then upload order, whatever the order of the uploads")
    func cardTimeUploadOrder() {
        var d = Day()
        var rng = SplitMix64(seed: 5)
        for n in 0..<40 { d.cards[CardSerial(rawValue: 0x2000_0000_0000_0000 | UInt64(n))] = (balance: 1_000_000, offline: 0, online: 0) }
        // 40 cards' taps in random order over three batches (more than the radix sort's
        // insertion-sort limit), many at the same second, and cards whose later batch holds
        // their earlier taps.
        var batches: [IncomingBatch] = []
        for sequence in 1...3 {
            let records = (0..<200).map { _ in
                let card = CardSerial(rawValue: 0x2000_0000_0000_0000 | rng.next() % 40)
                let minute = 10 + Int(rng.next() % 20)
                return d.tap(card, 100, at: "2026-11-29T08:\(minute):0\(rng.next() % 2)")
            }
            batches.append(Day.batch(Day.bus, UInt32(sequence), records))
        }
        let staged = Day.engine().stager.stage(batches)
        let seconds = batches.flatMap(\.batch.records).map { ClearingTime.seconds(bcd: $0.dateTimeBCD) }
        let serials = batches.flatMap(\.batch.records).map(\.serial.rawValue)
        // The order the comparison sort gave before the radix sort: one order only, as the
        // upload ordinal breaks every tie.
        let expected = seconds.indices.sorted { (serials[$0], seconds[$0], $0) < (serials[$1], seconds[$1], $1) }
        // Each item's ordinal is renumbered to its place; its record is the one at that place.
        #expect(staged.items.map(\.serial) == expected.map { serials[$0] })
        #expect(staged.items.map(\.seconds) == expected.map { seconds[$0] })
        #expect(staged.places.map { Int($0.batch) * 200 + Int($0.index) } == expected)
        #expect(staged.cards == Set(serials).count)
    }

    @Test("the hotlist is the one at posting, not at staging")
    func hotlistAtPosting() {
        let (first, _) = Self.day()
        let e = Day.engine()
        let stage = e.stager.stage(first)
        e.hotlist(cardB, from: ClearingTime.seconds(bcd: Day.bcd("2026-11-29T07:30:00")))
        let r = e.run(stage)
        // cardB's load (07:05) was before the entry; its fare (08:01) after it.
        #expect(r.summary.refused["07"] == 1)
        #expect(r.refusals.map(\.record.serial) == [cardB])
        #expect(r.summary.accepted == 3)
    }

    @Test("stages made on two threads at once verify every TAC (they take turns on the key cache)")
    func concurrentStages() async {
        var d = Day()
        var records: [BatchRecord] = []
        for i in 0..<400 {
            let card = CardSerial(rawValue: 0x2000_0000_0001_0000 + UInt64(i))
            records.append(d.load(card, 1000, at: "2026-11-29T07:00:00"))
        }
        var forged = records[7]
        forged.tac ^= 1
        let good = [Day.batch(Day.counter, 1, records)]
        let bad = [Day.batch(Day.counter, 1, Array(records[0..<7]) + [forged] + Array(records[8...]))]
        let e = Day.engine()
        let stager = e.stager
        let results = await withTaskGroup(of: (Bool, Int).self) { group in
            for n in 0..<8 {
                group.addTask {
                    let r = Day.engine().run(stager.stage(n % 2 == 0 ? good : bad))
                    return (n % 2 == 0, r.summary.refused["01"] ?? -1)
                }
            }
            var out: [(Bool, Int)] = []
            for await x in group { out.append(x) }
            return out
        }
        #expect(results.count == 8)
        for (isGood, tacErrors) in results { #expect(tacErrors == (isGood ? 0 : 1)) }
    }
}
