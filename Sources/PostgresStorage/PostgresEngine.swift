import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
public import Storage

/// PostgreSQL through postgres-nio, as a ``SQLEngine`` for the clearing store.
///
/// One connection, used by one transaction at a time (like SQLite's serialised queue); the
/// store's calls are synchronous, so each statement waits for its answer on the caller's
/// thread while NIO's own event loop does the I/O (never call it from an event loop).
///
/// - Writers are serialised across processes by a transaction-scoped advisory lock
///   (``writeLock``): two front-ends or clearing workers sharing the database take turns
///   per transaction, and the store's write generation then refuses a run computed from a
///   state another writer has moved on from (it is re-run from the new state: never posted twice).
/// - Readers run `REPEATABLE READ READ ONLY`: one consistent snapshot per call.
/// - A lost connection (a crash, a failover) fails the call in progress with
///   ``StorageError/unreachable(path:operation:reason:)``; nothing of its transaction is kept
///   unless the server had committed it, which a replay then recognises. The next call
///   connects again, to whichever host of the URL is a primary by then, trying for up to
///   the URL's `connect_timeout`.
public final class PostgresEngine: SQLEngine, @unchecked Sendable {
    public let location: String
    /// The advisory lock key every writing transaction takes (`pg_advisory_xact_lock`).
    public static let writeLock: Int64 = 0x4F4E_4543_4152_4400 // "ONECARD\0"
    let url: PostgresURL
    let group: any EventLoopGroup
    let logger: Logger
    let lock = NSLock()
    var connection: PostgresConnection?
    /// Statements rewritten from `?` to `$n`, by their text. Under `lock`.
    var translated: [String: String] = [:]
    /// Cursors opened so far (each streaming query gets its own name, so one may run inside
    /// another's loop). Under `lock`.
    var cursors = 0

    /// Connects (to the first host that is a primary).
    ///
    /// - Throws: ``StorageError/unreachable(path:operation:reason:)`` when no host is a
    ///   primary within the URL's `connect_timeout`.
    public init(url: PostgresURL) throws(StorageError) {
        self.url = url
        location = url.location
        group = MultiThreadedEventLoopGroup.singleton
        var logger = Logger(label: "onecard.postgres")
        // postgres-nio's own logging stays quiet: its messages can carry connection details.
        logger.logLevel = .critical
        self.logger = logger
        lock.lock()
        defer { lock.unlock() }
        _ = try connected(operation: "connecting")
    }

    deinit {
        try? connection?.close().wait()
    }

    // MARK: SQLEngine

    public func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    public func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try transaction("BEGIN", body) { session in
            _ = try session.all("SELECT pg_advisory_xact_lock(?)", [.int(Self.writeLock)])
        }
    }

    public func registryStamp(_ session: any SQLSession) throws -> Int64 {
        try session.int("SELECT value FROM clearing_meta WHERE key = 'registryStamp'") ?? 0
    }

    public func storageError(_ error: any Error, operation: String) -> StorageError? {
        if let e = error as? PSQLError {
            if e.code == .server, let info = e.serverInfo {
                let state = info[.sqlState] ?? "?"
                let message = info[.message] ?? "no message"
                // Connection exceptions, and a server shutting down or not accepting connections.
                if state.hasPrefix("08") || state.hasPrefix("57P") {
                    return .unreachable(path: location, operation: operation, reason: "\(message) (SQLSTATE \(state))")
                }
                if state == "25006" {
                    return .unreachable(path: location, operation: operation, reason: "the server is a standby, read-only (SQLSTATE 25006)")
                }
                if state == "40001" || state == "40P01" { return .stale(path: location, what: "the clearing database (\(message))") }
                if message == Self.closedDayMessage { return .dayClosed(path: location, day: info[.detail] ?? "?") }
                return .server(path: location, operation: operation, state: state, reason: message)
            }
            return .unreachable(path: location, operation: operation, reason: "\(e.code)")
        }
        if error is NIOCore.IOError || error is ChannelError || error is NIOConnectionError {
            return .unreachable(path: location, operation: operation, reason: "\(error)")
        }
        if let e = error as? ConnectFailure { return .unreachable(path: location, operation: operation, reason: e.reason) }
        return nil
    }

    /// The message the schema's triggers raise for a write into a closed business day (its
    /// detail names the day).
    static let closedDayMessage = "the business day is closed"

    /// Runs one statement outside any transaction (`CREATE DATABASE`): for set-up tools and tests.
    public func executeAlone(_ sql: String) throws {
        try lock.withLock {
            let c = try connected(operation: "running \(sql.prefix(40))")
            _ = try c.answer(c.query(PostgresQuery(unsafeSQL: sql), logger: logger))
        }
    }

    // MARK: Connections and transactions

    struct ConnectFailure: Error { var reason: String }

    /// The open connection, or a new one to the first host that is a primary. Under `lock`.
    func connected(operation: String) throws(StorageError) -> PostgresConnection {
        if let c = connection, !c.isClosed { return c }
        connection = nil
        let deadline = Date().addingTimeInterval(TimeInterval(url.connectTimeout))
        var reasons: [String] = []
        repeat {
            reasons = []
            for (host, port) in url.hosts {
                do {
                    var config = PostgresConnection.Configuration(
                        host: host, port: port, username: url.user, password: url.password, database: url.database, tls: .disable)
                    config.options.connectTimeout = .seconds(2)
                    let c = try PostgresConnection.connect(on: group.next(), configuration: config, id: 1, logger: logger).wait()
                    let recovery = try c.answer(c.query("SELECT pg_is_in_recovery()", logger: logger)).rows.first?.first?.decode(Bool.self) ?? true
                    if recovery {
                        try? c.close().wait()
                        reasons.append("\(host):\(port) is a standby")
                        continue
                    }
                    connection = c
                    return c
                } catch {
                    let mapped = storageError(error, operation: operation)
                    if case .unreachable(_, _, let r)? = mapped { reasons.append("\(host):\(port): \(r)") }
                    else if let mapped { throw mapped } // a wrong password or database: trying again will not help
                    else { reasons.append("\(host):\(port): \(error)") }
                }
            }
            Thread.sleep(forTimeInterval: 0.25)
        } while Date() < deadline
        throw .unreachable(path: location, operation: operation,
                           reason: "no primary among the hosts within \(url.connectTimeout) s: " + reasons.joined(separator: "; "))
    }

    func transaction<T>(_ begin: String, _ body: (any SQLSession) throws -> T, prologue: (PostgresSession) throws -> Void = { _ in }) throws -> T {
        try lock.withLock {
            let c = try connected(operation: "connecting")
            let session = PostgresSession(engine: self, connection: c)
            do {
                _ = try session.runRaw(begin)
                try prologue(session)
                let result = try body(session)
                _ = try session.runRaw("COMMIT")
                return result
            } catch {
                if c.isClosed {
                    connection = nil
                } else if (try? c.answer(c.query("ROLLBACK", logger: logger))) == nil {
                    // The connection cannot even roll back: drop it, the server rolls back at disconnect.
                    try? c.close().wait()
                    connection = nil
                }
                throw error
            }
        }
    }

    /// `sql` with `?` and `?N` placeholders as PostgreSQL's `$n`. Under `lock`.
    func postgresSQL(_ sql: String) -> String {
        if let done = translated[sql] { return done }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var next = 1
        var quoted = false
        var chars = sql.makeIterator()
        var pending: Character? = nil
        while let ch = pending ?? chars.next() {
            pending = nil
            if ch == "'" { quoted.toggle(); out.append(ch); continue }
            guard ch == "?", !quoted else { out.append(ch); continue }
            var digits = ""
            while let d = chars.next() {
                if d.isASCII, d.isNumber { digits.append(d) } else { pending = d; break }
            }
            if digits.isEmpty {
                out += "$\(next)"
                next += 1
            } else {
                out += "$" + digits
            }
        }
        translated[sql] = out
        return out
    }
}

/// One connection inside one transaction of a ``PostgresEngine``.
struct PostgresSession: SQLSession {
    let engine: PostgresEngine
    let connection: PostgresConnection
    /// Rows fetched per round trip when a query streams.
    static let fetchRows = 512

    /// `sql` (with `?` placeholders) as a PostgreSQL query, after `prefix` (written as is).
    func query(_ sql: String, _ arguments: [SQLValue], prefix: String = "") -> PostgresQuery {
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments {
            switch a {
            case .null: binds.appendNull()
            case .int(let v): binds.append(v)
            case .text(let t): binds.append(t)
            case .blob(let b): binds.append(ByteBuffer(bytes: b))
            case .bytes(let b): binds.append(ByteBuffer(bytes: b))
            }
        }
        return PostgresQuery(unsafeSQL: prefix + engine.postgresSQL(sql), binds: binds)
    }

    func run(_ sql: String, _ arguments: [SQLValue], prefix: String = "") throws -> PostgresQueryResult {
        try connection.answer(connection.query(query(sql, arguments, prefix: prefix), logger: engine.logger))
    }

    /// A statement of the engine's own, without placeholders.
    func runRaw(_ sql: String) throws -> PostgresQueryResult {
        try connection.answer(connection.query(PostgresQuery(unsafeSQL: sql), logger: engine.logger))
    }

    func all(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        try run(sql, arguments).rows.map(Self.row)
    }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    func executeMany<S: Sequence<[SQLValue]>>(_ sql: String, _ argumentLists: S) throws {
        for a in argumentLists { _ = try run(sql, a) }
    }

    /// Streams through a cursor, ``fetchRows`` at a time: a day's pages never sit in memory at once.
    func forEach(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
        engine.cursors += 1
        let cursor = "onecard_cursor_\(engine.cursors)"
        _ = try run(sql, arguments, prefix: "DECLARE \(cursor) NO SCROLL CURSOR FOR ")
        defer { _ = try? runRaw("CLOSE \(cursor)") }
        while true {
            let rows = try runRaw("FETCH \(Self.fetchRows) FROM \(cursor)").rows
            for r in rows { try body(Self.row(r)) }
            if rows.count < Self.fetchRows { return }
        }
    }

    static func row(_ r: PostgresRow) throws -> SQLRow {
        var values: [SQLValue] = []
        values.reserveCapacity(r.count)
        for cell in r {
            guard cell.bytes != nil else { values.append(.null); continue }
            switch cell.dataType {
            case .int8: values.append(.int(try cell.decode(Int64.self)))
            case .int4: values.append(.int(Int64(try cell.decode(Int32.self))))
            case .int2: values.append(.int(Int64(try cell.decode(Int16.self))))
            case .bool: values.append(.int(try cell.decode(Bool.self) ? 1 : 0))
            case .bytea:
                var b = try cell.decode(ByteBuffer.self)
                values.append(.blob(b.readBytes(length: b.readableBytes) ?? []))
            default: values.append(.text(try cell.decode(String.self)))
            }
        }
        return SQLRow(values)
    }
}

extension PostgresConnection {
    /// How often a caller waiting for an answer looks whether the connection is still there.
    static let deadConnectionPoll = DispatchTimeInterval.milliseconds(100)

    /// Waits for `future` on the caller's thread, and fails when the connection closes first.
    ///
    /// postgres-nio (1.33) does not fail a query written to a connection that has just closed
    /// (the server killed, a failover): a plain `wait()` then blocks for ever — the failover
    /// test found `settle` and `serve` hung that way. The answer wakes the caller at once; only
    /// a caller still waiting looks at the connection, every ``deadConnectionPoll``.
    func answer<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = AnswerBox<T>()
        future.whenComplete { r in
            result.set(r)
            done.signal()
        }
        while done.wait(timeout: .now() + Self.deadConnectionPoll) == .timedOut {
            if isClosed, result.get() == nil {
                throw PostgresEngine.ConnectFailure(reason: "the connection was lost before the server answered")
            }
        }
        guard let r = result.get() else { throw PostgresEngine.ConnectFailure(reason: "no answer") }
        return try r.get()
    }
}

/// The result of a future, handed from NIO's thread to the waiting caller.
final class AnswerBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    func set(_ r: Result<T, any Error>) { lock.withLock { value = r } }
    func get() -> Result<T, any Error>? { lock.withLock { value } }
}
