import ArgumentParser
import City
import Clearing
import Dispatch
import Foundation
import OneCardCore
import OneCardCrypto
import Storage
import UploadBatch

/// `onecard clearing …`: the clearing centre.
struct ClearingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clearing",
        abstract: "Ingest terminal batches into the double-entry ledger, check it, manage the hotlist.",
        subcommands: [Ingest.self, Check.self, Exceptions.self, Conflicts.self, Terminals.self, Hotlist.self]
    )

    /// The database and, once, the city it clears for.
    struct Database: ParsableArguments {
        @Option(help: "The clearing database (SQLite; created if missing).")
        var db: String
        @Option(help: "The city file; stored in the database, so later commands may omit it.")
        var city: String?

        func open() throws -> (ClearingStore, City) {
            let store = try ClearingStore(path: db)
            if let city {
                let data = try Data(contentsOf: URL(fileURLWithPath: city))
                let parsed = try City.parse(data: data, source: city)
                try store.setCityJSON(data)
                return (store, parsed)
            }
            guard let data = try store.cityJSON() else {
                throw CLIError("\(db) has no city yet: pass --city CITY once (it is then stored in the database)")
            }
            return (store, try City.parse(data: data, source: "\(db) (stored city)"))
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
            Commit after at most this many records (bounds memory, ~0.5 KB per record). A card's \
            balance chain is checked within one commit: keep a whole day in one.
            """)
        var recordsPerCommit = 16_000_000
        @Option(help: "When the batches were received, YYYY-MM-DDTHH:MM:SS (default: now); its business day is the settlement day.")
        var receivedAt: String?
        @Flag(help: "Print the summary as one JSON object.")
        var json = false
        @Flag(help: "Report each phase and its time on standard error.")
        var verbose = false
        @Argument(help: "Upload batch files.")
        var batches: [String]

        func run() throws {
            try reporting {
                let (store, city) = try database.open()
                let received = try receivedAt.map { text in
                    guard let t = BCDDateTime(iso: text) else { throw CLIError("--received-at must be YYYY-MM-DDTHH:MM:SS") }
                    return t
                } ?? localNow()
                let keys = try ClearingKeys(paths: keys)
                let clock = PhaseClock(enabled: verbose)
                let config = ClearingConfig(city: city, tacMasters: keys.tac, gapWindowDays: gapWindowDays)
                var engine = ClearingEngine(config: config, state: try store.loadState())
                clock.lap("load state (\(engine.state.cards.count) cards)")
                var outcomes: [BatchOutcome] = []
                var exceptions = 0
                var rejected: [RejectedFile] = []
                for chunk in chunks() {
                    // The registry as it is now: a terminal suspended during a long ingest is refused
                    // from the next chunk on.
                    let decoded = BatchReader.read(chunk, keys: keys, registry: try store.terminals(), received: ClearingTime.seconds(received))
                    clock.lap("read and verify \(chunk.count) files")
                    rejected += decoded.rejected
                    var attempt = 1
                    while true {
                        let r = engine.run(decoded.batches)
                        clock.lap("sort, check TACs, post \(r.summary.records) records")
                        do {
                            try store.commit(
                                r, files: decoded.batches.map(\.file), engine: engine, received: received,
                                businessDay: city.businessDay(of: received))
                        } catch StorageError.stale where attempt < Self.attemptsMax {
                            // Another writer committed first: redo the run from the database as it is now.
                            attempt += 1
                            engine = ClearingEngine(config: config, state: try store.loadState())
                            continue
                        }
                        clock.lap("commit \(r.transfers.count) transfers")
                        outcomes += zip(r.outcomes, r.status).compactMap { o, s in s == .fresh || s == .replayed ? o : nil }
                        rejected += r.refusedWhole.map { RejectedFile(file: decoded.batches[$0.index].file, reason: $0.reason) }
                        exceptions += r.exceptions.count
                        break
                    }
                }
                report(IngestSummary(outcomes, exceptions: exceptions), rejected)
                if !rejected.isEmpty { throw ExitCode(3) }
            }
        }

        /// How often a run is redone when another writer commits first.
        static let attemptsMax = 5

        /// Groups the files into commits of at most `recordsPerCommit` records (by file size).
        private func chunks() -> [[String]] {
            var out: [[String]] = [[]]
            var records = 0
            for f in batches {
                let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
                let n = max(0, (size - BatchHeader.byteCount - BatchFile.trailerBytes) / BatchRecord.byteCount)
                if records + n > recordsPerCommit, !out[out.count - 1].isEmpty {
                    out.append([])
                    records = 0
                }
                out[out.count - 1].append(f)
                records += n
            }
            return out
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
                let state = try store.loadState()
                var audit = LedgerAudit()
                var accepted: [(ref: RecordRef, kind: RecordKind, amountFen: UInt32)] = []
                try store.forEachPage("transfers") { page in
                    guard let t = Packing.transfers(page) else { throw CLIError("a transfer page of \(database.db) is corrupt") }
                    audit.add(t)
                }
                try store.forEachPage("details") { page in
                    guard let a = Packing.acceptedRefs(page) else { throw CLIError("a detail page of \(database.db) is corrupt") }
                    accepted += a
                }
                // Settlement postings and officers' adjustments live outside the run pages.
                audit.add(try store.settlementTransfers())
                let adjusted = Set(try store.decisions().filter { $0.status == "accepted" }.compactMap { RecordRef($0.record) })
                audit.finish(accepted: accepted, shadows: state.cards, adjusted: adjusted)
                if json {
                    printJSON(CheckJSON(holds: audit.holds, transfers: audit.transferCount, totalFen: audit.totalFen, accepted: accepted.count, violations: audit.violations))
                } else if audit.holds {
                    print("ledger OK: \(audit.transferCount) transfers, \(Fen.yuan(audit.totalFen)) yuan moved, \(accepted.count) accepted records, debits = credits")
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
                let list = try store.exceptions(status: status)
                for e in list {
                    if json {
                        printJSON(e)
                    } else {
                        print("\(e.exception.id)  \(e.status)  \(e.exception.kind.rawValue)  card \(e.exception.card)  \(e.exception.record ?? "-")  \(e.exception.detail)")
                    }
                }
                if !json { print("\(list.count) exception(s)") }
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
                let list = try store.conflicts()
                for c in list {
                    if json {
                        printJSON(c)
                    } else {
                        print("run \(c.run)  \(c.terminal)/\(c.sequence)  \(c.file)  received \(c.received)  \(c.records) records  sha256 \(c.sha256)  ingested \(c.ingestedSHA256 ?? "unknown")")
                    }
                }
                if !json { print("\(list.count) conflict(s)") }
            }
        }
    }
}

/// The clearing centre's master keys by key version, from one keyset per version.
struct ClearingKeys: Sendable {
    var tac: [UInt8: TripleDESKey] = [:]
    var batch: [UInt8: TripleDESKey] = [:]

    init(paths: [String]) throws {
        guard !paths.isEmpty else { throw CLIError("--keys: give the clearing keyset (masterKeys.tac and masterKeys.batch)") }
        for path in paths {
            let k = try Keyset.load(path: path)
            let v = k.keyVersion.rawValue
            guard tac[v] == nil else { throw CLIError("--keys: two keysets of key version \(v)") }
            tac[v] = try k.masterKey(.tac)
            batch[v] = try k.masterKey(.batch)
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
                            try store.registerTerminal(id, operatorID: t.operatorID.rawValue, keyVersion: keyVersion, at: auditNow())
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
                    try store.registerTerminal(terminal, operatorID: op, keyVersion: keyVersion, at: auditNow())
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
                    let list = try store.terminals().sorted { $0.key.rawValue < $1.key.rawValue }
                    for (_, t) in list {
                        if json { printJSON(t) } else { print("\(t.terminal)  \(t.status.rawValue)  operator \(t.operatorID)  key version \(t.keyVersion)  since \(t.changed)") }
                    }
                    if !json { print("\(list.count) terminal(s)") }
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
            try store.setTerminalStatus(target.terminal, Self.status, at: auditNow())
            print("terminal \(target.terminal) \(Self.status.rawValue)")
        }
    }
}

/// A batch file refused whole.
struct RejectedFile: Codable {
    var file: String
    var reason: String
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

/// Reads and verifies batch files on both cores.
enum BatchReader {
    /// The most bytes one batch file may have.
    static let fileBytesMax = BatchHeader.byteCount + BatchFile.recordsMax * BatchRecord.byteCount + BatchFile.trailerBytes

    static func read(
        _ files: [String], keys: ClearingKeys, registry: [TerminalID: RegisteredTerminal], received: UInt32
    ) -> (batches: [IncomingBatch], rejected: [RejectedFile]) {
        var slots = [Result<(BatchFile, [UInt8]), RejectedFileError>?](repeating: nil, count: files.count)
        slots.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            DispatchQueue.concurrentPerform(iterations: files.count) { i in
                out[i] = readOne(files[i], keys: keys, registry: registry)
            }
        }
        var batches: [IncomingBatch] = []
        var rejected: [RejectedFile] = []
        for (i, slot) in slots.enumerated() {
            switch slot {
            case .success(let (b, digest))?: batches.append(IncomingBatch(file: files[i], batch: b, received: received, digest: digest))
            case .failure(let e)?: rejected.append(RejectedFile(file: files[i], reason: e.reason))
            case nil: rejected.append(RejectedFile(file: files[i], reason: "\(files[i]): not read"))
            }
        }
        return (batches, rejected)
    }

    struct RejectedFileError: Error { var reason: String }

    /// A verified batch and the SHA-256 of its bytes.
    static func readOne(_ file: String, keys: ClearingKeys, registry: [TerminalID: RegisteredTerminal]) -> Result<(BatchFile, [UInt8]), RejectedFileError> {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int else {
            return .failure(RejectedFileError(reason: "\(file): cannot read the file"))
        }
        guard size <= fileBytesMax else { return .failure(RejectedFileError(reason: "\(file): \(size) bytes, larger than any batch")) }
        guard let data = FileManager.default.contents(atPath: file) else { return .failure(RejectedFileError(reason: "\(file): cannot read the file")) }
        let bytes = [UInt8](data)
        do {
            let header = try BatchFile.peekHeader(bytes, file: file)
            if let why = RegisteredTerminal.refusal(
                registry[header.terminal], terminal: header.terminal, operatorID: header.operatorID, keyVersion: header.uploadKeyVersion) {
                return .failure(RejectedFileError(reason: "\(file): \(why)"))
            }
            guard let master = keys.batch[header.uploadKeyVersion] else {
                return .failure(RejectedFileError(reason: "\(file): clearing holds no batch master key of version \(header.uploadKeyVersion): pass its keyset with --keys"))
            }
            let key = BatchFile.uploadKey(batchMaster: master, terminal: header.terminal)
            let (batch, digest) = try BatchFile.decodeWithDigest(bytes, file: file, key: key)
            return .success((batch, digest))
        } catch {
            return .failure(RejectedFileError(reason: error.description))
        }
    }
}

/// Phase timings for `--verbose`, on standard error.
final class PhaseClock {
    let enabled: Bool
    var last = DispatchTime.now()

    init(enabled: Bool) { self.enabled = enabled }

    func lap(_ what: String) {
        guard enabled else { return }
        let now = DispatchTime.now()
        let ms = Double(now.uptimeNanoseconds - last.uptimeNanoseconds) / 1e6
        FileHandle.standardError.write(Data("ingest: \(what): \(Int(ms)) ms\n".utf8))
        last = now
    }
}
