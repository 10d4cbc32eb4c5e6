import ArgumentParser
import City
import Clearing
import ClearingService
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

    func run() throws {
        try reporting {
            let day = try parseDay(date)
            let (store, city, _) = try database.open(day: day)
            let now = try close ? at.map { text in
                guard let t = BCDDateTime(iso: text) else { throw CLIError("--at must be YYYY-MM-DDTHH:MM:SS, got \(text)") }
                return t
            } ?? localNow() : nil
            let settling = DaySettlement(store: store, city: city, day: day, out: out)
            let progress = ProgressSteps(total: try settling.pageCount(), quiet: json)
            let settlement = try settling.settle(closeAt: now, step: progress.step)
            progress.finish()
            report(settlement.summary)
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
