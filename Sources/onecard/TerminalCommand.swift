import ArgumentParser
import City
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardPCSC
import Storage
import Terminal
import UploadBatch

/// `onecard terminal …`: the terminal's journal.
struct TerminalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminal",
        abstract: "Work with a terminal's journal (export upload batches) and its hotlist store.",
        subcommands: [Export.self, Sync.self, JournalStress.self, HotlistStoreCommand.self]
    )

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the journal's not-yet-exported transactions as an upload batch file.",
            discussion: """
                Exporting twice never loses or duplicates a record. If an earlier export died before \
                writing its file, this export writes that same batch again (byte-identical) and \
                nothing newer: run export again for the rest.
                """)

        @Option(help: "The terminal's journal (SQLite), or an issuer database for the service counter.")
        var journal: String
        @Option(help: "The reader slot holding this terminal's PSAM: it signs the batch with the terminal's upload key, which nothing else holds.")
        var psamReader: String
        @Option(help: "The city file: the journal's terminal must belong to its recorded operator.")
        var city: String
        @Option(help: "Where to write the batch file.")
        var out: String
        @Flag(help: "Also export unresolved grey records as kind grey (clearing refuses them with code 04).")
        var includeGrey = false
        @Option(help: "The terminal clock for the batch header's time, YYYY-MM-DDTHH:MM:SS (default: now).")
        var at: String?
        @Flag(help: "Print one JSON line.")
        var json = false

        func run() throws {
            try reporting {
                let journal = try SQLiteJournal(existing: journal)
                let city = try City.load(path: city)
                guard let op = city.operator(ofTerminal: journal.terminal) else {
                    throw CLIError("terminal \(journal.terminal) of \(journal.path) is not in the city file: add it or use the right city file")
                }
                guard op.id.rawValue == journal.operatorID else {
                    throw CLIError("the city file puts terminal \(journal.terminal) under operator \(op.id), the journal under \(journal.operatorID)")
                }
                let psam = try TerminalCommand.psam(in: psamReader, for: journal.terminal)
                let version = psam.uploadKeyVersion
                let created = try at.map { text in
                    guard let t = BCDDateTime(iso: text) else { throw CLIError("--at must be YYYY-MM-DDTHH:MM:SS, got \(text)") }
                    return t
                } ?? localNow()
                let result = try journal.export(
                    to: out, sign: { try psam.signBatch(digest: $0, keyVersion: version) }, uploadKeyVersion: version, createdAt: created,
                    includeGrey: includeGrey)
                report(result, terminal: journal.terminal)
            }
        }

        private func report(_ r: ExportResult, terminal: TerminalID) {
            if json {
                printJSON(ExportJSON(
                    result: r.outcome.rawValue, terminal: terminal.description, batchSequence: r.batchSequence,
                    records: r.recordCount, amountFen: r.amountFen, depositFen: r.depositFen, grey: r.greyCount, path: r.path))
                return
            }
            switch r.outcome {
            case .nothingNew:
                print("nothing new to export from terminal \(terminal): no file written")
            case .wrote, .rewrotePending:
                let what = r.outcome == .wrote ? "wrote" : "rewrote unfinished"
                print("\(what) batch \(r.batchSequence ?? 0) of terminal \(terminal): \(r.recordCount) records, "
                    + "\(Fen.yuan(Int64(r.amountFen))) yuan (deposits \(Fen.yuan(Int64(r.depositFen))) yuan, grey \(r.greyCount)) → \(r.path ?? out)")
                if r.outcome == .rewrotePending { print("run export again for transactions journaled since") }
            }
        }
    }

    /// What `terminal export --json` prints.
    struct ExportJSON: Encodable {
        let result: String
        let terminal: String
        let batchSequence: UInt32?
        let records: Int
        let amountFen: UInt64
        let depositFen: UInt64
        let grey: Int
        let path: String?
    }

    /// Hidden: journals purchases as fast as it can, printing each acknowledged terminal
    /// sequence (flushed) after its commit returned. The crash test kills it with SIGKILL.
    struct JournalStress: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "journal-stress", abstract: "Crash-test helper: journal purchases and print each acknowledged sequence.",
            shouldDisplay: false)

        @Option(help: "The journal file.")
        var journal: String
        @Option(help: "How many purchases to journal.")
        var count: Int = 1_000_000
        @Option(help: "The terminal ID (12 hex).")
        var terminal: TerminalID = TerminalID(rawValue: 0x0000_0000_5157)!
        @Option(help: "The terminal's operator id, recorded in a new journal.")
        var operatorID: UInt16 = 0

        func run() throws {
            try reporting {
                let j = try SQLiteJournal(path: journal, terminal: terminal, operatorID: operatorID)
                for _ in 0..<max(0, count) {
                    let seq = try j.nextSequence()
                    var r = BatchRecord(
                        kind: .grey, transactionType: 0x06, serial: CardSerial(rawValue: 0x3100_0000_0000_0000 | UInt64(seq.rawValue)),
                        cardType: 1, counter: UInt16(truncatingIfNeeded: seq.rawValue), amountFen: 200, balanceBeforeFen: 10_000,
                        balanceAfterFen: 9_800, terminal: terminal, sequence: seq.rawValue, dateTimeBCD: 0x2026_1129_1200_00, tac: 0,
                        industry: 2, line: 0x0600)
                    try j.recordGrey(r)
                    r.kind = .purchase
                    r.tac = seq.rawValue &* 2_654_435_761
                    try j.complete(r)
                    // write(2) directly: the line leaves the process as soon as the commit returned.
                    FileHandle.standardOutput.write(Data("\(seq.rawValue)\n".utf8))
                }
            }
        }
    }
}
