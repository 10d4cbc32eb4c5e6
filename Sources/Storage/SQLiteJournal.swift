import Foundation
import GRDB
public import OneCardCore
public import Terminal
public import UploadBatch

/// A terminal's journal in one SQLite file (docs/formats.md, "Terminal journal (SQLite)").
///
/// Durability: the file runs in WAL mode with `synchronous=FULL`, so every commit fsyncs the
/// write-ahead log before it returns. A terminal shows "OK" to the rider only after the
/// completing commit returns; with `synchronous=NORMAL` a power cut could drop the last
/// commits of a WAL database, i.e. a fare the rider was told was paid. The cost is one fsync
/// per transaction, measured in docs/storage.md.
///
/// Every method runs its own transaction; the instance is safe to share between threads
/// (GRDB's `DatabaseQueue` serializes access). One process per journal file.
public final class SQLiteJournal: TerminalJournal, Sendable {
    /// The journal file.
    public let path: String
    /// The terminal this journal belongs to (stored in the file on first use).
    public let terminal: TerminalID
    /// The operator the terminal belongs to (written into batch headers).
    public let operatorID: UInt16
    let queue: DatabaseQueue

    /// The most records one export puts into a batch; the rest wait for the next export.
    public static let exportRecordsMax = 200_000

    /// Opens (creating if needed) the journal of `terminal`.
    ///
    /// A new file records `terminal` and `operatorID`; an existing one must carry the same.
    /// - Throws: ``StorageError/wrongTerminal(path:journal:requested:)`` for another terminal's
    ///   journal, ``StorageError/unwritable(path:reason:)`` when the file or directory cannot be
    ///   written, ``StorageError/notAJournal(path:reason:)`` for a foreign file.
    public convenience init(path: String, terminal: TerminalID, operatorID: UInt16) throws(StorageError) {
        try self.init(path: path, identity: (terminal, operatorID), migrations: JournalSchema.register)
    }

    /// Opens an existing journal, taking the terminal and operator from the file (for export).
    ///
    /// - Throws: ``StorageError/missing(path:)`` if there is no file, and as ``init(path:terminal:operatorID:)``.
    public convenience init(existing path: String) throws(StorageError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .missing(path: path) }
        try self.init(path: path, identity: nil, migrations: JournalSchema.register)
    }

    /// Opens `path`, applies `migrations`, and checks or records the identity.
    init(path: String, identity: (TerminalID, UInt16)?, migrations: (inout DatabaseMigrator) -> Void) throws(StorageError) {
        try Self.checkWritable(path)
        let queue = try StorageFailure.run(path, "opening the journal") { try SQLiteFile.open(path, refusing: nil) }
        var migrator = DatabaseMigrator()
        migrations(&migrator)
        try Self.migrate(migrator, queue, path)
        let (t, o) = try Self.identity(queue, path: path, requested: identity)
        self.path = path
        self.queue = queue
        self.terminal = t
        self.operatorID = o
    }

    private static func migrate(_ migrator: DatabaseMigrator, _ queue: DatabaseQueue, _ path: String) throws(StorageError) {
        try StorageFailure.run(path, "creating the journal schema") {
            try migrator.migrate(queue)
        }
    }

    private static func identity(
        _ queue: DatabaseQueue, path: String, requested: (TerminalID, UInt16)?
    ) throws(StorageError) -> (TerminalID, UInt16) {
        try StorageFailure.run(path, "reading the journal's terminal") {
            try queue.write { db -> (TerminalID, UInt16) in
                let row = try Row.fetchOne(db, sql: "SELECT terminal, operator FROM journal_identity WHERE id = 1")
                guard let row else {
                    guard let (t, o) = requested else { throw StorageError.notAJournal(path: path, reason: "no terminal recorded") }
                    try db.execute(
                        sql: "INSERT INTO journal_identity (id, terminal, operator) VALUES (1, ?, ?)",
                        arguments: [Int64(t.rawValue), Int64(o)])
                    return (t, o)
                }
                let stored: Int64 = row["terminal"]
                let op: Int64 = row["operator"]
                guard let t = TerminalID(rawValue: UInt64(stored)), let o = UInt16(exactly: op) else {
                    throw StorageError.notAJournal(path: path, reason: "corrupt terminal identity")
                }
                if let (rt, ro) = requested {
                    guard rt == t else { throw StorageError.wrongTerminal(path: path, journal: t, requested: rt) }
                    guard ro == o else { throw StorageError.wrongOperator(path: path, journal: o, requested: ro) }
                }
                return (t, o)
            }
        }
    }

    /// Refuses a journal that is marked read-only before SQLite opens it.
    ///
    /// SQLite reports a read-only file only at the first write, and a terminal running as root
    /// would ignore the permission bits altogether: a journal (or its directory) whose mode has
    /// no write bit is treated as archived and refused, whoever runs the terminal.
    static func checkWritable(_ path: String) throws(StorageError) {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var st = stat()
        guard stat(dir, &st) == 0 else { throw .unwritable(path: path, reason: "directory \(dir): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .unwritable(path: path, reason: "\(dir) is not a directory") }
        if st.st_mode & 0o222 == 0 || access(dir, W_OK) != 0 { throw .unwritable(path: path, reason: "directory \(dir) is read-only") }
        guard stat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .unwritable(path: path, reason: "not a regular file") }
        if st.st_mode & 0o222 == 0 || access(path, W_OK) != 0 { throw .unwritable(path: path, reason: "the file is read-only") }
    }

    // MARK: TerminalJournal

    /// Takes the next terminal sequence number in its own committed transaction, so a crash
    /// after this returns can never hand the same number out again (a number may be skipped).
    ///
    /// - Throws: ``StorageError/sequenceExhausted(path:counter:)`` at 2³²−1, or a database error.
    public func nextSequence() throws(StorageError) -> TerminalSequence {
        try write("taking a terminal sequence") { db in
            TerminalSequence(rawValue: try Self.bump(db, "terminal_sequence", path: self.path))
        }
    }

    /// Journals a completed counter record once: the same record again (a step repeated after a
    /// crash) is no change; another record with its sequence is refused.
    ///
    /// - Throws: ``StorageError/sequenceInvalid(path:sequence:reason:)``.
    public func appendOnce(_ record: BatchRecord) throws(StorageError) {
        try write("journaling a \(record.kind) record") { db in
            try self.checkRecord(db, record)
            if let existing = try Data.fetchOne(
                db, sql: "SELECT record FROM journal_record WHERE sequence = ? AND kind <> ?",
                arguments: [Int64(record.sequence), Int64(RecordKind.grey.rawValue)]) {
                guard existing == Self.blob(record) else {
                    throw StorageError.sequenceInvalid(path: self.path, sequence: record.sequence, reason: "is already used by another record")
                }
                return
            }
            try Self.insert(db, record, path: self.path)
        }
    }

    /// Takes note of a sequence the terminal's PSAM handed out: records carrying it (and any
    /// below it) are accepted from now on. Committed before it returns.
    public func adopt(_ sequence: TerminalSequence) throws(StorageError) {
        try write("noting the PSAM's terminal sequence") { db in
            try db.execute(
                sql: "UPDATE journal_counter SET value = ?1 WHERE name = 'terminal_sequence' AND value < ?1", arguments: [Int64(sequence.rawValue)])
        }
    }

    /// Journals a purchase about to be sent to the card as grey, durably.
    ///
    /// - Throws: ``StorageError/greyPending(path:card:counter:)`` if the card already has a grey
    ///   record for this counter; ``StorageError/foreignRecord(path:journal:record:)``.
    public func recordGrey(_ record: BatchRecord) throws(StorageError) {
        precondition(record.kind == .grey, "recordGrey of a \(record.kind) record")
        try write("journaling a grey record") { db in
            try self.checkRecord(db, record)
            let exists = try Bool.fetchOne(
                db, sql: "SELECT 1 FROM journal_grey WHERE serial = ? AND counter = ?",
                arguments: [Self.int(record.serial), Int64(record.counter)]) ?? false
            if exists { throw StorageError.greyPending(path: self.path, card: record.serial.masked, counter: record.counter) }
            try db.execute(
                sql: "INSERT INTO journal_grey (serial, counter, sequence, record) VALUES (?, ?, ?, ?)",
                arguments: [Self.int(record.serial), Int64(record.counter), Int64(record.sequence), Self.blob(record)])
        }
    }

    /// Replaces the card's grey record for `record.counter` with the completed purchase, in one
    /// durable transaction.
    ///
    /// - Throws: ``StorageError/noGreyRecord(path:card:counter:)`` if there is no grey record to
    ///   complete (so a completion can never be journaled twice).
    public func complete(_ record: BatchRecord) throws(StorageError) {
        precondition(record.kind == .purchase, "complete with a \(record.kind) record")
        try write("completing a purchase") { db in
            try self.checkRecord(db, record)
            try db.execute(
                sql: "DELETE FROM journal_grey WHERE serial = ? AND counter = ?",
                arguments: [Self.int(record.serial), Int64(record.counter)])
            guard db.changesCount == 1 else {
                throw StorageError.noGreyRecord(path: self.path, card: record.serial.masked, counter: record.counter)
            }
            try Self.insert(db, record, path: self.path)
        }
    }

    /// Drops the card's grey record for `counter`: the card proved the debit never happened.
    /// Voiding a record that is not there does nothing (a retried void after a crash is harmless).
    public func void(serial: CardSerial, counter: UInt16) throws(StorageError) {
        try write("voiding a grey record") { db in
            try db.execute(
                sql: "DELETE FROM journal_grey WHERE serial = ? AND counter = ?",
                arguments: [Self.int(serial), Int64(counter)])
        }
    }

    /// The card's most recent unresolved grey record, if any.
    public func grey(for serial: CardSerial) throws(StorageError) -> BatchRecord? {
        try read("reading grey records") { db in
            let blob = try Data.fetchOne(
                db, sql: "SELECT record FROM journal_grey WHERE serial = ? ORDER BY id DESC LIMIT 1", arguments: [Self.int(serial)])
            return try blob.map { try Self.decode($0, path: self.path) }
        }
    }

    /// Journals a completed load, issue, refund or replacement, durably.
    ///
    /// - Throws: ``StorageError/sequenceInvalid(path:sequence:reason:)`` for a sequence not taken
    ///   from this journal or already used; ``StorageError/foreignRecord(path:journal:record:)``.
    public func append(_ record: BatchRecord) throws(StorageError) {
        precondition(record.kind != .grey && record.kind != .purchase, "append of a \(record.kind) record: use recordGrey/complete")
        try write("journaling a \(record.kind) record") { db in
            try self.checkRecord(db, record)
            try Self.insert(db, record, path: self.path)
        }
    }
}
