import Foundation
import GRDB
import GRDBSQLite
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How OneCard opens every SQLite file it writes (a terminal journal, the issuer registry, the
/// clearing database): WAL mode with `synchronous=FULL`, so that each commit is fsynced before
/// it returns and an acknowledged tap, registration or run survives a power cut. (A batch
/// ingest's small runs are fsynced together when the ingest's runs end, before it returns:
/// ``Checkpointer``.)
///
/// Not GRDB's `journalMode = .wal`: that sets `synchronous=NORMAL` after the configuration's
/// `prepareDatabase` has run, and in WAL mode a NORMAL commit reaches the disk only at the next
/// checkpoint.
enum SQLiteFile {
    /// How long a write waits for another connection's lock before failing as busy.
    static let busyTimeoutSeconds: TimeInterval = 5
    /// The same in milliseconds (`PRAGMA busy_timeout`).
    static var busyTimeoutMilliseconds: Int { Int(busyTimeoutSeconds * 1000) }

    /// Opens (creating if needed) `path` in WAL mode with `synchronous=FULL`: back in WAL mode
    /// if a batch ingest has it with a rollback journal (``SQLiteEngine/appending(large:_:)``), and
    /// after SQLite rolled back the hot journal of an ingest that was killed.
    ///
    /// Another program's database (tables, but no record of OneCard's migrations) is refused
    /// before any pragma: its file is left byte for byte as it was, not switched to WAL mode.
    ///
    /// - Parameters:
    ///   - pageSize: the page size of a new file (an existing file keeps its own).
    ///   - what: what the file should be, for the refusal ("not a clearing database").
    /// - Throws: ``StorageError/notAJournal(path:reason:)`` for another program's database.
    static func open(_ path: String, pageSize: Int? = nil, refusing what: String?) throws -> DatabaseQueue {
        var config = Configuration()
        config.busyMode = .timeout(busyTimeoutSeconds)
        config.prepareDatabase { db in
            if try holdsOtherTables(db) {
                throw StorageError.notAJournal(path: path, reason: ["a SQLite file with other tables", what].compactMap(\.self).joined(separator: ", "))
            }
            // Before the first table and before WAL mode: takes effect only on a new file.
            if let pageSize { try db.execute(sql: "PRAGMA page_size = \(pageSize)") }
            guard try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") == "wal" else {
                throw DatabaseError(resultCode: .SQLITE_CANTOPEN, message: "could not put the file in WAL mode")
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return try DatabaseQueue(path: path, configuration: config)
    }

    /// Whether the file holds tables but no record of OneCard's migrations: another program's
    /// database, which is refused rather than migrated into. Reads only the schema.
    private static func holdsOtherTables(_ db: Database) throws -> Bool {
        try !db.tableExists("grdb_migrations") && !String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'").isEmpty
    }
}

extension DatabaseQueue {
    /// Reads in one deferred transaction (one snapshot of the file), always rolled back: a body
    /// that changes a row fails with `SQLITE_READONLY`, and its change is undone.
    ///
    /// Not GRDB's `read`: that brackets the body with `PRAGMA query_only`, and setting a flag
    /// pragma expires every statement the connection has prepared. An ingest reads the terminal
    /// registry between every two runs, so each run compiled all its statements again: a tenth
    /// of the CPU of a day cleared one file a run (docs/performance.md, "Clearing in runs").
    func snapshotRead<T>(_ body: (Database) throws -> T) throws -> T {
        try inDatabase { db in
            var value: T?
            try db.inTransaction(.deferred) {
                let changes = db.totalChangesCount
                value = try body(db)
                guard db.totalChangesCount == changes else {
                    throw DatabaseError(resultCode: .SQLITE_READONLY, message: "a read changed the database (undone)")
                }
                return .rollback
            }
            return value!
        }
    }
}

extension SQLiteFile {
    /// The kernel's page cache of one SQLite file, dropped (`POSIX_FADV_DONTNEED`) after a commit,
    /// when its pages are on disk and clean; a page still dirty is left (the kernel skips it).
    ///
    /// Through a descriptor SQLite itself holds on the file (found once by device and inode
    /// among `/proc/self/fd`, checked again before each use), never one of its own: closing any
    /// descriptor of a file drops every POSIX lock the process holds on it, SQLite's included. An
    /// ingest that opened and closed one after each commit lost its WAL-mode lock with it, and a
    /// `clearing check` in another process then took the file for its own alone and deleted the
    /// WAL under the ingest, with runs the ingest had acknowledged
    /// (`AppendingJournalTests.besideAnotherProcess`).
    struct PageCache {
        private var file = stat()
        private var descriptor: Int32?

        /// The page cache of the file at `path`; `nil` if the file cannot be read.
        init?(_ path: String) {
            guard stat(path, &file) == 0 else { return nil }
            descriptor = find()
        }

        /// Drops the file's cached pages. Best effort: nothing happens when no descriptor of
        /// the file is found.
        mutating func drop() {
            #if os(Linux)
            if let fd = descriptor, isTheFile(fd) {} else { descriptor = find() }
            if let fd = descriptor { _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)) }
            #endif
        }

        private func isTheFile(_ fd: Int32) -> Bool {
            var st = stat()
            return fstat(fd, &st) == 0 && st.st_dev == file.st_dev && st.st_ino == file.st_ino
        }

        /// A descriptor of the file among the process's open ones.
        private func find() -> Int32? {
            #if os(Linux)
            guard let dir = opendir("/proc/self/fd") else { return nil }
            defer { closedir(dir) }
            let own = dirfd(dir)
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if let fd = Int32(name), fd != own, isTheFile(fd) { return fd }
            }
            #endif
            return nil
        }
    }
}

extension SQLiteFile {
    /// The checkpoints of a WAL-mode file while a batch ingest writes it in many runs: on a
    /// connection of their own, on its own thread, instead of inside the writer's commit that
    /// filled the WAL, where SQLite runs them (`wal_autocheckpoint`). A checkpoint copies the
    /// WAL's pages into the file, fsyncs the file and drops its pages from the kernel's page
    /// cache (``PageCache``, as the rollback-journal path does); meanwhile the writer commits its
    /// next run. A checkpoint only moves committed pages, and one killed half-way is done again by
    /// the next.
    ///
    /// Meanwhile the writer commits with `synchronous=NORMAL`: a commit is in the WAL, in the
    /// kernel's page cache, when it returns, and survives the process being killed, but it does
    /// not wait for the disk. The WAL reaches the disk at each checkpoint, which fsyncs it before
    /// copying it, and when the runs end: ``finish(path:)`` gives the writer `synchronous=FULL`
    /// back and fsyncs it before the ingest returns, so that what the ingest acknowledges
    /// survives a power cut. A power cut before then can only undo the newest runs, whole and in
    /// order; their files, still there, are ingested again by the next ingest, and the runs
    /// before are skipped as replays. Each of the 1M-tap day's 995 one-file runs had waited for
    /// its own fsync (0.8 ms median under `strace -T`), and the day took 2.29–2.38 s instead of
    /// 2.43–3.08 s (docs/performance.md, "Small runs synced once").
    ///
    /// While it lives, the writer's WAL hook counts the WAL's frames after each commit (and
    /// replaces SQLite's own checkpoints); a commit that leaves ``framesMin`` or more starts a
    /// passive checkpoint unless one is under way. SQLite starts the WAL over at the writer's
    /// next commit once a checkpoint copied all of it. A checkpoint that ends while the writer
    /// commits has not, and the WAL grows; at ``framesMax`` the writer waits for the checkpoint
    /// under way and finishes the copy itself, so that its next commit starts the WAL over. A
    /// reader holding old pages stops both, as it stops SQLite's own checkpoints.
    final class Checkpointer: Sendable {
        /// The WAL's frames at which a checkpoint is due: SQLite's own default.
        static let framesMin = 1_000
        /// The WAL's frames at which the writer waits for the checkpoints to catch up (64 MiB
        /// with the clearing database's 16 KiB pages).
        static let framesMax = 4 * framesMin

        private let writer: DatabaseQueue
        private let connection: DatabaseQueue
        /// The WAL's frames after the writer's last commit, from its WAL hook.
        private let frames = Atomic<Int>(0)
        /// Whether a checkpoint is queued or under way.
        private let running = Atomic<Bool>(false)
        private let pages: Mutex<PageCache?>

        /// Checkpoints for `writer`'s file at `path` on a new connection; `nil` (SQLite's own
        /// checkpoints stay) when the file cannot be opened again.
        init?(writer: DatabaseQueue, path: String) {
            guard let connection = try? SQLiteFile.open(path, refusing: nil) else { return nil }
            self.writer = writer
            self.connection = connection
            pages = Mutex(PageCache(path))
            let context = Unmanaged.passUnretained(self).toOpaque()
            writer.inDatabase { db in
                // Stays until finish() puts SQLite's own hook back; self lives until then.
                _ = sqlite3_wal_hook(db.sqliteConnection, { context, _, _, frames in
                    Unmanaged<Checkpointer>.fromOpaque(context!).takeUnretainedValue().frames.store(Int(frames), ordering: .relaxed)
                    return SQLITE_OK
                }, context)
                // Failing, it stays FULL: each commit waits for the disk, as always.
                try? db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }

        /// After each commit of the writer, on its thread: starts a due checkpoint without
        /// waiting for it, or catches up when the WAL is at ``framesMax``.
        func committed() {
            let frames = frames.load(ordering: .relaxed)
            guard frames >= Self.framesMin else { return }
            if frames >= Self.framesMax {
                connection.inDatabase { _ in }
                writer.inDatabase { db in checkpoint(db) }
            } else if !running.exchange(true, ordering: .acquiring) {
                connection.asyncWriteWithoutTransaction { [self] db in
                    defer { running.store(false, ordering: .releasing) }
                    checkpoint(db)
                }
            }
        }

        /// A passive checkpoint through `db`, then the file's pages dropped. Busy (another
        /// connection's checkpoint, or a reader): the next commit asks again.
        private func checkpoint(_ db: Database) {
            guard (try? db.checkpoint(.passive)) != nil else { return }
            pages.withLock { $0?.drop() }
        }

        /// Waits for a checkpoint under way, gives the writer SQLite's own checkpoints and
        /// `synchronous=FULL` back, then fsyncs the WAL: every run committed since ``init`` is on
        /// disk when it returns. The fsync goes through SQLite's own file object of the writer's
        /// WAL (`sqlite3_file_control` with `SQLITE_FCNTL_JOURNAL_POINTER`, then its `xSync`), as
        /// a commit with `synchronous=FULL` does: never a descriptor of its own, whose closing
        /// would drop SQLite's locks on the file (``PageCache``).
        ///
        /// - Throws: ``StorageError/unwritable(path:reason:)`` when the WAL cannot be fsynced:
        ///   the newest runs may not be on disk, and the ingest must not report them done (run
        ///   again, it finds them stored or ingests them again).
        func finish(path: String) throws(StorageError) {
            connection.inDatabase { _ in }
            // nil: the writer has no WAL open to fsync.
            let synced = try StorageFailure.run(path, "ending an ingest's runs") {
                try writer.inDatabase { db -> Int32? in
                    try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.framesMin)")
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                    var wal: UnsafeMutablePointer<sqlite3_file>?
                    let found = withUnsafeMutablePointer(to: &wal) {
                        sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_JOURNAL_POINTER, $0)
                    }
                    guard found == SQLITE_OK, let wal, let sync = wal.pointee.pMethods?.pointee.xSync else { return nil }
                    return sync(wal, SQLITE_SYNC_NORMAL)
                }
            }
            guard let synced else {
                throw StorageError.unwritable(path: path + "-wal", reason: "no WAL open to fsync after the ingest's runs")
            }
            guard synced == SQLITE_OK else {
                throw StorageError.unwritable(path: path + "-wal", reason: "the WAL could not be fsynced (SQLite code \(synced))")
            }
        }
    }
}
