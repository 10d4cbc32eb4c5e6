import ArgumentParser
import City
import Clearing
import ClearingService
import Foundation
import OneCardCore
import Settlement
import Storage

/// `onecard reconcile`: an operator's statement against what clearing settled.
struct ReconcileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare an operator's per-terminal statement (count, amount) with the purchases cleared for a business day.",
        discussion: """
            The statement is CSV with the header `terminal,count,amount_fen` (docs/formats.md). Exit status 0 when \
            every terminal matches, 1 when any is mismatched or missing on either side.
            """)

    @OptionGroup var database: ClearingCommand.Database
    @Option(help: "The business day, YYYY-MM-DD.")
    var date: String
    @Option(help: "The operator's statement, CSV.")
    var statement: String
    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func run() throws {
        let result: Reconciliation = try reporting {
            let day = try parseDay(date)
            let (store, city, _) = try database.open(day: day)
            guard let data = FileManager.default.contents(atPath: statement) else { throw CLIError("cannot read \(statement)") }
            let lines = try Reconciler.parse(String(decoding: data, as: UTF8.self), file: statement)
            let runs = try store.runs(businessDay: day)
            var builder = SettlementBuilder(day: day, city: city)
            let progress = ProgressSteps(total: try store.pageCount(runs: runs), quiet: json)
            try DaySettlement.feed(store, runs: runs, transfers: false, into: &builder, step: progress.step) { _ in }
            progress.finish()
            return Reconciler.compare(day: day.description, statement: lines, cleared: builder.terminalPurchases) {
                city.terminals[$0]?.operatorID.rawValue
            }
        }
        if json {
            printJSON(result)
        } else {
            print("business day \(result.day): \(result.matched.count) matched, \(result.mismatched.count) mismatched, \(result.missingInClearing.count) missing in clearing, \(result.missingInStatement.count) missing in the statement")
            for l in result.mismatched {
                print("  MISMATCH \(l.terminal): statement \(l.statementCount ?? 0) / \(Fen.yuan(l.statementAmountFen ?? 0)) yuan, cleared \(l.clearedCount ?? 0) / \(Fen.yuan(l.clearedAmountFen ?? 0)) yuan")
            }
            for l in result.missingInClearing {
                print("  NOT CLEARED \(l.terminal): statement \(l.statementCount ?? 0) / \(Fen.yuan(l.statementAmountFen ?? 0)) yuan, nothing cleared")
            }
            for l in result.missingInStatement {
                print("  NOT IN STATEMENT \(l.terminal): cleared \(l.clearedCount ?? 0) / \(Fen.yuan(l.clearedAmountFen ?? 0)) yuan")
            }
        }
        if !result.agrees { throw ExitCode(1) }
    }
}
