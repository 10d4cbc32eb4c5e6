public import Clearing
import Foundation
public import OneCardCore

/// An officer's decision on a refused upload record: the audit trail of the exception queue.
public struct RefusalDecision: Sendable, Codable, Equatable {
    /// The record, `terminal/batch#index`.
    public var record: String
    /// Its refusal code (`01`…).
    public var code: String
    /// `accepted` or `rejected`.
    public var status: String
    /// Who decided.
    public var officer: String
    /// Why.
    public var reason: String
    /// When (ISO 8601, UTC).
    public var decided: String
    /// For an acceptance: the business day its adjustment was posted into.
    public var adjustmentDay: String?
    /// For an acceptance: the adjustment's amount.
    public var adjustmentFen: Int64

    /// Describes a decision.
    public init(record: String, code: String, status: String, officer: String, reason: String, decided: String,
                adjustmentDay: String? = nil, adjustmentFen: Int64 = 0) {
        self.record = record
        self.code = code
        self.status = status
        self.officer = officer
        self.reason = reason
        self.decided = decided
        self.adjustmentDay = adjustmentDay
        self.adjustmentFen = adjustmentFen
    }
}

/// What the database knows of a business day's settlement.
public struct SettlementDayRecord: Sendable, Equatable {
    /// The runs the last settlement covered, comma-separated.
    public var settledRuns: String
    /// When the day was closed (ISO 8601), `nil` while open.
    public var closed: String?
}

extension ClearingStore {
    // MARK: Reading a business day

    /// The ingest runs whose business day is `day`, oldest first: the records of the day.
    public func runs(businessDay day: BCDDate) throws(StorageError) -> [Int64] {
        try reading("reading the runs of \(day)") { db in
            try db.ints("SELECT run FROM clearing_run WHERE business_day = ? ORDER BY run", day.description)
        }
    }

    /// Every run's number, in order.
    public func runNumbers() throws(StorageError) -> [Int64] {
        try reading("reading the runs") { db in try db.ints("SELECT run FROM clearing_run ORDER BY run") }
    }

    /// Calls `body` with each page of `kind` ('transfers', 'accepted', 'refusals', or
    /// 'details' for the accepted records' details) of the given runs, in run and page order.
    public func forEachPage(_ kind: String, runs: [Int64], _ body: ([UInt8]) throws -> Void) throws(StorageError) {
        try forEachPage(of: [kind], runs: runs) { _, page in try body(page) }
    }

    /// Calls `body` with each page of each of `kinds`, run by run (within a run, kind by kind
    /// in the order given, then page order), in one read transaction: a reader of several kinds
    /// then takes each run's pages together.
    public func forEachPage(of kinds: [String], runs: [Int64], _ body: (String, [UInt8]) throws -> Void) throws(StorageError) {
        try reading("reading \(kinds.joined(separator: " and ")) pages") { db in
            for run in runs {
                for kind in kinds {
                    if kind == "details" {
                        try db.forEach("SELECT data FROM clearing_detail_page WHERE run = ? ORDER BY page", run) { try body(kind, try $0.blob(0)) }
                    } else {
                        try db.forEach("SELECT data FROM clearing_page WHERE run = ? AND kind = ? ORDER BY page", run, kind) { try body(kind, try $0.blob(0)) }
                    }
                }
            }
        }
    }

    /// The exceptions opened by the given runs, in id order.
    public func exceptions(runs: [Int64]) throws(StorageError) -> [StoredException] {
        let wanted = Set(runs)
        // By id, not by run: the same day split into other runs lists them alike.
        return try exceptionsWithRun().filter { wanted.contains($0.run) }.map(\.stored).sorted { $0.exception.id < $1.exception.id }
    }

    private func exceptionsWithRun() throws(StorageError) -> [(run: Int64, stored: StoredException)] {
        try reading("reading exceptions") { db in
            try db.rows("SELECT \(Self.exceptionColumns) FROM clearing_exception ORDER BY run, id").map { row in
                (try row.int(0), try StoredException(row: row))
            }
        }
    }

    // MARK: Settlement postings

    /// The day's settlement record, `nil` if it was never settled.
    public func settlementDay(_ day: BCDDate) throws(StorageError) -> SettlementDayRecord? {
        try reading("reading settlement day \(day)") { db in
            try db.row("SELECT settled_runs, closed FROM settlement_day WHERE day = ?", day.description).map {
                SettlementDayRecord(settledRuns: try $0.text(0), closed: try $0.textOrNil(1))
            }
        }
    }

    /// Replaces the open day's settlement postings with `transfers` in one transaction (so a
    /// re-settlement never double-posts), and closes the day if `closedAt` is given.
    ///
    /// - Throws: ``StorageError/dayClosed(path:day:)`` if the day is already closed.
    public func saveSettlement(
        day: BCDDate, runs: [Int64], adjustments: [UInt64], transfers: [Transfer], closedAt: String?
    ) throws(StorageError) {
        try writing("saving the settlement of \(day)") { db in
            if try Self.dayIsClosed(db, day.description) { throw StorageError.dayClosed(path: path, day: day.description) }
            // Re-read inside the transaction: a run or an adjustment that landed while the day
            // was being settled would otherwise be closed in unsettled.
            let nowRuns = try db.ints("SELECT run FROM clearing_run WHERE business_day = ? ORDER BY run", day.description)
            let nowAdjustments = try db.ints("SELECT id FROM settlement_transfer WHERE day = ? AND kind = 'adjustment' ORDER BY id", day.description)
            guard nowRuns == runs, nowAdjustments.map({ UInt64(bitPattern: $0) }) == adjustments else {
                throw StorageError.stale(path: path, what: "business day \(day) (a run or an adjustment landed)")
            }
            try db.execute("DELETE FROM settlement_transfer WHERE day = ? AND kind = 'settlement'", day.description)
            try db.executeMany(
                "INSERT INTO settlement_transfer (id, day, kind, data) VALUES (?, ?, 'settlement', ?)",
                transfers.lazy.map { t in
                    var bytes: [UInt8] = []
                    Packing.append(t, to: &bytes)
                    return [.int(Int64(bitPattern: t.id)), .text(day.description), .blob(bytes)]
                })
            try db.execute(
                """
                INSERT INTO settlement_day (day, settled_runs, closed) VALUES (?1, ?2, ?3)
                ON CONFLICT(day) DO UPDATE SET settled_runs = ?2, closed = ?3
                """, day.description, runs.map(String.init).joined(separator: ","), closedAt)
        }
    }

    /// Settlement postings and adjustments, optionally of one day and one kind
    /// ('settlement' or 'adjustment'), in id order.
    public func settlementTransfers(day: BCDDate? = nil, kind: String? = nil) throws(StorageError) -> [Transfer] {
        try reading("reading settlement transfers") { db in
            var out: [Transfer] = []
            try db.forEach(
                "SELECT data FROM settlement_transfer WHERE (CAST(?1 AS TEXT) IS NULL OR day = ?1) AND (CAST(?2 AS TEXT) IS NULL OR kind = ?2) ORDER BY day, id",
                day?.description, kind
            ) { row in
                guard let t = Packing.transfers(try row.blob(0)) else {
                    throw StorageError.notAJournal(path: path, reason: "a corrupt settlement transfer")
                }
                out += t
            }
            return out
        }
    }

    /// The first business day on or after `day` that is not closed: where an adjustment goes.
    public func nextOpenDay(from day: BCDDate) throws(StorageError) -> BCDDate {
        let closed = try reading("reading closed days") { db in
            Set(try db.rows("SELECT day FROM settlement_day WHERE closed IS NOT NULL").map { try $0.text(0) })
        }
        var d = day
        while closed.contains(d.description) { d = d.adding(days: 1) }
        return d
    }
}

extension ClearingStore {
    /// How many detail, transfer and refusal pages the runs hold (for progress reporting).
    public func pageCount(runs: [Int64]) throws(StorageError) -> Int {
        try reading("counting pages") { db in
            var n: Int64 = 0
            for run in runs {
                n += try db.int("SELECT COUNT(*) FROM clearing_page WHERE run = ? AND kind IN ('transfers', 'refusals')", run) ?? 0
                n += try db.int("SELECT COUNT(*) FROM clearing_detail_page WHERE run = ?", run) ?? 0
            }
            return Int(n)
        }
    }
}
