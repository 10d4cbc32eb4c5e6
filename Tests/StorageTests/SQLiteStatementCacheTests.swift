import GRDB
import GRDBSQLite
@testable import Storage
import StoreTestSupport
import Testing

/// A read on the SQLite engine leaves the connection's prepared statements as they were: an
/// ingest reads the terminal registry between every two runs, and each run's writes reuse the
/// statements the run before compiled (docs/performance.md, "Clearing in runs").
@Suite("SQLite statement cache", .enabled(if: !TestBackend.isPostgres, "a property of the SQLite engine"))
struct SQLiteStatementCacheTests {
    static let insert = "INSERT INTO t (x) VALUES (?)"

    /// How often SQLite compiled `sql`'s cached statement again since it was first prepared.
    static func reprepares(_ engine: SQLiteEngine, _ sql: String) throws -> Int32 {
        try engine.queue.inDatabase { db in
            sqlite3_stmt_status(try db.cachedStatement(sql: sql).sqliteStatement, SQLITE_STMTSTATUS_REPREPARE, 0)
        }
    }

    @Test("a read between two writes does not make the writes' statements compile again")
    func readKeepsStatements() throws {
        try withTempDir { dir in
            let engine = try SQLiteEngine(path: dir + "/s.sqlite")
            try engine.write { db in _ = try db.execute("CREATE TABLE t (x INTEGER)", []) }
            for i in 1...3 {
                try engine.write { db in _ = try db.execute(Self.insert, [.int(Int64(i))]) }
                #expect(try engine.read { db in try db.int("SELECT COUNT(*) FROM t") } == Int64(i))
            }
            #expect(try Self.reprepares(engine, Self.insert) == 0)
        }
    }

    @Test("a read that writes fails and leaves the file as it was")
    func readChangesNothing() throws {
        try withTempDir { dir in
            let engine = try SQLiteEngine(path: dir + "/s.sqlite")
            try engine.write { db in
                _ = try db.execute("CREATE TABLE t (x INTEGER)", [])
                _ = try db.execute(Self.insert, [.int(7)])
            }
            #expect(throws: DatabaseError.self) { try engine.read { db in try db.execute(Self.insert, [.int(8)]) } }
            #expect(try engine.read { db in try db.int("SELECT SUM(x) FROM t") } == 7)
        }
    }
}
