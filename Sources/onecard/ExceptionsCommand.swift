import ArgumentParser
import City
import Clearing
import ClearingService
import Foundation
import OneCardCore
import Settlement
import Storage
import UploadBatch

/// `onecard exceptions`: the clearing officer's queue. Two kinds of item, told apart by id:
/// clearing exceptions (a decimal id) and refused upload records (`TERMINAL/BATCH#INDEX`).
struct ExceptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exceptions",
        abstract: "List, accept or reject clearing exceptions and refused records (audited).",
        subcommands: [List.self, Accept.self, Reject.self])

    /// The most refused records `list` prints.
    static let listedMax = 100_000

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List exceptions and refused records with their decisions.")
        @OptionGroup var database: ClearingCommand.Database
        @Option(help: "Only the runs of this business day, YYYY-MM-DD.")
        var date: String?
        @Option(help: "Only this status: open, accepted, rejected.")
        var status: String?
        @Flag(help: "Print one JSON object per line.")
        var json = false

        func run() throws {
            try reporting {
                let (store, _) = try database.open()
                var lines = try items(store)
                if let status { lines = lines.filter { $0.status == status } }
                for l in lines.prefix(ExceptionsCommand.listedMax) {
                    if json { printJSON(l) } else { print("\(l.id)  \(l.status)  \(l.kind)  card \(l.card)  \(l.detail)\(l.officer.map { "  [\($0): \(l.reason ?? "")]" } ?? "")") }
                }
                if !json { print("\(lines.count) item(s)") }
            }
        }

        private func items(_ store: ClearingStore) throws -> [ExceptionLine] {
            let runs: [Int64]? = try date.map { try store.runs(businessDay: parseDay($0)) }
            let stored = try runs.map { try store.exceptions(runs: $0) } ?? store.exceptions()
            var lines = stored.map(ExceptionLine.init)
            let decisions = Dictionary(try store.decisions().map { ($0.record, $0) }, uniquingKeysWith: { a, _ in a })
            let visit: ([UInt8]) throws -> Void = { page in
                guard let fs = Packing.refusals(page) else { throw CLIError("a refusal page of \(store.path) is corrupt") }
                for f in fs {
                    if let d = decisions[f.ref.description] {
                        lines.append(ExceptionLine(d, card: f.record.serial.description))
                    } else {
                        lines.append(ExceptionLine(id: f.ref.description, kind: "refused-\(f.code.rawValue)", card: f.record.serial.description,
                                                   detail: "\(f.code.description): \(f.record.kind) of \(Fen.yuan(Int64(f.record.amountFen))) yuan",
                                                   status: "open", officer: nil, reason: nil, decided: nil))
                    }
                }
            }
            if let runs { try store.forEachPage("refusals", runs: runs, visit) } else { try store.forEachPage("refusals", visit) }
            return lines
        }
    }

    /// The officer's mandatory identity and reason.
    struct Decision: ParsableArguments {
        @Argument(help: "The exception id (decimal) or refused record (TERMINAL/BATCH#INDEX).")
        var id: String
        @Option(help: "Why (mandatory, kept in the audit trail).")
        var reason: String
        @Option(help: "The clearing officer deciding (mandatory).")
        var officer: String
        @Flag(help: "Print the decision as one JSON object.")
        var json = false

        func validate() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must not be empty") }
            guard !officer.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--officer must not be empty") }
        }
    }

    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept: a refused fare or load is posted as an adjustment into the next open business day.")
        @OptionGroup var database: ClearingCommand.Database
        @OptionGroup var decision: Decision

        func run() throws { try ExceptionsCommand.decide(database, decision, accept: true) }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject for good (nothing is posted).")
        @OptionGroup var database: ClearingCommand.Database
        @OptionGroup var decision: Decision

        func run() throws { try ExceptionsCommand.decide(database, decision, accept: false) }
    }

    static func decide(_ database: ClearingCommand.Database, _ d: Decision, accept: Bool) throws {
        try reporting {
            let (store, city) = try database.open()
            let outcome = try ExceptionDesk.decide(
                store: store, city: city, id: d.id, accept: accept, officer: d.officer, reason: d.reason, decided: AuditTime.now())
            switch outcome {
            case .exception(let id, let status):
                if d.json { printJSON(["id": d.id, "status": status]) } else { print("exception \(id) \(status) by \(d.officer)") }
            case .refusal(let decision):
                if d.json {
                    printJSON(decision)
                } else {
                    print("refused record \(decision.record) \(decision.status) by \(d.officer)" + (decision.adjustmentDay.map { ": adjustment of \(Fen.yuan(decision.adjustmentFen)) yuan posted into business day \($0)" } ?? ""))
                }
            }
        }
    }
}
