import ArgumentParser
import City
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardPCSC
import Storage
import Terminal

/// `onecard tap`: a fare terminal (bus validator, metro gate, taxi meter, gas counter) waiting
/// for cards on a reader.
struct TapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "Run a fare terminal on a reader: wait for cards and charge each tap.",
        discussion: """
            Each completed tap is committed to the journal before the result is shown. With --json \
            every tap prints one line: {"result":"approved"|"declined","reason":…,"card":…,"type":…,\
            "amountFen":…,"balanceBeforeFen":…,"balanceAfterFen":…,"offlineCounter":…,\
            "terminalSequence":…,"tac":…,"at":…} (plus the exact outcome and the fare breakdown).
            """)

    @Option(help: "The reader (see `onecard readers`).")
    var reader: String
    @Option(help: "The city file.")
    var city: String
    @Option(help: "This terminal's ID, 12 hex digits (it must be in the city file).")
    var terminal: TerminalID
    @Option(help: "The reader slot holding this terminal's PSAM (e.g. \"Virtual PCD 00 01\"): it makes MAC1, checks MAC2, numbers the transactions and blocks hotlisted cards. A fare terminal holds no key of its own.")
    var psamReader: String?
    @Option(help: "The terminal's journal (SQLite; created if missing).")
    var journal: String
    @Option(help: "Taxi and gas: the amount keyed in, in fen.")
    var amountFen: Int64?
    @Option(help: "Metro gates: entry or exit.")
    var gate: String?
    @Option(help: "The cards to refuse: a hotlist store (OCHL, see `onecard terminal hotlist`), re-read when it is replaced, or a hotlist file (onecard-hotlist/1).")
    var hotlist: String?
    @Option(help: "The terminal's clock for this tap, YYYY-MM-DDTHH:MM:SS (default: now; for replays and tests).")
    var at: String?
    @Option(help: "How long to wait for a card with --once, in seconds.")
    var waitSeconds = 10
    @Flag(help: "Process one tap, then exit.")
    var once = false
    @Flag(help: "Print one JSON line per tap.")
    var json = false

    func validate() throws {
        if let gate, GateDirection(rawValue: gate) == nil { throw ValidationError("--gate must be entry or exit") }
        if let at, BCDDateTime(iso: at) == nil { throw ValidationError("--at must be YYYY-MM-DDTHH:MM:SS") }
        if let amountFen, amountFen <= 0 { throw ValidationError("--amount-fen must be positive") }
    }

    func run() throws {
        try reporting {
            let context = try PCSCContext()
            let terminal = try makeTerminal(context)
            repeat {
                // A store replaced by a delta or a new list is picked up between taps (one stat).
                do {
                    if try terminal.hotlist.store?.reopenIfChanged() == true, let s = terminal.hotlist.store {
                        FileHandle.standardError.write(Data("hotlist version \(s.version): \(s.count) card(s)\n".utf8))
                    }
                } catch {
                    FileHandle.standardError.write(Data("keeping the hotlist version \(terminal.hotlist.store?.version ?? 0): \(error)\n".utf8))
                }
                guard let result = try tapOnce(terminal, context) else { continue }
                print(json ? result.jsonLine : result.display + "\n")
                flushOutput()
                if !once { _ = try? context.waitForCard(in: reader, present: false, timeout: .seconds(3600)) }
            } while !once
        }
    }

    /// Waits for a card and taps it; `nil` when no card came (keep waiting).
    private func tapOnce(_ terminal: TapTerminal, _ context: PCSCContext) throws -> TapResult? {
        let wait: Duration = once ? .seconds(waitSeconds) : .seconds(1)
        guard try ReaderAccess.cardPresent(in: reader, context: context, wait: wait) else {
            if once { throw CLIError("no card presented to \(reader) within \(waitSeconds) s") }
            return nil
        }
        var card = try context.connect(reader: reader)
        defer { try? card.disconnect(.leave) }
        return try terminal.tap(&card, at: at.flatMap { BCDDateTime(iso: $0) } ?? localNow(), enteredAmountFen: amountFen)
    }

    private func makeTerminal(_ context: PCSCContext) throws -> TapTerminal {
        guard let psamReader else {
            throw CLIError("a fare terminal needs its PSAM: put it in a reader slot and pass --psam-reader READER (see `onecard readers`; docs/psam.md). The terminal holds no purchase key, so it cannot charge a card without one")
        }
        let city = try City.loadForCLI(self.city)
        guard let op = city.operator(ofTerminal: terminal) else { throw CLIError("terminal \(terminal) is not in \(self.city)") }
        let psam: PSAMModule
        do {
            psam = try PSAMModule(channel: try ReaderAccess.card(in: psamReader, context: context))
        } catch let e as TerminalError {
            throw CLIError("\(psamReader) does not hold a working PSAM (\(e)): insert this terminal's PSAM")
        }
        guard psam.terminal == terminal else {
            throw CLIError("the PSAM in \(psamReader) is personalised for terminal \(psam.terminal), not \(terminal): insert this terminal's own PSAM")
        }
        let journal = try SQLiteJournal(path: self.journal, terminal: terminal, operatorID: op.id.rawValue)
        let journaled = try journal.lastSequence()
        guard psam.lastSequence >= journaled else {
            throw CLIError("the PSAM in \(psamReader) last numbered a transaction \(psam.lastSequence), but the journal is at \(journaled): it would reuse numbers (a replacement PSAM must be personalised with `onecard psam new --sequence \(journaled.rawValue)`)")
        }
        let list = try hotlist.map(Self.loadHotlist) ?? Hotlist()
        let t = try TapTerminal(city: city, terminal: terminal, sam: psam, journal: journal, hotlist: list, gateDirection: GateDirection(rawValue: gate ?? "entry") ?? .entry)
        if case .metroGate = t.location, gate == nil { throw CLIError("terminal \(terminal) is a metro gate: pass --gate entry or --gate exit") }
        if [.taxi, .gas].contains(t.action), amountFen == nil { throw CLIError("terminal \(terminal) is a \(t.action.rawValue) terminal: pass --amount-fen") }
        return t
    }

    /// A hotlist store (a validator's 500,000 cards in 4 MB, opened in milliseconds) or
    /// a hotlist file (JSON, read whole), told apart by the store's magic.
    static func loadHotlist(_ path: String) throws -> Hotlist {
        let head = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 4) }
        if let head, Array(head) == HotlistStore.magic { return Hotlist(store: try HotlistStore(path: path)) }
        return Hotlist(serials: Set(try HotlistFile.entries(path: path).map(\.serial)))
    }
}
