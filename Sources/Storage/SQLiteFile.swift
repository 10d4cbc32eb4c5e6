import Foundation
import GRDB

/// How OneCard opens every SQLite file it writes (a terminal journal, the issuer registry, the
/// clearing database): WAL mode with `synchronous=FULL`, so that each commit is fsynced before
/// it returns and an acknowledged tap, registration or run survives a power cut.
///
/// Not GRDB's `journalMode = .wal`: that sets `synchronous=NORMAL` after the configuration's
/// `prepareDatabase` has run, and in WAL mode a NORMAL commit reaches the disk only at the next
/// checkpoint.
enum SQLiteFile {
    /// How long a write waits for another connection's lock before failing as busy.
    static let busyTimeoutSeconds: TimeInterval = 5

    /// Opens (creating if needed) `path` in WAL mode with `synchronous=FULL`.
    ///
    /// - Parameter pageSize: the page size of a new file (an existing file keeps its own).
    static func open(_ path: String, pageSize: Int? = nil) throws -> DatabaseQueue {
        var config = Configuration()
        config.busyMode = .timeout(busyTimeoutSeconds)
        config.prepareDatabase { db in
            // Before the first table and before WAL mode: takes effect only on a new file.
            if let pageSize { try db.execute(sql: "PRAGMA page_size = \(pageSize)") }
            guard try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") == "wal" else {
                throw DatabaseError(resultCode: .SQLITE_CANTOPEN, message: "could not put the file in WAL mode")
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return try DatabaseQueue(path: path, configuration: config)
    }
}
