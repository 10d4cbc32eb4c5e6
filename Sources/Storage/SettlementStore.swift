public import Clearing
import Foundation
import GRDB
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
        try StorageFailure.run(path, "reading the runs of \(day)") {
            try queue.read { db in
                try Int64.fetchAll(db, sql: "SELECT run FROM clearing_run WHERE business_day = ? ORDER BY run", arguments: [day.description])
            }
        }
    }

    /// Every run's number, in order.
    public func runNumbers() throws(StorageError) -> [Int64] {
        try StorageFailure.run(path, "reading the runs") {
            try queue.read { db in try Int64.fetchAll(db, sql: "SELECT run FROM clearing_run ORDER BY run") }
        }
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
        try StorageFailure.run(path, "reading \(kinds.joined(separator: " and ")) pages") {
            try queue.read { db in
                let details = try db.makeStatement(sql: "SELECT data FROM clearing_detail_page WHERE run = ? ORDER BY page")
                let others = try db.makeStatement(sql: "SELECT data FROM clearing_page WHERE run = ? AND kind = ? ORDER BY page")
                for run in runs {
                    for kind in kinds {
                        let pages = kind == "details"
                            ? try Row.fetchCursor(details, arguments: [run])
                            : try Row.fetchCursor(others, arguments: [run, kind])
                        while let row = try pages.next() {
                            let data: Data = row["data"]
                            try body(kind, [UInt8](data))
                        }
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
        try StorageFailure.run(path, "reading exceptions") {
            try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM clearing_exception ORDER BY run, id").map { row in
                    (row["run"], StoredException(
                        exception: ClearingException(
                            id: UInt64(bitPattern: row["id"]), kind: ClearingException.Kind(rawValue: row["kind"]) ?? .conflict,
                            card: row["card"], detail: row["detail"], record: row["record"], opened: row["opened"]),
                        status: row["status"], officer: row["officer"], reason: row["reason"], decided: row["decided"]))
                }
            }
        }
    }

    // MARK: Settlement postings

    /// The day's settlement record, `nil` if it was never settled.
    public func settlementDay(_ day: BCDDate) throws(StorageError) -> SettlementDayRecord? {
        try StorageFailure.run(path, "reading settlement day \(day)") {
            try queue.read { db in
                try Row.fetchOne(db, sql: "SELECT settled_runs, closed FROM settlement_day WHERE day = ?", arguments: [day.description]).map {
                    SettlementDayRecord(settledRuns: $0["settled_runs"], closed: $0["closed"])
                }
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
        try StorageFailure.run(path, "saving the settlement of \(day)") {
            try queue.write { db in
                if try String.fetchOne(db, sql: "SELECT closed FROM settlement_day WHERE day = ?", arguments: [day.description]) != nil {
                    throw StorageError.dayClosed(path: path, day: day.description)
                }
                // Re-read inside the transaction: a run or an adjustment that landed while the day
                // was being settled would otherwise be closed in unsettled.
                let nowRuns = try Int64.fetchAll(db, sql: "SELECT run FROM clearing_run WHERE business_day = ? ORDER BY run", arguments: [day.description])
                let nowAdjustments = try Int64.fetchAll(
                    db, sql: "SELECT id FROM settlement_transfer WHERE day = ? AND kind = 'adjustment' ORDER BY id", arguments: [day.description])
                guard nowRuns == runs, nowAdjustments.map({ UInt64(bitPattern: $0) }) == adjustments else {
                    throw StorageError.stale(path: path, what: "business day \(day) (a run or an adjustment landed)")
                }
                try db.execute(sql: "DELETE FROM settlement_transfer WHERE day = ? AND kind = 'settlement'", arguments: [day.description])
                let insert = try db.makeStatement(sql: "INSERT INTO settlement_transfer (id, day, kind, data) VALUES (?, ?, 'settlement', ?)")
                for t in transfers {
                    var bytes: [UInt8] = []
                    Packing.append(t, to: &bytes)
                    try insert.execute(arguments: [Int64(bitPattern: t.id), day.description, Data(bytes)])
                }
                try db.execute(sql: """
                    INSERT INTO settlement_day (day, settled_runs, closed) VALUES (?1, ?2, ?3)
                    ON CONFLICT(day) DO UPDATE SET settled_runs = ?2, closed = ?3
                    """, arguments: [day.description, runs.map(String.init).joined(separator: ","), closedAt])
            }
        }
    }

    /// Settlement postings and adjustments, optionally of one day and one kind
    /// ('settlement' or 'adjustment'), in id order.
    public func settlementTransfers(day: BCDDate? = nil, kind: String? = nil) throws(StorageError) -> [Transfer] {
        try StorageFailure.run(path, "reading settlement transfers") {
            try queue.read { db in
                let rows = try Data.fetchAll(db, sql: """
                    SELECT data FROM settlement_transfer WHERE (?1 IS NULL OR day = ?1) AND (?2 IS NULL OR kind = ?2) ORDER BY day, id
                    """, arguments: [day?.description, kind])
                var out: [Transfer] = []
                for data in rows {
                    guard let t = Packing.transfers([UInt8](data)) else {
                        throw StorageError.notAJournal(path: path, reason: "a corrupt settlement transfer")
                    }
                    out += t
                }
                return out
            }
        }
    }

    /// The first business day on or after `day` that is not closed: where an adjustment goes.
    public func nextOpenDay(from day: BCDDate) throws(StorageError) -> BCDDate {
        let closed = try StorageFailure.run(path, "reading closed days") {
            try queue.read { db in Set(try String.fetchAll(db, sql: "SELECT day FROM settlement_day WHERE closed IS NOT NULL")) }
        }
        var d = day
        while closed.contains(d.description) { d = d.adding(days: 1) }
        return d
    }
}

extension ClearingStore {
    /// How many detail, transfer and refusal pages the runs hold (for progress reporting).
    public func pageCount(runs: [Int64]) throws(StorageError) -> Int {
        try StorageFailure.run(path, "counting pages") {
            try queue.read { db in
                var n = 0
                for run in runs {
                    n += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM clearing_page WHERE run = ? AND kind IN ('transfers', 'refusals')", arguments: [run]) ?? 0
                    n += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM clearing_detail_page WHERE run = ?", arguments: [run]) ?? 0
                }
                return n
            }
        }
    }
}
