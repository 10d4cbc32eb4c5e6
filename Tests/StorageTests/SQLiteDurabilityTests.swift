import GRDB
import OneCardCore
@testable import Storage
import StoreTestSupport
import Testing

/// Every SQLite file OneCard writes is in WAL mode with `synchronous=FULL` on the connection
/// that writes it: a commit is fsynced before it is acknowledged, so a power cut cannot take back
/// a tap, a registration or a clearing run (docs/formats.md). GRDB's own WAL set-up would leave
/// the connection at `NORMAL` (a commit reaches the disk only at the next checkpoint).
@Suite("SQLite durability", .enabled(if: !TestBackend.isPostgres, "a property of SQLite files"))
struct SQLiteDurabilityTests {
    /// `PRAGMA journal_mode` and `PRAGMA synchronous` (2 is FULL) on `queue`'s connection.
    static func modes(_ queue: DatabaseQueue) throws -> (String?, Int?) {
        try queue.inDatabase { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
    }

    @Test("the clearing database commits with synchronous=FULL in WAL mode")
    func clearingStore() throws {
        try withTempDir { dir in
            let store = try ClearingStore(path: dir + "/c.sqlite")
            let engine = try #require(store.engine as? SQLiteEngine)
            let (journal, sync) = try Self.modes(engine.queue)
            #expect(journal == "wal")
            #expect(sync == 2)
        }
    }

    @Test("a terminal journal and the issuer registry commit with synchronous=FULL in WAL mode")
    func journalAndRegistry() throws {
        try withTempDir { dir in
            let journal = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 1)
            #expect(try Self.modes(journal.queue) == ("wal", 2))
            let issuer = try IssuerDatabase(path: dir + "/i.sqlite", journal: dir + "/counter.sqlite", counterTerminal: counterTerminal, operatorID: 1)
            #expect(try Self.modes(issuer.registry) == ("wal", 2))
            #expect(try Self.modes(issuer.journal.queue) == ("wal", 2))
        }
    }

    @Test("a file reopened keeps WAL mode and is opened with synchronous=FULL again")
    func reopened() throws {
        try withTempDir { dir in
            let path = dir + "/j.sqlite"
            _ = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 1)
            let again = try SQLiteJournal(existing: path)
            #expect(try Self.modes(again.queue) == ("wal", 2))
        }
    }
}
