import Foundation
import OneCardCore
import OneCardCrypto
public import PostgresStorage
public import Storage

/// The clearing database the clearing and settlement suites run against: SQLite files by
/// default; PostgreSQL with `ONECARD_TEST_BACKEND=postgresql` and `ONECARD_TEST_POSTGRES`
/// naming a server (scripts/pg-test-cluster.sh starts a private one; scripts/test.sh runs
/// the suites both ways). A missing server is a failure with a message, never a skip.
public enum TestBackend {
    static let environment = ProcessInfo.processInfo.environment

    /// Whether the suites run against PostgreSQL.
    public static var isPostgres: Bool { environment["ONECARD_TEST_BACKEND"] == "postgresql" }

    /// The `--db` for a test database that would live at `path`: the path itself on SQLite; on
    /// PostgreSQL the URL of a database of its own, named after the path (created on first use,
    /// so a test reopening the same path reopens the same database). A URL is returned as it is.
    public static func location(for path: String) throws -> String {
        // Already a database's URL (a test passing on what location(for:) gave it): itself.
        guard isPostgres, !PostgresURL.isPostgres(path) else { return path }
        guard let admin = environment["ONECARD_TEST_POSTGRES"], PostgresURL.isPostgres(admin) else {
            throw StorageError.unreachable(
                path: "ONECARD_TEST_POSTGRES", operation: "choosing the test database",
                reason: "ONECARD_TEST_BACKEND=postgresql needs ONECARD_TEST_POSTGRES=postgresql://postgres@127.0.0.1:55432/postgres; start a private cluster with scripts/pg-test-cluster.sh start")
        }
        let name = "t_" + Hex.encode(Array(SHA256Digest.hash(Array(path.utf8)).prefix(12))).lowercased()
        try created.withLock { names throws in
            if names.contains(name) { return }
            let engine = try PostgresEngine(url: try PostgresURL(admin))
            if try engine.read({ db in try db.int("SELECT COUNT(*) FROM pg_database WHERE datname = ?", name) }) == 0 {
                try engine.executeAlone("CREATE DATABASE \(name)")
            }
            names.insert(name)
        }
        guard let slash = admin.range(of: "/", options: .backwards) else { return admin }
        let query = admin[slash.upperBound...].firstIndex(of: "?").map { String(admin[$0...]) } ?? ""
        return String(admin[..<slash.upperBound]) + name + query
    }

    /// Opens the test clearing store for `path` (see ``location(for:)``).
    public static func open(_ path: String, snapshotRowsMin: Int = ClearingStore.snapshotRowsMinDefault) throws -> ClearingStore {
        try ClearingDatabase.open(try location(for: path), snapshotRowsMin: snapshotRowsMin)
    }

    static let created = Locked<Set<String>>([])
}

/// A value behind a lock, shared by test threads.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
