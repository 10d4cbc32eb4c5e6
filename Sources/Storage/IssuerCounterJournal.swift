import Foundation
import GRDB
public import OneCardCore
public import Terminal
public import UploadBatch

extension IssuerDatabase {
    /// Journals a record the service counter built (``ServiceCounter``) and applies its
    /// registry effect: `issue` registers the card with its deposit, `load` requires an active
    /// card, `refund` and `replacement` close the card once only. The record is journaled exactly
    /// as given (a replacement keeps the new card's load TAC). Steps, each repeatable: the
    /// registry effect is checked (and rolled back), the record journaled once, the registry
    /// changed (with the card's pending operation removed when `finishing`).
    ///
    /// - Parameter finishing: the record finishes the card's pending operation
    ///   (``beginCounterRecord(_:)``), which must be that record's.
    /// - Throws: ``StorageError`` (unknown card, card already issued, refunded or replaced, a
    ///   new card that already received a balance; no such pending operation).
    public func journalCounterRecord(_ record: BatchRecord, finishing: Bool = false) throws(StorageError) {
        let effect = { (db: Database) throws -> Void in
            if finishing {
                guard let data = try Data.fetchOne(db, sql: "SELECT record FROM issuer_pending WHERE serial = ?", arguments: [SQLiteJournal.int(record.serial)]),
                      let pending = try? SQLiteJournal.decode(data, path: self.path),
                      pending.kind == record.kind, pending.terminal == record.terminal, pending.sequence == record.sequence,
                      pending.relatedSerial == record.relatedSerial
                else {
                    throw StorageError.replacementInvalid(path: self.path, reason: "no pending \(record.kind) of card \(record.serial.masked) with that sequence to finish")
                }
                try db.execute(sql: "DELETE FROM issuer_pending WHERE serial = ?", arguments: [SQLiteJournal.int(record.serial)])
            }
            if record.kind == .load {
                _ = try self.requireCard(db, record.serial, operation: "load", allowed: [.active])
            } else {
                try self.applyCounterRecord(db, record)
            }
        }
        try check("checking a \(record.kind) record", effect)
        try journal.appendOnce(record)
        try write("registering a \(record.kind) record", effect)
    }

    /// Journals a counter operation as pending before the card is credited or blocked; refused if
    /// the card has one pending already (at any counter: finish or abandon it first) or its
    /// registry state forbids it.
    public func beginCounterRecord(_ record: BatchRecord) throws(StorageError) {
        try write("journaling a pending \(record.kind)") { db in
            // A card that a pending replacement is moving a balance onto is reserved for it.
            for data in try Data.fetchAll(db, sql: "SELECT record FROM issuer_pending") {
                let p = try SQLiteJournal.decode(data, path: self.path)
                if p.kind == .replacement, p.relatedSerial == record.serial || (record.kind == .replacement && p.relatedSerial == record.relatedSerial) {
                    throw StorageError.replacementInvalid(
                        path: self.path, reason: "card \(p.relatedSerial.masked) is receiving card \(p.serial.masked)'s balance (a replacement not yet finished): finish it first")
                }
            }
            switch record.kind {
            case .load: _ = try self.requireCard(db, record.serial, operation: "load", allowed: [.active])
            case .refund: _ = try self.requireCard(db, record.serial, operation: "refund", allowed: [.active, .blocked])
            case .replacement:
                _ = try self.requireCard(db, record.serial, operation: "replacement", allowed: [.active, .blocked])
                _ = try self.requireCard(db, record.relatedSerial, operation: "receiving a replacement balance", allowed: [.active])
                let taken = try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM issuer_closure WHERE to_serial = ?", arguments: [SQLiteJournal.int(record.relatedSerial)]) ?? false
                if taken { throw StorageError.replacementInvalid(path: self.path, reason: "the new card already received a replaced card's balance") }
            default: throw StorageError.replacementInvalid(path: self.path, reason: "a \(record.kind) is not a pending counter operation")
            }
            do {
                try db.execute(sql: "INSERT INTO issuer_pending (serial, record) VALUES (?, ?)",
                               arguments: [SQLiteJournal.int(record.serial), SQLiteJournal.blob(record)])
            } catch let e as DatabaseError where e.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw StorageError.greyPending(path: self.path, card: record.serial.masked, counter: record.counter)
            }
        }
    }

    /// The card's pending counter operation, if any (begun at any counter).
    public func pendingCounterRecord(_ serial: CardSerial) throws(StorageError) -> BatchRecord? {
        try read("reading a pending counter operation") { db in
            try Data.fetchOne(db, sql: "SELECT record FROM issuer_pending WHERE serial = ?", arguments: [SQLiteJournal.int(serial)])
                .map { try SQLiteJournal.decode($0, path: self.path) }
        }
    }

    /// Drops the card's pending counter operation (the card proved it never happened).
    public func abandonCounterRecord(_ serial: CardSerial) throws(StorageError) {
        try write("abandoning a pending counter operation") { db in
            try db.execute(sql: "DELETE FROM issuer_pending WHERE serial = ?", arguments: [SQLiteJournal.int(serial)])
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
    public func begin(_ pending: BatchRecord) throws { try database.beginCounterRecord(pending) }
    public func pending(for serial: CardSerial) throws -> BatchRecord? { try database.pendingCounterRecord(serial) }
    public func finish(_ record: BatchRecord) throws { try database.journalCounterRecord(record, finishing: true) }
    public func abandon(serial: CardSerial) throws { try database.abandonCounterRecord(serial) }
}
