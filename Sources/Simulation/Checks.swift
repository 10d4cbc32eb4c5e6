import City
import Clearing
import ClearingIngest
import ClearingService
import Foundation
import OneCardCore
import OneCardCrypto
import Settlement
import Storage
import UploadBatch

extension Simulator {
    // MARK: After every step

    func checkEveryStep() throws {
        // No acknowledged upload is lost: whatever the front-end acknowledged is in the store,
        // through every crash.
        let stored = try store.batchKeys()
        for key in acknowledged where !stored.contains(key) {
            violation("acknowledged upload \(TerminalID(rawValue: key.terminal)!)/\(key.sequence) is not in the clearing store")
        }
        // The cards' own books: every balance is its credits less its debits.
        for c in cards {
            let books = Int64(c.credits.reduce(0) { $0 + Int64($1.amountFen) }) - Int64(c.debits.reduce(0) { $0 + Int64($1.amountFen) })
            if books != Int64(c.balance) { violation("card \(c.serial) holds \(c.balance) fen, its own transactions say \(books)") }
        }
        if step % 50 == 49 { try checkLedger() }
    }

    func checkLedger() throws {
        let audit = try LedgerCheck.run(store)
        for v in audit.violations { violation("ledger: \(v)") }
    }

    // MARK: At the end of the day

    /// The day ends: the faults stop, every terminal uploads everything it holds (greys too)
    /// until all is acknowledged; then every debit is checked against clearing, the day is
    /// settled and closed, and a later upload must leave the closed day as it was.
    func endOfDay() throws {
        step = options.steps
        network.lossRate = 0
        network.duplicateRate = 0
        network.delayStepsMax = 0
        now = max(now, BCDDateTime(iso: "2026-11-30T01:00:00")!.secondsSinceEpoch)
        log("end of the day: faults off, every terminal uploads all it holds")
        let all: [any Uploading] = [counter] + terminals
        for t in terminals { t.awaiting = nil }
        counter.awaiting = nil
        var rounds = 0
        while true {
            var pending = false
            for t in all {
                if let u = try t.nextUpload(at: now, includeGrey: true) {
                    pending = true
                    log("send \(t.id)/\(u.sequence) (\(u.records) records)")
                    network.send(.upload(terminal: t.id, sequence: u.sequence, bytes: u.bytes), step: step, rng: &rng)
                }
            }
            try deliverFaultFree()
            if !pending, try all.allSatisfy({ try $0.allAcknowledged() }), network.isEmpty { break }
            rounds += 1
            step += 1
            now += 60
            for t in terminals { t.awaiting = nil }
            counter.awaiting = nil
            if rounds > 40 {
                violation("uploads still unacknowledged after 40 fault-free rounds: \(try all.filter { try !$0.allAcknowledged() }.map(\.id))")
                break
            }
        }
        try checkEveryStep()
        try checkLedger()
        try checkCardsAgainstClearing()
        try settleAndClose()
    }

    /// Deliveries with no clearing crash (the end of the day): the answers of one round too.
    func deliverFaultFree() throws {
        for _ in 0..<3 { try deliver(crashes: false) }
    }

    /// Every debit and credit a card made is accepted exactly once, to the terminal it was made
    /// at, or refused with a reason it may have (a grey record, a hotlisted card); and clearing
    /// accepted nothing no card made.
    func checkCardsAgainstClearing() throws {
        struct Key: Hashable { var serial: UInt64; var load: Bool; var counter: UInt16 }
        var accepted: [Key: [AcceptedDetail]] = [:]
        var acceptedIn: [Key: Int64] = [:]
        for run in try store.runNumbers() {
            try store.forEachPage("details", runs: [run]) { page in
                for d in Packing.details(page) ?? [] where d.kind == .purchase || d.kind == .load {
                    let key = Key(serial: d.serial.rawValue, load: d.kind == .load, counter: d.counter)
                    accepted[key, default: []].append(d)
                    acceptedIn[key] = run
                }
            }
        }
        var refused: [Key: [Refusal]] = [:]
        try store.forEachPage("refusals", runs: try store.runNumbers()) { page in
            for r in Packing.refusals(page) ?? [] where r.record.kind != .issue {
                refused[Key(serial: r.record.serial.rawValue, load: r.record.kind == .load, counter: r.record.counter), default: []].append(r)
            }
        }
        var made = Set<Key>()
        let shadows = try store.loadState().cards
        for c in cards {
            var allAccepted = true
            for (events, load) in [(c.debits, false), (c.credits, true)] {
                for e in events {
                    let key = Key(serial: c.serial.rawValue, load: load, counter: e.counter)
                    made.insert(key)
                    let what = "\(load ? "load" : "debit") of \(e.amountFen) fen by card \(c.serial) (counter \(e.counter)) at \(e.terminal)"
                    let found = accepted[key] ?? []
                    if found.count > 1 { violation("\(what) was cleared \(found.count) times") }
                    if let d = found.first {
                        if d.amountFen != e.amountFen { violation("\(what) was cleared as \(d.amountFen) fen") }
                        if d.ref.terminal != e.terminal { violation("\(what) was cleared to terminal \(d.ref.terminal)") }
                        // Only a run after the hotlisting can know of it (a terminal whose clock is
                        // fast can date a record after a hotlisting that came later).
                        if !load, let since = hotlisted[c.serial], let at = Self.seconds(d.dateTimeBCD), at >= since.seconds,
                           let run = acceptedIn[key], run > since.afterRun {
                            violation("\(what) was cleared although the card was hotlisted before it")
                        }
                        continue
                    }
                    allAccepted = false
                    // The reasons a debit the card made may be refused with: a grey record (the
                    // terminal never learnt the outcome), a hotlisted card, or a tear the card could
                    // no longer prove (TAC 0, kept for an officer).
                    let refusals = refused[key] ?? []
                    let explained = refusals.contains { f in
                        f.code == .grey || (f.code == .hotlisted && hotlisted[c.serial] != nil)
                            || (f.code == .tacError && f.record.flags.contains(.mac2Unverified) && f.record.tac == 0)
                    }
                    if refusals.isEmpty {
                        violation("\(what) is neither cleared nor refused")
                    } else if !explained {
                        violation("\(what) was refused \(refusals.map(\.code.rawValue)) though the card made it")
                    }
                }
            }
            // Money: a card all of whose transactions were cleared has the balance clearing holds.
            if allAccepted, let shadow = shadows[c.serial.rawValue], shadow.balanceFen != c.balance {
                violation("card \(c.serial) holds \(c.balance) fen, clearing's shadow \(shadow.balanceFen)")
            }
        }
        for (key, details) in accepted where !made.contains(key) {
            violation("clearing accepted a \(key.load ? "load" : "purchase") no card made: card \(CardSerial(rawValue: key.serial)) counter \(key.counter) (\(details.map(\.ref)))")
        }
        log("checked \(cards.reduce(0) { $0 + $1.debits.count }) debits and \(cards.reduce(0) { $0 + $1.credits.count }) credits against clearing")
    }

    /// Settles and closes the day: the positions sum to zero. Then an upload after the cut-off
    /// goes to the next day, and the closed day's postings stay as they were.
    func settleAndClose() throws {
        let settled = try DaySettlement(store: store, city: city, day: day, out: dir + "/settlement").settle(closeAt: BCDDateTime(iso: "2026-11-30T03:00:00")!)
        let sum = settled.summary.positions.reduce(Int64(0)) { $0 + $1.positionFen }
        if sum != 0 { violation("the day's positions sum to \(sum) fen, not 0") }
        log("settled and closed \(day): positions \(settled.summary.positions.map(\.positionFen))")
        let closedPostings = try store.settlementTransfers(day: day)
        let closedRuns = try store.runs(businessDay: day)
        // After the cut-off: one more tap and its upload, on the next business day.
        now = BCDDateTime(iso: "2026-11-30T03:30:00")!.secondsSinceEpoch
        step += 1
        try tap()
        for t in terminals { t.awaiting = nil }
        try sync(any: false, includeGrey: true)
        try deliverFaultFree()
        if try store.settlementTransfers(day: day) != closedPostings { violation("the closed day \(day)'s postings changed") }
        if try store.runs(businessDay: day) != closedRuns { violation("the closed day \(day) got runs after it closed: \(try store.runs(businessDay: day))") }
        do {
            _ = try DaySettlement(store: store, city: city, day: day, out: dir + "/again").settle()
            violation("the closed day \(day) was settled again")
        } catch {
            log("settling the closed day again is refused")
        }
        try checkLedger()
    }

    /// A record's packed BCD date-time as seconds, `nil` when it is not a valid time.
    static func seconds(_ packed: UInt64) -> Int64? {
        BCDDateTime(bcd: (0..<7).map { UInt8(truncatingIfNeeded: packed >> (8 * (6 - $0))) })?.secondsSinceEpoch
    }
}
