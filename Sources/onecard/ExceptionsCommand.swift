import ArgumentParser
import City
import Clearing
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
            var lines = stored.map(DaySettler.line)
            let decisions = Dictionary(try store.decisions().map { ($0.record, $0) }, uniquingKeysWith: { a, _ in a })
            let visit: ([UInt8]) throws -> Void = { page in
                guard let fs = Packing.refusals(page) else { throw CLIError("a refusal page of \(store.path) is corrupt") }
                for f in fs {
                    if let d = decisions[f.ref.description] {
                        lines.append(DaySettler.line(d, f.record.serial.description))
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
            let status = accept ? "accepted" : "rejected"
            if let id = UInt64(d.id) {
                try store.decideException(id: id, status: status, officer: d.officer, reason: d.reason, decided: AuditTime.now())
                if d.json { printJSON(["id": d.id, "status": status]) } else { print("exception \(id) \(status) by \(d.officer)") }
                return
            }
            guard let ref = RecordRef(d.id) else { throw CLIError("\(d.id) is neither an exception id (decimal) nor a refused record TERMINAL/BATCH#INDEX") }
            guard let (f, day) = try store.refusal(ref) else { throw CLIError("no refused record \(ref): list them with onecard exceptions list") }
            var decision = RefusalDecision(record: ref.description, code: f.code.rawValue, status: status, officer: d.officer, reason: d.reason, decided: AuditTime.now())
            var adjustment: Transfer? = nil
            // An accepted fare takes its identity, so that it can never be paid a second time.
            let fare = f.record.kind == .purchase || f.record.kind == .grey ? FareIdentity(f.record) : nil
            if accept, let fare {
                // Older than the fare identities clearing keeps, a copy of this fare may have been
                // paid without clearing being able to tell any more: it cannot be accepted.
                let keptFrom = try store.newestDay() - ClearingConfig(city: city, tacMasters: [:]).fareRetentionDays
                guard fare.day >= keptFrom else {
                    throw CLIError("\(ref) is a fare of \(BCDDate(daysSinceEpoch: fare.day)), older than the fare identities clearing keeps (from \(BCDDate(daysSinceEpoch: keptFrom))): whether it was paid can no longer be proved; reject it")
                }
            }
            var load: LoadIdentity? = nil
            if accept, f.record.kind == .load {
                // A load the ledger already cleared (its counter seen in the card's window), or
                // too old to tell, cannot be accepted: it would be credited twice.
                let identity = LoadIdentity(serial: f.record.serial.rawValue, counter: f.record.counter)
                let shadow = try store.loadState().cards[identity.serial] ?? CardShadow()
                guard shadow.hasSeen(counter: identity.counter, offline: false) == false else {
                    throw CLIError("\(ref): the load with online counter \(identity.counter) of card \(f.record.serial.masked) was cleared, or is too old to tell: accepting it would credit it twice; reject it")
                }
                load = identity
            }
            if accept {
                let t = try adjustmentTransfer(f, city: city)
                let target = try store.nextOpenDay(from: day)
                decision.adjustmentDay = target.description
                decision.adjustmentFen = t.amountFen
                adjustment = t
            }
            // The same decision again returns the first one; nothing is posted twice.
            decision = try store.decide(decision, adjustment: adjustment, fare: accept ? fare : nil, load: load)
            if d.json {
                printJSON(decision)
            } else {
                print("refused record \(ref) \(status) by \(d.officer)" + (decision.adjustmentDay.map { ": adjustment of \(Fen.yuan(decision.adjustmentFen)) yuan posted into business day \($0)" } ?? ""))
            }
        }
    }

    /// The adjustment an accepted refused record posts: a fare (or grey fare) suspense →
    /// operator payable; a load agent cash → suspense. Purses are not touched: the shadow
    /// mirrors cleared records only, and suspense carries the difference (docs/settlement.md).
    static func adjustmentTransfer(_ f: Refusal, city: City) throws -> Transfer {
        let r = f.record
        guard f.code != .duplicate else { throw CLIError("\(f.ref) is a duplicate (03): the original was already cleared and paid; reject it instead") }
        guard r.amountFen > 0 else { throw CLIError("\(f.ref) moves 0 fen: nothing to adjust; reject it instead") }
        let (debit, credit): (AccountID, AccountID)
        switch r.kind {
        case .purchase, .grey:
            guard let op = city.terminals[r.terminal]?.operatorID else {
                throw CLIError("\(f.ref): terminal \(r.terminal) is not in the city file, so no operator can be paid; reject it instead")
            }
            (debit, credit) = (.suspense, .operatorPayable(op.rawValue))
        case .load:
            (debit, credit) = (.agentCash(r.terminal), .suspense)
        case .issue, .refund, .replacement:
            throw CLIError("\(f.ref) is a \(r.kind): only refused fares and loads can be accepted as adjustments")
        }
        let id = TransferID.make(serial: f.ref.terminal.rawValue | UInt64(f.ref.index & 0xFFFF) << 48, kind: 0xAD,
                                 counter: f.ref.batch, leg: UInt8(truncatingIfNeeded: f.ref.index >> 16))
        return Transfer(id: id, debit: debit, credit: credit, amountFen: Int64(r.amountFen), reason: .adjustment, source: f.ref, dateTimeBCD: r.dateTimeBCD)
    }
}
