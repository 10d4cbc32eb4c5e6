import ArgumentParser
import City
import Clearing
import Foundation
import OneCardCore
import Settlement
import Storage
import UploadBatch

/// `onecard settle`: settles one business day (docs/settlement.md).
struct SettleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settle",
        abstract: "Settle a business day: operator payables, commissions, agent remittances, positions, files and report.",
        discussion: """
            Writes summary.json, positions.csv, clearing-operator-N.csv per operator, refusals.csv and report.html \
            into --out, and posts the settlement's transfers into the ledger (replacing this day's earlier, \
            provisional ones). Re-running an open day gives byte-identical files. --close makes the day immutable.
            """)

    @OptionGroup var database: ClearingCommand.Database
    @Option(help: "The business day, YYYY-MM-DD.")
    var date: String
    @Option(help: "The output directory (created if missing).")
    var out: String
    @Flag(help: "Close the day: nothing may change it afterwards. Refused until the day's cut-off has passed by the clearing clock.")
    var close = false
    @Option(help: "The clearing clock for --close, YYYY-MM-DDTHH:MM:SS (default: now).")
    var at: String?
    @Flag(help: "Print the summary as one JSON object (no progress bar).")
    var json = false

    /// How often the day is settled again when a run or an adjustment lands meanwhile.
    static let attemptsMax = 5

    func run() throws {
        try reporting {
            let (store, city) = try database.open()
            let day = try parseDay(date)
            if let closed = try store.settlementDay(day)?.closed {
                throw CLIError("business day \(day) was closed at \(closed) and is immutable: its files stand as written; post corrections into a later day as adjustments (onecard exceptions accept)")
            }
            if close {
                let now = try at.map { text in
                    guard let t = BCDDateTime(iso: text) else { throw CLIError("--at must be YYYY-MM-DDTHH:MM:SS, got \(text)") }
                    return t
                } ?? localNow()
                let end = BCDDateTime(date: day.adding(days: 1), time: city.settlement.cutoff)
                guard now >= end else {
                    throw CLIError("business day \(day) ends at \(end) (the cut-off) and the clearing clock says \(now): uploads may still land in it, so it cannot be closed yet; settle it without --close for a provisional result")
                }
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try removeLeftovers()
            var attempt = 1
            while true {
                let runs = try store.runs(businessDay: day)
                let adjustments = try store.settlementTransfers(day: day, kind: "adjustment")
                let settlement = try DaySettler(store: store, city: city, day: day, runs: runs, adjustments: adjustments, out: out, quiet: json)
                    .settle(closed: close)
                let ids = adjustments.map(\.id)
                do {
                    // Postings first (provisional, replaceable), then the files, then the close: a kill
                    // at any point leaves either an open day to re-settle or a closed day with all its
                    // files. Both saves re-read the day's runs and adjustments in their transaction: one
                    // that landed meanwhile makes the day settle again, so none is closed in unsettled.
                    try store.saveSettlement(day: day, runs: runs, adjustments: ids, transfers: settlement.transfers, closedAt: nil)
                    try OutputFile.write(SettlementFiles.summaryJSON(settlement.summary), dir: out, name: "summary.json")
                    try OutputFile.write(SettlementFiles.positions(settlement.summary), dir: out, name: "positions.csv")
                    try OutputFile.write(SettlementReport.html(settlement.summary), dir: out, name: "report.html")
                    if close { try store.saveSettlement(day: day, runs: runs, adjustments: ids, transfers: settlement.transfers, closedAt: AuditTime.now()) }
                } catch StorageError.stale where attempt < Self.attemptsMax {
                    attempt += 1
                    continue
                }
                report(settlement.summary)
                break
            }
        }
    }

    /// Removes temporary files a killed settlement left behind.
    private func removeLeftovers() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: out) where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            try FileManager.default.removeItem(atPath: out + "/" + name)
        }
    }

    private func report(_ s: SettlementSummary) {
        if json {
            printJSON(s)
            return
        }
        let t = s.totals
        print("business day \(s.day) (cut-off \(s.cutoff)), runs \(s.runs.count), \(s.closed ? "CLOSED" : "open")")
        print("fares \(t.transactions)  gross \(Fen.yuan(t.grossFen))  commission \(Fen.yuan(t.commissionFen))  paid to operators \(Fen.yuan(t.netPayableFen))  owed by agents \(Fen.yuan(t.owedByAgentsFen)) yuan")
        for o in s.operators {
            print("  operator \(o.operatorID) \(o.name): \(o.transactions) fares, gross \(Fen.yuan(o.grossFen + o.adjustmentFen)), commission \(Fen.yuan(o.commissionFen)), net \(Fen.yuan(o.netPayableFen))")
        }
        print("refused \(t.refusedRecords), adjustments \(t.adjustments), exceptions \(s.exceptions.count); files in \(out)")
    }
}

/// Reads a day from the store, writes its streamed files (clearing files, refusals) and
/// computes the settlement.
struct DaySettler {
    let store: ClearingStore
    let city: City
    let day: BCDDate
    let runs: [Int64]
    /// The day's officers' adjustments, read once with the runs.
    let adjustments: [Transfer]
    let out: String
    let quiet: Bool

    func settle(closed: Bool) throws -> Settlement {
        var builder = SettlementBuilder(day: day, city: city)
        var progress = ProgressBar(total: try store.pageCount(runs: runs), quiet: quiet)
        let files = ClearingFileWriter(dir: out)
        do {
            try feedDetails(store, runs: runs, transfers: true, into: &builder, progress: &progress) { try files.append($0) }
        } catch {
            // The writer may still hold pages: let it finish before the error leaves.
            try? files.drain()
            throw error
        }
        try files.drain()
        let decisions = Dictionary(try store.decisions().map { ($0.record, $0) }, uniquingKeysWith: { a, _ in a })
        var lines = try store.exceptions(runs: runs).map(Self.line)
        let refusals = try OutputFile(dir: out, name: "refusals.csv", header: SettlementFiles.refusalHeader)
        try store.forEachPage("refusals", runs: runs) { page in
            guard let fs = Packing.refusals(page) else { throw CLIError("a refusal page of \(store.path) is corrupt") }
            for f in fs {
                builder.add(f)
                SettlementFiles.appendRefusalRow(f, to: &refusals.buffer)
                if let d = decisions[f.ref.description] { lines.append(Self.line(d, f.record.serial.description)) }
            }
            try refusals.flushIfFull()
            progress.step("refusals")
        }
        for t in adjustments {
            guard let op = builder.addAdjustment(t) else { continue }
            let record = try store.refusal(t.source)?.refusal.record
            SettlementFiles.appendAdjustmentRow(t, record: record, to: &(try files.file(op)).buffer)
            if let d = decisions[t.source.description], !lines.contains(where: { $0.id == d.record }) {
                lines.append(Self.line(d, record?.serial.description ?? ""))
            }
        }
        progress.finish()
        let settlement = builder.finish(runs: runs, closed: closed, exceptions: lines)
        for o in settlement.summary.operators { _ = try files.file(o.operatorID) }
        for f in files.opened { try f.commit() }
        try refusals.commit()
        return settlement
    }

    static func line(_ e: StoredException) -> ExceptionLine {
        ExceptionLine(id: String(e.exception.id), kind: e.exception.kind.rawValue, card: e.exception.card,
                      detail: e.exception.detail + (e.exception.record.map { " (record \($0))" } ?? ""),
                      status: e.status, officer: e.officer, reason: e.reason, decided: e.decided)
    }

    static func line(_ d: RefusalDecision, _ card: String) -> ExceptionLine {
        ExceptionLine(id: d.record, kind: "refused-\(d.code)", card: card,
                      detail: d.adjustmentDay.map { "adjustment of \(Fen.yuan(d.adjustmentFen)) yuan posted into \($0)" } ?? "refused for good",
                      status: d.status, officer: d.officer, reason: d.reason, decided: d.decided)
    }
}
