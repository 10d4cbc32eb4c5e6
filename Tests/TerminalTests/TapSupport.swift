import City
import EPurse
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Terminal
import Testing
import UploadBatch

/// The example city and cards for tap tests.
enum Tap {
    static let city: City = {
        do { return try City.load(path: TestPaths.city) } catch { fatalError("example city: \(error)") }
    }()
    static let keyset = Fixture.keyset
    static let serial = CardSerial(hex: "7100000000001001")!
    static let bus5 = TerminalID(hex: "710002000501")!
    static let bus215 = TerminalID(hex: "710002021501")!
    static let houweizhai = TerminalID(hex: "710003010101")!
    static let hanchenglu = TerminalID(hex: "710003010501")!
    static let beidajie = TerminalID(hex: "710003011001")!
    static let taxi = TerminalID(hex: "710004000001")!
    static let gas = TerminalID(hex: "710005000001")!
    static let counter = TerminalID(hex: "710001000001")!

    static func at(_ iso: String) -> BCDDateTime { BCDDateTime(iso: iso)! }

    static func card(_ type: CardType = .adult, balanceFen: UInt32 = 5000, serial: CardSerial = serial, expiry: String = "2035-12-31") -> EPurseCard {
        let info = IssuerInfo(
            issuer: IssuerID(rawValue: 0x7100_0000_0000_0001), serialPrefix: 0x7100, serial: serial,
            startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate(expiry)!, cardType: type, depositFlag: 1)
        var s = try! CardState.personalise(keyset: keyset, info: info)
        s.balanceFen = balanceFen
        return EPurseCard(state: s)
    }

    /// Re-verifies a journaled purchase's TAC as clearing would, with the TAC master key.
    static func tacVerifies(_ r: BatchRecord) -> Bool {
        let key = TripleDESPurse.tacKey(tacMaster: try! keyset.masterKey(.tac), serial: r.serial)
        return r.tac == TripleDESPurse.purchaseTAC(
            tacKey: key, amountFen: r.amountFen, typeByte: r.transactionType, terminal: r.terminal.rawValue,
            terminalSequence: r.sequence, dateTimeBCD: r.dateTimeBCD)
    }
}

/// One terminal with its own journal and SAM (sequence from the journal, as in production).
final class Rig {
    let journal: MemoryJournal
    let terminal: TapTerminal

    init(_ id: TerminalID, direction: GateDirection = .entry, hotlist: Hotlist = Hotlist(), purchaseKeyset: Keyset = Tap.keyset) throws {
        let journal = MemoryJournal()
        self.journal = journal
        let sam = try SoftwareSAM(keyset: purchaseKeyset.restricted(to: [.purchase]), terminal: id, nextSequence: { try journal.nextSequence() })
        terminal = try TapTerminal(city: Tap.city, terminal: id, sam: sam, journal: journal, hotlist: hotlist, gateDirection: direction)
    }

    func tap(_ card: EPurseCard, _ iso: String, amountFen: Int64? = nil) throws -> TapResult {
        var ch = InProcessChannel(card: card)
        return try terminal.tap(&ch, at: Tap.at(iso), enteredAmountFen: amountFen)
    }
}

struct Torn: Error {}

/// Cuts the connection at command `cutAt` (1-based): before the card sees it, or — with
/// `responseLost` — after the card processed it. Every later command fails too.
struct TearChannel: CardChannel {
    var inner: InProcessChannel
    let cutAt: Int
    let responseLost: Bool
    private(set) var sent = 0

    init(card: EPurseCard, cutAt: Int, responseLost: Bool) {
        inner = InProcessChannel(card: card)
        self.cutAt = cutAt
        self.responseLost = responseLost
    }

    mutating func transmit(_ command: CommandAPDU) throws -> ResponseAPDU {
        sent += 1
        guard sent >= cutAt else { return try inner.transmit(command) }
        if sent == cutAt && responseLost { _ = try inner.transmit(command) }
        inner.card.powerOff()
        throw Torn()
    }
}
