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

    /// Accepted records checked so far.
    public private(set) var acceptedCount = 0
    /// Purse nets by card serial.
    private var purses = NetTable()
    /// The nets of every other account, by ``otherKey(_:)``; accounts whose number does not
    /// fit it (no genuine one) in `unusual`.
    private var others = NetTable()
    private var unusual: [AccountID: Int64] = [:]
    /// The current run's transfer sources, packed (``key(_:)``), with whether each is a fare or
    /// load transfer: sorted and merged with the run's accepted records at its close, then
    /// dropped (no hashing per record).
    private var sources: [(key: Key, primary: Bool)] = []
    /// Every transfer id, sorted once at the end: 8 bytes a transfer.
    private var ids: [UInt64] = []
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
            addNet(t.debit, -t.amountFen)
            addNet(t.credit, t.amountFen)
            ids.append(t.id)
            if t.source.isSettlement || t.reason.isSettlementPosting {
                checkSettlement(t)
                continue
            }
            if t.reason == .adjustment {
                adjustmentSources.insert(t.source)
                continue
            }
            sources.append((Self.key(t.source), t.reason == .purchase || t.reason == .load))
        }
    }

    @inline(__always)
    private mutating func addNet(_ a: AccountID, _ amount: Int64) {
        if a.kind == .purse {
            purses.add(a.number, amount)
        } else if a.number >> 56 == 0 {
            others.add(Self.otherKey(a), amount)
        } else {
            unusual[a, default: 0] += amount
        }
    }

    /// A non-purse account whose number fits 56 bits (terminal IDs are 48, operator IDs 16) as
    /// one word: kind in the top byte.
    @inline(__always)
    static func otherKey(_ a: AccountID) -> UInt64 { UInt64(a.kind.rawValue) << 56 | a.number }

    private mutating func checkSettlement(_ t: Transfer) {
        if !t.source.isSettlement { note("\(t.reason) transfer \(t.id) has the upload record \(t.source) as its source") }
        if !t.reason.isSettlementPosting { note("\(t.reason) transfer \(t.id) carries the settlement reference \(t.source)") }
        if t.debit.kind == .purse || t.credit.kind == .purse { note("settlement transfer \(t.id) touches \(t.debit) → \(t.credit)") }
    }

    /// Closes a run: checks the transfers fed since the last close against the records the run
    /// accepted (a run's transfers come from its own records), then forgets them, so an audit
    /// holds one run at a time. Feed the settlement transfers (adjustments) before the runs.
    public mutating func closeRun(accepted: [(ref: RecordRef, kind: RecordKind, amountFen: UInt32)]) {
        // Keys computed once, not twice a comparison.
        let records = accepted.indices.map { (key: Self.key(accepted[$0].ref), index: $0) }.sorted { $0.key < $1.key }
        sources.sort { $0.key < $1.key }
        var j = 0
        var previous: Key?
        for (k, i) in records {
            let a = accepted[i]
            if previous == k { note("accepted record \(a.ref) appears twice") }
            previous = k
            while j < sources.count, sources[j].key < k {
                note("transfer source \(Self.ref(sources[j].key)) is not an accepted record")
                j += 1
            }
            var primaries = 0
            while j < sources.count, sources[j].key == k {
                if sources[j].primary { primaries += 1 }
                j += 1
            }
            let expected = a.amountFen > 0 ? 1 : 0
            if a.kind == .purchase || a.kind == .load, primaries != expected {
                note("accepted \(a.kind) \(a.ref) has \(primaries) \(a.kind) transfers, expected \(expected)")
            }
            if !adjustmentSources.isEmpty, adjustmentSources.contains(a.ref) { note("adjustment source \(a.ref) is an accepted record (paid twice)") }
        }
        for s in sources[j...] { note("transfer source \(Self.ref(s.key)) is not an accepted record") }
        acceptedCount += accepted.count
        sources.removeAll(keepingCapacity: true)
    }

    /// A record reference as two words that sort like (terminal, batch, index).
    struct Key: Comparable {
        var high: UInt64
        var low: UInt64
        static func < (a: Key, b: Key) -> Bool { a.high != b.high ? a.high < b.high : a.low < b.low }
    }

    static func key(_ r: RecordRef) -> Key { Key(high: r.terminal.rawValue, low: UInt64(r.batch) << 32 | UInt64(r.index)) }

    /// The `TERMINAL/BATCH#INDEX` a key packs.
    static func ref(_ k: Key) -> String {
        TerminalID(rawValue: k.high).map { RecordRef(terminal: $0, batch: UInt32(k.low >> 32), index: UInt32(truncatingIfNeeded: k.low)).description } ?? "?"
    }

    /// Checks everything against the accepted records and the card shadows.
    ///
    /// - Parameters:
    ///   - accepted: the records accepted by the transfers fed since the last ``closeRun(accepted:)``.
    ///   - adjusted: the refused records a clearing officer accepted (the only admissible
    ///     sources of adjustments).
    public mutating func finish(
        accepted: [(ref: RecordRef, kind: RecordKind, amountFen: UInt32)] = [], shadows: CardTable, adjusted: Set<RecordRef> = []
    ) {
        closeRun(accepted: accepted)
        RadixSort.sort(&ids)
        for i in ids.indices.dropFirst() where ids[i] == ids[i - 1] && (i < 2 || ids[i - 2] != ids[i]) {
            note("transfer id \(ids[i]) appears twice")
        }
        ids = []
        let sum = purses.total + others.total + unusual.values.reduce(Int64(0), +)
        if sum != 0 { note("debits and credits differ by \(sum) fen") }
        // A purse is negative only while fares cleared before the load that funded them; its
        // shadow then holds the difference as arrears.
        var wrong: [(UInt64, Int64, Int64)] = []
        purses.forEach { serial, balance in
            let shadow = shadows[serial]?.ledgerFen ?? 0
            if balance != shadow { wrong.append((serial, balance, shadow)) }
        }
        for (serial, balance, shadow) in wrong.sorted(by: { $0.0 < $1.0 }) {
            note("\(AccountID.purse(CardSerial(rawValue: serial))) sums to \(balance) fen but its shadow holds \(shadow) fen")
        }
        for (serial, s) in shadows where s.ledgerFen != 0 && purses.sum(serial) == nil {
            note("card \(CardSerial(rawValue: serial)) shadow holds \(s.ledgerFen) fen with no transfers")
        }
        for s in adjustmentSources where !adjusted.contains(s) {
            note("adjustment source \(s) is not a refused record accepted by an officer")
        }
    }

    /// Whether no violation was found.
    public var holds: Bool { violations.isEmpty }

    private mutating func note(_ v: String) {
        if violations.count < violationsMax { violations.append(v) }
    }
}
