import City
import Clearing
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Testing
import UploadBatch

/// The attacks of someone holding one terminal's batch key: every file below carries a valid
/// file MAC, so only what the card's TAC proves may be believed.
@Suite("Clearing against a hostile terminal")
struct HostileTerminalTests {
    @Test("a genuine fare re-sent in a new batch with the card's next counter and a fitting balance chain is refused 03")
    func fareReplayedWithNextCounter() {
        var d = Day()
        let load = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
        let fare = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        let e = Day.engine()
        _ = e.run([Day.batch(Day.counter, 1, [load]), Day.batch(Day.bus, 1, [fare])])
        // The same TAC-signed fare, with the next offline counter and balances that follow on.
        var again = fare
        again.counter = fare.counter + 1
        again.balanceBeforeFen = fare.balanceAfterFen
        again.balanceAfterFen = fare.balanceAfterFen - fare.amountFen
        again.dateTimeBCD = fare.dateTimeBCD
        let r = e.run([Day.batch(Day.bus, 2, [again])])
        #expect(r.summary.accepted == 0)
        #expect(r.refusals.map(\.code) == [.duplicate])
        #expect(r.refusals.first?.field == .sequence)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 4800, "the fare is paid once")
        #expect(e.state.accountNetFen[.operatorPayable(2)] == 200)
        // The same identity inside one run is refused too.
        var twin = fare
        twin.counter = 7
        let e2 = Day.engine()
        let r2 = e2.run([Day.batch(Day.counter, 1, [load]), Day.batch(Day.bus, 1, [fare, twin])])
        #expect(r2.summary.accepted == 2 && r2.summary.refused["03"] == 1)
        #expect(e2.state.totalNetFen == 0)
    }

    @Test("an empty batch squatting a batch key makes the genuine batch a recorded conflict, never a silent replay")
    func squattedBatchSequence() {
        var d = Day()
        let load = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
        let genuine = Day.batch(Day.bus, 1, [d.tap(cardA, 200, at: "2026-11-29T08:00:00")])
        let squat = Day.batch(Day.bus, 1, [])
        let e = Day.engine()
        let first = e.run([Day.batch(Day.counter, 1, [load]), squat])
        #expect(first.status == [.fresh, .fresh])
        let r = e.run([genuine])
        guard case .conflict(let why)? = r.status.first else {
            Issue.record("the genuine batch was \(r.status), not a conflict")
            return
        }
        #expect(why.contains("already ingested with other bytes"))
        #expect(r.replayed == [false])
        #expect(r.conflicts.count == 1)
        #expect(r.conflicts.first?.digest == genuine.digest.hex)
        #expect(r.conflicts.first?.ingestedDigest == squat.digest.hex)
        #expect(r.summary.batches == 0, "a conflict is not counted as an ingested batch")
        // The squatter's own bytes again are an idempotent replay with the original outcome.
        let again = e.run([squat])
        #expect(again.status == [.replayed])
        #expect(again.outcomes == [first.outcomes[1]])
        // Two different files for one key in the same run: the second is the conflict.
        let e2 = Day.engine()
        let both = e2.run([genuine, squat, genuine])
        #expect(both.status.map { if case .conflict = $0 { "conflict" } else { "\($0)" } } == ["fresh", "conflict", "replayed"])
        #expect(both.outcomes[2] == both.outcomes[0], "an in-run replay reports the original outcome")
    }

    @Test("a counter of FFFF, or sums that would overflow, are refused 02 naming the field, and nothing traps")
    func unrepresentableValues() {
        var d = Day()
        let load = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
        var maxed = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        maxed.counter = 0xFFFF
        var maxedLoad = d.load(cardB, 100, at: "2026-11-29T08:05:00")
        maxedLoad.counter = 0xFFFF
        var bigDeposit = d.tap(cardA, 100, at: "2026-11-29T08:30:00")
        bigDeposit.depositFen = .max
        var swap = d.replace(cardA, with: CardSerial(hex: "2000000000000003")!, at: "2026-11-29T09:00:00")
        swap.balanceBeforeFen = .max
        let e = Day.engine()
        let r = e.run([Day.batch(Day.counter, 1, [load, maxedLoad, swap]), Day.batch(Day.bus, 1, [maxed, bigDeposit])])
        let fields = Dictionary(uniqueKeysWithValues: r.refusals.map { ($0.ref.description, "\($0.code.rawValue) \($0.field)") })
        #expect(fields["\(Day.bus)/1#0"] == "02 counter")
        #expect(fields["\(Day.counter)/1#1"] == "02 counter")
        #expect(fields["\(Day.counter)/1#2"] == "02 balance before")
        #expect(fields["\(Day.bus)/1#1"] == "02 deposit")
        #expect(r.summary.accepted == 1)
        #expect(e.state.totalNetFen == 0)
    }

    @Test("the upload window counts from the centre's receipt, never the header; a header time that is invalid or ahead is refused whole")
    func timeFromTheCentre() {
        var d = Day()
        let load = d.load(cardA, 5000, at: "2026-11-20T07:00:00")
        // The terminal claims it wrote the batch the next day; the centre got it 9 days later.
        let late = Day.batch(Day.counter, 1, [load], created: "2026-11-21T07:00:00", received: "2026-11-29T23:30:00")
        let e = Day.engine()
        let r = e.run([late])
        #expect(r.summary.refused["05"] == 1, "seven days' window from the receipt, not from the header")
        var bad = Day.batch(Day.bus, 1, [d.tap(cardA, 100, at: "2026-11-29T08:00:00")], created: "2026-11-29T23:00:00")
        bad.batch.header.createdBCD = 0x2026_1399_2500_00
        let ahead = Day.batch(Day.bus, 2, [d.tap(cardA, 100, at: "2026-11-29T08:10:00")], created: "2026-11-30T05:00:00", received: "2026-11-29T23:30:00")
        let skewed = Day.batch(Day.bus, 3, [], created: "2026-11-29T23:34:00", received: "2026-11-29T23:30:00")
        let r2 = e.run([bad, ahead, skewed])
        guard case .refused(let invalid) = r2.status[0], case .refused(let future) = r2.status[1] else {
            Issue.record("statuses \(r2.status)")
            return
        }
        #expect(invalid.contains("not a valid date-time"))
        #expect(future.contains("ahead of the clearing centre's clock"))
        #expect(r2.status[2] == .fresh, "a clock within the documented skew is believed")
        #expect(r2.summary.records == 0 && r2.transfers.isEmpty)
        #expect(e.state.batches[BatchKey(terminal: Day.bus.rawValue, sequence: 1)] == nil, "a refused batch takes no key")
    }
}

@Suite("Clearing: counter records prove what they move")
struct CounterRecordProofTests {
    static let cardC = CardSerial(hex: "2000000000000003")!

    static func issue(_ serial: CardSerial, _ d: inout Day, deposit: UInt32 = 2000, at: String) -> BatchRecord {
        BatchRecord(
            kind: .issue, transactionType: 0, serial: serial, cardType: 1, counter: 0, amountFen: 0, balanceBeforeFen: 0,
            balanceAfterFen: 0, terminal: Day.counter, sequence: d.next(Day.counter), dateTimeBCD: Day.bcd(at), tac: 0, depositFen: deposit)
    }

    static func refund(_ serial: CardSerial, _ d: inout Day, amount: UInt32, deposit: UInt32 = 2000, at: String) -> BatchRecord {
        BatchRecord(
            kind: .refund, transactionType: 0, serial: serial, cardType: 1, counter: 0, amountFen: amount, balanceBeforeFen: amount,
            balanceAfterFen: 0, terminal: Day.counter, sequence: d.next(Day.counter), dateTimeBCD: Day.bcd(at), tac: 0, depositFen: deposit)
    }

    @Test("an issue's deposit must be the city's; a refund needs the issue and the ledger balance; a card is paid out once")
    func refundRules() {
        var d = Day()
        let issueA = Self.issue(cardA, &d, at: "2026-11-29T06:00:00")
        let cheapIssue = Self.issue(cardB, &d, deposit: 1, at: "2026-11-29T06:01:00")
        let loadA = d.load(cardA, 3000, at: "2026-11-29T07:00:00")
        let loadB = d.load(cardB, 1000, at: "2026-11-29T07:01:00")
        let tap = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        let inflated = Self.refund(cardA, &d, amount: 3000, at: "2026-11-29T09:00:00")
        let refundB = Self.refund(cardB, &d, amount: 1000, at: "2026-11-29T09:01:00")
        let e = Day.engine()
        let r = e.run([Day.batch(Day.counter, 1, [issueA, cheapIssue, loadA, loadB, inflated, refundB]), Day.batch(Day.bus, 1, [tap])])
        let why = Dictionary(uniqueKeysWithValues: r.refusals.map { ($0.ref.index, "\($0.code.rawValue) \($0.field)") })
        #expect(why == [1: "02 deposit", 4: "02 amount", 5: "02 card serial"])
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 2800, "the inflated refund moved nothing")
        #expect(e.state.accountNetFen[.deposits] == 2000)
        // The true refund pays the ledger balance and the deposit once; a second refund or a
        // replacement of the same card is a duplicate.
        let refund = Self.refund(cardA, &d, amount: 2800, at: "2026-11-29T10:00:00")
        let ok = e.run([Day.batch(Day.counter, 2, [refund])])
        #expect(ok.summary.accepted == 1 && ok.refusals.isEmpty)
        #expect(e.state.cards[cardA.rawValue]?.balanceFen == 0)
        #expect(e.state.accountNetFen[.deposits] == 0)
        #expect(e.state.accountNetFen[.agentCash(Day.counter)] == -4000 - 2000 + 2800 + 2000)
        let twice = Self.refund(cardA, &d, amount: 0, at: "2026-11-29T11:00:00")
        let swap = d.replace(cardA, with: Self.cardC, at: "2026-11-29T11:05:00")
        let again = e.run([Day.batch(Day.counter, 3, [twice, swap])])
        #expect(again.refusals.map { "\($0.code.rawValue) \($0.field)" } == ["03 card serial", "03 card serial"])
        #expect(e.state.totalNetFen == 0)
    }

    @Test("a replacement moves exactly the old card's ledger balance, once; the new card, issued first, can then be refunded")
    func replacementRules() {
        var d = Day()
        let issue = Self.issue(cardA, &d, at: "2026-11-29T06:00:00")
        let issueNew = Self.issue(cardB, &d, at: "2026-11-29T06:01:00")
        let load = d.load(cardA, 3000, at: "2026-11-29T07:00:00")
        let tap = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
        // The counter claims a balance the ledger does not hold: the new card's load TAC is
        // genuine, but it moves more than the old card had.
        var greedy = d
        greedy.cards[cardA]!.balance = 2900
        let tooMuch = greedy.replace(cardA, with: cardB, at: "2026-11-29T09:00:00")
        let e = Day.engine()
        let r = e.run([Day.batch(Day.counter, 1, [issue, issueNew, load, tooMuch]), Day.batch(Day.bus, 1, [tap])])
        #expect(r.refusals.map { "\($0.code.rawValue) \($0.field)" } == ["02 amount"])
        #expect(e.state.cards[cardB.rawValue]?.balanceFen == 0)
        let swap = d.replace(cardA, with: cardB, at: "2026-11-29T09:30:00")
        let ok = e.run([Day.batch(Day.counter, 2, [swap])])
        #expect(ok.summary.accepted == 1, "\(ok.refusals)")
        #expect(e.state.cards[cardB.rawValue]?.balanceFen == 2800)
        let refundNew = Self.refund(cardB, &d, amount: 2800, at: "2026-11-29T12:00:00")
        let done = e.run([Day.batch(Day.counter, 3, [refundNew])])
        #expect(done.summary.accepted == 1, "\(done.refusals)")
        #expect(e.state.cards[cardB.rawValue]?.balanceFen == 0)
        #expect(e.state.totalNetFen == 0)
    }

    @Test("in one run, a new card with a lower serial than the old one sees the moved balance before its own refund")
    func replacementOrder() {
        var d = Day()
        let old = cardB, new = cardA
        let records = [
            Self.issue(old, &d, at: "2026-11-29T06:00:00"), Self.issue(new, &d, at: "2026-11-29T06:01:00"),
            d.load(old, 3000, at: "2026-11-29T07:00:00"), d.replace(old, with: new, at: "2026-11-29T09:00:00"),
        ]
        let refund = Self.refund(new, &d, amount: 3000, at: "2026-11-29T10:00:00")
        let e = Day.engine()
        let r = e.run([Day.batch(Day.counter, 1, records + [refund])])
        #expect(r.refusals.isEmpty, "\(r.refusals.map { "\($0.ref) \($0.code.rawValue) \($0.field)" })")
        #expect(e.state.cards[new.rawValue]?.balanceFen == 0 && e.state.cards[old.rawValue]?.balanceFen == 0)
        #expect(e.state.accountNetFen[.deposits] == 2000, "one deposit refunded, the old card's stays")
        #expect(e.state.totalNetFen == 0)
    }
}

@Suite("Clearing: key versions")
struct KeyRotationTests {
    @Test("during a rotation records of both key versions clear, each under its own TAC master; an unknown version is refused 02 naming it")
    func rotation() {
        let v2 = try! TripleDESKey(hex: "9999999999999999AAAAAAAAAAAAAAAA")
        var old = Day(), new = Day(tacMaster: v2)
        let a = [old.load(cardA, 3000, at: "2026-11-29T07:00:00"), old.tap(cardA, 200, at: "2026-11-29T08:00:00")]
        var b = [new.load(cardB, 3000, at: "2026-11-29T07:05:00"), new.tap(cardB, 300, at: "2026-11-29T08:05:00")]
        for i in b.indices { b[i].keyVersion = 2 }
        b[1].sequence = 99
        b[1].tac = TripleDESPurse.purchaseTAC(
            tacKey: TripleDESPurse.tacKey(tacMaster: v2, serial: cardB), amountFen: 300, typeByte: 0x06, terminal: Day.bus.rawValue,
            terminalSequence: 99, dateTimeBCD: b[1].dateTimeBCD)
        var unknown = old.tap(cardA, 100, at: "2026-11-29T09:00:00")
        unknown.keyVersion = 3
        let e = ClearingEngine(config: ClearingConfig(city: Day.city, tacMasters: [1: Day.tacMaster, 2: v2]))
        let r = e.run([Day.batch(Day.counter, 1, [a[0], b[0]]), Day.batch(Day.bus, 1, [a[1], b[1], unknown])])
        #expect(r.summary.accepted == 4, "\(r.refusals.map { "\($0.code.rawValue) \($0.field)" })")
        #expect(r.refusals.map { "\($0.code.rawValue) \($0.field)" } == ["02 key version"])
        // The same version-2 record under a clearing that holds only version 1 is not a TAC error but an unknown version.
        let e1 = Day.engine()
        let r1 = e1.run([Day.batch(Day.counter, 1, [b[0]])])
        #expect(r1.refusals.map { "\($0.code.rawValue) \($0.field)" } == ["02 key version"])
    }
}

@Suite("Fare identities")
struct FareIdentitiesTests {
    @Test("inserted once in any order, across page edges and the ends of the range; pruned by the newest day of each page")
    func pages() {
        var f = FareIdentities()
        let sequences: [UInt32] = [0, 4095, 4096, 1_000_000_007, .max, 12, 11, 4097]
        for (n, s) in sequences.enumerated() {
            let fresh = f.insert(terminal: 7, sequence: s, day: 100 + n)
            #expect(fresh, "\(s)")
        }
        for s in sequences {
            #expect(f.contains(terminal: 7, sequence: s))
            let again = f.insert(terminal: 7, sequence: s, day: 200)
            #expect(!again, "\(s) twice")
            #expect(!f.contains(terminal: 8, sequence: s), "another terminal")
        }
        #expect(!f.contains(terminal: 7, sequence: 13))
        // Page 0 holds 0, 4095, 12, 11 (newest day 106); page 1 holds 4096 and 4097 (107).
        let dropped = f.prune(before: 107)
        #expect(Set(dropped.map(\.page)) == [0, 1_000_000_007 >> 12, UInt32.max >> 12])
        #expect(!f.contains(terminal: 7, sequence: 0) && f.contains(terminal: 7, sequence: 4097))
        let page = f.pages[FareIdentities.PageKey(terminal: 7, page: 1)]!
        #expect(Packing.farePage(Packing.farePage(page), newestDay: page.newestDay) == page)
        #expect(Packing.farePage([0, 1], newestDay: 0) == nil)
    }
}
