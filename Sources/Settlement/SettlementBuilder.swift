public import City
public import Clearing
public import OneCardCore
import UploadBatch

/// Computes a business day's settlement from the day's ledger, fed page by page (bounded
/// memory whatever the size of the day): the accepted records' details, the upload transfers,
/// the refusals, and the adjustments officers posted into the day. Pure: no I/O.
///
/// Money rules (docs/settlement.md):
/// - an operator's commission is its basis-point rate applied ONCE to the day's gross
///   (fares + fare adjustments), rounded half-up to the fen (``BasisPoints/portion(ofFen:)``);
///   net payable = gross − commission;
/// - an agent owes loads + deposits taken + load adjustments − balances and deposits refunded;
/// - the issuer's position is its float change (purses, deposits, suspense) plus commission;
///   all positions sum to zero, which cross-checks the records against the transfers.
public struct SettlementBuilder {
    /// The business day.
    public let day: BCDDate
    let city: City
    /// The operators, without the purchases of ``streak`` (``operatorsSoFar`` has them).
    var operatorTable: [UInt16: OperatorSettlement] = [:]
    var agents: [UInt64: AgentSettlement] = [:]
    /// Accepted purchases per terminal, without those of ``streak``.
    var purchaseTable: [TerminalID: (count: Int, amountFen: Int64)] = [:]
    /// The purchases of the latest batch, not yet in the tables. A day's details come batch by
    /// batch, so one terminal's (and one operator's) fares are consecutive: they are summed here
    /// and folded into the tables when the batch changes, two hash lookups a batch instead of
    /// two a fare.
    var streak = PurchaseStreak()
    var tapsByHour = [Int](repeating: 0, count: 24)
    var refusalsByCode: [String: Int] = Dictionary(uniqueKeysWithValues: RefusalCode.allCases.map { ($0.rawValue, 0) })
    var floatChangeFen: Int64 = 0
    var accepted = 0
    var refused = 0
    var adjustments = 0

    /// Starts an empty day.
    public init(day: BCDDate, city: City) {
        self.day = day
        self.city = city
    }

    /// Adds one accepted record of the day's runs. Returns the operator whose clearing file
    /// lists it (purchases only), else `nil`.
    @discardableResult
    public mutating func add(_ d: AcceptedDetail) -> UInt16? {
        accepted += 1
        switch d.kind {
        case .purchase:
            if streak.terminal != d.ref.terminal || streak.operatorID != d.operatorID {
                fold(streak)
                streak = PurchaseStreak(terminal: d.ref.terminal, operatorID: d.operatorID)
            }
            streak.count += 1
            streak.amountFen += Int64(d.amountFen)
            tapsByHour[BCDClock.hour(d.dateTimeBCD)] += 1
            return d.operatorID
        case .load:
            update(d.ref.terminal) { $0.loads += 1; $0.loadsFen += Int64(d.amountFen) }
        case .issue:
            update(d.ref.terminal) { $0.issues += 1; $0.depositsTakenFen += Int64(d.depositFen) }
        case .refund:
            update(d.ref.terminal) {
                $0.refunds += 1
                $0.balancesRefundedFen += Int64(d.amountFen)
                $0.depositsRefundedFen += Int64(d.depositFen)
            }
        case .replacement, .grey:
            break
        }
        return nil
    }

    /// Adds one transfer posted by the day's runs: its effect on the issuer's float.
    public mutating func addUpload(_ t: Transfer) { addFloat(t) }

    /// Adds one refused record of the day's runs.
    public mutating func add(_ f: Refusal) {
        refused += 1
        refusalsByCode[f.code.rawValue, default: 0] += 1
    }

    /// Adds an officer's adjustment posted into this day: suspense → operator payable (a fare)
    /// or agent cash → suspense (a load). Returns the operator whose clearing file lists it.
    @discardableResult
    public mutating func addAdjustment(_ t: Transfer) -> UInt16? {
        precondition(t.reason == .adjustment, "adjustment \(t.id) has reason \(t.reason)")
        adjustments += 1
        addFloat(t)
        if t.credit.kind == .operatorPayable {
            let id = UInt16(truncatingIfNeeded: t.credit.number)
            updateOperator(id) { $0.adjustments += 1; $0.adjustmentFen += t.amountFen }
            return id
        }
        if t.debit.kind == .agentCash, let terminal = TerminalID(rawValue: t.debit.number) {
            update(terminal) { $0.adjustmentFen += t.amountFen }
        }
        return nil
    }

    private mutating func addFloat(_ t: Transfer) {
        if Self.isFloat(t.credit) { floatChangeFen += t.amountFen }
        if Self.isFloat(t.debit) { floatChangeFen -= t.amountFen }
    }

    /// The issuer's float: what it holds for cardholders (purses, deposits) and in suspense.
    static func isFloat(_ a: AccountID) -> Bool { a.kind == .purse || a.kind == .deposits || a.kind == .suspense }

    private mutating func updateOperator(_ id: UInt16, _ body: (inout OperatorSettlement) -> Void) {
        body(&operatorTable[id, default: Self.emptyOperator(id, city)])
    }

    private mutating func update(_ terminal: TerminalID, _ body: (inout AgentSettlement) -> Void) {
        body(&agents[terminal.rawValue, default: Self.emptyAgent(terminal, city)])
    }

    /// Accepted purchases per terminal: count and fen (reconciliation).
    public var terminalPurchases: [TerminalID: (count: Int, amountFen: Int64)] {
        var b = self
        b.fold(streak)
        return b.purchaseTable
    }

    /// Every operator with all its purchases so far.
    var operators: [UInt16: OperatorSettlement] {
        var b = self
        b.fold(streak)
        return b.operatorTable
    }

    private mutating func fold(_ s: PurchaseStreak) {
        guard let terminal = s.terminal, s.count > 0 else { return }
        updateOperator(s.operatorID) { $0.transactions += s.count; $0.grossFen += s.amountFen }
        purchaseTable[terminal, default: (0, 0)].count += s.count
        purchaseTable[terminal, default: (0, 0)].amountFen += s.amountFen
    }

    static func emptyOperator(_ id: UInt16, _ city: City) -> OperatorSettlement {
        let op = city.operators[OperatorID(rawValue: id)]
        return OperatorSettlement(
            operatorID: id, name: op?.name ?? "operator \(id)", kind: op?.kind.description ?? "unknown",
            commissionBasisPoints: op?.commission.rawValue ?? 0, transactions: 0, grossFen: 0, adjustments: 0, adjustmentFen: 0,
            commissionFen: 0, netPayableFen: 0)
    }

    static func emptyAgent(_ t: TerminalID, _ city: City) -> AgentSettlement {
        let (name, kind): (String, String) = switch city.terminals[t]?.location {
        case .serviceCounter(let name)?: (name, "service-counter")
        case .topUpAgent(let name)?: (name, "top-up-agent")
        default: ("terminal \(t)", "terminal")
        }
        return AgentSettlement(
            terminal: t.description, name: name, kind: kind, loads: 0, loadsFen: 0, issues: 0, depositsTakenFen: 0, refunds: 0,
            depositsRefundedFen: 0, balancesRefundedFen: 0, adjustmentFen: 0, owedToIssuerFen: 0)
    }
}

/// Reading the packed 7-byte BCD date-time (`YYYYMMDDhhmmss`) without building dates.
enum BCDClock {
    /// The hour (0…23) of a packed date-time; 0 for a malformed one.
    static func hour(_ v: UInt64) -> Int {
        let b = Int(truncatingIfNeeded: v >> 16) & 0xFF
        let h = (b >> 4) * 10 + (b & 0xF)
        return h < 24 ? h : 0
    }

    /// Packs a date and time.
    static func pack(_ d: BCDDate, _ t: BCDTime) -> UInt64 {
        var v: UInt64 = 0
        for n in [d.year / 100, d.year % 100, d.month, d.day, t.hour, t.minute, t.second] {
            v = v << 8 | UInt64(n / 10) << 4 | UInt64(n % 10)
        }
        return v
    }

    /// Appends `YYYY-MM-DDThh:mm:ss` straight from the nibbles.
    static func appendISO(_ v: UInt64, to out: inout [UInt8]) {
        for i in 0..<7 {
            let b = UInt8(truncatingIfNeeded: v >> (8 * (6 - i)))
            out.append(0x30 &+ (b >> 4))
            out.append(0x30 &+ (b & 0xF))
            switch i {
            case 1, 2: out.append(UInt8(ascii: "-"))
            case 3: out.append(UInt8(ascii: "T"))
            case 4, 5: out.append(UInt8(ascii: ":"))
            default: break
            }
        }
    }
}

/// Consecutive purchases of one terminal and operator (``SettlementBuilder/streak``).
struct PurchaseStreak {
    var terminal: TerminalID?
    var operatorID: UInt16 = 0
    var count = 0
    var amountFen: Int64 = 0
}
