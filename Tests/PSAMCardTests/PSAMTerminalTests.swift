import City
import EPurse
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import PSAMCard
import Terminal
import Testing
import UploadBatch

/// A fare terminal on a PSAM, in process (the same flows run through pcscd in HardwareTests).
@Suite("A fare terminal on its PSAM")
struct PSAMTerminalTests {
    static let city = try! City.load(path: TestPaths.city)
    static let keyset = TestKeysets.standard
    static let bus5 = TerminalID(hex: "710002000501")!
    static let bus215 = TerminalID(hex: "710002021501")!
    static let serial = CardSerial(hex: "7100000000001001")!

    static func psam(for terminal: TerminalID, purchase: TripleDESKey = try! keyset.masterKey(.purchase), sequence: UInt32 = 100) -> PSAMCard {
        PSAMCard(state: PSAMState(
            serial: [0, 0] + terminal.bytes + [0, 0], terminal: terminal, purchaseKeys: [0x01: purchase],
            maintenanceKeys: [0x01: try! keyset.masterKey(.maintenance)], start: BCDDate("2026-01-01")!, expiry: BCDDate("2036-01-01")!,
            sequence: sequence))
    }

    static func card(balanceFen: UInt32 = 5000) -> EPurseCard {
        let info = IssuerInfo(
            issuer: IssuerID(rawValue: 0x7100_0000_0000_0001), serialPrefix: 0x7100, serial: serial,
            startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2035-12-31")!, cardType: .adult, depositFlag: 1)
        var s = try! CardState.personalise(keyset: keyset, info: info)
        s.balanceFen = balanceFen
        return EPurseCard(state: s)
    }

    static func terminal(_ psam: PSAMCard, _ id: TerminalID = bus5, journal: MemoryJournal = MemoryJournal(), hotlist: Hotlist = Hotlist()) throws -> TapTerminal {
        try TapTerminal(city: city, terminal: id, sam: try PSAMModule(channel: InProcessChannel(card: psam)), journal: journal, hotlist: hotlist)
    }

    static func tacVerifies(_ r: BatchRecord) -> Bool {
        let key = TripleDESPurse.tacKey(tacMaster: try! keyset.masterKey(.tac), serial: r.serial)
        return r.tac == TripleDESPurse.purchaseTAC(
            tacKey: key, amountFen: r.amountFen, typeByte: r.transactionType, terminal: r.terminal.rawValue,
            terminalSequence: r.sequence, dateTimeBCD: r.dateTimeBCD)
    }

    @Test("a bus tap on the PSAM: the PSAM numbers it, the card's TAC verifies at clearing, the journal keeps the PSAM's sequence")
    func busTap() throws {
        let psam = Self.psam(for: Self.bus5)
        let journal = MemoryJournal()
        let t = try Self.terminal(psam, journal: journal)
        let card = Self.card()
        var ch = InProcessChannel(card: card)
        let r = try t.tap(&ch, at: BCDDateTime(iso: "2026-11-29T08:00:00")!)
        #expect(r.outcome == .approved, "\(r.reason)")
        #expect(psam.state.sequence == 101)
        let record = try #require(journal.records.first)
        #expect(record.sequence == 101 && record.terminal == Self.bus5)
        #expect(!record.flags.contains(.mac2Unverified), "the PSAM checked MAC2")
        #expect(Self.tacVerifies(record))
        #expect(card.state.balanceFen == 5000 - record.amountFen)
    }

    @Test("another terminal's PSAM is refused at start-up; a PSAM with the wrong purchase key debits nothing")
    func wrongPSAM() throws {
        #expect(throws: (any Error).self) { try Self.terminal(Self.psam(for: Self.bus215)) }
        let forged = Self.psam(for: Self.bus5, purchase: try TripleDESKey(hex: "00112233445566778899AABBCCDDEEFF"))
        let journal = MemoryJournal()
        let t = try Self.terminal(forged, journal: journal)
        let card = Self.card()
        var ch = InProcessChannel(card: card)
        let r = try t.tap(&ch, at: BCDDateTime(iso: "2026-11-29T08:00:00")!)
        #expect(r.outcome == .declined)
        #expect(card.state.balanceFen == 5000 && card.state.offlineCounter.rawValue == 0)
        #expect(journal.records.isEmpty && journal.greys.isEmpty, "the grey record is voided")
    }

    @Test("a hotlisted card is blocked with a MAC made inside the PSAM: the terminal holds no maintenance key")
    func hotlistBlockInPSAM() throws {
        let t = try Self.terminal(Self.psam(for: Self.bus5), hotlist: Hotlist(serials: [Self.serial]))
        let card = Self.card()
        var ch = InProcessChannel(card: card)
        let r = try t.tap(&ch, at: BCDDateTime(iso: "2026-11-29T08:00:00")!)
        #expect(r.outcome == .declined)
        #expect(r.reason.contains("has been blocked"), "\(r.reason)")
        #expect(card.state.blocked != .none)
    }

    /// A channel to the PSAM that dies after `alive` commands (the PSAM pulled out of its slot).
    struct DyingChannel: CardChannel {
        var inner: InProcessChannel
        var alive: Int
        struct Pulled: Error {}
        mutating func transmit(_ command: CommandAPDU) throws -> ResponseAPDU {
            guard alive > 0 else { throw Pulled() }
            alive -= 1
            return try inner.transmit(command)
        }
    }

    @Test("the PSAM pulled out before MAC1 stops the tap with nothing debited; pulled after DEBIT, the fare is journaled with MAC2 unverified")
    func psamRemovedMidTap() throws {
        // Opening the PSAM takes 6 commands; INITIALIZE SAM FOR PURCHASE is the 7th, CREDIT SAM the 8th.
        for (alive, debited) in [(6, false), (7, true)] {
            let psam = Self.psam(for: Self.bus5)
            let journal = MemoryJournal()
            let sam = try PSAMModule(channel: DyingChannel(inner: InProcessChannel(card: psam), alive: alive))
            let t = try TapTerminal(city: Self.city, terminal: Self.bus5, sam: sam, journal: journal)
            let card = Self.card()
            var ch = InProcessChannel(card: card)
            let result = Result { try t.tap(&ch, at: BCDDateTime(iso: "2026-11-29T08:00:00")!) }
            if debited {
                let r = try result.get()
                #expect(r.outcome == .approved)
                #expect(journal.records.first?.flags.contains(.mac2Unverified) == true)
                #expect(card.state.balanceFen < 5000)
            } else {
                #expect(throws: TerminalFault.self) { try result.get() }
                #expect(card.state.balanceFen == 5000 && journal.records.isEmpty && journal.greys.isEmpty)
            }
        }
    }

    @Test("a card of key version 2 taps on a PSAM holding versions 1 and 2: the record names version 2 and its TAC verifies under the version-2 TAC master")
    func keyVersionTwo() throws {
        var masters = Self.keyset.masterKeys
        masters[.purchase] = try TripleDESKey(hex: "0F0E0D0C0B0A09080706050403020100")
        masters[.tac] = try TripleDESKey(hex: "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0")
        let v2 = Keyset(keyVersion: KeyVersion(rawValue: 2), masterKeys: masters)
        let info = IssuerInfo(
            issuer: IssuerID(rawValue: 0x7100_0000_0000_0001), serialPrefix: 0x7100, serial: Self.serial,
            startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2035-12-31")!, cardType: .adult, depositFlag: 1)
        var s = try CardState.personalise(keyset: v2, info: info)
        s.balanceFen = 5000
        let card = EPurseCard(state: s)
        let psam = Self.psam(for: Self.bus5)
        var state = psam.state
        state.purchaseKeys[2] = try v2.masterKey(.purchase)
        let journal = MemoryJournal()
        let t = try Self.terminal(PSAMCard(state: state), journal: journal)
        var ch = InProcessChannel(card: card)
        let r = try t.tap(&ch, at: BCDDateTime(iso: "2026-11-29T08:00:00")!)
        #expect(r.outcome == .approved, "\(r.reason)")
        let record = try #require(journal.records.first)
        #expect(record.keyVersion == 2)
        let key = TripleDESPurse.tacKey(tacMaster: try v2.masterKey(.tac), serial: record.serial)
        #expect(record.tac == TripleDESPurse.purchaseTAC(
            tacKey: key, amountFen: record.amountFen, typeByte: record.transactionType, terminal: record.terminal.rawValue,
            terminalSequence: record.sequence, dateTimeBCD: record.dateTimeBCD))
    }
}
