import City
import EPurse
import OneCardCore
import OneCardCrypto
import Terminal
import Testing
import UploadBatch

/// The service counter cut at every command, before the card saw it and after the card did it
/// with the answer lost, then the same operation presented again: money is never lost or doubled.
@Suite("Service counter cut anywhere")
struct CounterTearTests {
    static let at = Tap.at("2026-03-02T09:30:00")

    static func issued(_ serial: CardSerial = Tap.serial, balanceFen: UInt32) throws -> (ServiceCounter, MemoryJournal, EPurseCard) {
        let (counter, journal) = try ServiceCounterTests.counter()
        let card = Tap.card(.adult, balanceFen: 0, serial: serial)
        var ch = InProcessChannel(card: card)
        _ = try counter.issue(&ch, cardType: .adult, at: at, firstLoadFen: balanceFen)
        return (counter, journal, card)
    }

    /// Runs `attempt` with the card cut at command 1, 2, … (both ways) until an attempt goes
    /// through uncut; after each attempt that failed, `retry` on a whole channel; then `check`.
    static func everyCut(
        _ make: () throws -> (ServiceCounter, MemoryJournal, [EPurseCard]),
        attempt: (ServiceCounter, inout TearChannel, [EPurseCard]) throws -> Void,
        retry: (ServiceCounter, [EPurseCard]) throws -> Void,
        check: (MemoryJournal, [EPurseCard], String) throws -> Void
    ) throws {
        for cut in 1...40 {
            var uncut = false
            for lost in [false, true] {
                let (counter, journal, cards) = try make()
                var ch = TearChannel(card: cards[0], cutAt: cut, responseLost: lost)
                do {
                    try attempt(counter, &ch, cards)
                    uncut = ch.sent < cut
                } catch {
                    // The operator presents the card(s) again for the same operation.
                    try retry(counter, cards)
                }
                try check(journal, cards, "cut at command \(cut)\(lost ? ", answer lost" : "")")
            }
            if uncut { return }
        }
        Issue.record("the flow never ran uncut within 40 commands")
    }

    @Test("a load cut anywhere, presented again: loaded exactly once, one record whose TAC verifies, nothing pending")
    func load() throws {
        try Self.everyCut({
            let (c, j, card) = try Self.issued(balanceFen: 1000)
            return (c, j, [card])
        }, attempt: { counter, ch, _ in
            _ = try counter.load(&ch, amountFen: 500, at: Self.at)
        }, retry: { counter, cards in
            var ch = InProcessChannel(card: cards[0])
            _ = try counter.load(&ch, amountFen: 500, at: Self.at)
        }, check: { journal, cards, when in
            #expect(cards[0].state.balanceFen == 1500, "\(when)")
            let loads = journal.records.filter { $0.kind == .load && $0.amountFen == 500 }
            #expect(loads.count == 1, "\(when): \(loads.count) load records")
            #expect(loads.allSatisfy { ServiceCounterTests.loadTACVerifies($0, serial: Tap.serial) }, "\(when)")
            #expect(journal.pendings.isEmpty, "\(when)")
        })
    }

    @Test("a refund cut anywhere, presented again: the card blocked for good, one refund record of its balance")
    func refund() throws {
        try Self.everyCut({
            let (c, j, card) = try Self.issued(balanceFen: 1200)
            return (c, j, [card])
        }, attempt: { counter, ch, _ in
            _ = try counter.refund(&ch, at: Self.at)
        }, retry: { counter, cards in
            var ch = InProcessChannel(card: cards[0])
            _ = try counter.refund(&ch, at: Self.at)
        }, check: { journal, cards, when in
            #expect(cards[0].state.blocked == .permanent, "\(when)")
            let refunds = journal.records.filter { $0.kind == .refund }
            #expect(refunds.count == 1 && refunds.first?.amountFen == 1200 && refunds.first?.depositFen == 2000, "\(when): \(refunds)")
            #expect(journal.pendings.isEmpty, "\(when)")
        })
    }

    @Test("a replacement cut anywhere on the old card, presented again: the balance moved once, one record with the new card's TAC")
    func replacementOldCut() throws {
        let newSerial = CardSerial(hex: "7100000000002002")!
        try Self.everyCut({
            let (c, j, old) = try Self.issued(balanceFen: 3100)
            let new = Tap.card(.adult, balanceFen: 0, serial: newSerial)
            var nch = InProcessChannel(card: new)
            _ = try c.issue(&nch, cardType: .adult, at: Self.at)
            return (c, j, [old, new])
        }, attempt: { counter, ch, cards in
            var new = InProcessChannel(card: cards[1])
            _ = try counter.replace(old: &ch, new: &new, at: Self.at)
        }, retry: { counter, cards in
            var old = InProcessChannel(card: cards[0]), new = InProcessChannel(card: cards[1])
            _ = try counter.replace(old: &old, new: &new, at: Self.at)
        }, check: { journal, cards, when in
            #expect(cards[0].state.blocked == .permanent && cards[1].state.balanceFen == 3100, "\(when)")
            let moves = journal.records.filter { $0.kind == .replacement }
            #expect(moves.count == 1, "\(when): \(moves.count)")
            if let m = moves.first {
                var asLoad = m
                asLoad.kind = .load
                #expect(m.amountFen == 3100 && ServiceCounterTests.loadTACVerifies(asLoad, serial: newSerial), "\(when)")
            }
            #expect(journal.pendings.isEmpty, "\(when)")
        })
    }

    @Test("a replacement cut anywhere on the new card, presented again: the balance moved once, one record with the new card's TAC")
    func replacementNewCut() throws {
        let newSerial = CardSerial(hex: "7100000000002003")!
        try Self.everyCut({
            let (c, j, old) = try Self.issued(balanceFen: 2700)
            let new = Tap.card(.adult, balanceFen: 0, serial: newSerial)
            var nch = InProcessChannel(card: new)
            _ = try c.issue(&nch, cardType: .adult, at: Self.at)
            // The torn channel is the new card's: cards[0] is what TearChannel wraps.
            return (c, j, [new, old])
        }, attempt: { counter, ch, cards in
            var old = InProcessChannel(card: cards[1])
            _ = try counter.replace(old: &old, new: &ch, at: Self.at)
        }, retry: { counter, cards in
            var old = InProcessChannel(card: cards[1]), new = InProcessChannel(card: cards[0])
            _ = try counter.replace(old: &old, new: &new, at: Self.at)
        }, check: { journal, cards, when in
            #expect(cards[1].state.blocked == .permanent && cards[0].state.balanceFen == 2700, "\(when)")
            let moves = journal.records.filter { $0.kind == .replacement }
            #expect(moves.count == 1, "\(when): \(moves.count)")
            if let m = moves.first {
                var asLoad = m
                asLoad.kind = .load
                #expect(m.amountFen == 2700 && ServiceCounterTests.loadTACVerifies(asLoad, serial: newSerial), "\(when)")
            }
            #expect(journal.pendings.isEmpty, "\(when)")
        })
    }
}
