/// One operator's settlement for a business day.
public struct OperatorSettlement: Sendable, Codable, Equatable {
    /// The operator's number in the city file.
    public var operatorID: UInt16
    /// Its name.
    public var name: String
    /// `bus`, `metro`, `taxi`, `gas`, `issuer`.
    public var kind: String
    /// The commission rate from the city file.
    public var commissionBasisPoints: Int
    /// Accepted purchase records of the day (0-fen metro entries included).
    public var transactions: Int
    /// Sum of their fares.
    public var grossFen: Int64
    /// Refused records accepted by an officer and posted into this day.
    public var adjustments: Int
    /// Sum of those adjustments.
    public var adjustmentFen: Int64
    /// `commissionBasisPoints` of (gross + adjustments), half-up to the fen, once per day.
    public var commissionFen: Int64
    /// gross + adjustments − commission: what the issuer pays the operator.
    public var netPayableFen: Int64
}

/// One service counter's or top-up agent's settlement for a business day.
public struct AgentSettlement: Sendable, Codable, Equatable {
    /// The terminal (12 hex).
    public var terminal: String
    /// Its name in the city file.
    public var name: String
    /// `service-counter`, `top-up-agent`, or `terminal` for one the city does not name.
    public var kind: String
    /// Loads made.
    public var loads: Int
    /// Cash collected for them.
    public var loadsFen: Int64
    /// Cards issued.
    public var issues: Int
    /// Deposits taken at issue.
    public var depositsTakenFen: Int64
    /// Cards refunded.
    public var refunds: Int
    /// Deposits paid back at refund.
    public var depositsRefundedFen: Int64
    /// Balances paid back at refund.
    public var balancesRefundedFen: Int64
    /// Refused loads accepted by an officer and posted into this day.
    public var adjustmentFen: Int64
    /// loads + deposits taken + adjustments − refunds paid: what the agent hands the issuer
    /// (negative: what the issuer pays the agent).
    public var owedToIssuerFen: Int64
}

/// A participant's net position: what it receives (+) or pays (−) at settlement.
public struct Position: Sendable, Codable, Equatable {
    /// `operator:N`, `agent:TERMINAL` or `issuer`.
    public var participant: String
    /// `operator`, `agent` or `issuer`.
    public var role: String
    /// The participant's name.
    public var name: String
    /// Received (+) or paid (−).
    public var positionFen: Int64
}

/// The issuer's side: its position is the change of its float (card purses, deposits and
/// suspense held for cardholders) plus its commission income.
public struct IssuerPosition: Sendable, Codable, Equatable {
    /// Net change of purse, deposit and suspense accounts over the day's transfers.
    public var floatChangeFen: Int64
    /// Commission earned.
    public var commissionFen: Int64
    /// float change + commission = −(sum of all other positions).
    public var positionFen: Int64

    /// Describes the issuer's side.
    public init(floatChangeFen: Int64, commissionFen: Int64, positionFen: Int64) {
        self.floatChangeFen = floatChangeFen
        self.commissionFen = commissionFen
        self.positionFen = positionFen
    }
}

/// An exception or decision shown in the report.
public struct ExceptionLine: Sendable, Codable, Equatable {
    /// The id to decide it by: a decimal clearing-exception id, or `terminal/batch#index`.
    public var id: String
    /// `counter-gap`, `balance-mismatch`, `conflict`, or `refused-NN`.
    public var kind: String
    /// The card, if known.
    public var card: String
    /// What was seen.
    public var detail: String
    /// `open`, `accepted` or `rejected`.
    public var status: String
    /// Who decided.
    public var officer: String?
    /// Why.
    public var reason: String?
    /// When (ISO 8601).
    public var decided: String?

    /// Describes a line.
    public init(id: String, kind: String, card: String, detail: String, status: String, officer: String?, reason: String?, decided: String?) {
        self.id = id
        self.kind = kind
        self.card = card
        self.detail = detail
        self.status = status
        self.officer = officer
        self.reason = reason
        self.decided = decided
    }
}

/// A settlement posting, as listed in the summary.
public struct PostingLine: Sendable, Codable, Equatable {
    /// The transfer id (decimal).
    public var id: String
    /// Debited account.
    public var debit: String
    /// Credited account.
    public var credit: String
    /// Amount.
    public var amountFen: Int64
    /// `settlement-payment`, `commission`, `agent-remittance`.
    public var reason: String
}

/// Totals over the day.
public struct SettlementTotals: Sendable, Codable, Equatable {
    /// Accepted records of the day's runs.
    public var acceptedRecords: Int
    /// Refused records of the day's runs.
    public var refusedRecords: Int
    /// Accepted purchases.
    public var transactions: Int
    /// Sum of fares and fare adjustments.
    public var grossFen: Int64
    /// Sum of commissions.
    public var commissionFen: Int64
    /// Sum paid to operators.
    public var netPayableFen: Int64
    /// Sum owed by agents (net).
    public var owedByAgentsFen: Int64
    /// Adjustments posted into the day.
    public var adjustments: Int
}

/// The `summary.json` document: a business day's settlement.
public struct SettlementSummary: Sendable, Codable, Equatable {
    /// The business day, `YYYY-MM-DD`.
    public var day: String
    /// The cut-off time that starts and ends it.
    public var cutoff: String
    /// Whether the day is closed.
    public var closed: Bool
    /// The ingest runs whose business day it is.
    public var runs: [Int64]
    /// Totals.
    public var totals: SettlementTotals
    /// Per operator, by id.
    public var operators: [OperatorSettlement]
    /// Per agent/counter terminal, by id.
    public var agents: [AgentSettlement]
    /// The issuer's position.
    public var issuer: IssuerPosition
    /// Every participant's position; they sum to zero.
    public var positions: [Position]
    /// Accepted purchases by hour of the tap (0…23, local time).
    public var tapsByHour: [Int]
    /// Refused records by code (every code present).
    public var refusalsByCode: [String: Int]
    /// Exceptions opened by the day's runs, and decisions whose adjustments land in the day.
    public var exceptions: [ExceptionLine]
    /// The settlement's own postings.
    public var postings: [PostingLine]
}
