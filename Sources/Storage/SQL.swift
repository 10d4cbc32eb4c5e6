import Foundation
import GRDB
import Synchronization

/// A value bound to, or read from, a SQL statement: the four kinds the clearing database uses.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case text(String)
    case blob([UInt8])
    /// Bytes from a larger buffer (a page of packed rows), bound without being copied out into
    /// an array of their own first: written, never read back as such (a read gives ``blob(_:)``).
    case bytes(ArraySlice<UInt8>)
}

/// Something that binds as a ``SQLValue``.
public protocol SQLBindable { var sqlValue: SQLValue { get } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .int(self) } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .int(Int64(self)) } }
extension Int32: SQLBindable { public var sqlValue: SQLValue { .int(Int64(self)) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Data: SQLBindable { public var sqlValue: SQLValue { .blob([UInt8](self)) } }
extension Array: SQLBindable where Element == UInt8 { public var sqlValue: SQLValue { .blob(self) } }
extension Optional: SQLBindable where Wrapped: SQLBindable { public var sqlValue: SQLValue { self?.sqlValue ?? .null } }

/// One result row, read by column position.
public struct SQLRow: Sendable {
    public var values: [SQLValue]

    public init(_ values: [SQLValue]) { self.values = values }

    /// An integer column (a boolean reads as 0 or 1); NULL reads as nil.
    public func intOrNil(_ i: Int) throws -> Int64? {
        switch values[i] {
        case .null: return nil
        case .int(let v): return v
        case .text(let t):
            guard let v = Int64(t) else { throw SQLFailure.type(column: i, wanted: "an integer") }
            return v
        case .blob, .bytes: throw SQLFailure.type(column: i, wanted: "an integer")
        }
    }

    public func int(_ i: Int) throws -> Int64 {
        guard let v = try intOrNil(i) else { throw SQLFailure.type(column: i, wanted: "an integer, not NULL") }
        return v
    }

    public func bool(_ i: Int) throws -> Bool { try int(i) != 0 }

    public func textOrNil(_ i: Int) throws -> String? {
        switch values[i] {
        case .null: return nil
        case .text(let t): return t
        case .int(let v): return String(v)
        case .blob(let b): return String(decoding: b, as: UTF8.self)
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        }
    }

    public func text(_ i: Int) throws -> String {
        guard let v = try textOrNil(i) else { throw SQLFailure.type(column: i, wanted: "text, not NULL") }
        return v
    }

    public func blobOrNil(_ i: Int) throws -> [UInt8]? {
        switch values[i] {
        case .null: return nil
        case .blob(let b): return b
        case .bytes(let b): return Array(b)
        case .text(let t): return Array(t.utf8)
        case .int: throw SQLFailure.type(column: i, wanted: "bytes")
        }
    }

    public func blob(_ i: Int) throws -> [UInt8] {
        guard let v = try blobOrNil(i) else { throw SQLFailure.type(column: i, wanted: "bytes, not NULL") }
        return v
    }
}

/// A column that did not hold what the statement's reader expected (a corrupt or foreign database).
public enum SQLFailure: Error, Sendable {
    case type(column: Int, wanted: String)
}

/// One connection inside one transaction.
///
/// Statements are written once for both engines: positional parameters as `?`, or numbered
/// as `?1`, `?2` (one style per statement); types that both SQLite and PostgreSQL know
/// (`CAST(x AS BIGINT)`, `ON CONFLICT … DO …`, subqueries with an alias).
public protocol SQLSession {
    /// Runs a statement; returns the rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    /// Runs a query and returns its rows (for small results).
    func all(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow]
    /// Runs a query and hands each row to `body` as it arrives (a cursor: for results of any size).
    func forEach(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws
    /// Runs one statement once per argument list (a prepared statement where the engine has them).
    func executeMany<S: Sequence<[SQLValue]>>(_ sql: String, _ argumentLists: S) throws
}

extension SQLSession {
    @discardableResult
    public func execute(_ sql: String, _ arguments: any SQLBindable...) throws -> Int {
        try execute(sql, arguments.map(\.sqlValue))
    }

    public func rows(_ sql: String, _ arguments: any SQLBindable...) throws -> [SQLRow] {
        try all(sql, arguments.map(\.sqlValue))
    }

    public func row(_ sql: String, _ arguments: any SQLBindable...) throws -> SQLRow? {
        try all(sql, arguments.map(\.sqlValue)).first
    }

    /// The first column of the first row, as an integer (nil: no row, or NULL).
    public func int(_ sql: String, _ arguments: any SQLBindable...) throws -> Int64? {
        try all(sql, arguments.map(\.sqlValue)).first?.intOrNil(0)
    }

    /// The first column of the first row, as text (nil: no row, or NULL).
    public func text(_ sql: String, _ arguments: any SQLBindable...) throws -> String? {
        try all(sql, arguments.map(\.sqlValue)).first?.textOrNil(0)
    }

    /// The first column of every row, as integers.
    public func ints(_ sql: String, _ arguments: any SQLBindable...) throws -> [Int64] {
        try all(sql, arguments.map(\.sqlValue)).map { try $0.int(0) }
    }

    public func forEach(_ sql: String, _ arguments: any SQLBindable..., body: (SQLRow) throws -> Void) throws {
        try forEach(sql, arguments.map(\.sqlValue), body)
    }
}

/// A database the clearing store keeps its tables in: SQLite through GRDB here, PostgreSQL
/// through postgres-nio in module PostgresStorage.
public protocol SQLEngine: AnyObject, Sendable {
    /// Where the data is, for messages: a file, or a URL without its password.
    var location: String { get }
    /// Runs `body` in a read-only transaction that sees one consistent state.
    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// Runs `body` in a write transaction: writers are serialised, and a writer sees every
    /// commit made before its transaction began. All of `body` commits, or none of it.
    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// A number that moves on whenever the terminal registry may have changed, by any
    /// connection: the registry, read every run, is cached while it stays.
    func registryStamp(_ session: any SQLSession) throws -> Int64
    /// The engine's own errors as storage errors; nil for an error that is not the engine's.
    func storageError(_ error: any Error, operation: String) -> StorageError?
    /// Runs `body`, a batch of append-only write transactions (a batch ingest's runs; `large`
    /// when each appends tens of megabytes), with the engine set for them, and passes it what
    /// it writes through, for `--verbose`. Every transaction stays as atomic as a ``write(_:)``,
    /// and every one is as durable by the time this returns (or throws); what may change is how
    /// many times its bytes reach the disk, which thread pays for it, and whether each commit
    /// waits for the disk or all wait once at the end (``SQLiteEngine``).
    func appending<T>(large: Bool, _ body: (_ journal: String) throws -> T) throws -> T
}

extension SQLEngine {
    /// As ``write(_:)`` always writes: nothing to set.
    public func appending<T>(large: Bool, _ body: (_ journal: String) throws -> T) throws -> T { try body("as every write") }
}

/// SQLite through GRDB: one serialised connection, WAL (a rollback journal while a batch ingest
/// of large runs has the file alone, ``appending(large:_:)``), `synchronous=FULL`, 16 KiB pages.
public final class SQLiteEngine: SQLEngine {
    public let location: String
    let queue: DatabaseQueue
    /// Set while a batch ingest has the file with a rollback journal (``appending(large:_:)``):
    /// each commit then drops the file's pages from the kernel's page cache.
    private let droppedPages = Mutex<SQLiteFile.PageCache?>(nil)
    /// Set while a batch ingest's runs go through WAL (``appending(large:_:)``): each commit then
    /// hands a due checkpoint to a connection of its own.
    private let checkpointer = Mutex<SQLiteFile.Checkpointer?>(nil)

    /// The page size of a new clearing database. A run writes its rows as large pages
    /// (``ClearingStore/pageRowsMax`` rows a blob), each a chain of SQLite pages written to the
    /// WAL and again at the checkpoint: 16 KiB pages cost the kernel a quarter of the writes of
    /// 4 KiB ones, and small commits (a front-end's) no more (docs/performance.md). A file
    /// keeps the page size it was created with.
    public static let pageSize = 16_384

    /// Opens (creating if needed) the file.
    init(path: String) throws {
        queue = try SQLiteFile.open(path, pageSize: Self.pageSize, refusing: "not a clearing database")
        location = path
    }

    public func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try queue.snapshotRead { db in try body(SQLiteSession(db: db)) }
    }

    public func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        let value = try queue.write { db in try body(SQLiteSession(db: db)) }
        droppedPages.withLock { $0?.drop() }
        checkpointer.withLock { $0?.committed() }
        return value
    }

    /// `PRAGMA data_version`: moves on with every commit by another connection.
    public func registryStamp(_ session: any SQLSession) throws -> Int64 {
        try session.int("PRAGMA data_version") ?? -1
    }

    public func storageError(_ error: any Error, operation: String) -> StorageError? {
        (error as? DatabaseError).map { StorageFailure.map($0, path: location, operation: operation) }
    }

    /// In WAL mode every byte a transaction writes reaches the disk twice, in the WAL at the
    /// commit and in the file at the checkpoint, and the checkpoint reads it back in between:
    /// for a batch ingest, whose runs append tens of megabytes each, that was half the disk's
    /// bytes and a fifth of the CPU (docs/performance.md, "A rollback journal for a batch
    /// ingest"). So when the runs are `large`, `body` runs with a rollback journal
    /// (`journal_mode=TRUNCATE`, still `synchronous=FULL`): pages appended to the file are not
    /// journaled at all, only the few a transaction changes, and a commit is durable when it
    /// returns as in WAL mode (docs/storage.md, "Journal modes").
    ///
    /// Only when this connection is the file's only one: leaving WAL mode needs the file alone,
    /// so with another connection open (a front-end beside the ingest) `body` runs in WAL mode
    /// as before, without waiting. A connection that opens the file meanwhile puts it back in
    /// WAL mode between two transactions (``SQLiteFile/open(_:pageSize:refusing:)``), and this
    /// one follows; afterwards this one does. A process killed in between leaves a hot journal,
    /// which SQLite rolls back at the next open, before that open puts the file back in WAL mode.
    ///
    /// From then until `body` returns, each commit drops the file's pages from the kernel's page
    /// cache once they are on disk (``SQLiteFile/PageCache``; also after another
    /// connection put the file back in WAL mode, which then reads them from disk): the ingest
    /// does not read them again, and the next runs' pages reuse that memory instead of taking
    /// fresh pages. On this VM fresh memory costs its first touch (about 370 MB/s: freed pages go
    /// back to the host), and the 10M-tap day's system time went from 4.9–7.3 s to 2.0–3.3 s
    /// (docs/performance.md, "A rollback journal for a batch ingest").
    ///
    /// Runs that are not `large`, or that share the file, go through WAL, whose one fsync a
    /// commit costs small runs less than a rollback journal's three; their checkpoints run on a
    /// connection of their own instead of inside the commit that fills the WAL
    /// (``SQLiteFile/Checkpointer``), beside the next run. Their commits do not wait for the
    /// disk: the WAL is fsynced at each checkpoint and once when `body` ends, before this
    /// returns or throws (a failed fsync throws ``StorageError/unwritable(path:reason:)``).
    public func appending<T>(large: Bool, _ body: (_ journal: String) throws -> T) throws -> T {
        let taken = large && ((try? queue.inDatabase { db -> Bool in
            // Without waiting: another connection's hold on the file does not end by itself.
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            defer { try? db.execute(sql: "PRAGMA busy_timeout = \(SQLiteFile.busyTimeoutMilliseconds)") }
            return try String.fetchOne(db, sql: "PRAGMA journal_mode = TRUNCATE") == "truncate"
        }) ?? false)
        let beside = taken ? nil : SQLiteFile.Checkpointer(writer: queue, path: location)
        if taken { droppedPages.withLock { $0 = SQLiteFile.PageCache(location) } }
        checkpointer.withLock { $0 = beside }
        func end() throws {
            droppedPages.withLock { $0 = nil }
            checkpointer.withLock { $0 = nil }
            // Failing here (a reader holding the file) leaves it to the next open.
            if taken { _ = try? queue.inDatabase { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") } }
            try beside?.finish(path: location)
        }
        let value: T
        do {
            value = try body(
                taken ? "a rollback journal (this connection alone)"
                    : "WAL" + (large ? " (another connection has the file open)" : "")
                    + (beside != nil ? ", checkpointed on a connection of its own, fsynced when the runs end" : ""))
        } catch {
            // What was committed before the failure is on disk all the same.
            try? end()
            throw error
        }
        try end()
        return value
    }
}

struct SQLiteSession: SQLSession {
    let db: Database

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        let stmt = try db.cachedStatement(sql: sql)
        try stmt.execute(arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func all(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        var out: [SQLRow] = []
        try forEach(sql, arguments) { out.append($0) }
        return out
    }

    func forEach(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
        let stmt = try db.cachedStatement(sql: sql)
        let rows = try Row.fetchCursor(stmt, arguments: Self.arguments(arguments))
        while let row = try rows.next() {
            var values: [SQLValue] = []
            values.reserveCapacity(row.count)
            for i in 0..<row.count {
                switch (row[i] as DatabaseValue).storage {
                case .null: values.append(.null)
                case .int64(let v): values.append(.int(v))
                case .double(let d):
                    // No column of the clearing schema holds a real: only a whole one is read as an integer.
                    guard let whole = Int64(exactly: d) else { throw SQLFailure.type(column: i, wanted: "an integer, not a real") }
                    values.append(.int(whole))
                case .string(let s): values.append(.text(s))
                case .blob(let b): values.append(.blob([UInt8](b)))
                }
            }
            try body(SQLRow(values))
        }
    }

    func executeMany<S: Sequence<[SQLValue]>>(_ sql: String, _ argumentLists: S) throws {
        var stmt: Statement?
        for a in argumentLists {
            if stmt == nil { stmt = try db.cachedStatement(sql: sql) }
            try stmt?.execute(arguments: Self.arguments(a))
        }
    }

    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        // Through GRDB's initialiser of optional existentials: its generic one maps with a key
        // path that the runtime instantiates again on every call, unspecialised across the
        // module boundary (2 % of the CPU of a day cleared one file a run).
        StatementArguments(values.map(value))
    }

    /// A value as GRDB's: bytes copied once, into the `Data` that GRDB binds in place while
    /// the statement runs.
    static func value(_ v: SQLValue) -> (any DatabaseValueConvertible)? {
        switch v {
        case .null: nil
        case .int(let i): i
        case .text(let t): t
        case .blob(let b): Data(b)
        case .bytes(let b): Data(b)
        }
    }
}
