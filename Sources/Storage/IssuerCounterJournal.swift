import GRDB
public import OneCardCore
public import Terminal
public import UploadBatch

extension IssuerDatabase {
    /// Journals a record the service counter built (``ServiceCounter``) and applies its
    /// registry effect in the same transaction: `issue` registers the card with its deposit,
    /// `load` requires an active card, `refund` and `replacement` close the card once only.
    /// The record is journaled exactly as given (a replacement keeps the new card's load TAC).
    ///
    /// - Throws: ``StorageError`` (unknown card, card already issued, refunded or replaced, a
    ///   new card that already received a balance).
    public func journalCounterRecord(_ record: BatchRecord) throws(StorageError) {
        if record.kind == .load { return try recordLoad(record) }
        try journal.write("journaling a \(record.kind) record") { db in
            try self.journal.checkRecord(db, record)
            try self.applyCounterRecord(db, record)
            try SQLiteJournal.insert(db, record, path: self.path)
        }
    }

    /// The registry effect of an issue, refund or replacement record, inside `db`'s transaction:
    /// the one place the once-only rules are applied.
    func applyCounterRecord(_ db: Database, _ record: BatchRecord) throws {
        switch record.kind {
        case .issue:
            if try Self.cardExists(db, record.serial) { throw StorageError.cardAlreadyIssued(path: path, card: record.serial.masked) }
            try db.execute(
                sql: "INSERT INTO issuer_card (serial, card_type, deposit_fen, issued_bcd) VALUES (?, ?, ?, ?)",
                arguments: [SQLiteJournal.int(record.serial), Int64(record.cardType), Int64(record.depositFen), Int64(bitPattern: record.dateTimeBCD)])
        case .refund:
            let card = try requireCard(db, record.serial, operation: "refund", allowed: [.active, .blocked])
            try closeCard(db, card, kind: "refund", balanceFen: record.amountFen, to: nil, record: record)
        case .replacement:
            guard record.relatedSerial != record.serial else {
                throw StorageError.replacementInvalid(path: path, reason: "the old and new card are the same")
            }
            let card = try requireCard(db, record.serial, operation: "replacement", allowed: [.active, .blocked])
            _ = try requireCard(db, record.relatedSerial, operation: "receiving a replacement balance", allowed: [.active])
            let taken = try Bool.fetchOne(
                db, sql: "SELECT 1 FROM issuer_closure WHERE to_serial = ?", arguments: [SQLiteJournal.int(record.relatedSerial)]) ?? false
            if taken { throw StorageError.replacementInvalid(path: path, reason: "the new card already received a replaced card's balance") }
            try closeCard(db, card, kind: "replacement", balanceFen: record.amountFen, to: record.relatedSerial, record: record)
        default:
            throw StorageError.replacementInvalid(path: path, reason: "a \(record.kind) record is not a counter record")
        }
    }

    private static func cardExists(_ db: Database, _ serial: CardSerial) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM issuer_card WHERE serial = ?", arguments: [SQLiteJournal.int(serial)]) ?? false
    }
}

/// The service counter's ``TerminalJournal`` over the issuer database: what the counter
/// journals also updates the card registry, in one transaction.
public final class IssuerCounterJournal: TerminalJournal {
    /// The issuer database.
    public let database: IssuerDatabase

    /// Wraps an issuer database.
    public init(_ database: IssuerDatabase) { self.database = database }

    public func nextSequence() throws -> TerminalSequence { try database.journal.nextSequence() }
    public func recordGrey(_ record: BatchRecord) throws { try database.journal.recordGrey(record) }
    public func complete(_ record: BatchRecord) throws { try database.journal.complete(record) }
    public func void(serial: CardSerial, counter: UInt16) throws { try database.journal.void(serial: serial, counter: counter) }
    public func grey(for serial: CardSerial) throws -> BatchRecord? { try database.journal.grey(for: serial) }
    public func append(_ record: BatchRecord) throws { try database.journalCounterRecord(record) }
}
