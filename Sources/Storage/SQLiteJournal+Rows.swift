import Foundation
import GRDB
public import OneCardCore
public import UploadBatch

extension SQLiteJournal {
    /// Every journaled record (completed purchases, loads, issues, refunds, replacements, and
    /// grey snapshots taken by `--include-grey` exports), in journal order, at most `limit`.
    public func records(limit: Int = SQLiteJournal.exportRecordsMax) throws(StorageError) -> [BatchRecord] {
        try read("reading records") { db in
            try Data.fetchAll(db, sql: "SELECT record FROM journal_record ORDER BY id LIMIT ?", arguments: [limit])
                .map { try Self.decode($0, path: self.path) }
        }
    }

    /// The unresolved grey records, oldest first, at most `limit`.
    public func unresolvedGreys(limit: Int = SQLiteJournal.exportRecordsMax) throws(StorageError) -> [BatchRecord] {
        try read("reading grey records") { db in
            try Data.fetchAll(db, sql: "SELECT record FROM journal_grey ORDER BY id LIMIT ?", arguments: [limit])
                .map { try Self.decode($0, path: self.path) }
        }
    }

    /// The last terminal sequence handed out (0 before the first).
    public func lastSequence() throws(StorageError) -> TerminalSequence {
        try read("reading the terminal sequence") { db in
            TerminalSequence(rawValue: try Self.counter(db, "terminal_sequence"))
        }
    }

    /// Runs SQLite's `PRAGMA integrity_check`; returns the problems found (empty when sound).
    public func integrityProblems() throws(StorageError) -> [String] {
        try read("checking integrity") { db in
            try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
        }
    }

    // MARK: Transactions

    /// Runs `body` in one IMMEDIATE write transaction (the write lock is taken up front, so a
    /// read-then-write never fails half-way on a lock upgrade), committed and fsynced before return.
    func write<T>(_ operation: String, _ body: (Database) throws -> T) throws(StorageError) -> T {
        try StorageFailure.run(path, operation) {
            try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                guard let result else { preconditionFailure("\(operation): committed transaction produced no result") }
                return result
            }
        }
    }

    /// Runs `body` in a read-only access.
    func read<T>(_ operation: String, _ body: (Database) throws -> T) throws(StorageError) -> T {
        try StorageFailure.run(path, operation) { try queue.snapshotRead(body) }
    }

    // MARK: Rows (shared with IssuerDatabase, inside its transactions)

    /// Increments a counter and returns the new value.
    static func bump(_ db: Database, _ name: String, path: String) throws -> UInt32 {
        let value = try counter(db, name)
        guard value < UInt32.max else { throw StorageError.sequenceExhausted(path: path, counter: name.replacingOccurrences(of: "_", with: " ")) }
        try db.execute(sql: "UPDATE journal_counter SET value = ? WHERE name = ?", arguments: [Int64(value) + 1, name])
        return value + 1
    }

    /// A counter's current value.
    static func counter(_ db: Database, _ name: String) throws -> UInt32 {
        let v = try Int64.fetchOne(db, sql: "SELECT value FROM journal_counter WHERE name = ?", arguments: [name]) ?? 0
        return UInt32(clamping: v)
    }

    /// Checks a record belongs here and carries a sequence this journal handed out.
    func checkRecord(_ db: Database, _ record: BatchRecord) throws {
        guard record.terminal == terminal else { throw StorageError.foreignRecord(path: path, journal: terminal, record: record.terminal) }
        let last = try Self.counter(db, "terminal_sequence")
        guard record.sequence >= 1, record.sequence <= last else {
            throw StorageError.sequenceInvalid(path: path, sequence: record.sequence, reason: "was never handed out by this journal")
        }
    }

    /// Inserts a completed (or grey snapshot) record.
    static func insert(_ db: Database, _ record: BatchRecord, path: String, batch: UInt32? = nil) throws {
        do {
            try db.execute(
                sql: """
                    INSERT INTO journal_record (kind, serial, counter, sequence, amount_fen, deposit_fen, record, batch)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Int64(record.kind.rawValue), int(record.serial), Int64(record.counter), Int64(record.sequence),
                    Int64(record.amountFen), Int64(record.depositFen), blob(record), batch.map { Int64($0) },
                ])
        } catch let e as DatabaseError where e.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw StorageError.sequenceInvalid(path: path, sequence: record.sequence, reason: "is already used by another record")
        }
    }

    /// A serial as SQLite stores it: the signed bit pattern.
    static func int(_ serial: CardSerial) -> Int64 { Int64(bitPattern: serial.rawValue) }

    /// The record's 128-byte upload encoding.
    static func blob(_ record: BatchRecord) -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(BatchRecord.byteCount)
        record.encode(into: &bytes)
        return Data(bytes)
    }

    /// Decodes a stored record; a malformed one means the file was damaged outside SQLite.
    static func decode(_ data: Data, path: String) throws(StorageError) -> BatchRecord {
        let record = data.count == BatchRecord.byteCount ? data.withUnsafeBytes { BatchRecord.decode($0) } : nil
        guard let record else { throw .notAJournal(path: path, reason: "a stored record does not decode") }
        return record
    }
}
