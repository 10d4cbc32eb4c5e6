public import City
public import OneCardCore

/// What one card presentation at a fare terminal came to: everything a rider display, a driver
/// display and the CLI's `--json` line are built from.
public struct TapResult: Sendable, Equatable {
    /// How the tap ended.
    public enum Outcome: String, Sendable {
        /// The fare was debited and journaled.
        case approved
        /// Nothing was charged; ``TapResult/reason`` says why.
        case declined
        /// The same card paid at this terminal moments ago; not charged again.
        case alreadyPaid
        /// An earlier torn tap was found complete on the card and journaled; not charged again.
        case recovered
        /// The card left the field mid-transaction; present it again.
        case cardRemoved
    }

    /// What the terminal did for the rider.
    public enum Action: String, Sendable {
        /// A bus boarding (flat fare).
        case bus
        /// A metro gate entry.
        case metroEntry
        /// A metro gate exit.
        case metroExit
        /// A taxi payment (entered amount).
        case taxi
        /// A gas payment (entered amount).
        case gas
    }

    /// How the tap ended.
    public var outcome: Outcome
    /// The reason or confirmation in plain words, for the rider.
    public var reason: String
    /// What kind of payment this terminal takes.
    public var action: Action?
    /// The card, once read.
    public var serial: CardSerial?
    /// The card type (concession category), once read.
    public var cardType: CardType?
    /// `06` simple or `09` compound purchase, when one was made.
    public var transactionType: TransactionType?
    /// The amount debited (0 when nothing was).
    public var amountFen: UInt32 = 0
    /// Balance before, when known.
    public var balanceBeforeFen: UInt32?
    /// Balance after, when known.
    public var balanceAfterFen: UInt32?
    /// The card's offline counter before the purchase.
    public var offlineCounter: PurseCounter?
    /// The terminal sequence number of the purchase.
    public var sequence: TerminalSequence?
    /// The card's TAC of the purchase.
    public var tac: UInt32?
    /// When the tap happened (terminal clock).
    public var at: BCDDateTime
    /// How the fare was reached (base, concession, transfer discount, rule).
    public var fare: Fare?

    /// A result with only an outcome and a reason so far.
    public init(outcome: Outcome, reason: String, at: BCDDateTime) {
        self.outcome = outcome
        self.reason = reason
        self.at = at
    }

    /// Whether the rider may go (gate opens, driver sees green): approved, already paid or
    /// recovered.
    public var isApproved: Bool { outcome == .approved || outcome == .alreadyPaid || outcome == .recovered }

    /// The lines a rider or driver display shows, in plain words.
    public var display: String {
        var lines = [reason]
        if let fare, outcome == .approved {
            var parts = ["fare \(Fen.yuan(fare.baseFen))"]
            if fare.concessionFen > 0 { parts.append("concession −\(Fen.yuan(fare.concessionFen))") }
            if fare.transferDiscountFen > 0 { parts.append("transfer −\(Fen.yuan(fare.transferDiscountFen))") }
            parts.append("paid \(Fen.yuan(fare.payableFen)) yuan")
            lines.append(parts.joined(separator: ", "))
        }
        if let after = balanceAfterFen { lines.append("balance \(Fen.yuan(Int64(after))) yuan") }
        if let serial, let cardType { lines.append("card \(serial.masked) (\(cardType))") }
        return lines.joined(separator: "\n")
    }

    /// One JSON object on one line, the CLI's `--json` format (issue 4): `result` is
    /// `approved` for every outcome that lets the rider go, `declined` otherwise; `outcome`
    /// carries the exact outcome. Absent values are `null`.
    public var jsonLine: String {
        func q(_ s: String?) -> String { s.map { "\"" + Self.escape($0) + "\"" } ?? "null" }
        func n(_ v: (some BinaryInteger)?) -> String { v.map { "\($0)" } ?? "null" }
        let fields: [(String, String)] = [
            ("result", q(isApproved ? "approved" : "declined")), ("outcome", q(outcome.rawValue)), ("reason", q(reason)),
            ("card", q(serial?.description)), ("type", q(transactionType.map { [$0.rawValue].hex })),
            ("amountFen", "\(amountFen)"), ("balanceBeforeFen", n(balanceBeforeFen)), ("balanceAfterFen", n(balanceAfterFen)),
            ("offlineCounter", n(offlineCounter?.rawValue)), ("terminalSequence", n(sequence?.rawValue)),
            ("tac", q(tac.map { v in var b: [UInt8] = []; b.appendBigEndian(v); return b.hex })), ("at", q(at.description)),
            ("baseFareFen", n(fare?.baseFen)), ("concessionFen", n(fare?.concessionFen)),
            ("transferDiscountFen", n(fare?.transferDiscountFen)),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    private static func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where u.value < 0x20: out += "\\u00" + [UInt8(u.value)].hex.lowercased()
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }
}
