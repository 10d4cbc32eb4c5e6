import OneCardCore

/// Rules for the card itself, kept by the issuer.
public struct CardRules: Hashable, Sendable {
    /// The most a purse may hold; a load never takes the balance above it (default 100000 fen,
    /// 1000 yuan). Also the upper limit for every fare in the file.
    public let balanceFenMax: Int64
    /// The refundable deposit taken when a card is issued.
    public let depositFen: Int64
    /// How long a newly issued card is valid, in years from the issue date.
    public let validityYears: Int
}

/// A discount for one card type on the operators of the listed kinds.
public struct Concession: Hashable, Sendable {
    /// The card type that gets the discount.
    public let cardType: CardType
    /// The operator kinds it applies to.
    public let operatorKinds: Set<OperatorKind>
    /// The discount: 5000 = half fare, 10000 = free.
    public let discount: BasisPoints
}

/// A participant in clearing: the issuer or a transport/utility operator.
public struct Operator: Hashable, Sendable {
    /// The city's number for the operator.
    public let id: OperatorID
    /// The name shown on reports.
    public let name: String
    /// What it does.
    public let kind: OperatorKind
    /// The 2-byte operator code written in trip records (bytes [14..15]).
    public let recordCode: RecordCode
    /// The issuer's commission on this operator's fares, deducted at settlement.
    public let commission: BasisPoints
    /// For taxi and gas: the smallest amount a terminal accepts; 1 for other kinds.
    public let amountFenMin: Int64
    /// For taxi and gas: the largest amount a terminal accepts; the card maximum for others.
    public let amountFenMax: Int64
}

/// Where a terminal stands and what it serves; the case matches its operator's kind.
public enum TerminalLocation: Hashable, Sendable {
    /// A validator on a bus of `line`.
    case bus(line: LineID, vehicle: String)
    /// A metro gate at `station` of `line` (entry and exit).
    case metroGate(line: LineID, station: StationID)
    /// A meter in a taxi.
    case taxi(vehicle: String)
    /// A gas company payment counter.
    case gasCounter(counter: String)
    /// An issuer service counter: issues, loads, refunds, replacements.
    case serviceCounter(name: String)
    /// A top-up agent (e.g. a shop) loading cards on the issuer's behalf.
    case topUpAgent(name: String)

    /// The operator kind this location belongs to.
    public var operatorKind: OperatorKind {
        switch self {
        case .bus: .bus
        case .metroGate: .metro
        case .taxi: .taxi
        case .gasCounter: .gas
        case .serviceCounter, .topUpAgent: .issuer
        }
    }

    /// The trip record line code, or `0000` where there is none.
    public var line: LineID {
        switch self {
        case .bus(let line, _), .metroGate(let line, _): line
        default: LineID(rawValue: 0)
        }
    }

    /// The trip record station code, or `0000` where there is none.
    public var station: StationID {
        if case .metroGate(_, let station) = self { return station }
        return StationID(rawValue: 0)
    }
}

/// A terminal the city knows: its 6-byte id, owner and location.
public struct Terminal: Hashable, Sendable {
    /// The terminal (PSAM) number.
    public let id: TerminalID
    /// The operator that owns it and is paid for its transactions.
    public let operatorID: OperatorID
    /// Where it stands.
    public let location: TerminalLocation
}

/// A bus line with a flat fare.
public struct BusLine: Hashable, Sendable {
    /// The line code in trip records.
    public let id: LineID
    /// The operator running it.
    public let operatorID: OperatorID
    /// The name riders know (e.g. "5路").
    public let name: String
    /// The full adult fare.
    public let fareFen: Int64
}

/// A metro station on a line.
public struct Station: Hashable, Sendable {
    /// The station code; shared by all lines at a transfer station.
    public let id: StationID
    /// The name riders know.
    public let name: String
    /// Track distance from the line's first station, in metres.
    public let metres: Int64
}

/// A metro line: its stations in order.
public struct MetroLine: Hashable, Sendable {
    /// The line code in trip records.
    public let id: LineID
    /// The name riders know.
    public let name: String
    /// Stations from one terminus to the other, `metres` strictly increasing.
    public let stations: [Station]
}

/// One band of the distance fare table: journeys up to `metresMax` pay `fareFen`.
public struct FareBand: Hashable, Sendable {
    /// The longest journey in this band, in metres (inclusive).
    public let metresMax: Int64
    /// The adult fare for the band.
    public let fareFen: Int64
}

/// What a gate does with a journey it cannot price normally.
public enum IncompletePolicy: String, Hashable, Sendable {
    /// Charge the network's maximum fare (after concession) and let the rider through.
    case maxFare
    /// Refuse; the rider goes to station staff.
    case refuse
}

/// The metro network: lines, fare table and gate policies.
public struct MetroNetwork: Hashable, Sendable {
    /// The metro operator.
    public let operatorID: OperatorID
    /// The lines.
    public let lines: [MetroLine]
    /// The fare bands, `metresMax` strictly increasing and `fareFen` not decreasing.
    public let fareBands: [FareBand]
    /// Beyond the last band, `addFen` more for every started `everyMetres` (0 = flat).
    public let beyondEveryMetres: Int64
    /// See ``beyondEveryMetres``.
    public let beyondAddFen: Int64
    /// An entry older than this at exit (or at a new entry) is stale: the journey is incomplete.
    public let staleEntryMinutesMax: Int
    /// Exit without entry, or with a stale entry.
    public let incompleteJourney: IncompletePolicy
    /// Entry while the card already holds a fresh (not stale) entry.
    public let entryTwice: IncompletePolicy
    /// The adult fare of the longest shortest journey in the network (computed at load).
    public internal(set) var maxFareFen: Int64
    /// Each distinct station's row in `metresBetween`.
    let stationIndex: [StationID: Int]
    /// Shortest track distance between every pair of stations, row-major, in metres.
    let metresBetween: [Int64]

    /// The line with this code.
    public func line(_ id: LineID) -> MetroLine? { lines.first { $0.id == id } }

    /// The shortest track distance between two stations in metres (changing lines at transfer
    /// stations), or `nil` if either is unknown.
    public func metres(from a: StationID, to b: StationID) -> Int64? {
        guard let i = stationIndex[a], let j = stationIndex[b] else { return nil }
        return metresBetween[i * stationIndex.count + j]
    }

    /// The adult fare for a journey of `metres`: the first band whose `metresMax` covers it;
    /// beyond the last band, `beyondAddFen` for every started `beyondEveryMetres`.
    public func fareFen(forMetres metres: Int64) -> Int64 {
        precondition(metres >= 0 && !fareBands.isEmpty, "fare for \(metres) m with \(fareBands.count) bands")
        if let band = fareBands.first(where: { metres <= $0.metresMax }) { return band.fareFen }
        let last = fareBands[fareBands.count - 1]
        guard beyondEveryMetres > 0 else { return last.fareFen }
        let started = (metres - last.metresMax + beyondEveryMetres - 1) / beyondEveryMetres
        return last.fareFen + started * beyondAddFen
    }
}

/// The transfer discount between operator kinds.
public struct TransferRule: Hashable, Sendable {
    /// An ordered pair: a trip of `from` followed by one of `to`.
    public struct Pair: Hashable, Sendable {
        /// The kind of the previous trip.
        public let from: OperatorKind
        /// The kind of the current trip.
        public let to: OperatorKind
    }
    /// The longest gap between the previous trip and the start of this one, in minutes
    /// (inclusive).
    public let windowMinutes: Int
    /// The discount, taken off the fare after concession, never below zero.
    public let discountFen: Int64
    /// Which kinds pair up.
    public let pairs: Set<Pair>
}

/// What clearing and settlement read from the city.
public struct SettlementRules: Hashable, Sendable {
    /// The business day runs from this local time to the same time the next day (e.g. 02:00).
    public let cutoff: BCDTime
    /// Records uploaded more than this many days after the transaction are refused as expired
    /// (refusal `05`).
    public let uploadWindowDays: Int
}
