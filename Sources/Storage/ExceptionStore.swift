public import Clearing
import Foundation
public import OneCardCore
public import UploadBatch

extension ClearingStore {
    /// Finds a refused record by its reference, with the business day of the run that refused
    /// it. Scans the refusal pages (a clearing officer's lookup, not a hot path).
    public func refusal(_ ref: RecordRef) throws(StorageError) -> (refusal: Refusal, businessDay: BCDDate)? {
        try reading("looking up refused record \(ref)") { db in
            var out: (refusal: Refusal, businessDay: BCDDate)?
            try db.forEach("""
                SELECT p.data, r.business_day FROM clearing_page p JOIN clearing_run r ON r.run = p.run
                WHERE p.kind = 'refusals' ORDER BY p.run, p.page
                """) { row in
                guard out == nil, let found = Packing.refusals(try row.blob(0))?.first(where: { $0.ref == ref }),
                      let day = BCDDate(try row.text(1)) else { return }
                out = (found, day)
            }
            return out
        }
    }

    /// Records an officer's decision on a refused record, with the adjustment an acceptance
    /// posts, in one transaction, and returns the decision as stored. A record is decided once:
    /// the same decision again returns the first one unchanged (idempotent), a different one is
    /// refused.
    ///
    /// - Parameter fare: for an accepted fare (a purchase or grey record), its identity: it is
    ///   added to the accepted fares in the same transaction, so the completed record arriving
    ///   later is refused `03`; and if the fare was accepted already (cleared, or accepted by an
    ///   officer), the acceptance is refused, since it would pay the fare twice.
    /// - Throws: ``StorageError/decisionRefused(path:reason:)`` if it was decided otherwise
    ///   before or would pay a fare twice; ``StorageError/dayClosed(path:day:)`` if the
    ///   adjustment's day is closed.
    /// - Parameter load: for an accepted load, its identity: refused if a load with it was
    ///   accepted before; kept, so the same load uploaded later is refused `03`.
    @discardableResult
    public func decide(_ d: RefusalDecision, adjustment: Transfer?, fare: FareIdentity? = nil, load: LoadIdentity? = nil) throws(StorageError) -> RefusalDecision {
        try writing("recording the decision on \(d.record)") { db in
            if let earlier = try Self.decision(db, record: d.record) {
                guard earlier.status == d.status else {
                    throw StorageError.decisionRefused(path: path, reason: "refused record \(d.record) was already \(earlier.status) by \(earlier.officer) at \(earlier.decided); decisions are final")
                }
                return earlier
            }
            if d.status == "accepted", let fare {
                let key = FareIdentities.pageKey(terminal: fare.terminal.rawValue, sequence: fare.sequence)
                var fares = try Self.farePage(db, key)
                guard fares.insert(terminal: fare.terminal.rawValue, sequence: fare.sequence, day: fare.day) else {
                    throw StorageError.decisionRefused(path: path, reason: "fare \(fare.terminal)/\(fare.sequence) of refused record \(d.record) was already accepted (cleared, or accepted by an officer): accepting it again would pay it twice; reject it instead")
                }
                try Self.saveFarePage(db, key, fares.pages[key])
                // An ingest working from a state read before this decision must start over.
                try Self.bumpGeneration(db)
            }
            if d.status == "accepted", let load {
                let inserted = try db.execute(
                    "INSERT INTO clearing_accepted_load (serial, counter, record) VALUES (?, ?, ?) ON CONFLICT(serial, counter) DO NOTHING",
                    Int64(bitPattern: load.serial), Int64(load.counter), d.record)
                guard inserted > 0 else {
                    throw StorageError.decisionRefused(path: path, reason: "the load of card \(CardSerial(rawValue: load.serial).masked) with online counter \(load.counter) was already accepted: accepting it again would credit it twice; reject it instead")
                }
                try Self.bumpGeneration(db)
            }
            if let t = adjustment, let day = d.adjustmentDay {
                if try Self.dayIsClosed(db, day) { throw StorageError.dayClosed(path: path, day: day) }
                var bytes: [UInt8] = []
                Packing.append(t, to: &bytes)
                try db.execute("INSERT INTO settlement_transfer (id, day, kind, data) VALUES (?, ?, 'adjustment', ?)",
                               Int64(bitPattern: t.id), day, bytes)
            }
            try db.execute("""
                INSERT INTO settlement_decision (record, code, status, officer, reason, decided, adjustment_day, adjustment_fen)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, d.record, d.code, d.status, d.officer, d.reason, d.decided, d.adjustmentDay, d.adjustmentFen)
            return d
        }
    }

    static func decision(_ db: any SQLSession, record: String) throws -> RefusalDecision? {
        try db.row("SELECT \(decisionColumns) FROM settlement_decision WHERE record = ?", record).map(RefusalDecision.init(row:))
    }

    /// The decision columns ``RefusalDecision/init(row:)`` reads.
    static let decisionColumns = "record, code, status, officer, reason, decided, adjustment_day, adjustment_fen"

    /// Officers' decisions on refused records, oldest first.
    public func decisions() throws(StorageError) -> [RefusalDecision] {
        try reading("reading decisions") { db in
            try db.rows("SELECT \(Self.decisionColumns) FROM settlement_decision ORDER BY decided, record").map(RefusalDecision.init(row:))
        }
    }

    /// Records an officer's decision on a clearing exception (`accepted`: the record is genuine;
    /// `rejected`: the card is treated as suspect). An exception is decided once; the same decision again changes nothing.
    ///
    /// - Throws: ``StorageError/decisionRefused(path:reason:)`` for an unknown or decided id.
    public func decideException(id: UInt64, status: String, officer: String, reason: String, decided: String) throws(StorageError) {
        try writing("recording the decision on exception \(id)") { db in
            guard let current = try db.text("SELECT status FROM clearing_exception WHERE id = ?", Int64(bitPattern: id)) else {
                throw StorageError.decisionRefused(path: path, reason: "no exception \(id): list them with onecard exceptions list")
            }
            // The same decision again is a no-op; another one is refused.
            if current == status { return }
            guard current == "open" else {
                throw StorageError.decisionRefused(path: path, reason: "exception \(id) was already \(current); decisions are final")
            }
            try db.execute("UPDATE clearing_exception SET status = ?, officer = ?, reason = ?, decided = ? WHERE id = ?",
                           status, officer, reason, decided, Int64(bitPattern: id))
        }
    }
}

/// A fare's identity, what its TAC signs beside the card: (terminal, terminal sequence), with
/// the record's day for the retention.
public struct FareIdentity: Sendable, Hashable {
    /// The terminal.
    public var terminal: TerminalID
    /// The terminal sequence.
    public var sequence: UInt32
    /// The record's day (days since 1970).
    public var day: Int

    /// The identity of a purchase or grey record.
    public init(_ r: BatchRecord) {
        terminal = r.terminal
        sequence = r.sequence
        day = ClearingTime.day(ClearingTime.seconds(bcd: r.dateTimeBCD))
    }
}

extension RefusalDecision {
    /// Reads a row of ``ClearingStore/decisionColumns``.
    init(row: SQLRow) throws {
        self.init(record: try row.text(0), code: try row.text(1), status: try row.text(2), officer: try row.text(3),
                  reason: try row.text(4), decided: try row.text(5), adjustmentDay: try row.textOrNil(6),
                  adjustmentFen: try row.int(7))
    }
}
