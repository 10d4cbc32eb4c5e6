import EPurse
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Terminal
import Testing

enum Fixture {
    static let keyset = TestKeysets.standard
    static let serial = CardSerial(hex: "2000000000005678")!
    static let counter = TerminalID(hex: "0F0000000001")!
    static let bus = TerminalID(hex: "010100000001")!
    static let at = BCDDateTime(iso: "2026-11-29T07:45:10")!

    static func card(balanceFen: UInt32 = 0, expiry: String = "2035-12-31") -> EPurseCard {
        let info = IssuerInfo(
            issuer: IssuerID(rawValue: 0x7100_0000_0000_0001), serialPrefix: 0x7100, serial: serial,
            startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate(expiry)!, cardType: .student, depositFlag: 1)
        var s = try! CardState.personalise(keyset: keyset, info: info)
        s.balanceFen = balanceFen
        return EPurseCard(state: s)
    }

    final class Sequence: @unchecked Sendable {
        var next: UInt32 = 0
        func take() -> TerminalSequence { next += 1; return TerminalSequence(rawValue: next) }
    }

    static func sam(keyset: Keyset = keyset) throws -> SoftwareSAM {
        let seq = Sequence()
        return try SoftwareSAM(keyset: keyset.restricted(to: [.purchase]), terminal: bus, nextSequence: { seq.take() })
    }
}

@Suite("Terminal purse flows over the in-process emulator")
struct TerminalFlowTests {
    @Test("a load then a purchase move exactly the amounts, and the TACs verify with the TAC master key")
    func loadAndPurchase() throws {
        let card = Fixture.card()
        var ch = InProcessChannel(card: card)
        let host = try IssuerHost(keyset: Fixture.keyset.restricted(to: [.load]))
        let l = try PurseFlows.load(&ch, host: host, amountFen: 5000, terminal: Fixture.counter, at: Fixture.at, balanceMaxFen: 100_000)
        #expect(l.balanceBeforeFen == 0 && l.balanceAfterFen == 5000)
        let tk = TripleDESPurse.tacKey(tacMaster: try Fixture.keyset.masterKey(.tac), serial: Fixture.serial)
        #expect(l.tac == TripleDESPurse.loadTAC(tacKey: tk, newBalanceFen: 5000, onlineCounter: l.onlineCounter, amountFen: 5000, type: .epLoad, terminal: Fixture.counter, at: Fixture.at))
        let sam = try Fixture.sam()
        let p = try PurseFlows.purchase(&ch, sam: sam, amountFen: 100, at: Fixture.at)
        #expect(p.balanceBeforeFen == 5000 && p.balanceAfterFen == 4900)
        #expect(p.sequence.rawValue == 1 && p.cardType == .student)
        #expect(p.tac == TripleDESPurse.purchaseTAC(tacKey: tk, amountFen: 100, type: .epPurchase, terminal: Fixture.bus, terminalSequence: p.sequence, at: Fixture.at))
        #expect(card.state.balanceFen == 4900)
        let snap = try PurseSnapshot.read(from: &ch)
        #expect(snap.balanceFen == 4900)
        #expect(snap.offlineCounter?.rawValue == 1 && snap.onlineCounter?.rawValue == 1)
        #expect(snap.transactionLog.map(\.amountFen) == [100, 5000])
        #expect(card.state.balanceFen == 4900)
    }

    @Test("a SAM with the wrong purchase key is refused by the card (9302) and nothing is charged")
    func wrongSAMKey() throws {
        let card = Fixture.card(balanceFen: 1000)
        var ch = InProcessChannel(card: card)
        let wrong = Keyset(keyVersion: KeyVersion(rawValue: 1), masterKeys: [.purchase: try TripleDESKey(hex: "99999999999999998888888888888888")])
        #expect(throws: TerminalError.cardRefused(step: "DEBIT FOR PURCHASE", status: .macInvalid)) {
            try PurseFlows.purchase(&ch, sam: try Fixture.sam(keyset: wrong), amountFen: 100, at: Fixture.at)
        }
        #expect(card.state.balanceFen == 1000)
        #expect(card.state.offlineCounter.rawValue == 0)
    }

    @Test("a host with the wrong load key detects the card's MAC1 and never credits")
    func wrongLoadKey() throws {
        let card = Fixture.card()
        var ch = InProcessChannel(card: card)
        let wrong = Keyset(keyVersion: KeyVersion(rawValue: 1), masterKeys: [.load: try TripleDESKey(hex: "99999999999999998888888888888888")])
        #expect(throws: TerminalError.cardMACInvalid) {
            try PurseFlows.load(&ch, host: try IssuerHost(keyset: wrong), amountFen: 100, terminal: Fixture.counter, at: Fixture.at, balanceMaxFen: 100_000)
        }
        #expect(card.state.balanceFen == 0)
    }

    @Test("insufficient funds, an expired card and a load above the maximum are refused with the figures")
    func refusals() throws {
        var ch = InProcessChannel(card: Fixture.card(balanceFen: 150))
        #expect(throws: TerminalError.insufficientFunds(balanceFen: 150, amountFen: 200)) {
            try PurseFlows.purchase(&ch, sam: try Fixture.sam(), amountFen: 200, at: Fixture.at)
        }
        var expired = InProcessChannel(card: Fixture.card(balanceFen: 1000, expiry: "2026-11-28"))
        #expect(throws: TerminalError.self) { try PurseFlows.purchase(&expired, sam: try Fixture.sam(), amountFen: 100, at: Fixture.at) }
        let host = try IssuerHost(keyset: Fixture.keyset)
        #expect(throws: TerminalError.aboveMaximum(balanceFen: 150, amountFen: 99_900, maximumFen: 100_000)) {
            try PurseFlows.load(&ch, host: host, amountFen: 99_900, terminal: Fixture.counter, at: Fixture.at, balanceMaxFen: 100_000)
        }
    }
}
