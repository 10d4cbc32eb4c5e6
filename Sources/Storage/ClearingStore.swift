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
    /// The database file.
    public let path: String
    /// Shadow rows written since the last snapshot that make the next one due, at the least
    /// (``snapshotRowsMinDefault``).
    public let snapshotRowsMin: Int
    let queue: DatabaseQueue
    /// The terminal registry as last read, and the database version it was read at.
    let registryCache = RegistryCache()

    /// Opens (creating if needed) a clearing database.
    ///
    /// - Throws: ``StorageError`` naming the file.
    public init(path: String, snapshotRowsMin: Int = ClearingStore.snapshotRowsMinDefault) throws(StorageError) {
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let queue = try StorageFailure.run(path, "opening the clearing database") { try DatabaseQueue(path: path, configuration: config) }
        var migrator = DatabaseMigrator()
        ClearingSchema.register(&migrator)
        try StorageFailure.run(path, "creating the clearing schema") {
            let foreign = try queue.read { db in
                try !db.tableExists("grdb_migrations") && !String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'").isEmpty
            }
            if foreign { throw StorageError.notAJournal(path: path, reason: "a SQLite file with other tables, not a clearing database") }
            try migrator.migrate(queue)
        }
        self.path = path
        self.queue = queue
        self.snapshotRowsMin = max(1, snapshotRowsMin)
    }

    // MARK: Settings kept in the database

    /// The run the newest snapshot of the card shadows was taken at (0: none yet).
    public func snapshotRun() throws(StorageError) -> Int64 {
        try StorageFailure.run(path, "reading the snapshot") {
            try queue.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(run) FROM clearing_snapshot") ?? 0 }
        }
    }

    /// The newest day (since 1970) batches were received on (0 before the first run).
    public func newestDay() throws(StorageError) -> Int {
        try StorageFailure.run(path, "reading the newest day") {
            try queue.read { db in try Int.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM clearing_meta WHERE key = 'newestDay'") ?? 0 }
        }
    }

    // MARK: Startup

    /// Rebuilds the engine's in-memory state from the database.
    public func loadState() throws(StorageError) -> ClearingState {
        try StorageFailure.run(path, "loading the clearing state") {
            try queue.read { db in
                var s = ClearingState()
                // The newest snapshot of every shadow, then the shadows runs changed after it.
                let snapshot = try Int64.fetchOne(db, sql: "SELECT MAX(run) FROM clearing_snapshot") ?? 0
                // Room for every card the snapshot holds at once: no rehashing while rows stream in.
                s.cards.reserveCapacity(try Int.fetchOne(db, sql: "SELECT SUM(count) FROM clearing_snapshot WHERE run = ?", arguments: [snapshot]) ?? 0)
                let pages = try Row.fetchCursor(db, sql: """
                    SELECT count, data FROM clearing_snapshot WHERE run = ?1
                    UNION ALL
                    SELECT count, data FROM (SELECT count, data FROM clearing_page WHERE kind = 'shadows' AND run > ?1 ORDER BY run, page)
                    """, arguments: [snapshot])
                while let row = try pages.next() {
                    let data: Data = row["data"]
                    let count: Int = row["count"]
                    guard count > 0, Packing.shadows([UInt8](data), rowBytes: data.count / count, into: &s.cards) else {
                        throw StorageError.notAJournal(path: path, reason: "a corrupt shadow page")
                    }
                }
                for row in try Row.fetchAll(db, sql: "SELECT terminal, sequence, outcome, sha256 FROM clearing_batch") {
                    let outcome = try JSONDecoder().decode(BatchOutcome.self, from: Data((row["outcome"] as String).utf8))
                    let key = BatchKey(terminal: UInt64(row["terminal"] as Int64), sequence: UInt32(row["sequence"] as Int64))
                    s.batches[key] = outcome
                    if let digest = row["sha256"] as Data? { s.batchDigests[key] = [UInt8](digest) }
                }
                for row in try Row.fetchAll(db, sql: "SELECT terminal, page, newest_day, bits FROM clearing_fare") {
                    guard let page = Packing.farePage([UInt8](row["bits"] as Data), newestDay: Int32(clamping: row["newest_day"] as Int64)) else {
                        throw StorageError.notAJournal(path: path, reason: "corrupt fare identities")
                    }
                    s.fares.set(FareIdentities.PageKey(terminal: UInt64(bitPattern: row["terminal"]), page: UInt32(clamping: row["page"] as Int64)), page)
                }
                for row in try Row.fetchAll(db, sql: "SELECT serial, counter FROM clearing_accepted_load") {
                    s.acceptedLoads.insert(LoadIdentity(serial: UInt64(bitPattern: row["serial"]), counter: UInt16(clamping: row["counter"] as Int64)))
                }
                s.generation = try Self.generation(db)
                // Gaps stored as rows before they were read off the shadows' windows: their day and
                // whether they were reported move into the shadow (the rows are dropped at the next commit).
                for row in try Row.fetchAll(db, sql: "SELECT serial, MIN(seen_day) AS day, MIN(reported) AS reported FROM clearing_gap GROUP BY serial") {
                    let serial = UInt64(bitPattern: row["serial"])
                    guard var shadow = s.cards[serial], shadow.hasOpenGaps else { continue }
                    shadow.gapSinceDay = UInt16(clamping: row["day"] as Int)
                    if row["reported"] as Bool { shadow.flags |= CardShadow.Flags.gapsReported }
                    s.cards[serial] = shadow
                    s.unsavedCards.insert(serial)
                }
                for row in try Row.fetchAll(db, sql: "SELECT kind, number, net FROM clearing_account") {
                    guard let kind = AccountKind(rawValue: UInt8(row["kind"] as Int64)) else { continue }
                    s.accountNetFen[AccountID(kind: kind, number: UInt64(bitPattern: row["number"]))] = row["net"]
                }
                s.hotlist = try Self.hotlistEntries(db)
                s.newestDay = try Int.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM clearing_meta WHERE key = 'newestDay'") ?? 0
                return s
            }
        }
    }

    // MARK: Commit

    /// The write generation: bumped by every commit that changes what an ingest run depends on
    /// (runs, officers' decisions on fares).
    static func generation(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM clearing_meta WHERE key = 'generation'") ?? 0
    }

    /// Moves the generation on unconditionally (a decision that changes what an ingest depends on).
    static func bumpGeneration(_ db: Database) throws {
        try advanceGeneration(db, from: generation(db), path: "")
    }

    /// Checks that nobody committed since `expected` was read, and bumps the generation.
    ///
    /// - Throws: ``StorageError/stale(path:what:)``.
    @discardableResult
    static func advanceGeneration(_ db: Database, from expected: Int64, path: String) throws -> Int64 {
        guard try generation(db) == expected else { throw StorageError.stale(path: path, what: "the clearing database") }
        try db.execute(
            sql: "INSERT INTO clearing_meta (key, value) VALUES ('generation', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [expected + 1])
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
        let since = try StorageFailure.run(path, "reading the snapshot counter") { try queue.read { db in try Self.rowsSinceSnapshot(db) } }
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
            p.transfers.reserveCapacity(r.transfers.count * Packing.transferBytes)
            Packing.append(r.transfers, to: &p.transfers)
            p.details = r.details
            p.shadows.reserveCapacity(r.touchedCards.count * Packing.shadowBytes)
            for serial in r.touchedCards.sorted() { Packing.append(serial: serial, state.cards[serial] ?? CardShadow(), to: &p.shadows) }
            for f in r.refusals { Packing.append(f, to: &p.refusals) }
            p.accounts = r.touchedAccounts.map { ($0, state.accountNetFen[$0] ?? 0) }
            p.exceptions = r.exceptions
            p.farePages = r.touchedFarePages.map { ($0, state.fares.pages[$0].map { Packing.farePage($0) }, state.fares.pages[$0]?.newestDay ?? 0) }
            p.newestDay = state.newestDay
            p.touched = r.touchedCards.count
            if rowsSinceSnapshot + p.touched >= max(snapshotRowsMin, state.cards.count) {
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
        try StorageFailure.run(path, "committing an ingest run") {
            try queue.write { db in
                if try Bool.fetchOne(db, sql: "SELECT closed IS NOT NULL FROM settlement_day WHERE day = ?", arguments: [p.businessDay]) == true {
                    throw StorageError.dayClosed(path: path, day: p.businessDay)
                }
                let generation = try Self.advanceGeneration(db, from: p.generation, path: path)
                let run = (try Int64.fetchOne(db, sql: "SELECT MAX(run) FROM clearing_run") ?? 0) + 1
                try db.execute(
                    sql: """
                        INSERT INTO clearing_run (run, finished, received, business_day, batches, records, summary)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [run, AuditTime.now(), p.received, p.businessDay, p.batches, p.records, p.summary])
                try insertBatches(db, run: run, p)
                try insertPages(db, run: run, p)
                try saveMutable(db, run: run, p)
                try snapshotIfDue(db, run: run, p)
                return (run, generation)
            }
        }
    }

    private func insertBatches(_ db: Database, run: Int64, _ p: PreparedRun) throws {
        let stmt = try db.makeStatement(sql: "INSERT INTO clearing_batch (terminal, sequence, run, file, created, outcome, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)")
        for b in p.batchRows { try stmt.execute(arguments: [b.terminal, b.sequence, run, b.file, 0, b.outcome, b.digest]) }
        let conflict = try db.makeStatement(sql: """
            INSERT INTO clearing_conflict (run, terminal, sequence, file, sha256, ingested_sha256, received, records)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for c in p.conflicts {
            guard let terminal = TerminalID(hex: c.terminal) else { continue }
            try conflict.execute(arguments: [
                run, Int64(terminal.rawValue), Int64(c.sequence), c.file, c.digest, c.ingestedDigest,
                ClearingTime.dateTime(c.received).description, c.records,
            ])
        }
    }

    private func insertPages(_ db: Database, run: Int64, _ p: PreparedRun) throws {
        let stmt = try db.makeStatement(sql: "INSERT INTO clearing_page (run, kind, page, count, data) VALUES (?, ?, ?, ?, ?)")
        try Self.pages(p.transfers, rowBytes: Packing.transferBytes) { try stmt.execute(arguments: [run, "transfers", $0, $1, $2]) }
        let detail = try db.makeStatement(sql: "INSERT INTO clearing_detail_page (run, page, count, data) VALUES (?, ?, ?, ?)")
        try Self.pages(p.details, rowBytes: Packing.detailBytes) { try detail.execute(arguments: [run, $0, $1, $2]) }
        try Self.pages(p.shadows, rowBytes: Packing.shadowBytes) { try stmt.execute(arguments: [run, "shadows", $0, $1, $2]) }
        try Self.pages(p.refusals, rowBytes: Packing.refusalBytes) { try stmt.execute(arguments: [run, "refusals", $0, $1, $2]) }
    }

    /// Cuts packed rows into pages of at most ``pageRowsMax`` rows: page number, rows, bytes.
    static func pages(_ bytes: [UInt8], rowBytes: Int, _ body: (Int, Int, Data) throws -> Void) throws {
        let perPage = pageRowsMax * rowBytes
        var page = 0
        var o = 0
        while o < bytes.count {
            let end = min(bytes.count, o + perPage)
            try body(page, (end - o) / rowBytes, Data(bytes[o..<end]))
            page += 1
            o = end
        }
    }

    private func saveMutable(_ db: Database, run: Int64, _ p: PreparedRun) throws {
        // Only what the run changed: a day cleared in many small runs rewrites no more than it moves.
        // Gaps live in the shadows' windows now; rows of an older version were read at startup.
        try db.execute(sql: "DELETE FROM clearing_gap")
        let account = try db.makeStatement(sql: """
            INSERT INTO clearing_account (kind, number, net) VALUES (?, ?, ?)
            ON CONFLICT(kind, number) DO UPDATE SET net = excluded.net
            """)
        for (id, net) in p.accounts { try account.execute(arguments: [Int64(id.kind.rawValue), Int64(bitPattern: id.number), net]) }
        let exception = try db.makeStatement(sql: """
            INSERT OR IGNORE INTO clearing_exception (id, run, kind, card, detail, record, opened) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for e in p.exceptions {
            try exception.execute(arguments: [Int64(bitPattern: e.id), run, e.kind.rawValue, e.card, e.detail, e.record, e.opened])
        }
        for (key, bits, newestDay) in p.farePages { try Self.saveFarePage(db, key, bits: bits, newestDay: newestDay) }
        try db.execute(
            sql: "INSERT INTO clearing_meta (key, value) VALUES ('newestDay', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [p.newestDay])
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
    /// a snapshot is written once the runs after the last one have written as many shadow
    /// rows as there are cards (and at least this many), so startup reads at most about two
    /// rows per card however long the history, and snapshots cost O(1) per row written.
    public static let snapshotRowsMinDefault = 1 << 20

    /// The shadow rows written since the newest snapshot.
    static func rowsSinceSnapshot(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM clearing_meta WHERE key = 'shadowRowsSinceSnapshot'") ?? 0
    }

    /// The shadow rows written since the newest snapshot (to pass to ``prepare(_:files:engine:received:businessDay:rowsSinceSnapshot:)``).
    public func rowsSinceSnapshot() throws(StorageError) -> Int {
        try StorageFailure.run(path, "reading the snapshot counter") { try queue.read { db in try Self.rowsSinceSnapshot(db) } }
    }

    /// Writes the run's snapshot of every card shadow as of `run` when it carries one and one is
    /// due (``snapshotRowsMin``), dropping the older snapshot, and counts the rows written since.
    /// Inside the run's transaction: a snapshot is never torn. A run without the snapshot its
    /// counter makes due leaves it to the next.
    func snapshotIfDue(_ db: Database, run: Int64, _ p: PreparedRun) throws {
        var since = try Self.rowsSinceSnapshot(db) + p.touched
        if let snapshot = p.snapshot, since >= snapshotRowsMin {
            try db.execute(sql: "DELETE FROM clearing_snapshot")
            let stmt = try db.makeStatement(sql: "INSERT INTO clearing_snapshot (run, page, count, data) VALUES (?, ?, ?, ?)")
            try Self.pages(snapshot, rowBytes: Packing.shadowBytes) { try stmt.execute(arguments: [run, $0, $1, $2]) }
            since = 0
        }
        try db.execute(
            sql: "INSERT INTO clearing_meta (key, value) VALUES ('shadowRowsSinceSnapshot', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [since])
    }

    /// Writes one page of accepted fare identities (`nil`: the page was dropped).
    static func saveFarePage(_ db: Database, _ key: FareIdentities.PageKey, _ page: FareIdentities.Page?) throws {
        try saveFarePage(db, key, bits: page.map { Packing.farePage($0) }, newestDay: page?.newestDay ?? 0)
    }

    /// Writes one packed page of accepted fare identities (`nil` bits: the page was dropped).
    static func saveFarePage(_ db: Database, _ key: FareIdentities.PageKey, bits: [UInt8]?, newestDay: Int32) throws {
        guard let bits else {
            try db.execute(sql: "DELETE FROM clearing_fare WHERE terminal = ? AND page = ?", arguments: [Int64(bitPattern: key.terminal), Int64(key.page)])
            return
        }
        try db.execute(
            sql: """
                INSERT INTO clearing_fare (terminal, page, newest_day, bits) VALUES (?, ?, ?, ?)
                ON CONFLICT(terminal, page) DO UPDATE SET newest_day = excluded.newest_day, bits = excluded.bits
                """,
            arguments: [Int64(bitPattern: key.terminal), Int64(key.page), Int64(newestDay), Data(bits)])
    }

    /// The stored page of accepted fare identities holding `key`, as a set of its own.
    static func farePage(_ db: Database, _ key: FareIdentities.PageKey) throws -> FareIdentities {
        var f = FareIdentities()
        if let row = try Row.fetchOne(db, sql: "SELECT newest_day, bits FROM clearing_fare WHERE terminal = ? AND page = ?",
                                      arguments: [Int64(bitPattern: key.terminal), Int64(key.page)]) {
            guard let page = Packing.farePage([UInt8](row["bits"] as Data), newestDay: Int32(clamping: row["newest_day"] as Int64)) else {
                throw StorageError.notAJournal(path: "", reason: "corrupt fare identities")
            }
            f.set(key, page)
        }
        return f
    }

    /// The batches refused whole as conflicts, oldest first.
    public func conflicts() throws(StorageError) -> [StoredConflict] {
        try StorageFailure.run(path, "reading conflicts") {
            try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM clearing_conflict ORDER BY id").map { row in
                    StoredConflict(
                        id: row["id"], run: row["run"], terminal: TerminalID(rawValue: UInt64(bitPattern: row["terminal"]))?.description ?? "?",
                        sequence: row["sequence"], file: row["file"], sha256: row["sha256"], ingestedSHA256: row["ingested_sha256"],
                        received: row["received"], records: row["records"])
                }
            }
        }
    }

    /// Calls `body` with each stored page of `kind` ('transfers', 'accepted', 'shadows',
    /// 'refusals') in run order, without holding more than one page in memory.
    public func forEachPage(_ kind: String, _ body: ([UInt8]) throws -> Void) throws(StorageError) {
        try StorageFailure.run(path, "reading \(kind) pages") {
            try queue.read { db in
                let pages = kind == "details"
                    ? try Row.fetchCursor(db, sql: "SELECT data FROM clearing_detail_page ORDER BY run, page")
                    : try Row.fetchCursor(db, sql: "SELECT data FROM clearing_page WHERE kind = ? ORDER BY run, page", arguments: [kind])
                while let row = try pages.next() {
                    let data: Data = row["data"]
                    try body([UInt8](data))
                }
            }
        }
    }

    /// The stored exceptions, oldest first.
    public func exceptions(status: String? = nil) throws(StorageError) -> [StoredException] {
        try StorageFailure.run(path, "reading exceptions") {
            try queue.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM clearing_exception WHERE ?1 IS NULL OR status = ?1 ORDER BY run, id", arguments: [status]
                ).map { row in
                    StoredException(
                        exception: ClearingException(
                            id: UInt64(bitPattern: row["id"]), kind: ClearingException.Kind(rawValue: row["kind"]) ?? .conflict,
                            card: row["card"], detail: row["detail"], record: row["record"], opened: row["opened"]),
                        status: row["status"], officer: row["officer"], reason: row["reason"], decided: row["decided"])
                }
            }
        }
    }

    /// Adds or updates a hotlist entry: the card's transactions from `since` (seconds since
    /// 1970, local time) are refused.
    public func hotlistAdd(_ serial: CardSerial, since: UInt32, reason: String) throws(StorageError) {
        try hotlistAdd([(serial, since)], reason: reason)
    }

    /// Adds or updates many hotlist entries in one transaction (an import).
    public func hotlistAdd(_ entries: [(serial: CardSerial, since: UInt32)], reason: String) throws(StorageError) {
        try StorageFailure.run(path, "adding to the hotlist") {
            try queue.write { db in
                let now = AuditTime.now()
                let exists = try db.makeStatement(sql: "SELECT 1 FROM clearing_hotlist WHERE serial = ?")
                let upsert = try db.makeStatement(sql: """
                    INSERT INTO clearing_hotlist (serial, since, reason, added) VALUES (?, ?, ?, ?)
                    ON CONFLICT(serial) DO UPDATE SET since = excluded.since, reason = excluded.reason
                    """)
                for (serial, since) in entries {
                    let key = Int64(bitPattern: serial.rawValue)
                    let listed = try Bool.fetchOne(exists, arguments: [key]) ?? false
                    try upsert.execute(arguments: [key, Int64(since), reason, now])
                    // A new version only when the list's membership changed (what terminals hold).
                    if !listed { try Self.logHotlistChange(db, key, listed: true, at: now) }
                }
            }
        }
    }

    /// Every batch the store holds (ingested, or replayed), by (terminal, batch sequence).
    public func batchKeys() throws(StorageError) -> Set<BatchKey> {
        try StorageFailure.run(path, "reading the ingested batches") {
            try queue.read { db in
                var out = Set<BatchKey>()
                let rows = try Row.fetchCursor(db, sql: "SELECT terminal, sequence FROM clearing_batch")
                while let row = try rows.next() {
                    out.insert(BatchKey(terminal: UInt64(bitPattern: row[0]), sequence: UInt32(truncatingIfNeeded: row[1] as Int64)))
                }
                return out
            }
        }
    }

    /// Removes a hotlist entry; returns whether there was one.
    @discardableResult
    public func hotlistRemove(_ serial: CardSerial) throws(StorageError) -> Bool {
        try StorageFailure.run(path, "removing from the hotlist") {
            try queue.write { db in
                let key = Int64(bitPattern: serial.rawValue)
                try db.execute(sql: "DELETE FROM clearing_hotlist WHERE serial = ?", arguments: [key])
                guard db.changesCount > 0 else { return false }
                try Self.logHotlistChange(db, key, listed: false, at: AuditTime.now())
                return true
            }
        }
    }

    /// A number that moves on with every write to the hotlist (migration `clearing-v8`).
    public func hotlistStamp() throws(StorageError) -> Int64 {
        try StorageFailure.run(path, "reading the hotlist stamp") {
            try queue.read { db in try Int64.fetchOne(db, sql: "SELECT value FROM clearing_meta WHERE key = 'hotlistStamp'") ?? 0 }
        }
    }

    /// The hotlist as clearing applies it: since (seconds) by serial, and the stamp it was read at.
    public func hotlistEntries() throws(StorageError) -> (entries: [UInt64: UInt32], stamp: Int64) {
        try StorageFailure.run(path, "reading the hotlist") {
            try queue.read { db in
                (try Self.hotlistEntries(db), try Int64.fetchOne(db, sql: "SELECT value FROM clearing_meta WHERE key = 'hotlistStamp'") ?? 0)
            }
        }
    }

    /// The hotlist rows as the engine holds them (startup and a running clearing's re-read).
    static func hotlistEntries(_ db: Database) throws -> [UInt64: UInt32] {
        var out: [UInt64: UInt32] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT serial, since FROM clearing_hotlist") {
            out[UInt64(bitPattern: row["serial"])] = UInt32(clamping: row["since"] as Int64)
        }
        return out
    }

    /// The hotlist: serial, since (seconds), reason.
    public func hotlist() throws(StorageError) -> [(serial: CardSerial, since: UInt32, reason: String)] {
        try StorageFailure.run(path, "reading the hotlist") {
            try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT serial, since, reason FROM clearing_hotlist ORDER BY serial").map { row in
                    (CardSerial(rawValue: UInt64(bitPattern: row["serial"])), UInt32(row["since"] as Int64), row["reason"] as String)
                }
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
