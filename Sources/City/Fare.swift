import OneCardCore

/// How a fare was priced, for the rider's display and the batch record's fare context.
public enum FareRule: Hashable, Sendable {
    /// A bus line's flat fare.
    case flat(line: LineID)
    /// A metro journey of `metres` between two stations.
    case distance(from: StationID, to: StationID, metres: Int64)
    /// The network's maximum fare, charged for a journey the gate could not price.
    case incompleteJourney(IncompleteReason)
    /// An amount entered at a taxi meter or gas counter.
    case entered
}

/// Why a metro journey is incomplete.
public enum IncompleteReason: Hashable, Sendable {
    /// Exit with no entry on the card.
    case noEntry
    /// Exit (or a new entry) more than the stale limit after the entry, or an entry stamped after
    /// the exit.
    case staleEntry(entry: OpenEntry)
    /// A new entry while a fresh entry is still open.
    case entryTwice(entry: OpenEntry)
    /// The entry names a station this city does not have.
    case unknownEntryStation(entry: OpenEntry)
}

/// A priced transaction: the amount to debit and how it was reached. All amounts in fen,
/// `payableFen = baseFen - concessionFen - transferDiscountFen`, never negative, never above
/// the card maximum balance (so it fits the card's `UInt32` amount).
public struct Fare: Hashable, Sendable {
    /// The full adult fare (or the entered amount).
    public let baseFen: Int64
    /// Taken off for the card type (rounded once, half-up; docs/fares.md).
    public let concessionFen: Int64
    /// Taken off for a transfer within the window.
    public let transferDiscountFen: Int64
    /// What the card pays.
    public let payableFen: Int64
    /// How the base was priced.
    public let rule: FareRule

    /// A fare from its parts (for journals replaying a record, and tests).
    ///
    /// - Precondition: every amount ≥ 0 and `payableFen == baseFen - concessionFen - transferDiscountFen`.
    public init(baseFen: Int64, concessionFen: Int64, transferDiscountFen: Int64, payableFen: Int64, rule: FareRule) {
        precondition(baseFen >= 0 && concessionFen >= 0 && transferDiscountFen >= 0 && payableFen >= 0
                     && baseFen - concessionFen - transferDiscountFen == payableFen,
                     "fare does not add up: \(baseFen) - \(concessionFen) - \(transferDiscountFen) != \(payableFen)")
        self.baseFen = baseFen
        self.concessionFen = concessionFen
        self.transferDiscountFen = transferDiscountFen
        self.payableFen = payableFen
        self.rule = rule
    }

    /// The amount as the card's 4-byte field.
    public var payableCardFen: UInt32 {
        // Every fare is validated ≤ balanceFenMax ≤ UInt32.max at load.
        UInt32(clamping: payableFen)
    }
}

/// The trip before this one, as the terminal reads it from the card's trip log (file 0x1E):
/// what the transfer discount looks at.
public struct PreviousTrip: Hashable, Sendable {
    /// The kind of operator of that trip (from the record's industry byte).
    public let kind: OperatorKind
    /// When it was charged: bus boarding, metro exit, taxi/gas payment.
    public let at: BCDDateTime
    /// Whether that trip itself received a transfer discount; a discount is given once per
    /// chain, so a trip after a discounted trip gets none.
    public let wasTransfer: Bool

    /// Describes a previous trip.
    public init(kind: OperatorKind, at: BCDDateTime, wasTransfer: Bool = false) {
        self.kind = kind
        self.at = at
        self.wasTransfer = wasTransfer
    }
}

/// A metro entry still open on the card (the in-journey record, file 0x1A).
public struct OpenEntry: Hashable, Sendable {
    /// The station entered.
    public let station: StationID
    /// When.
    public let at: BCDDateTime

    /// Describes an open entry.
    public init(station: StationID, at: BCDDateTime) {
        self.station = station
        self.at = at
    }
}

/// What a metro gate does on entry.
public struct EntryDecision: Hashable, Sendable {
    /// A charge for an earlier journey left open (under the `maxFare` policy), debited before the
    /// new entry is written; `nil` when nothing is owed.
    public let unfinishedJourneyFare: Fare?
}

/// A transaction the terminal must not make, with a sentence to show the rider.
public struct FareRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why, for programs.
    public enum Reason: Hashable, Sendable {
        /// The terminal is not in the city file.
        case unknownTerminal(TerminalID)
        /// The terminal's kind does not do this (e.g. a bus fare asked of a metro gate).
        case wrongTerminalKind(OperatorKind)
        /// The entered amount is below the operator's minimum.
        case amountBelowMinimum(amountFen: Int64, minFen: Int64)
        /// The entered amount is above the operator's maximum.
        case amountAboveMaximum(amountFen: Int64, maxFen: Int64)
        /// An incomplete journey under the `refuse` policy.
        case incompleteJourney(IncompleteReason)
    }

    /// Why.
    public let reason: Reason

    /// Builds a refusal.
    public init(_ reason: Reason) { self.reason = reason }

    /// The sentence shown to the rider (English; the terminal may translate by ``reason``).
    public var description: String {
        switch reason {
        case .unknownTerminal(let t): "This terminal (\(t)) is not registered. Please tell the staff."
        case .wrongTerminalKind(let k): "This \(k) terminal cannot take this payment."
        case .amountBelowMinimum(let a, let lo): "Amount \(Fen.yuan(a)) yuan is below the minimum of \(Fen.yuan(lo)) yuan."
        case .amountAboveMaximum(let a, let hi): "Amount \(Fen.yuan(a)) yuan is above the maximum of \(Fen.yuan(hi)) yuan."
        case .incompleteJourney(.noEntry): "No entry recorded on this card. Please see station staff."
        case .incompleteJourney(.staleEntry(let e)): "Your entry at \(e.at) is too old. Please see station staff."
        case .incompleteJourney(.entryTwice(let e)): "This card already entered at \(e.at). Please see station staff."
        case .incompleteJourney(.unknownEntryStation(let e)): "The entry station \(e.station) is not known here. Please see station staff."
        }
    }
}
