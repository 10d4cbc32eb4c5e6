public import City
public import Clearing
import Dispatch
import Foundation
public import OneCardCore
public import Settlement
public import Storage

/// Settles one business day from a clearing store into an output directory (docs/settlement.md):
/// the operators' clearing files, `refusals.csv`, `summary.json`, `positions.csv`, `report.html`,
/// and the settlement's postings in the ledger. What `onecard settle` runs, and what a server
/// will run; pages are streamed, so memory does not grow with the day.
///
/// Re-settling an open day gives byte-identical files. A kill at any point leaves an open day
/// to settle again or a closed day with all its files: postings first (provisional,
/// replaceable), then the files, then the close, each save re-reading the day's runs and
/// adjustments in its transaction (one that landed meanwhile makes the day settle again).
public struct DaySettlement {
    /// How often the day is settled again when a run or an adjustment lands meanwhile.
    public static let attemptsMax = 5

    let store: ClearingStore
    let city: City
    let day: BCDDate
    let out: String

    /// A day of a store, into a directory (created if missing).
    public init(store: ClearingStore, city: City, day: BCDDate, out: String) {
        self.store = store
        self.city = city
        self.day = day
        self.out = out
    }

    /// Pages a settlement of the day reads now (details, transfers, refusals): the total for a
    /// progress display.
    public func pageCount() throws -> Int { try store.pageCount(runs: try store.runs(businessDay: day)) }

    /// Settles the day; with `closeAt`, closes it as of that clearing-clock time, which must be
    /// past the day's cut-off. `step` is called after each page read, with what it held.
    public func settle(closeAt: BCDDateTime? = nil, step: (String) -> Void = { _ in }) throws -> Settlement {
        if let closed = try store.settlementDay(day)?.closed {
            throw ServiceError("business day \(day) was closed at \(closed) and is immutable: its files stand as written; post corrections into a later day as adjustments (onecard exceptions accept)")
        }
        if let now = closeAt {
            let end = BCDDateTime(date: day.adding(days: 1), time: city.settlement.cutoff)
            guard now >= end else {
                throw ServiceError("business day \(day) ends at \(end) (the cut-off) and the clearing clock says \(now): uploads may still land in it, so it cannot be closed yet; settle it without --close for a provisional result")
            }
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try OutputFile.removeLeftovers(in: out)
        var attempt = 1
        while true {
            let runs = try store.runs(businessDay: day)
            let adjustments = try store.settlementTransfers(day: day, kind: "adjustment")
            let settlement = try settleOnce(runs: runs, adjustments: adjustments, closed: closeAt != nil, step: step)
            let ids = adjustments.map(\.id)
            do {
                try store.saveSettlement(day: day, runs: runs, adjustments: ids, transfers: settlement.transfers, closedAt: nil)
                try OutputFile.write(SettlementFiles.summaryJSON(settlement.summary), dir: out, name: "summary.json")
                try OutputFile.write(SettlementFiles.positions(settlement.summary), dir: out, name: "positions.csv")
                try OutputFile.write(SettlementReport.html(settlement.summary), dir: out, name: "report.html")
                if closeAt != nil {
                    try store.saveSettlement(day: day, runs: runs, adjustments: ids, transfers: settlement.transfers, closedAt: AuditTime.now())
                }
            } catch StorageError.stale where attempt < Self.attemptsMax {
                attempt += 1
                continue
            }
            return settlement
        }
    }

    /// One pass over the given runs: streams the clearing files and refusals, computes the
    /// settlement.
    private func settleOnce(runs: [Int64], adjustments: [Transfer], closed: Bool, step: (String) -> Void) throws -> Settlement {
        var builder = SettlementBuilder(day: day, city: city)
        let files = ClearingFileWriter(dir: out)
        do {
            try DaySettlement.feed(store, runs: runs, transfers: true, into: &builder, step: step) { try files.append($0) }
        } catch {
            // The writer may still hold pages: let it finish before the error leaves.
            try? files.drain()
            throw error
        }
        try files.drain()
        let decisions = Dictionary(try store.decisions().map { ($0.record, $0) }, uniquingKeysWith: { a, _ in a })
        var lines = try store.exceptions(runs: runs).map(ExceptionLine.init)
        let refusals = try OutputFile(dir: out, name: "refusals.csv", header: SettlementFiles.refusalHeader)
        try store.forEachPage("refusals", runs: runs) { page in
            guard let fs = Packing.refusals(page) else { throw ServiceError("a refusal page of \(store.path) is corrupt") }
            for f in fs {
                builder.add(f)
                SettlementFiles.appendRefusalRow(f, to: &refusals.buffer)
                if let d = decisions[f.ref.description] { lines.append(ExceptionLine(d, card: f.record.serial.description)) }
            }
            try refusals.flushIfFull()
            step("refusals")
        }
        for t in adjustments {
            guard let op = builder.addAdjustment(t) else { continue }
            let record = try store.refusal(t.source)?.refusal.record
            SettlementFiles.appendAdjustmentRow(t, record: record, to: &(try files.file(op)).buffer)
            if let d = decisions[t.source.description], !lines.contains(where: { $0.id == d.record }) {
                lines.append(ExceptionLine(d, card: record?.serial.description ?? ""))
            }
        }
        let settlement = builder.finish(runs: runs, closed: closed, exceptions: lines)
        for o in settlement.summary.operators { _ = try files.file(o.operatorID) }
        for f in files.opened { try f.commit() }
        try refusals.commit()
        return settlement
    }

    /// Reads the accepted-record details (and, with `transfers`, the transfers) of a day's runs
    /// into a builder; `purchases` gets each detail page's purchases with the operator whose
    /// clearing file lists them. Run by run, a run's details then its transfers: a writer given
    /// the purchases works while the transfers are read.
    public static func feed(_ store: ClearingStore, runs: [Int64], transfers: Bool, into builder: inout SettlementBuilder,
                            step: (String) -> Void, purchases: ([(operatorID: UInt16, detail: AcceptedDetail)]) throws -> Void) throws {
        try store.forEachPage(of: transfers ? ["details", "transfers"] : ["details"], runs: runs) { kind, page in
            if kind == "transfers" {
                guard let ts = Packing.transfers(page) else { throw ServiceError("a transfer page of \(store.path) is corrupt") }
                for t in ts { builder.addUpload(t) }
                step("transfers")
                return
            }
            guard let details = Packing.details(page) else { throw ServiceError("a detail page of \(store.path) is corrupt") }
            var rows: [(operatorID: UInt16, detail: AcceptedDetail)] = []
            rows.reserveCapacity(details.count)
            for d in details {
                if let op = builder.add(d) { rows.append((op, d)) }
            }
            try purchases(rows)
            step("accepted records")
        }
    }
}

extension ExceptionLine {
    /// A stored exception as the settlement lists it.
    public init(_ e: StoredException) {
        self.init(id: String(e.exception.id), kind: e.exception.kind.rawValue, card: e.exception.card,
                  detail: e.exception.detail + (e.exception.record.map { " (record \($0))" } ?? ""),
                  status: e.status, officer: e.officer, reason: e.reason, decided: e.decided)
    }

    /// An officer's decision on a refused record of card `card`, as the settlement lists it.
    public init(_ d: RefusalDecision, card: String) {
        self.init(id: d.record, kind: "refused-\(d.code)", card: card,
                  detail: d.adjustmentDay.map { "adjustment of \(Fen.yuan(d.adjustmentFen)) yuan posted into \($0)" } ?? "refused for good",
                  status: d.status, officer: d.officer, reason: d.reason, decided: d.decided)
    }
}

/// The operators' clearing files, formatted and written on a queue of their own while the
/// caller reads the next pages and feeds the settlement: settling a day then uses both cores.
///
/// Pages are taken in order and at most ``pagesInFlightMax`` wait, so the files are the same
/// as written on one thread and memory stays bounded. The first write error stops the writing
/// and is thrown by the next ``append(_:)`` or by ``drain()``. After ``drain()`` the queue is
/// idle and ``file(_:)`` may be used directly.
final class ClearingFileWriter: @unchecked Sendable {
    /// Pages handed over and not yet written.
    static let pagesInFlightMax = 4
    private let dir: String
    private let queue = DispatchQueue(label: "onecard.settle.clearing-files")
    private let slots = DispatchSemaphore(value: pagesInFlightMax)
    private let lock = NSLock()
    /// Touched on the queue only (or after a drain).
    private var files: [UInt16: OutputFile] = [:]
    /// Guarded by `lock`.
    private var failure: (any Error)?

    init(dir: String) { self.dir = dir }

    /// Every file opened so far.
    var opened: [OutputFile] { Array(files.values) }

    /// The clearing file of an operator, opened on first use.
    func file(_ op: UInt16) throws -> OutputFile {
        if let f = files[op] { return f }
        let f = try OutputFile(dir: dir, name: SettlementFiles.clearingFileName(op), header: SettlementFiles.clearingHeader)
        files[op] = f
        return f
    }

    /// Queues one page's purchases for their files.
    func append(_ rows: [(operatorID: UInt16, detail: AcceptedDetail)]) throws {
        try rethrowFailure()
        guard !rows.isEmpty else { return }
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            guard lock.withLock({ failure == nil }) else { return }
            do {
                // A page's purchases come batch by batch: one file lookup per run of rows of
                // one operator, and its buffer taken out while the rows are formatted.
                var i = 0
                while i < rows.count {
                    let op = rows[i].operatorID
                    let f = try file(op)
                    var buffer = f.buffer
                    f.buffer = []
                    while i < rows.count, rows[i].operatorID == op {
                        SettlementFiles.appendClearingRow(rows[i].detail, to: &buffer)
                        i += 1
                    }
                    f.buffer = buffer
                    try f.flushIfFull()
                }
            } catch {
                lock.withLock { failure = error }
            }
        }
    }

    /// Waits until every queued page is written.
    func drain() throws {
        queue.sync {}
        try rethrowFailure()
    }

    private func rethrowFailure() throws {
        if let e = lock.withLock({ failure }) { throw e }
    }
}
