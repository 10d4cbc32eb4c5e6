import City
import Clearing
import CSQLiteSyncWatch
import ClearingIngest
import Foundation
import GRDB
import OneCardCore
import OneCardTestSupport
@testable import Storage
import StoreTestSupport
import Testing

/// A batch ingest writes its runs through a rollback journal when its connection has the file
/// alone, so that each appended byte reaches the disk once, not twice as in WAL mode; the file
/// is in WAL mode before and after, and every other connection finds it so (docs/storage.md,
/// "Journal modes").
@Suite("a batch ingest's rollback journal", .enabled(if: !TestBackend.isPostgres, "a property of SQLite files"))
struct AppendingJournalTests {
    static func modes(_ engine: SQLiteEngine) throws -> (String?, Int?) {
        try SQLiteDurabilityTests.modes(engine.queue)
    }

    static func engine(_ store: ClearingStore) throws -> SQLiteEngine { try #require(store.engine as? SQLiteEngine) }

    /// A scratch table of blobs, and how many rows it holds as `store` sees it.
    static func scratchRows(_ store: ClearingStore) throws -> Int64 {
        try store.engine.read { db in try db.int("SELECT COUNT(*) FROM scratch") ?? -1 }
    }

    static func addScratch(_ store: ClearingStore, rows: Int, bytes: Int = 100) throws {
        _ = try store.engine.write { db in
            for _ in 0..<rows { _ = try db.execute("INSERT INTO scratch (data) VALUES (?)", [.blob([UInt8](repeating: 0xA5, count: bytes))]) }
        }
    }

    static func scratchStore(_ path: String) throws -> ClearingStore {
        let store = try ClearingStore(path: path)
        _ = try store.engine.write { db in try db.execute("CREATE TABLE scratch (data BLOB NOT NULL)", []) }
        return store
    }

    /// A scratch store on a new file in a temporary directory: `body` gets the file's path, the
    /// store and its engine.
    static func withScratchStore<T>(_ body: (String, ClearingStore, SQLiteEngine) throws -> T) throws -> T {
        try withTempDir { dir in
            let path = dir + "/c.sqlite"
            let store = try scratchStore(path)
            return try body(path, store, try engine(store))
        }
    }

    /// `body` in a batch ingest's runs on a file `store`'s connection has alone: through the
    /// rollback journal, with `synchronous=FULL`.
    static func appendingAlone<T>(_ store: ClearingStore, _ body: (String) throws -> T) throws -> T {
        try store.appendingRuns(recordsPerRun: ClearingStore.appendingRunRecordsMin) { journal in
            #expect(try modes(try engine(store)) == ("truncate", 2))
            return try body(journal)
        }
    }

    @Test("alone on the file: the runs commit through a rollback journal with synchronous=FULL, and the file is in WAL mode again afterwards")
    func alone() throws {
        try Self.withScratchStore { path, store, engine in
            let journal = try Self.appendingAlone(store) { journal in
                try Self.addScratch(store, rows: 50, bytes: 40_000)
                // Between commits the journal is empty: nothing is left to roll back.
                #expect(FileBytes.size(path + "-journal") ?? 0 == 0)
                return journal
            }
            #expect(journal.contains("rollback journal"))
            #expect(try Self.modes(engine) == ("wal", 2))
            #expect(!FileManager.default.fileExists(atPath: path + "-journal"), "the rollback journal left beside the file")
            #expect(try Self.scratchRows(try ClearingStore(path: path)) == 50)
        }
    }

    @Test("runs of fewer records go through WAL, with synchronous=NORMAL until they end: a rollback journal's three fsyncs a commit would cost them more than it saves")
    func smallRuns() throws {
        try Self.withScratchStore { _, store, engine in
            let journal = try store.appendingRuns(recordsPerRun: ClearingStore.appendingRunRecordsMin - 1) { journal in
                #expect(try Self.modes(engine) == ("wal", 1))
                try Self.addScratch(store, rows: 3)
                return journal
            }
            #expect(journal.contains("fewer than"))
            #expect(journal.contains("fsynced when the runs end"))
            #expect(try Self.modes(engine) == ("wal", 2))
            #expect(try Self.scratchRows(store) == 3)
        }
    }

    @Test("small runs' commits do not wait for the disk: the WAL is fsynced once when the runs end, after its last write, and commits after them wait again")
    func smallRunsSyncedAtTheEnd() throws {
        try withTempDir { dir in
            let path = dir + "/c.sqlite"
            // Through the counting VFS: the store's connections and the checkpointer's.
            #expect(onecard_syncwatch_start(path) == 0)
            defer { onecard_syncwatch_stop() }
            let store = try Self.scratchStore(path)
            // 40 commits of a few frames each: far fewer than a checkpoint's framesMin.
            let commits = 40
            let syncs = try store.appendingRuns(recordsPerRun: 1) { _ in
                let before = onecard_syncwatch_wal_syncs()
                for _ in 0..<commits { try Self.addScratch(store, rows: 2, bytes: 1_000) }
                #expect(onecard_syncwatch_wal_unsynced_writes() >= commits, "the commits waited for the disk")
                return onecard_syncwatch_wal_syncs() - before
            }
            #expect(syncs == 0, "\(syncs) fsyncs of the WAL in \(commits) commits")
            #expect(onecard_syncwatch_wal_unsynced_writes() == 0, "runs not on disk when the runs ended")
            let ended = onecard_syncwatch_wal_syncs()
            #expect(ended >= 1)
            try Self.addScratch(store, rows: 1)
            #expect(onecard_syncwatch_wal_unsynced_writes() == 0, "a commit after the runs did not wait for the disk")
            #expect(onecard_syncwatch_wal_syncs() == ended + 1)
            #expect(try Self.scratchRows(try ClearingStore(path: path)) == Int64(commits * 2 + 1))
        }
    }

    @Test("small runs checkpoint on a connection of their own: the file fills as they commit, the WAL stays bounded, and SQLite's own checkpoints are back afterwards")
    func checkpointedBeside() throws {
        try Self.withScratchStore { path, store, engine in
            func autocheckpoint() throws -> Int? { try engine.queue.inDatabase { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") } }
            // 120 commits of about 1 MiB back to back: 7,700 WAL frames, twice framesMax.
            let (commits, rows, bytes) = (120, 16, 64_000)
            var walPeak = 0
            let journal = try store.appendingRuns(recordsPerRun: 1) { journal in
                #expect(try autocheckpoint() == 0, "SQLite's own checkpoints still on")
                for _ in 0..<commits {
                    try Self.addScratch(store, rows: rows, bytes: bytes)
                    walPeak = max(walPeak, FileBytes.size(path + "-wal") ?? 0)
                }
                #expect(FileBytes.size(path) ?? 0 > commits * rows * bytes / 2, "the checkpoints did not copy the WAL into the file")
                return journal
            }
            #expect(journal.contains("checkpointed on a connection of its own"))
            let frame = SQLiteEngine.pageSize + 24
            #expect(walPeak <= (SQLiteFile.Checkpointer.framesMax + 2 * rows * bytes / SQLiteEngine.pageSize) * frame + 32, "WAL of \(walPeak) bytes")
            #expect(try autocheckpoint() == SQLiteFile.Checkpointer.framesMin)
            #expect(try Self.scratchRows(try ClearingStore(path: path)) == Int64(commits * rows))
        }
    }

    @Test("with another connection open the runs go through WAL, without waiting for that connection")
    func shared() throws {
        try withTempDir { dir in
            let path = dir + "/c.sqlite"
            let store = try Self.scratchStore(path)
            let other = try ClearingStore(path: path)
            #expect(try Self.scratchRows(other) == 0)
            let started = Date()
            let journal = try store.appendingRuns(recordsPerRun: ClearingStore.appendingRunRecordsMin) { journal in
                #expect(Date().timeIntervalSince(started) < SQLiteFile.busyTimeoutSeconds, "waited for the other connection")
                // Its checkpoints beside it, its commits fsynced when the runs end.
                #expect(try Self.modes(try Self.engine(store)) == ("wal", 1))
                try Self.addScratch(store, rows: 10)
                return journal
            }
            #expect(journal.contains("WAL"))
            #expect(try Self.scratchRows(other) == 10)
            #expect(try Self.modes(try Self.engine(store)) == ("wal", 2))
        }
    }

    @Test("a connection that opens the file meanwhile puts it back in WAL mode, and the ingest's connection follows")
    func openedMeanwhile() throws {
        try Self.withScratchStore { path, store, engine in
            try Self.appendingAlone(store) { _ in
                try Self.addScratch(store, rows: 5)
                let other = try ClearingStore(path: path)
                #expect(try Self.modes(try Self.engine(other)) == ("wal", 2))
                #expect(try Self.scratchRows(other) == 5)
                try Self.addScratch(store, rows: 5)
                #expect(try Self.modes(engine) == ("wal", 2))
                #expect(try Self.scratchRows(other) == 10)
                try Self.addScratch(other, rows: 1)
                #expect(try Self.scratchRows(store) == 11)
            }
            #expect(try Self.modes(engine) == ("wal", 2))
        }
    }

    @Test("a run killed mid-write leaves a hot journal: the next open rolls it back, then puts the file in WAL mode")
    func hotJournal() throws {
        try withTempDir { dir in
            let path = dir + "/c.sqlite"
            let store = try Self.scratchStore(path)
            try Self.addScratch(store, rows: 3)
            let engine = try Self.engine(store)
            // A cache of a few pages, so that the transaction spills its pages into the file
            // before it commits, as a large run does: the file then holds half a run.
            try engine.queue.inDatabase { db in try db.execute(sql: "PRAGMA cache_size = 8") }
            let crashed = dir + "/crashed.sqlite"
            try store.appendingRuns(recordsPerRun: ClearingStore.appendingRunRecordsMin) { _ in
                _ = try? store.engine.write { db in
                    _ = try db.execute("UPDATE scratch SET data = zeroblob(20000)", [])
                    for _ in 0..<200 { _ = try db.execute("INSERT INTO scratch (data) VALUES (zeroblob(20000))", []) }
                    // What a process killed now leaves on disk: the file with the spilled pages
                    // and the journal of the pages they overwrote (copies hold no lock: hot).
                    let journal = try Data(contentsOf: URL(fileURLWithPath: path + "-journal"))
                    #expect(journal.count > 0, "no journal to roll back: the test does not test anything")
                    try FileManager.default.copyItem(atPath: path, toPath: crashed)
                    try journal.write(to: URL(fileURLWithPath: crashed + "-journal"))
                    throw StorageError.stale(path: path, what: "the test (rolled back)")
                }
            }
            let copySize = try FileManager.default.attributesOfItem(atPath: crashed)[.size] as? Int ?? 0
            #expect(copySize > 200 * 16_384, "the transaction did not spill into the file (\(copySize) bytes)")
            let reopened = try ClearingStore(path: crashed)
            #expect(try Self.modes(try Self.engine(reopened)) == ("wal", 2))
            #expect(!FileManager.default.fileExists(atPath: crashed + "-journal"))
            #expect(try Self.scratchRows(reopened) == 3)
            let sizes = try reopened.engine.read { db in try db.ints("SELECT length(data) FROM scratch") }
            #expect(sizes == [100, 100, 100], "the half-written run was not rolled back")
            #expect(try reopened.engine.read { db in try db.text("PRAGMA integrity_check") } == "ok")
        }
    }

    @Test("a day ingested alone (rollback journal), beside another connection (WAL) and in small runs (WAL) ends the same, at the ground truth")
    func ingestBothWays() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let (keys, files) = try generatedDay(
                binary, dir, ["--cards", "8000", "--taps", "100000", "--seed", "13", "--duplicates", "0.01", "--forged-tac", "0.01", "--batch-records-max", "300"])
            let city = try City.parse(data: Data(contentsOf: URL(fileURLWithPath: TestPaths.city)), source: TestPaths.city)
            let clearingKeys = try ClearingKeys(paths: [keys])
            let received = BCDDateTime(iso: "2026-03-02T23:59:59")!
            let truth = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/day/ground-truth.json"))) as? [String: Any]
            func ingest(_ name: String, beside: Bool, recordsPerRun: Int = ClearingStore.appendingRunRecordsMin) throws -> (journal: [String], accepted: Int, fen: Int64, transfers: [UInt8]) {
                let path = dir + "/" + name + ".sqlite"
                let store = try ClearingStore(path: path)
                try registerCity(store, city)
                let other = beside ? try ClearingStore(path: path) : nil
                var journal: [String] = []
                let report = try Ingestor(store: store, city: city, keys: clearingKeys)
                    .ingest(files, received: received, recordsPerRun: recordsPerRun, phase: { what, _ in if what.hasPrefix("take the file") { journal.append(what) } })
                #expect(report.runs > 2)
                var transfers: [UInt8] = []
                try (other ?? store).forEachPage("transfers") { transfers += $0 }
                return (journal, report.summary.accepted, report.summary.acceptedAmountFen, transfers)
            }
            let alone = try ingest("alone", beside: false)
            let beside = try ingest("beside", beside: true)
            let small = try ingest("small", beside: false, recordsPerRun: 1000)
            #expect(alone.journal.count == 1 && alone.journal[0].contains("rollback journal"), "\(alone.journal)")
            #expect(small.journal.count == 1 && small.journal[0].contains("fewer than"), "\(small.journal)")
            #expect(small.accepted == alone.accepted && small.fen == alone.fen)
            #expect(beside.journal.count == 1 && beside.journal[0].contains("WAL"), "\(beside.journal)")
            #expect(alone.accepted == truth?["accepted"] as? Int)
            #expect(alone.fen == (truth?["acceptedAmountFen"] as? NSNumber)?.int64Value)
            #expect(beside.accepted == alone.accepted && beside.fen == alone.fen)
            #expect(!alone.transfers.isEmpty && beside.transfers == alone.transfers, "the two ledgers differ")
        }
    }

    /// Another process that opens the file while an ingest has it (`clearing check`, again and
    /// again) puts it back in WAL mode; when it closes, it deletes the WAL if it can lock the file
    /// alone. An ingest that had opened and closed a descriptor of its own on the file (to drop its
    /// pages from the cache) had lost its locks with it (POSIX locks go with any close), so a
    /// checker deleted the WAL under it and the ingest's last runs, acknowledged, were gone.
    @Test("an ingest beside another process that opens and closes the file again and again stores every run it acknowledged")
    func besideAnotherProcess() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let (keys, files) = try generatedDay(binary, dir, ["--cards", "15000", "--taps", "150000", "--seed", "14", "--batch-records-max", "2000"])
            let db = dir + "/c.sqlite"
            try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"])
            let ingest = Process()
            ingest.executableURL = URL(fileURLWithPath: binary)
            ingest.arguments = ["clearing", "ingest", "--db", db, "--keys", keys, "--received-at", "2026-03-02T23:59:59",
                                "--records-per-commit", String(ClearingStore.appendingRunRecordsMin), "--json"] + files
            let out = Pipe()
            ingest.standardOutput = out
            ingest.standardError = FileHandle.nullDevice
            try ingest.run()
            var checks = 0
            while ingest.isRunning {
                _ = try runOnecardStatus(binary, ["clearing", "check", "--db", db])
                checks += 1
            }
            let report = out.fileHandleForReading.readDataToEndOfFile()
            ingest.waitUntilExit()
            #expect(ingest.terminationStatus == 0)
            #expect(checks > 1, "the ingest ended before another process opened the file twice: the test tests nothing")
            let summary = try JSONSerialization.jsonObject(with: report) as? [String: Any]
            let truth = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/day/ground-truth.json"))) as? [String: Any]
            let accepted = try #require(summary?["accepted"] as? Int)
            #expect(accepted == truth?["accepted"] as? Int)
            var stored = 0
            try ClearingStore(path: db).forEachPage("transfers") { stored += $0.count / Packing.transferBytes }
            #expect(stored == accepted, "acknowledged runs missing from the store")
        }
    }
}
