import Clearing
import GRDB
import OneCardCore
import OneCardTestSupport
import Storage
import StoreTestSupport
import Testing

/// The clearing database's SQLite page size: 16 KiB for a new file, whatever an existing file
/// was created with kept.
@Suite("SQLite page size", .enabled(if: !TestBackend.isPostgres, "a property of SQLite files"))
struct SQLitePageSizeTests {
    static func pageSize(_ path: String) throws -> Int {
        try DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0 }
    }

    @Test("a new clearing database has 16 KiB pages")
    func newFile() throws {
        try withTempDir { dir in
            let path = dir + "/c.sqlite"
            let store = try ClearingStore(path: path)
            let engine = try ClearingEngine(config: ClearingConfig(city: Day.city, tacMaster: Day.tacMaster), state: store.loadState())
            var d = Day()
            let r = engine.run([Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")])])
            try store.commit(r, files: ["l"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            #expect(SQLiteEngine.pageSize == 16_384)
            #expect(try Self.pageSize(path) == SQLiteEngine.pageSize)
        }
    }

    @Test("a file made with 4 KiB pages keeps them, and the store opens and writes it")
    func existingFile() throws {
        try withTempDir { dir in
            let path = dir + "/old.sqlite"
            var config = Configuration()
            config.journalMode = .wal
            // An empty file in WAL mode: its page size is fixed from now on (as an older
            // clearing database's is).
            _ = try DatabaseQueue(path: path, configuration: config)
            #expect(try Self.pageSize(path) == 4096)
            let store = try ClearingStore(path: path)
            let engine = try ClearingEngine(config: ClearingConfig(city: Day.city, tacMaster: Day.tacMaster), state: store.loadState())
            var d = Day()
            let r = engine.run([Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")])])
            try store.commit(r, files: ["l"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            #expect(try Self.pageSize(path) == 4096)
            #expect(try ClearingStore(path: path).loadState().cards[cardA.rawValue]?.balanceFen == 5000)
        }
    }
}
