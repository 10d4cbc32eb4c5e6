import ArgumentParser
import City
import Clearing
import ClearingIngest
import ClearingService
import Dispatch
import Foundation
import OneCardCore
import OneCardCrypto
import Storage
import UploadBatch
import PostgresStorage

/// `onecard clearing …`: the clearing centre.
struct ClearingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clearing",
        abstract: "Ingest terminal batches into the double-entry ledger, check it, manage the hotlist and the city versions.",
        subcommands: [Ingest.self, Check.self, Exceptions.self, Conflicts.self, Terminals.self, Hotlist.self, CityVersions.self]
    )

    /// The database and, once, the city it clears for.
    struct Database: ParsableArguments {
        @Option(help: "The clearing database: a SQLite file (created if missing), or postgresql://USER@HOST:PORT[,HOST:PORT…]/DATABASE (docs/operations.md).")
        var db: String
        @Option(help: "The city file; stored in the database, so later commands may omit it.")
        var city: String?

        /// The store and the newest city version (storing `--city` first, as a new version in
        /// force from the first open day, when it differs from the newest).
        func open() throws -> (ClearingStore, City) {
            let (store, stored) = try openStore()
            guard let (version, data) = try stored ?? store.newestCity() else { throw noCity }
            return (store, try City.parse(data: data, source: "\(db) (city version \(version))"))
        }

        /// The store and the city version in force on a business day (settling, reconciling).
        func open(day: BCDDate) throws -> (ClearingStore, City, version: Int64) {
            let (store, _) = try openStore()
            guard let (version, data) = try store.city(forDay: day) else {
                if try store.newestCity() == nil { throw noCity }
                throw CLIError("\(db) has no city version in force on \(day): see onecard clearing city list")
            }
            return (store, try City.parse(data: data, source: "\(db) (city version \(version))"), version)
        }

        private var noCity: CLIError { CLIError("\(db) has no city yet: pass --city CITY once (it is then stored in the database)") }

        private func openStore() throws -> (ClearingStore, (Int64, Data)?) {
            let store = try ClearingDatabase.open(db)
            guard let city else { return (store, nil) }
            let data = try Data(contentsOf: URL(fileURLWithPath: city))
            _ = try City.parse(data: data, source: city)
            return (store, (try store.addCity(data), data))
        }
    }

    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify and post upload batch files; each batch atomically, idempotent by (terminal, batch sequence).",
            discussion: """
                A file that is truncated, tampered with or of an unknown version, whose header time is invalid or \
                ahead of the clearing clock, or whose (terminal, batch sequence) was ingested before with other \
                bytes (a conflict, listed by `onecard clearing conflicts`), is refused whole (named on standard \
                error, exit status 3) and nothing from it is applied; the other files are ingested. Re-ingesting \
                the same bytes returns the original outcome and changes nothing. The upload window counts from \
                --received-at (the clearing centre's clock), never from the terminal's header time.
                """)

        @OptionGroup var database: Database
        @Option(help: "Clearing keyset with masterKeys.tac (TAC checks) and masterKeys.batch (the terminals' upload keys); repeat it for each key version still in use (rotation).")
        var keys: [String]
        @Option(help: "Open a counter-gap exception when a gap stays unfilled this many days.")
        var gapWindowDays = 2
        @Option(help: """
            Commit after at most this many records (a file is never split). Memory is the per-card \
            state plus about two runs of records (~0.5 KB each); every per-card check carries across \
            runs, and a day cleared in many runs ends as in one.
            """)
        var recordsPerCommit = Ingestor.recordsPerRunDefault
        @Option(help: "When the batches were received, YYYY-MM-DDTHH:MM:SS (default: now); its business day is the settlement day. With no files, closes the receipt days before it.")
        var receivedAt: String?
        @Flag(help: "Print the summary as one JSON object (no progress bar).")
        var json = false
        @Flag(help: "Report each phase and its time on standard error.")
        var verbose = false
        @Argument(help: "Upload batch files.")
        var batches: [String] = []

        func run() throws {
            try reporting {
                let (store, city) = try database.open()
                let received = try receivedAt.map { text in
                    guard let t = BCDDateTime(iso: text) else { throw CLIError("--received-at must be YYYY-MM-DDTHH:MM:SS") }
                    return t
                } ?? localNow()
                let started = DispatchTime.now()
                let ingestor = try Ingestor(store: store, city: city, keys: try ClearingKeys(paths: keys), gapWindowDays: gapWindowDays)
                if verbose {
                    let ms = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000
                    FileHandle.standardError.write(Data("ingest: load state (\(ingestor.cardCount) cards): \(ms) ms\n".utf8))
                }
                var bar = ProgressBar(total: 100, quiet: json || verbose)
                let report = try ingestor.ingest(
                    batches, received: received, recordsPerRun: recordsPerCommit,
                    progress: { done, total in bar.advance(to: total == 0 ? 100 : done * 100 / total, "records") },
                    phase: verbose ? { what, ms in FileHandle.standardError.write(Data("ingest: \(what): \(ms) ms\n".utf8)) } : nil)
                bar.finish()
                self.report(report.summary, report.rejected)
                if !report.rejected.isEmpty { throw ExitCode(3) }
            }
        }

        private func report(_ s: IngestSummary, _ rejected: [RejectedFile]) {
            for r in rejected { FileHandle.standardError.write(Data("refused whole: \(r.reason)\n".utf8)) }
            if json {
                printJSON(IngestJSON(summary: s, rejectedFiles: rejected))
                return
            }
            print("batches \(s.batches)  records \(s.records)  accepted \(s.accepted) (\(Fen.yuan(s.acceptedAmountFen)) yuan)  exceptions \(s.exceptions)")
            let refused = s.refused.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            print("refused " + (refused.isEmpty ? "none" : refused.map { "\(RefusalCode(rawValue: $0.key)?.description ?? $0.key): \($0.value)" }.joined(separator: ", ")))
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the ledger's invariants; exit status 1 with the first violation printed.")

        @OptionGroup var database: Database
        @Flag(help: "Print the result as one JSON object.")
        var json = false

        func run() throws {
            try reporting {
                let (store, _) = try database.open()
                let audit = try LedgerCheck.run(store)
                let acceptedCount = audit.acceptedCount
                if json {
                    printJSON(CheckJSON(holds: audit.holds, transfers: audit.transferCount, totalFen: audit.totalFen, accepted: acceptedCount, violations: audit.violations))
                } else if audit.holds {
                    print("ledger OK: \(audit.transferCount) transfers, \(Fen.yuan(audit.totalFen)) yuan moved, \(acceptedCount) accepted records, debits = credits")
                } else {
                    print("ledger VIOLATION: \(audit.violations[0])")
                    for v in audit.violations.dropFirst() { print("  also: \(v)") }
                }
                if !audit.holds { throw ExitCode(1) }
            }
        }
    }

    struct Exceptions: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the exceptions clearing opened (possible cloned cards).")

        @OptionGroup var database: Database
        @Option(help: "Only this status: open, accepted, rejected.")
        var status: String?
        @Flag(help: "Print one JSON object per line.")
        var json = false

        func run() throws {
            try reporting {
                let (store, _) = try database.open()
                printListing(try store.exceptions(status: status), json: json, noun: "exception") { e in
                    "\(e.exception.id)  \(e.status)  \(e.exception.kind.rawValue)  card \(e.exception.card)  \(e.exception.record ?? "-")  \(e.exception.detail)"
                }
            }
        }
    }
}

extension ClearingCommand {
    struct Conflicts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List batches refused whole because their (terminal, batch sequence) was ingested before with other bytes.",
            discussion: """
                Each line gives the run that refused it, the terminal and batch sequence, the file, its SHA-256 \
                and that of the batch ingested under the same key, and when it was received. Nothing of a \
                conflicting file is applied; an officer compares the two files and takes it up with the terminal's operator.
                """)

        @OptionGroup var database: Database
        @Flag(help: "Print one JSON object per line.")
        var json = false

        func run() throws {
            try reporting {
                let (store, _) = try database.open()
                printListing(try store.conflicts(), json: json, noun: "conflict") { c in
                    "run \(c.run)  \(c.terminal)/\(c.sequence)  \(c.file)  received \(c.received)  \(c.records) records  sha256 \(c.sha256)  ingested \(c.ingestedSHA256 ?? "unknown")"
                }
            }
        }
    }
}

extension ClearingCommand {
    struct Terminals: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The terminal registry: which terminals clearing accepts batches from.",
            discussion: """
                A batch from a terminal that is not registered, suspended or retired, that claims another \
                operator, or that is signed with another upload key version than the registry's is refused \
                whole with the reason. `add --from-city` registers every terminal of the stored city file.
                """,
            subcommands: [Add.self, Suspend.self, Activate.self, Retire.self, List.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Register a terminal as active (or update its operator and key version).")
            @OptionGroup var database: Database
            @Option(help: "The terminal, 12 hex digits.")
            var terminal: TerminalID?
            @Option(help: "Its operator (default: the city file's).")
            var operatorID: UInt16?
            @Option(help: "The upload key version its PSAM signs with.")
            var keyVersion: UInt8 = 1
            @Flag(help: "Register every terminal of the city file with its operator.")
            var fromCity = false

            func run() throws {
                try reporting {
                    let (store, city) = try database.open()
                    if fromCity {
                        for (id, t) in city.terminals.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                            try store.registerTerminal(id, operatorID: t.operatorID.rawValue, keyVersion: keyVersion, at: AuditTime.now())
                        }
                        print("registered \(city.terminals.count) terminals of the city file (upload key version \(keyVersion))")
                        return
                    }
                    guard let terminal else { throw CLIError("--terminal T or --from-city") }
                    let cityOperator = city.terminals[terminal]?.operatorID.rawValue
                    guard let op = operatorID ?? cityOperator else {
                        throw CLIError("terminal \(terminal) is not in the city file: give --operator-id")
                    }
                    if let cityOperator, cityOperator != op {
                        throw CLIError("the city file puts terminal \(terminal) under operator \(cityOperator), not \(op)")
                    }
                    try store.registerTerminal(terminal, operatorID: op, keyVersion: keyVersion, at: AuditTime.now())
                    print("terminal \(terminal) active: operator \(op), upload key version \(keyVersion)")
                }
            }
        }

        struct Suspend: StatusChange {
            static let configuration = CommandConfiguration(abstract: "Refuse a terminal's batches until it is reactivated.")
            static let status = RegisteredTerminal.Status.suspended
            @OptionGroup var target: Target
        }

        struct Activate: StatusChange {
            static let configuration = CommandConfiguration(abstract: "Accept a suspended terminal's batches again.")
            static let status = RegisteredTerminal.Status.active
            @OptionGroup var target: Target
        }

        struct Retire: StatusChange {
            static let configuration = CommandConfiguration(abstract: "Refuse a terminal's batches for good.")
            static let status = RegisteredTerminal.Status.retired
            @OptionGroup var target: Target
        }

        /// The database and the terminal a status change is about.
        struct Target: ParsableArguments {
            @OptionGroup var database: Database
            @Option(help: "The terminal, 12 hex digits.")
            var terminal: TerminalID
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the registered terminals.")
            @OptionGroup var database: Database
            @Flag(help: "Print one JSON object per line.")
            var json = false
            func run() throws {
                try reporting {
                    let (store, _) = try database.open()
                    let list = try store.terminals().sorted { $0.key.rawValue < $1.key.rawValue }.map(\.value)
                    printListing(list, json: json, noun: "terminal") { t in
                        "\(t.terminal)  \(t.status.rawValue)  operator \(t.operatorID)  key version \(t.keyVersion)  since \(t.changed)"
                    }
                }
            }
        }

    }
}

/// `terminals suspend|activate|retire`: one status change.
protocol StatusChange: ParsableCommand {
    static var status: RegisteredTerminal.Status { get }
    var target: ClearingCommand.Terminals.Target { get }
}

extension StatusChange {
    func run() throws {
        try reporting {
            let (store, _) = try target.database.open()
            try store.setTerminalStatus(target.terminal, Self.status, at: AuditTime.now())
            print("terminal \(target.terminal) \(Self.status.rawValue)")
        }
    }
}

struct IngestJSON: Encodable {
    var summary: IngestSummary
    var rejectedFiles: [RejectedFile]

    enum Keys: String, CodingKey { case batches, records, accepted, acceptedAmountFen, refused, exceptions, rejectedFiles }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(summary.batches, forKey: .batches)
        try c.encode(summary.records, forKey: .records)
        try c.encode(summary.accepted, forKey: .accepted)
        try c.encode(summary.acceptedAmountFen, forKey: .acceptedAmountFen)
        try c.encode(summary.refused, forKey: .refused)
        try c.encode(summary.exceptions, forKey: .exceptions)
        try c.encode(rejectedFiles, forKey: .rejectedFiles)
    }
}

struct CheckJSON: Encodable {
    var holds: Bool
    var transfers: Int
    var totalFen: Int64
    var accepted: Int
    var violations: [String]
}
