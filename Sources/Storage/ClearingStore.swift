public import Clearing
import Foundation
import GRDB
import OneCardCore
import UploadBatch

/// The clearing centre's database: an append-only ledger stored as pages of packed rows (one
/// BLOB per up to ``pageRowsMax`` transfers), the ingested batches with their outcomes, and the
/// little mutable state (gaps, account nets, exceptions, hotlist).
///
/// One ingest run is one write transaction: a run's batches, transfers, shadows and exceptions
/// commit together or not at all, so a process killed at any moment loses nothing that was
/// acknowledged and applies nothing twice (re-running the same files is then a replay).
/// WAL with `synchronous=FULL`: the run is on disk when ``commit(_:)`` returns.
public final class ClearingStore: Sendable {
    /// Rows per page.
    public static let pageRowsMax = 65_536
    /// Where the database is, for messages: the SQLite file, or the PostgreSQL URL without its password.
    public let path: String
    /// Shadow rows written since the last snapshot that make the next one due, at the least
    /// (``snapshotRowsMinDefault``).
    public let snapshotRowsMin: Int
    /// The database the tables are in (SQLite here; PostgreSQL through module PostgresStorage).
    public let engine: any SQLEngine
    /// The terminal registry as last read, and the database version it was read at.
    let registryCache = RegistryCache()

    /// Opens (creating if needed) a clearing database in a SQLite file.
    ///
    /// - Throws: ``StorageError`` naming the file.
    public convenience init(path: String, snapshotRowsMin: Int = ClearingStore.snapshotRowsMinDefault) throws(StorageError) {
        let engine = try StorageFailure.run(path, "opening the clearing database") { try SQLiteEngine(path: path) }
        var migrator = DatabaseMigrator()
        ClearingSchema.register(&migrator)
        try StorageFailure.run(path, "creating the clearing schema") {
            try migrator.migrate(engine.queue)
        }
        self.init(engine: engine, snapshotRowsMin: snapshotRowsMin)
    }

    /// A clearing store over a database whose clearing schema is in place (module
    /// PostgresStorage opens PostgreSQL this way).
    public init(engine: any SQLEngine, snapshotRowsMin: Int = ClearingStore.snapshotRowsMinDefault) {
        self.engine = engine
        self.path = engine.location
        self.snapshotRowsMin = max(1, snapshotRowsMin)
    }

    /// Runs `body` in a read transaction; failures as ``StorageError`` naming `operation`.
    func reading<T>(_ operation: String, _ body: (any SQLSession) throws -> T) throws(StorageError) -> T {
        try StorageFailure.run(path, operation, engine: engine) { try engine.read(body) }
    }

    /// Runs `body` in a write transaction; failures as ``StorageError`` naming `operation`.
    func writing<T>(_ operation: String, _ body: (any SQLSession) throws -> T) throws(StorageError) -> T {
        try StorageFailure.run(path, operation, engine: engine) { try engine.write(body) }
    }

    /// The fewest records a run of an ingest holds for ``appendingRuns(recordsPerRun:_:)`` to set
    /// the database for large appends. On SQLite a rollback journal commits with three fsyncs
    /// where WAL needs one, and WAL's checkpoints run beside the writer
    /// (``SQLiteFile/Checkpointer``): the 10M-tap day in 3,012 files took 14.5 s through a
    /// rollback journal against 12.3 s through WAL in runs of 11,230 records, about the same in
    /// runs of 16,384 and 22,000, and 10.3 s against 11.6 s in runs of 32,768
    /// (docs/performance.md, "Checkpoints beside the writer").
    public static let appendingRunRecordsMin = 32_768

    /// Runs `body`, a batch ingest's runs of about `recordsPerRun` records each, with the
    /// database set for them (``SQLEngine/appending(large:_:)``): for large appends when the
    /// runs are large enough to gain (``appendingRunRecordsMin``); `journal` says what the runs
    /// go through. Every run committed is on disk when this returns or throws; smaller runs'
    /// commits do not wait for the disk before then (``SQLiteEngine/appending(large:_:)``).
    public func appendingRuns<T>(recordsPerRun: Int, _ body: (_ journal: String) throws -> T) throws -> T {
        let large = recordsPerRun >= Self.appendingRunRecordsMin
        return try engine.appending(large: large) { journal in
            try body(large ? journal : journal + " (runs of fewer than \(Self.appendingRunRecordsMin) records)")
        }
    }

    // MARK: Settings kept in the database

    /// The run the newest snapshot of the card shadows was taken at (0: none yet).
    public func snapshotRun() throws(StorageError) -> Int64 {
        try reading("reading the snapshot") { db in try db.int("SELECT MAX(run) FROM clearing_snapshot") ?? 0 }
    }

    /// The newest day (since 1970) batches were received on (0 before the first run).
    public func newestDay() throws(StorageError) -> Int {
        try reading("reading the newest day") { db in Int(try Self.meta(db, "newestDay")) }
    }

    /// An integer kept in `clearing_meta` (0 when absent).
    static func meta(_ db: any SQLSession, _ key: String) throws -> Int64 {
        try db.int("SELECT CAST(value AS BIGINT) FROM clearing_meta WHERE key = ?", key) ?? 0
    }

    /// Sets an integer kept in `clearing_meta`.
    static func setMeta(_ db: any SQLSession, _ key: String, _ value: Int64) throws {
        try db.execute("INSERT INTO clearing_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value)
    }

    // MARK: Startup

    /// Rebuilds the engine's in-memory state from the database.
    public func loadState() throws(StorageError) -> ClearingState {
        try reading("loading the clearing state") { db in
            var s = ClearingState()
            let path = self.path
            // The newest snapshot of every shadow, then the shadows runs changed after it.
            let snapshot = try db.int("SELECT MAX(run) FROM clearing_snapshot") ?? 0
            // Room for every card the snapshot holds at once: no rehashing while rows stream in.
            s.cards.reserveCapacity(Int(try db.int("SELECT CAST(SUM(count) AS BIGINT) FROM clearing_snapshot WHERE run = ?", snapshot) ?? 0))
            func shadows(_ row: SQLRow) throws {
                let count = Int(try row.int(0))
                let data = try row.blob(1)
                guard count > 0, Packing.shadows(data, rowBytes: data.count / count, into: &s.cards) else {
                    throw StorageError.notAJournal(path: path, reason: "a corrupt shadow page")
                }
            }
            try db.forEach("SELECT count, data FROM clearing_snapshot WHERE run = ? ORDER BY page", snapshot, body: shadows)
            try db.forEach("SELECT count, data FROM clearing_page WHERE kind = 'shadows' AND run > ? ORDER BY run, page", snapshot, body: shadows)
            let decoder = JSONDecoder()
            try db.forEach("SELECT terminal, sequence, outcome, sha256 FROM clearing_batch") { row in
                let outcome = try decoder.decode(BatchOutcome.self, from: Data(try row.text(2).utf8))
                let key = BatchKey(terminal: UInt64(bitPattern: try row.int(0)), sequence: UInt32(truncatingIfNeeded: try row.int(1)))
                s.batches[key] = outcome
                if let digest = try row.blobOrNil(3) { s.batchDigests[key] = digest }
            }
            try db.forEach("SELECT terminal, page, newest_day, bits FROM clearing_fare") { row in
                guard let page = Packing.farePage(try row.blob(3), newestDay: Int32(clamping: try row.int(2))) else {
                    throw StorageError.notAJournal(path: path, reason: "corrupt fare identities")
                }
                s.fares.set(FareIdentities.PageKey(terminal: UInt64(bitPattern: try row.int(0)), page: UInt32(clamping: try row.int(1))), page)
            }
            try db.forEach("SELECT serial, counter FROM clearing_accepted_load") { row in
                s.acceptedLoads.insert(LoadIdentity(serial: UInt64(bitPattern: try row.int(0)), counter: UInt16(clamping: try row.int(1))))
            }
            s.generation = try Self.generation(db)
            // Gaps stored as rows before they were read off the shadows' windows: their day and
            // whether they were reported move into the shadow (the rows are dropped at the next commit).
            try db.forEach("SELECT serial, MIN(seen_day), MIN(reported) FROM clearing_gap GROUP BY serial") { row in
                let serial = UInt64(bitPattern: try row.int(0))
                guard var shadow = s.cards[serial], shadow.hasOpenGaps else { return }
                shadow.gapSinceDay = UInt16(clamping: try row.int(1))
                if try row.bool(2) { shadow.flags |= CardShadow.Flags.gapsReported }
                s.cards[serial] = shadow
                s.unsavedCards.insert(serial)
            }
            try db.forEach("SELECT kind, number, net FROM clearing_account") { row in
                guard let kind = AccountKind(rawValue: UInt8(clamping: try row.int(0))) else { return }
                s.accountNetFen[AccountID(kind: kind, number: UInt64(bitPattern: try row.int(1)))] = try row.int(2)
            }
            s.hotlist = try Self.hotlistEntries(db)
            s.newestDay = Int(try Self.meta(db, "newestDay"))
            return s
        }
    }

    // MARK: Commit

    /// The write generation: bumped by every commit that changes what an ingest run depends on
    /// (runs, officers' decisions on fares).
    static func generation(_ db: any SQLSession) throws -> Int64 { try meta(db, "generation") }

    /// Moves the generation on unconditionally (a decision that changes what an ingest depends on).
    static func bumpGeneration(_ db: any SQLSession) throws {
        try advanceGeneration(db, from: generation(db), path: "")
    }

    /// Checks that nobody committed since `expected` was read, and bumps the generation.
    ///
    /// - Throws: ``StorageError/stale(path:what:)``.
    @discardableResult
    static func advanceGeneration(_ db: any SQLSession, from expected: Int64, path: String) throws -> Int64 {
        guard try generation(db) == expected else { throw StorageError.stale(path: path, what: "the clearing database") }
        try setMeta(db, "generation", expected + 1)
        return expected + 1
    }

    /// Commits one run in one transaction. Returns the run number.
    ///
    /// - Parameters:
    ///   - received: when the clearing centre received the batches (local time); its business
    ///     day (the city's cut-off applied) is the settlement day the run belongs to.
    ///   - businessDay: that day, `YYYY-MM-DD`.
    ///   - engine: the engine that ran `r`; its state is saved, and its generation moves on
    ///     with the store's.
    /// - Throws: ``StorageError``; nothing of the run is then stored, and the caller must
    ///   rebuild its engine from ``loadState()`` before going on. ``StorageError/stale(path:what:)``
    ///   if another writer committed since the engine's state was loaded.
    @discardableResult
    public func commit(
        _ r: RunResult, files: [String], engine: ClearingEngine, received: BCDDateTime, businessDay: BCDDate
    ) throws(StorageError) -> Int64 {
        let since = try rowsSinceSnapshot()
        let prepared = try prepare(r, files: files, engine: engine, received: received, businessDay: businessDay, rowsSinceSnapshot: since)
        let (run, generation) = try write(prepared)
        engine.generation = generation
        return run
    }

    /// Packs everything a run stores from the run and the engine's state as it is now, so that
    /// the engine may post the next run while this one is written (``write(_:)``).
    ///
    /// - Parameter rowsSinceSnapshot: the shadow rows written since the newest snapshot, as the
    ///   caller last knew it: a snapshot of every shadow is packed when this run makes one due
    ///   (``snapshotRowsMin``).
    public func prepare(
        _ r: RunResult, files: [String], engine: ClearingEngine, received: BCDDateTime, businessDay: BCDDate, rowsSinceSnapshot: Int
    ) throws(StorageError) -> PreparedRun {
        let state = engine.state
        return try StorageFailure.run(path, "packing an ingest run") {
            var p = PreparedRun(
                generation: state.generation, received: received.description, businessDay: businessDay.description,
                batches: r.applied.count, records: r.summary.records, summary: String(decoding: try JSONEncoder().encode(r.summary), as: UTF8.self))
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            for (i, status) in r.status.enumerated() where status == .fresh {
                let o = r.outcomes[i]
                guard let terminal = TerminalID(hex: o.terminal) else { continue }
                let digest = state.batchDigests[BatchKey(terminal: terminal.rawValue, sequence: o.sequence)].map { Data($0) }
                p.batchRows.append((Int64(terminal.rawValue), Int64(o.sequence), files[i], String(decoding: try encoder.encode(o), as: UTF8.self), digest))
            }
            p.conflicts = r.conflicts
            p.transfers = r.packedTransfers
            p.details = r.details
            p.shadows = Packing.shadowRows(r.postedShadows, except: r.touchedCards)
            for serial in r.touchedCards.sorted() { Packing.append(serial: serial, state.cards[serial] ?? CardShadow(), to: &p.shadows) }
            for f in r.refusals { Packing.append(f, to: &p.refusals) }
            p.accounts = r.touchedAccounts.map { ($0, state.accountNetFen[$0] ?? 0) }
            p.exceptions = r.exceptions
            p.farePages = r.touchedFarePages.map { ($0, state.fares.pages[$0].map { Packing.farePage($0) }, state.fares.pages[$0]?.newestDay ?? 0) }
            p.newestDay = state.newestDay
            p.touched = p.shadows.count / Packing.shadowBytes
            if rowsSinceSnapshot + p.touched >= max(snapshotRowsMin, Self.snapshotRowsPerCard * state.cards.count) {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(state.cards.count * Packing.shadowBytes)
                for (serial, shadow) in state.cards { Packing.append(serial: serial, shadow, to: &bytes) }
                p.snapshot = bytes
            }
            return p
        }
    }

    /// Writes a prepared run in one transaction: returns the run number and the store's new
    /// write generation (the engine's from now on).
    ///
    /// - Throws: ``StorageError``; nothing of the run is then stored.
    ///   ``StorageError/stale(path:what:)`` if another writer committed since
    ///   ``PreparedRun/generation``.
    public func write(_ p: PreparedRun) throws(StorageError) -> (run: Int64, generation: Int64) {
        try writing("committing an ingest run") { db in
            if try Self.dayIsClosed(db, p.businessDay) { throw StorageError.dayClosed(path: path, day: p.businessDay) }
            let generation = try Self.advanceGeneration(db, from: p.generation, path: path)
            let run = (try db.int("SELECT MAX(run) FROM clearing_run") ?? 0) + 1
            try db.execute(
                """
                INSERT INTO clearing_run (run, finished, received, business_day, batches, records, summary)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                run, AuditTime.now(), p.received, p.businessDay, p.batches, p.records, p.summary)
            try insertBatches(db, run: run, p)
            try insertPages(db, run: run, p)
            try saveMutable(db, run: run, p)
            try snapshotIfDue(db, run: run, p)
            return (run, generation)
        }
    }

    /// Whether business day `day` (`YYYY-MM-DD`) is closed.
    static func dayIsClosed(_ db: any SQLSession, _ day: String) throws -> Bool {
        try db.int("SELECT COUNT(*) FROM settlement_day WHERE day = ? AND closed IS NOT NULL", day) ?? 0 > 0
    }

    private func insertBatches(_ db: any SQLSession, run: Int64, _ p: PreparedRun) throws {
        try db.executeMany(
            "INSERT INTO clearing_batch (terminal, sequence, run, file, created, outcome, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
            p.batchRows.map { b in [.int(b.terminal), .int(b.sequence), .int(run), .text(b.file), .int(0), .text(b.outcome), b.digest.sqlValue] })
        try db.executeMany(
            """
            INSERT INTO clearing_conflict (run, terminal, sequence, file, sha256, ingested_sha256, received, records)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            p.conflicts.compactMap { c in
                guard let terminal = TerminalID(hex: c.terminal) else { return nil }
                return [.int(run), .int(Int64(terminal.rawValue)), .int(Int64(c.sequence)), .text(c.file), .text(c.digest), c.ingestedDigest.sqlValue,
                        .text(ClearingTime.dateTime(c.received).description), .int(Int64(c.records))]
            })
    }

    private func insertPages(_ db: any SQLSession, run: Int64, _ p: PreparedRun) throws {
        let page = "INSERT INTO clearing_page (run, kind, page, count, data) VALUES (?, ?, ?, ?, ?)"
        func rows(_ kind: String, _ bytes: [UInt8], _ rowBytes: Int) -> some Sequence<[SQLValue]> {
            Self.pages(bytes, rowBytes: rowBytes).map { [.int(run), .text(kind), .int(Int64($0.page)), .int(Int64($0.rows)), .bytes($0.bytes)] }
        }
        try db.executeMany(page, rows("transfers", p.transfers, Packing.transferBytes))
        try db.executeMany(
            "INSERT INTO clearing_detail_page (run, page, count, data) VALUES (?, ?, ?, ?)",
            Self.pages(p.details, rowBytes: Packing.detailBytes).map { [.int(run), .int(Int64($0.page)), .int(Int64($0.rows)), .bytes($0.bytes)] })
        try db.executeMany(page, rows("shadows", p.shadows, Packing.shadowBytes))
        try db.executeMany(page, rows("refusals", p.refusals, Packing.refusalBytes))
    }

    /// Cuts packed rows into pages of at most ``pageRowsMax`` rows: page number, rows, bytes (a
    /// slice of `bytes`, not copied out).
    static func pages(_ bytes: [UInt8], rowBytes: Int) -> some Sequence<(page: Int, rows: Int, bytes: ArraySlice<UInt8>)> {
        let perPage = pageRowsMax * rowBytes
        return stride(from: 0, to: bytes.count, by: perPage).lazy.enumerated().map { page, o in
            let end = min(bytes.count, o + perPage)
            return (page, (end - o) / rowBytes, bytes[o..<end])
        }
    }

    private func saveMutable(_ db: any SQLSession, run: Int64, _ p: PreparedRun) throws {
        // Only what the run changed: a day cleared in many small runs rewrites no more than it moves.
        // Gaps live in the shadows' windows now; rows of an older version were read at startup
        // and go at the first commit. With a condition, not the bare DELETE: that one truncates
        // the table and its index, two pages written to the WAL in every run although empty.
        try db.execute("DELETE FROM clearing_gap WHERE EXISTS (SELECT 1 FROM clearing_gap)")
        try db.executeMany(
            """
            INSERT INTO clearing_account (kind, number, net) VALUES (?, ?, ?)
            ON CONFLICT(kind, number) DO UPDATE SET net = excluded.net
            """,
            p.accounts.map { id, net in [.int(Int64(id.kind.rawValue)), .int(Int64(bitPattern: id.number)), .int(net)] })
        try db.executeMany(
            """
            INSERT INTO clearing_exception (id, run, kind, card, detail, record, opened) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO NOTHING
            """,
            p.exceptions.map { e in
                [.int(Int64(bitPattern: e.id)), .int(run), .text(e.kind.rawValue), .text(e.card), .text(e.detail), e.record.sqlValue, .text(e.opened)]
            })
        for (key, bits, newestDay) in p.farePages { try Self.saveFarePage(db, key, bits: bits, newestDay: newestDay) }
        try Self.setMeta(db, "newestDay", Int64(p.newestDay))
    }
}

/// One run packed for storage (``ClearingStore/prepare(_:files:engine:received:businessDay:rowsSinceSnapshot:)``),
/// independent of the engine that produced it.
public struct PreparedRun: Sendable {
    /// The store's write generation the run was computed from; the write is refused
    /// ``StorageError/stale(path:what:)`` unless the store is still there.
    public var generation: Int64
    var received: String
    var businessDay: String
    var batches: Int
    var records: Int
    var summary: String
    var batchRows: [(terminal: Int64, sequence: Int64, file: String, outcome: String, digest: Data?)] = []
    var conflicts: [BatchConflict] = []
    var transfers: [UInt8] = []
    var details: [UInt8] = []
    var shadows: [UInt8] = []
    var refusals: [UInt8] = []
    var accounts: [(AccountID, Int64)] = []
    var exceptions: [ClearingException] = []
    var farePages: [(FareIdentities.PageKey, [UInt8]?, Int32)] = []
    var newestDay = 0
    /// Shadow rows this run writes.
    public internal(set) var touched = 0
    /// Every shadow, packed, when this run was expected to make a snapshot due.
    var snapshot: [UInt8]?
    /// Whether it carries a snapshot of every shadow.
    public var hasSnapshot: Bool { snapshot != nil }
}

extension ClearingStore {
    /// Shadow rows written since the last snapshot that make the next one due, at the least, by
    /// default:
    /// a snapshot is written once the runs after the last one have written
    /// ``snapshotRowsPerCard`` shadow rows per card (and at least this many), so startup reads at
    /// most about three rows per card however long the history, and snapshots cost O(1) per row
    /// written.
    public static let snapshotRowsMinDefault = 1 << 20

    /// Shadow rows written since the last snapshot, per card, that make the next one due: two.
    /// A snapshot writes every card's shadow, and dropping the one before reads its pages back;
    /// with one row per card the snapshots wrote as many bytes as the runs' own shadow rows, and
    /// the 10M-tap day took 15.0–15.5 s instead of 12.2–13.5 s (docs/performance.md, "Snapshots
    /// half as often"). Startup then reads up to twice the rows it did.
    public static let snapshotRowsPerCard = 2

    /// The shadow rows written since the newest snapshot.
    static func rowsSinceSnapshot(_ db: any SQLSession) throws -> Int { Int(try meta(db, "shadowRowsSinceSnapshot")) }

    /// The shadow rows written since the newest snapshot (to pass to ``prepare(_:files:engine:received:businessDay:rowsSinceSnapshot:)``).
    public func rowsSinceSnapshot() throws(StorageError) -> Int {
        try reading("reading the snapshot counter") { db in try Self.rowsSinceSnapshot(db) }
    }

    /// Writes the run's snapshot of every card shadow as of `run` when it carries one and one is
    /// due (``snapshotRowsMin``), dropping the older snapshot, and counts the rows written since.
    /// Inside the run's transaction: a snapshot is never torn. A run without the snapshot its
    /// counter makes due leaves it to the next.
    func snapshotIfDue(_ db: any SQLSession, run: Int64, _ p: PreparedRun) throws {
        var since = try Self.rowsSinceSnapshot(db) + p.touched
        if let snapshot = p.snapshot, since >= snapshotRowsMin {
            try db.execute("DELETE FROM clearing_snapshot")
            try db.executeMany(
                "INSERT INTO clearing_snapshot (run, page, count, data) VALUES (?, ?, ?, ?)",
                Self.pages(snapshot, rowBytes: Packing.shadowBytes).lazy.map { [.int(run), .int(Int64($0.page)), .int(Int64($0.rows)), .bytes($0.bytes)] })
            since = 0
        }
        try Self.setMeta(db, "shadowRowsSinceSnapshot", Int64(since))
    }

    /// Writes one page of accepted fare identities (`nil`: the page was dropped).
    static func saveFarePage(_ db: any SQLSession, _ key: FareIdentities.PageKey, _ page: FareIdentities.Page?) throws {
        try saveFarePage(db, key, bits: page.map { Packing.farePage($0) }, newestDay: page?.newestDay ?? 0)
    }

    /// Writes one packed page of accepted fare identities (`nil` bits: the page was dropped).
    static func saveFarePage(_ db: any SQLSession, _ key: FareIdentities.PageKey, bits: [UInt8]?, newestDay: Int32) throws {
        guard let bits else {
            try db.execute("DELETE FROM clearing_fare WHERE terminal = ? AND page = ?", Int64(bitPattern: key.terminal), Int64(key.page))
            return
        }
        try db.execute(
            """
            INSERT INTO clearing_fare (terminal, page, newest_day, bits) VALUES (?, ?, ?, ?)
            ON CONFLICT(terminal, page) DO UPDATE SET newest_day = excluded.newest_day, bits = excluded.bits
            """,
            Int64(bitPattern: key.terminal), Int64(key.page), Int64(newestDay), bits)
    }

    /// The stored page of accepted fare identities holding `key`, as a set of its own.
    static func farePage(_ db: any SQLSession, _ key: FareIdentities.PageKey) throws -> FareIdentities {
        var f = FareIdentities()
        if let row = try db.row("SELECT newest_day, bits FROM clearing_fare WHERE terminal = ? AND page = ?", Int64(bitPattern: key.terminal), Int64(key.page)) {
            guard let page = Packing.farePage(try row.blob(1), newestDay: Int32(clamping: try row.int(0))) else {
                throw StorageError.notAJournal(path: "", reason: "corrupt fare identities")
            }
            f.set(key, page)
        }
        return f
    }

    /// The batches refused whole as conflicts, oldest first.
    public func conflicts() throws(StorageError) -> [StoredConflict] {
        try reading("reading conflicts") { db in
            try db.rows("SELECT id, run, terminal, sequence, file, sha256, ingested_sha256, received, records FROM clearing_conflict ORDER BY id").map { row in
                StoredConflict(
                    id: try row.int(0), run: try row.int(1), terminal: TerminalID(rawValue: UInt64(bitPattern: try row.int(2)))?.description ?? "?",
                    sequence: try row.int(3), file: try row.text(4), sha256: try row.text(5), ingestedSHA256: try row.textOrNil(6),
                    received: try row.text(7), records: Int(try row.int(8)))
            }
        }
    }

    /// Calls `body` with each stored page of `kind` ('transfers', 'accepted', 'shadows',
    /// 'refusals') in run order, without holding more than one page in memory.
    public func forEachPage(_ kind: String, _ body: ([UInt8]) throws -> Void) throws(StorageError) {
        try reading("reading \(kind) pages") { db in
            if kind == "details" {
                try db.forEach("SELECT data FROM clearing_detail_page ORDER BY run, page") { try body(try $0.blob(0)) }
            } else {
                try db.forEach("SELECT data FROM clearing_page WHERE kind = ? ORDER BY run, page", kind) { try body(try $0.blob(0)) }
            }
        }
    }

    /// The exception columns ``StoredException/init(row:)`` reads, after `run`.
    static let exceptionColumns = "run, id, kind, card, detail, record, opened, status, officer, reason, decided"

    /// The stored exceptions, oldest first.
    public func exceptions(status: String? = nil) throws(StorageError) -> [StoredException] {
        try reading("reading exceptions") { db in
            try db.rows("SELECT \(Self.exceptionColumns) FROM clearing_exception WHERE CAST(?1 AS TEXT) IS NULL OR status = ?1 ORDER BY run, id", status)
                .map(StoredException.init(row:))
        }
    }

    /// Adds or updates a hotlist entry: the card's transactions from `since` (seconds since
    /// 1970, local time) are refused.
    public func hotlistAdd(_ serial: CardSerial, since: UInt32, reason: String) throws(StorageError) {
        try hotlistAdd([(serial, since)], reason: reason)
    }

    /// Adds or updates many hotlist entries in one transaction (an import).
    public func hotlistAdd(_ entries: [(serial: CardSerial, since: UInt32)], reason: String) throws(StorageError) {
        try writing("adding to the hotlist") { db in
            let now = AuditTime.now()
            for (serial, since) in entries {
                let key = Int64(bitPattern: serial.rawValue)
                let listed = try db.int("SELECT 1 FROM clearing_hotlist WHERE serial = ?", key) != nil
                try db.execute(
                    """
                    INSERT INTO clearing_hotlist (serial, since, reason, added) VALUES (?, ?, ?, ?)
                    ON CONFLICT(serial) DO UPDATE SET since = excluded.since, reason = excluded.reason
                    """, key, Int64(since), reason, now)
                // A new version only when the list's membership changed (what terminals hold).
                if !listed { try Self.logHotlistChange(db, key, listed: true, at: now) }
            }
        }
    }

    /// Every batch the store holds (ingested, or replayed), by (terminal, batch sequence).
    public func batchKeys() throws(StorageError) -> Set<BatchKey> {
        try reading("reading the ingested batches") { db in
            var out = Set<BatchKey>()
            try db.forEach("SELECT terminal, sequence FROM clearing_batch") { row in
                out.insert(BatchKey(terminal: UInt64(bitPattern: try row.int(0)), sequence: UInt32(truncatingIfNeeded: try row.int(1))))
            }
            return out
        }
    }

    /// Removes a hotlist entry; returns whether there was one.
    @discardableResult
    public func hotlistRemove(_ serial: CardSerial) throws(StorageError) -> Bool {
        try writing("removing from the hotlist") { db in
            let key = Int64(bitPattern: serial.rawValue)
            guard try db.execute("DELETE FROM clearing_hotlist WHERE serial = ?", key) > 0 else { return false }
            try Self.logHotlistChange(db, key, listed: false, at: AuditTime.now())
            return true
        }
    }

    /// A number that moves on with every write to the hotlist (migration `clearing-v8`).
    public func hotlistStamp() throws(StorageError) -> Int64 {
        try reading("reading the hotlist stamp") { db in try Self.meta(db, "hotlistStamp") }
    }

    /// The hotlist as clearing applies it: since (seconds) by serial, and the stamp it was read at.
    public func hotlistEntries() throws(StorageError) -> (entries: [UInt64: UInt32], stamp: Int64) {
        try reading("reading the hotlist") { db in (try Self.hotlistEntries(db), try Self.meta(db, "hotlistStamp")) }
    }

    /// The hotlist rows as the engine holds them (startup and a running clearing's re-read).
    static func hotlistEntries(_ db: any SQLSession) throws -> [UInt64: UInt32] {
        var out: [UInt64: UInt32] = [:]
        try db.forEach("SELECT serial, since FROM clearing_hotlist") { row in
            out[UInt64(bitPattern: try row.int(0))] = UInt32(clamping: try row.int(1))
        }
        return out
    }

    /// The hotlist: serial, since (seconds), reason.
    public func hotlist() throws(StorageError) -> [(serial: CardSerial, since: UInt32, reason: String)] {
        try reading("reading the hotlist") { db in
            try db.rows("SELECT serial, since, reason FROM clearing_hotlist ORDER BY serial").map { row in
                (CardSerial(rawValue: UInt64(bitPattern: try row.int(0))), UInt32(clamping: try row.int(1)), try row.text(2))
            }
        }
    }
}

/// A batch refused whole because its (terminal, sequence) had been ingested with other bytes.
public struct StoredConflict: Sendable, Codable, Equatable {
    /// Row id.
    public var id: Int64
    /// The run that refused it.
    public var run: Int64
    /// The terminal (12 hex).
    public var terminal: String
    /// The batch sequence it claimed.
    public var sequence: Int64
    /// The file it came from.
    public var file: String
    /// Its SHA-256, hex.
    public var sha256: String
    /// The SHA-256 of the batch ingested under that key, hex (unknown for batches ingested
    /// before digests were kept).
    public var ingestedSHA256: String?
    /// When the centre received it, `YYYY-MM-DDThh:mm:ss`.
    public var received: String
    /// Records it held.
    public var records: Int
}

/// An exception with its officer's decision.
public struct StoredException: Sendable, Codable, Equatable {
    /// What clearing saw.
    public var exception: ClearingException
    /// `open`, `accepted` or `rejected`.
    public var status: String
    /// Who decided.
    public var officer: String?
    /// Why.
    public var reason: String?
    /// When (ISO 8601).
    public var decided: String?
}

extension StoredException {
    /// Reads the row of ``ClearingStore/exceptionColumns`` (its first column, the run, is not kept).
    init(row: SQLRow) throws {
        self.init(
            exception: ClearingException(
                id: UInt64(bitPattern: try row.int(1)), kind: ClearingException.Kind(rawValue: try row.text(2)) ?? .conflict,
                card: try row.text(3), detail: try row.text(4), record: try row.textOrNil(5), opened: try row.text(6)),
            status: try row.text(7), officer: try row.textOrNil(8), reason: try row.textOrNil(9), decided: try row.textOrNil(10))
    }
}
