public import OneCardCore

/// The kind of a ledger account.
public enum AccountKind: UInt8, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// A card's purse: the issuer's liability to the cardholder. Number = card serial.
    case purse = 1
    /// Card deposits held by the issuer. Number 0.
    case deposits = 2
    /// Cash a service counter or top-up agent collected for the issuer. Number = terminal ID.
    case agentCash = 3
    /// What the issuer owes an operator for fares. Number = operator ID.
    case operatorPayable = 4
    /// The issuer's commission income (settlement). Number 0.
    case feeIncome = 5
    /// Suspense: officers' adjustments (a refused fare paid, a refused load taken in) until the
    /// card's own records settle them, and, in ledgers written before fares always debited the
    /// purse, fares paid before their load cleared. Number 0.
    case suspense = 6
    /// The issuer's bank (settlement payments). Number 0.
    case bank = 7

    public var description: String {
        switch self {
        case .purse: "purse"
        case .deposits: "deposits"
        case .agentCash: "agent-cash"
        case .operatorPayable: "operator-payable"
        case .feeIncome: "fee-income"
        case .suspense: "suspense"
        case .bank: "bank"
        }
    }
}

/// A ledger account: a kind and a number within it.
public struct AccountID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The kind.
    public var kind: AccountKind
    /// The number within the kind (card serial, terminal ID, operator ID, or 0).
    public var number: UInt64

    /// Names an account.
    public init(kind: AccountKind, number: UInt64 = 0) {
        self.kind = kind
        self.number = number
    }

    /// A card's purse.
    public static func purse(_ serial: CardSerial) -> AccountID { AccountID(kind: .purse, number: serial.rawValue) }
    /// The deposits account.
    public static let deposits = AccountID(kind: .deposits)
    /// A counter's or agent's cash.
    public static func agentCash(_ terminal: TerminalID) -> AccountID { AccountID(kind: .agentCash, number: terminal.rawValue) }
    /// An operator's payable.
    public static func operatorPayable(_ id: UInt16) -> AccountID { AccountID(kind: .operatorPayable, number: UInt64(id)) }
    /// The suspense account.
    public static let suspense = AccountID(kind: .suspense)
    /// Fee income.
    public static let feeIncome = AccountID(kind: .feeIncome)
    /// The issuer's bank.
    public static let bank = AccountID(kind: .bank)

    /// `kind:number`, the number in hex for purses and terminals.
    public var description: String {
        switch kind {
        case .purse: "purse:\(CardSerial(rawValue: number))"
        case .agentCash: "agent-cash:\(TerminalID(rawValue: number).map(\.description) ?? String(number))"
        case .operatorPayable: "operator-payable:\(number)"
        default: kind.description
        }
    }

    public static func < (a: AccountID, b: AccountID) -> Bool { (a.kind.rawValue, a.number) < (b.kind.rawValue, b.number) }
}

/// Why money moved.
public enum TransferReason: UInt8, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// A fare: purse → operator payable (the purse may go below zero until its load clears).
    case purchase = 1
    /// A load: agent cash → purse.
    case load = 2
    /// A deposit taken at issue: agent cash → deposits.
    case deposit = 3
    /// A balance paid back at refund: purse → agent cash.
    case refundBalance = 4
    /// A deposit paid back at refund: deposits → agent cash.
    case refundDeposit = 5
    /// A balance moved at replacement: old purse → new purse.
    case replacement = 6
    /// Arrears recovered: purse → suspense. No longer posted (fares always debit the purse);
    /// kept so that older ledgers still read.
    case arrears = 7
    /// Settlement: operator payable → bank (net of commission).
    case settlementPayment = 8
    /// Settlement: operator payable → fee income (commission).
    case commission = 9
    /// Settlement: bank ← agent cash (what agents hand over).
    case agentRemittance = 10
    /// An officer's adjustment (exception accepted).
    case adjustment = 11

    public var description: String {
        switch self {
        case .purchase: "purchase"
        case .load: "load"
        case .deposit: "deposit"
        case .refundBalance: "refund-balance"
        case .refundDeposit: "refund-deposit"
        case .replacement: "replacement"
        case .arrears: "arrears"
        case .settlementPayment: "settlement-payment"
        case .commission: "commission"
        case .agentRemittance: "agent-remittance"
        case .adjustment: "adjustment"
        }
    }
}

/// Where a transfer came from: one record of one upload batch.
public struct RecordRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The uploading terminal.
    public var terminal: TerminalID
    /// Its batch sequence number.
    public var batch: UInt32
    /// The record's index in the batch.
    public var index: UInt32

    /// Names a record.
    public init(terminal: TerminalID, batch: UInt32, index: UInt32) {
        self.terminal = terminal
        self.batch = batch
        self.index = index
    }

    /// `terminal/batch#index`.
    public var description: String { "\(terminal)/\(batch)#\(index)" }

    public static func < (a: RecordRef, b: RecordRef) -> Bool {
        (a.terminal.rawValue, a.batch, a.index) < (b.terminal.rawValue, b.batch, b.index)
    }
}

/// One immutable double-entry transfer: `amountFen` leaves `debit` and reaches `credit`.
/// Corrections are new transfers, never edits.
public struct Transfer: Hashable, Sendable {
    /// Deterministic id derived from the source (``TransferID``), so replaying a source is a no-op.
    public var id: UInt64
    /// The account debited.
    public var debit: AccountID
    /// The account credited.
    public var credit: AccountID
    /// The amount, > 0.
    public var amountFen: Int64
    /// Why.
    public var reason: TransferReason
    /// The source record (for settlement transfers: the settlement's own reference).
    public var source: RecordRef
    /// When the transaction happened, BCD date-time in the low 56 bits.
    public var dateTimeBCD: UInt64

    /// Builds a transfer. A non-positive amount or an account paying itself is a programmer error.
    public init(id: UInt64, debit: AccountID, credit: AccountID, amountFen: Int64, reason: TransferReason, source: RecordRef, dateTimeBCD: UInt64) {
        precondition(amountFen > 0, "transfer \(id) of \(amountFen) fen")
        precondition(debit != credit, "transfer \(id) from \(debit) to itself")
        self.id = id
        self.debit = debit
        self.credit = credit
        self.amountFen = amountFen
        self.reason = reason
        self.source = source
        self.dateTimeBCD = dateTimeBCD
    }
}

/// Deterministic transfer ids: a 64-bit mix of the source's identity (card serial, what kind
/// of record, which counter, which leg). The same source always gives the same id.
public enum TransferID {
    /// The id of `leg` of the transaction (serial, kind, counter).
    @inline(__always)
    public static func make(serial: UInt64, kind: UInt8, counter: UInt32, leg: UInt8 = 0) -> UInt64 {
        var z = serial &+ (UInt64(kind) << 56 | UInt64(leg) << 48 | UInt64(counter)) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RecordRef {
    /// The reserved terminal id that marks a settlement's own transfers (no real terminal has
    /// it: the city file validator only admits real terminals, and 0xFFFFFFFFFFFF is reserved).
    public static let settlementTerminal = TerminalID(rawValue: TerminalID.rawValueMax)!

    /// The source of a settlement transfer: the business day (days since 1970) as the "batch"
    /// and the participant's position in the settlement as the "index".
    public static func settlement(day: Int, index: UInt32) -> RecordRef {
        precondition(day >= 0 && day <= Int(UInt32.max), "settlement day \(day)")
        return RecordRef(terminal: settlementTerminal, batch: UInt32(day), index: index)
    }

    /// Whether this is a settlement's own reference rather than an upload record.
    public var isSettlement: Bool { terminal == Self.settlementTerminal }
}

extension TransferReason {
    /// The reasons only a settlement posts (with a ``RecordRef/settlement(day:index:)`` source).
    public var isSettlementPosting: Bool { self == .settlementPayment || self == .commission || self == .agentRemittance }
}

extension RecordRef {
    /// Parses `TERMINAL/BATCH#INDEX` (the ``description``); `nil` if malformed.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let t = TerminalID(hex: parts[0]) else { return nil }
        let rest = parts[1].split(separator: "#")
        guard rest.count == 2, let b = UInt32(rest[0]), let i = UInt32(rest[1]) else { return nil }
        self.init(terminal: t, batch: b, index: i)
    }
}
