import OneCardCore
public import UploadBatch

/// The ledger's invariants (`onecard clearing check`), checked from what storage holds:
///
/// 1. every transfer moves a positive amount between two different accounts, and total debits
///    equal total credits;
/// 2. every card's purse balance equals the sum of its transfers, matches the shadow, and is
///    never negative;
/// 3. every accepted purchase or load of more than 0 fen has exactly one fare/load transfer (a
///    0-fen metro entry has none), every accepted record
///    is the source of at most one transfer per leg, and every transfer's source was accepted;
/// 4. settlement postings (payment, commission, agent remittance) carry a settlement reference
///    as their source and never touch a purse; no upload record is the source of one;
/// 5. every adjustment's source is a refused record a clearing officer accepted, never an
///    accepted record (that would pay it twice).
public struct LedgerAudit {
    /// The first violation found, in words with the figures.
    public private(set) var violations: [String] = []
    /// Transfers seen.
    public private(set) var transferCount = 0
    /// Sum of all debits (equal to all credits).
    public private(set) var totalFen: Int64 = 0

    private var net: [AccountID: Int64] = [:]
    private var primaries: [RecordRef: Int] = [:]
    private var legs = Set<UInt64>()
    private var sources = Set<RecordRef>()
    private var adjustmentSources = Set<RecordRef>()
    private let violationsMax = 20

    /// An empty audit.
    public init() {}

    /// Feeds transfers (any order).
    public mutating func add(_ transfers: [Transfer]) {
        for t in transfers {
            transferCount += 1
            if t.amountFen <= 0 || t.debit == t.credit { note("transfer \(t.id) moves \(t.amountFen) fen from \(t.debit) to \(t.credit)") }
            totalFen += t.amountFen
            net[t.debit, default: 0] -= t.amountFen
            net[t.credit, default: 0] += t.amountFen
            if !legs.insert(t.id).inserted { note("transfer id \(t.id) appears twice (source \(t.source))") }
            if t.source.isSettlement || t.reason.isSettlementPosting {
                checkSettlement(t)
                continue
            }
            if t.reason == .adjustment {
                adjustmentSources.insert(t.source)
                continue
            }
            sources.insert(t.source)
            if t.reason == .purchase || t.reason == .load { primaries[t.source, default: 0] += 1 }
        }
    }

    private mutating func checkSettlement(_ t: Transfer) {
        if !t.source.isSettlement { note("\(t.reason) transfer \(t.id) has the upload record \(t.source) as its source") }
        if !t.reason.isSettlementPosting { note("\(t.reason) transfer \(t.id) carries the settlement reference \(t.source)") }
        if t.debit.kind == .purse || t.credit.kind == .purse { note("settlement transfer \(t.id) touches \(t.debit) → \(t.credit)") }
    }

    /// Checks everything against the accepted records and the card shadows.
    ///
    /// - Parameter adjusted: the refused records a clearing officer accepted (the only
    ///   admissible sources of adjustments).
    public mutating func finish(
        accepted: [(ref: RecordRef, kind: RecordKind, amountFen: UInt32)], shadows: [UInt64: CardShadow], adjusted: Set<RecordRef> = []
    ) {
        let sum = net.values.reduce(Int64(0), +)
        if sum != 0 { note("debits and credits differ by \(sum) fen") }
        // A purse is negative only while fares cleared before the load that funded them; its
        // shadow then holds the difference as arrears.
        for (account, balance) in net where account.kind == .purse {
            let shadow = shadows[account.number]?.ledgerFen ?? 0
            if balance != shadow { note("\(account) sums to \(balance) fen but its shadow holds \(shadow) fen") }
        }
        for (serial, s) in shadows where s.ledgerFen != 0 && net[AccountID(kind: .purse, number: serial)] == nil {
            note("card \(CardSerial(rawValue: serial)) shadow holds \(s.ledgerFen) fen with no transfers")
        }
        var acceptedRefs = Set<RecordRef>()
        for a in accepted {
            acceptedRefs.insert(a.ref)
            let expected = a.amountFen > 0 ? 1 : 0
            if a.kind == .purchase || a.kind == .load, (primaries[a.ref] ?? 0) != expected {
                note("accepted \(a.kind) \(a.ref) has \(primaries[a.ref] ?? 0) \(a.kind) transfers, expected \(expected)")
            }
        }
        for s in sources where !acceptedRefs.contains(s) { note("transfer source \(s) is not an accepted record") }
        for s in adjustmentSources where !adjusted.contains(s) || acceptedRefs.contains(s) {
            note("adjustment source \(s) is not a refused record accepted by an officer")
        }
    }

    /// Whether no violation was found.
    public var holds: Bool { violations.isEmpty }

    private mutating func note(_ v: String) {
        if violations.count < violationsMax { violations.append(v) }
    }
}
