import Foundation
import GRDB
import OneCardCrypto
public import OneCardCore
public import UploadBatch

/// Where a registered card stands. Moves only forward: active → blocked, and active or
/// blocked → refunded or replaced (each once).
public enum IssuedCardStatus: String, Sendable, Equatable, CaseIterable {
    /// In use.
    case active
    /// Returned: deposit and balance paid back.
    case refunded
    /// Replaced by another card, which received its balance.
    case replaced
    /// Hotlisted (lost or stolen); may still be refunded or replaced.
    case blocked
}

/// A card in the issuer's registry.
public struct IssuedCard: Sendable, Equatable {
    /// The card.
    public let serial: CardSerial
    /// Its cardholder type.
    public let cardType: CardType
    /// Where it stands.
    public let status: IssuedCardStatus
    /// The deposit taken at issue, fen.
    public let depositFen: UInt32
    /// When it was issued, BCD in the low 56 bits.
    public let issuedBCD: UInt64
    /// The card that replaced it, if any.
    public let replacedBy: CardSerial?
}

/// The city's issuer registry — one SQLite file for every service counter and top-up agent, so a
/// card issued at one counter is known at all — used by one counter, whose records go to its own
/// ``SQLiteJournal`` (exported like any terminal's).
///
/// A registry change and its journal record live in two files, so every operation runs in
/// steps that can each be repeated: the registry's preconditions are checked, the record is
/// journaled (once: a record already journaled with its sequence is not journaled again), then
/// the registry changes. A counter operation that touches the card is journaled as pending in
/// the registry first (``beginCounterRecord(_:)``), so a crash between the steps is finished on
/// the card's next presentation, at any counter.
///
/// Once-only rules are enforced by the schema (a closure row per card, primary key on the
/// card, unique replacement target) and by a status trigger, not only by this code.
public final class IssuerDatabase: Sendable {
    /// This counter's journal (export it like any terminal's).
    public let journal: SQLiteJournal
    /// The registry file.
    public let path: String
    let registry: DatabaseQueue

    /// Opens (creating if needed) the city's issuer registry at `path`, for the counter
    /// `counterTerminal` whose journal is at `journal`.
    ///
    /// - Throws: as ``SQLiteJournal/init(path:terminal:operatorID:)``, or a registry error.
    public init(path: String, journal journalPath: String, counterTerminal: TerminalID, operatorID: UInt16) throws(StorageError) {
        journal = try SQLiteJournal(path: journalPath, terminal: counterTerminal, operatorID: operatorID)
        let queue = try StorageFailure.run(path, "opening the issuer registry") {
            try SQLiteFile.open(path, refusing: "not an issuer registry")
        }
        var migrator = DatabaseMigrator()
        IssuerSchema.register(in: &migrator)
        try StorageFailure.run(path, "creating the issuer registry") {
            try migrator.migrate(queue)
        }
        self.path = path
        registry = queue
    }

    func write<T>(_ operation: String, _ body: (Database) throws -> T) throws(StorageError) -> T {
        try StorageFailure.run(path, operation) { try registry.write(body) }
    }

    func read<T>(_ operation: String, _ body: (Database) throws -> T) throws(StorageError) -> T {
        try StorageFailure.run(path, operation) { try registry.snapshotRead(body) }
    }

    /// Checks `body`'s registry change without making it (it runs and is rolled back).
    func check(_ operation: String, _ body: (Database) throws -> Void) throws(StorageError) {
        try StorageFailure.run(path, operation) {
            try registry.inTransaction(.immediate) { db in
                try body(db)
                return .rollback
            }
        }
    }

    /// The registered card, or `nil`.
    public func card(_ serial: CardSerial) throws(StorageError) -> IssuedCard? {
        try read("reading a card") { db in try Self.fetchCard(db, path: self.path, serial) }
    }

    /// Registers a newly sold card with its deposit and journals an `issue` record.
    ///
    /// - Throws: ``StorageError/cardAlreadyIssued(path:card:)``.
    public func issue(serial: CardSerial, cardType: CardType, depositFen: UInt32, at: BCDDateTime) throws(StorageError) -> BatchRecord {
        try journalNew(.issue, serial: serial, cardType: cardType.rawValue, at: at, depositFen: depositFen)
    }

    /// Journals a completed load (with its TAC) of an active registered card.
    ///
    /// - Throws: ``StorageError/cardUnknown(path:card:)``, ``StorageError/cardNotAllowed(path:card:status:operation:)``.
    public func recordLoad(_ record: BatchRecord) throws(StorageError) {
        precondition(record.kind == .load, "recordLoad of a \(record.kind) record")
        try journalCounterRecord(record)
    }

    /// Blocks (hotlists) an active card in the registry.
    public func block(serial: CardSerial) throws(StorageError) {
        try write("blocking a card") { db in
            _ = try self.requireCard(db, serial, operation: "block", allowed: [.active])
            try db.execute(sql: "UPDATE issuer_card SET status = 'blocked' WHERE serial = ?", arguments: [SQLiteJournal.int(serial)])
        }
    }

    /// Refunds a card once: pays back `balanceFen` (read from the card, whose application the
    /// counter has blocked) and the deposit, and journals a `refund` record.
    ///
    /// - Throws: ``StorageError/cardNotAllowed(path:card:status:operation:)`` if the card was
    ///   already refunded or replaced.
    public func refund(serial: CardSerial, balanceFen: UInt32, at: BCDDateTime) throws(StorageError) -> BatchRecord {
        let deposit = try card(serial)?.depositFen ?? 0
        return try journalNew(.refund, serial: serial, cardType: nil, at: at, amountFen: balanceFen, depositFen: deposit)
    }

    /// Replaces a card once: the old card is closed and its `balanceFen` moves to `new` (an
    /// active registered card that has not received another card's balance), exactly once.
    /// Journals a `replacement` record (serial old, related serial new, amount the balance).
    /// The record carries no TAC: a balance that reached the new card by a load is journaled
    /// with that load's TAC by ``journalCounterRecord(_:finishing:)`` (``Terminal/ServiceCounter``).
    ///
    /// - Throws: ``StorageError/cardNotAllowed(path:card:status:operation:)``,
    ///   ``StorageError/replacementInvalid(path:reason:)``.
    public func replace(old: CardSerial, new: CardSerial, balanceFen: UInt32, at: BCDDateTime) throws(StorageError) -> BatchRecord {
        try journalNew(.replacement, serial: old, cardType: nil, at: at, amountFen: balanceFen, related: new)
    }

    /// Builds a counter record with this counter's next sequence and journals it with its
    /// registry effect.
    private func journalNew(
        _ kind: RecordKind, serial: CardSerial, cardType: UInt8?, at: BCDDateTime, amountFen: UInt32 = 0, depositFen: UInt32 = 0,
        related: CardSerial = CardSerial(rawValue: 0)
    ) throws(StorageError) -> BatchRecord {
        var type = cardType ?? 0
        if cardType == nil, let known = try card(serial) { type = known.cardType.rawValue }
        let record = BatchRecord(
            kind: kind, transactionType: 0, serial: serial, cardType: type, counter: 0, amountFen: amountFen,
            balanceBeforeFen: amountFen, balanceAfterFen: 0, terminal: journal.terminal,
            sequence: try journal.nextSequence().rawValue, dateTimeBCD: TripleDESPurse.packedDateTime(at), tac: 0,
            relatedSerial: related, depositFen: depositFen)
        try journalCounterRecord(record)
        return record
    }
}

extension IssuerDatabase {
    /// Writes the closure row (the once-only rule) and moves the card's status.
    func closeCard(_ db: Database, _ card: IssuedCard, kind: String, balanceFen: UInt32, to: CardSerial?, record: BatchRecord) throws {
        let status = to == nil ? IssuedCardStatus.refunded : .replaced
        try db.execute(
            sql: """
                INSERT INTO issuer_closure (serial, kind, balance_fen, deposit_fen, to_serial, terminal, sequence, at_bcd)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                SQLiteJournal.int(card.serial), kind, Int64(balanceFen), Int64(record.depositFen),
                to.map { SQLiteJournal.int($0) }, Int64(record.terminal.rawValue), Int64(record.sequence), Int64(bitPattern: record.dateTimeBCD),
            ])
        try db.execute(
            sql: "UPDATE issuer_card SET status = ?, replaced_by = ? WHERE serial = ?",
            arguments: [status.rawValue, to.map { SQLiteJournal.int($0) }, SQLiteJournal.int(card.serial)])
    }

    /// The card, which must exist and be in one of `allowed` states.
    func requireCard(_ db: Database, _ serial: CardSerial, operation: String, allowed: Set<IssuedCardStatus>) throws -> IssuedCard {
        guard let card = try Self.fetchCard(db, path: self.path, serial) else { throw StorageError.cardUnknown(path: path, card: serial.masked) }
        guard allowed.contains(card.status) else {
            throw StorageError.cardNotAllowed(path: path, card: serial.masked, status: card.status.rawValue, operation: operation)
        }
        return card
    }

    private static func fetchCard(_ db: Database, path: String, _ serial: CardSerial) throws -> IssuedCard? {
        guard let row = try Row.fetchOne(
            db, sql: "SELECT card_type, status, deposit_fen, issued_bcd, replaced_by FROM issuer_card WHERE serial = ?",
            arguments: [SQLiteJournal.int(serial)])
        else { return nil }
        let type: Int64 = row["card_type"]
        let status: String = row["status"]
        let deposit: Int64 = row["deposit_fen"]
        let issued: Int64 = row["issued_bcd"]
        let replacedBy: Int64? = row["replaced_by"]
        guard let cardType = UInt8(exactly: type).flatMap(CardType.init(rawValue:)), let s = IssuedCardStatus(rawValue: status),
              let d = UInt32(exactly: deposit)
        else { throw StorageError.notAJournal(path: path, reason: "a card row does not decode") }
        return IssuedCard(
            serial: serial, cardType: cardType, status: s, depositFen: d, issuedBCD: UInt64(bitPattern: issued),
            replacedBy: replacedBy.map { CardSerial(rawValue: UInt64(bitPattern: $0)) })
    }
}
