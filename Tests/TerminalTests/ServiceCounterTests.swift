import City
import EPurse
import OneCardCore
import OneCardCrypto
import Terminal
import Testing
import UploadBatch

@Suite("Service counter: issue, load, refund, replacement")
struct ServiceCounterTests {
    static let at = Tap.at("2026-03-02T09:30:00")

    static func counter() throws -> (ServiceCounter, MemoryJournal) {
        let journal = MemoryJournal()
        let keys = Tap.keyset.restricted(to: [.load, .maintenance])
        return (try ServiceCounter(city: Tap.city, terminal: Tap.counter, keyset: keys, journal: journal), journal)
    }

    static func loadTACVerifies(_ r: BatchRecord, serial: CardSerial) -> Bool {
        let key = TripleDESPurse.tacKey(tacMaster: try! Tap.keyset.masterKey(.tac), serial: serial)
        guard let at = r.at, let terminal = TerminalID(rawValue: r.terminal.rawValue) else { return false }
        return r.tac == TripleDESPurse.loadTAC(
            tacKey: key, newBalanceFen: r.balanceAfterFen, onlineCounter: PurseCounter(rawValue: r.counter),
            amountFen: r.amountFen, type: .epLoad, terminal: terminal, at: at)
    }

    @Test("issue writes type and ten years of validity into 0x15, journals the 20-yuan deposit, and a first load with its TAC")
    func issue() throws {
        let (counter, journal) = try Self.counter()
        let card = Tap.card(.adult, balanceFen: 0)
        var ch = InProcessChannel(card: card)
        let records = try counter.issue(&ch, cardType: .student, at: Self.at, firstLoadFen: 5000)
        let info = try #require(card.state.info)
        #expect(info.cardType == .student && info.startDate == BCDDate("2026-03-02") && info.expiryDate == BCDDate("2036-03-01"))
        #expect(records.map(\.kind) == [.issue, .load] && journal.records == records)
        #expect(records[0].depositFen == 2000 && records[0].cardType == CardType.student.rawValue)
        #expect(records[1].amountFen == 5000 && records[1].balanceAfterFen == 5000 && Self.loadTACVerifies(records[1], serial: Tap.serial))
        #expect(card.state.balanceFen == 5000)
    }

    @Test("load journals a load record whose TAC verifies; above the city maximum it is refused")
    func load() throws {
        let (counter, journal) = try Self.counter()
        let card = Tap.card(balanceFen: 1000)
        var ch = InProcessChannel(card: card)
        let r = try counter.load(&ch, amountFen: 2000, at: Self.at)
        #expect(r.kind == .load && r.balanceBeforeFen == 1000 && r.balanceAfterFen == 3000 && Self.loadTACVerifies(r, serial: Tap.serial))
        #expect(throws: TerminalError.aboveMaximum(balanceFen: 3000, amountFen: 97_001, maximumFen: 100_000)) {
            try counter.load(&ch, amountFen: 97_001, at: Self.at)
        }
        #expect(journal.records.count == 1)
    }

    @Test("refund blocks the card for good and journals balance and deposit; a second refund is refused")
    func refund() throws {
        let (counter, journal) = try Self.counter()
        let card = Tap.card(balanceFen: 1234)
        var ch = InProcessChannel(card: card)
        let r = try counter.refund(&ch, at: Self.at)
        #expect(r.kind == .refund && r.amountFen == 1234 && r.depositFen == 2000 && r.balanceAfterFen == 0)
        #expect(card.state.blocked == .permanent)
        #expect(throws: TerminalError.cardBlocked) { try counter.refund(&ch, at: Self.at) }
        #expect(journal.records.count == 1)
        #expect(try Rig(Tap.bus5).tap(card, "2026-03-02T10:00:00").outcome == .declined)
    }

    @Test("replacement blocks the old card, moves its balance onto the new card, and the TAC verifies under relatedSerial")
    func replacement() throws {
        let (counter, journal) = try Self.counter()
        let old = Tap.card(.senior, balanceFen: 4321)
        let newSerial = CardSerial(hex: "7100000000002002")!
        let new = Tap.card(.adult, balanceFen: 0, serial: newSerial)
        var oldCh = InProcessChannel(card: old)
        var newCh = InProcessChannel(card: new)
        let r = try counter.replace(old: &oldCh, new: &newCh, at: Self.at)
        #expect(r.kind == .replacement && r.serial == Tap.serial && r.relatedSerial == newSerial && r.amountFen == 4321)
        #expect(old.state.blocked == .permanent && new.state.balanceFen == 4321 && new.state.info?.cardType == .senior)
        #expect(Self.loadTACVerifies(r, serial: newSerial) && journal.records == [r])
        #expect(throws: TerminalError.cardBlocked) { try counter.replace(old: &oldCh, new: &newCh, at: Self.at) }
        let full = Tap.card(balanceFen: 10, serial: CardSerial(hex: "7100000000003003")!)
        var fullCh = InProcessChannel(card: full)
        var other = InProcessChannel(card: Tap.card(balanceFen: 5, serial: CardSerial(hex: "7100000000004004")!))
        #expect(throws: TerminalError.replacementCardNotEmpty(balanceFen: 10)) { try counter.replace(old: &other, new: &fullCh, at: Self.at) }
    }
}
