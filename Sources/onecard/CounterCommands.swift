import ArgumentParser
import City
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardPCSC
import Storage
import Terminal
import UploadBatch

/// What every service counter command needs: a reader, the issuer keyset, the issuer database
/// and the city.
struct CounterOptions: ParsableArguments {
    @Option(help: "The reader the card is in (see `onecard readers`).")
    var reader: String
    @Option(help: "Issuer keyset with masterKeys.load and masterKeys.maintenance.")
    var keys: String
    @Option(help: "The city's issuer registry (SQLite; created if missing): one for every counter and top-up agent.")
    var db: String
    @Option(help: "This counter's own journal (SQLite; created if missing): its records, exported with `onecard terminal export`.")
    var journal: String
    @Option(help: "The city file (deposit, validity, card maximum).")
    var city = "config/city-xian.json"
    @Option(help: "The service counter's terminal ID, 12 hex digits (default: the city's first service counter).")
    var terminal: TerminalID?
    @Option(help: "The counter's clock, YYYY-MM-DDTHH:MM:SS (default: now).")
    var at: String?
    @Flag(help: "Print one JSON line per journaled record.")
    var json = false

    /// Opens the city, the database and the counter.
    func open() throws -> (City, IssuerDatabase, ServiceCounter) {
        let city = try City.loadForCLI(self.city)
        guard let terminal = terminal ?? city.defaultCounterTerminal else { throw CLIError("the city has no service counter: pass --terminal") }
        guard let t = city.terminal(terminal), t.location.operatorKind == .issuer else {
            throw CLIError("terminal \(terminal) is not an issuer counter in \(self.city)")
        }
        let db = try IssuerDatabase(path: db, journal: journal, counterTerminal: terminal, operatorID: t.operatorID.rawValue)
        let counter = try ServiceCounter(city: city, terminal: terminal, keyset: try Keyset.load(path: keys), journal: IssuerCounterJournal(db))
        return (city, db, counter)
    }

    /// The counter's clock.
    func clock() throws -> BCDDateTime {
        guard let at else { return localNow() }
        guard let t = BCDDateTime(iso: at) else { throw CLIError("--at must be YYYY-MM-DDTHH:MM:SS") }
        return t
    }

    /// Prints what was journaled.
    func report(_ records: [BatchRecord], _ words: String) {
        if json {
            for r in records { printJSON(RecordJSON(r)) }
        } else {
            print(words)
        }
    }
}

/// A journaled counter record as one JSON line.
struct RecordJSON: Encodable {
    var kind: String
    var card: String
    var amountFen: UInt32
    var depositFen: UInt32
    var balanceAfterFen: UInt32
    var terminalSequence: UInt32
    var relatedCard: String?
    var at: String

    init(_ r: BatchRecord) {
        kind = r.kind.description
        card = r.serial.description
        amountFen = r.amountFen
        depositFen = r.depositFen
        balanceAfterFen = r.balanceAfterFen
        terminalSequence = r.sequence
        relatedCard = r.relatedSerial.rawValue == 0 ? nil : r.relatedSerial.description
        at = r.at?.description ?? ""
    }
}

/// `onecard issue`: sell (activate and register) a personalised card.
struct IssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue", abstract: "Sell a card: activate it (type, validity), take the deposit, optionally load it.")

    @OptionGroup var options: CounterOptions
    @Option(help: "Card type: adult, student, senior or staff.")
    var type: CardType
    @Option(help: "A first load, in fen.")
    var loadFen: UInt32 = 0

    func run() throws {
        try reporting {
            let (city, db, counter) = try options.open()
            var card = try ReaderAccess.card(in: options.reader, context: try PCSCContext())
            let info = try PurseSnapshot.read(from: &card).info
            if try db.card(info.serial) != nil { throw CLIError("card \(info.serial.masked) is already issued") }
            let records = try counter.issue(&card, cardType: type, at: try options.clock(), firstLoadFen: loadFen)
            options.report(records, "issued card \(info.serial) (\(type)), deposit \(Fen.yuan(city.card.depositFen)) yuan"
                + (loadFen > 0 ? ", loaded \(Fen.yuan(Int64(loadFen))) yuan" : ""))
        }
    }
}

/// `onecard load`: top up a card at the service counter.
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "Load (top up) the card in the reader.")

    @OptionGroup var options: CounterOptions
    @Option(help: "The amount to load, in fen.")
    var amountFen: UInt32

    func validate() throws {
        guard amountFen > 0 else { throw ValidationError("--amount-fen must be positive") }
    }

    func run() throws {
        try reporting {
            let (_, _, counter) = try options.open()
            var card = try ReaderAccess.card(in: options.reader, context: try PCSCContext())
            let r = try counter.load(&card, amountFen: amountFen, at: try options.clock())
            options.report([r], "loaded \(Fen.yuan(Int64(amountFen))) yuan onto card \(r.serial); balance \(Fen.yuan(Int64(r.balanceAfterFen))) yuan")
        }
    }
}

/// `onecard refund`: take a card back, pay back balance and deposit, once.
struct RefundCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refund", abstract: "Refund a card: block it for good and pay back its balance and deposit (once).")

    @OptionGroup var options: CounterOptions

    func run() throws {
        try reporting {
            let (_, db, counter) = try options.open()
            var card = try ReaderAccess.card(in: options.reader, context: try PCSCContext())
            let serial = try PurseSnapshot.read(from: &card).info.serial
            guard let registered = try db.card(serial) else { throw CLIError("card \(serial.masked) is not registered at this issuer") }
            guard registered.status == .active || registered.status == .blocked else {
                throw CLIError("card \(serial.masked) is \(registered.status.rawValue): a card is refunded or replaced once only")
            }
            let r = try counter.refund(&card, at: try options.clock())
            options.report([r], "refunded card \(serial): balance \(Fen.yuan(Int64(r.amountFen))) yuan and deposit \(Fen.yuan(Int64(r.depositFen))) yuan paid back")
        }
    }
}

/// `onecard replace`: move a card's balance onto a new card, once.
struct ReplaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replace", abstract: "Replace a card: block the old card for good and move its balance onto a new, issued card (once).")

    @OptionGroup var options: CounterOptions
    @Option(help: "The reader holding the new card (the old card is in --reader).")
    var newReader: String

    func run() throws {
        try reporting {
            let (_, db, counter) = try options.open()
            let context = try PCSCContext()
            var old = try ReaderAccess.card(in: options.reader, context: context)
            var new = try ReaderAccess.card(in: newReader, context: context)
            let oldSerial = try PurseSnapshot.read(from: &old).info.serial
            let newSerial = try PurseSnapshot.read(from: &new).info.serial
            guard let o = try db.card(oldSerial), o.status == .active || o.status == .blocked else {
                throw CLIError("card \(oldSerial.masked) is not an active registered card: a card is refunded or replaced once only")
            }
            guard try db.card(newSerial)?.status == .active else { throw CLIError("the new card \(newSerial.masked) must be issued first") }
            let r = try counter.replace(old: &old, new: &new, at: try options.clock())
            options.report([r], "replaced card \(oldSerial) by \(newSerial): \(Fen.yuan(Int64(r.amountFen))) yuan moved")
        }
    }
}

/// `onecard balance`: what a card-reader app shows.
struct BalanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "balance", abstract: "Print serial, type, balance, counters and the decoded logs of the card in a reader.")

    @Option(help: "The reader (see `onecard readers`).")
    var reader: String
    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        try reporting {
            var card = try ReaderAccess.card(in: reader, context: try PCSCContext())
            let s = try PurseSnapshot.read(from: &card)
            if json {
                printJSON(SnapshotJSON(s))
            } else {
                print(s.report)
            }
        }
    }
}

struct SnapshotJSON: Encodable {
    struct Log: Encodable {
        var counter: UInt16
        var type: String
        var amountFen: UInt32
        var terminal: String
        var at: String
    }

    var card: String
    var type: String
    var issuer: String
    var validFrom: String
    var validTo: String
    var blocked: Bool
    var balanceFen: UInt32
    var onlineCounter: UInt16?
    var offlineCounter: UInt16?
    var transactions: [Log]

    init(_ s: PurseSnapshot) {
        card = s.info.serial.description
        type = s.info.cardType.description
        issuer = s.info.issuer.description
        validFrom = s.info.startDate.description
        validTo = s.info.expiryDate.description
        blocked = s.blocked
        balanceFen = s.balanceFen
        onlineCounter = s.onlineCounter?.rawValue
        offlineCounter = s.offlineCounter?.rawValue
        transactions = s.transactionLog.map {
            Log(counter: $0.counterAfter.rawValue, type: [$0.type.rawValue].hex, amountFen: $0.amountFen, terminal: $0.terminal.description, at: $0.at.description)
        }
    }
}
