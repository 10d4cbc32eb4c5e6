import OneCardCore

/// The city's own number for an operator (issuer, bus company, metro, …), as written in the
/// city file and used by clearing and settlement. Small and stable; not the 2-byte code in trip
/// records (that is ``Operator/recordCode``).
public struct OperatorID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The operator number.
    public let rawValue: UInt16
    /// Wraps an operator number.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Decimal.
    public var description: String { String(rawValue) }
    public static func < (a: OperatorID, b: OperatorID) -> Bool { a.rawValue < b.rawValue }
}

/// What an operator does; it decides which terminals, fares and concessions apply.
public enum OperatorKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The card issuer: service counters and top-up agents (loads, issues, refunds).
    case issuer
    /// A bus company: flat fare per line.
    case bus
    /// The metro: distance fare from entry to exit.
    case metro
    /// A taxi company: amount entered at the meter.
    case taxi
    /// A gas company: amount entered at the counter.
    case gas

    /// The trip record industry byte (EPURSE.md §2: `01` metro, `02` bus, *ours* `03` taxi,
    /// `04` gas); `nil` for the issuer, which writes no trip records.
    public var industryCode: UInt8? {
        switch self {
        case .issuer: nil
        case .metro: 0x01
        case .bus: 0x02
        case .taxi: 0x03
        case .gas: 0x04
        }
    }

    /// The lower-case name used in the city file.
    public var description: String { rawValue }
}

/// A 2-byte code as written in trip records (city code, line, station, operator code); shown as
/// 4 upper-case hex digits.
public struct RecordCode: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The two bytes as a big-endian integer.
    public let rawValue: UInt16
    /// Wraps a code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Parses exactly 4 hex digits.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 4, let b = Hex.decode(hex), b.count == 2 else { return nil }
        self.rawValue = UInt16(b[0]) << 8 | UInt16(b[1])
    }

    /// The 2 big-endian bytes.
    public var bytes: [UInt8] { [UInt8(rawValue >> 8), UInt8(rawValue & 0xFF)] }
    /// 4 upper-case hex digits.
    public var description: String { bytes.hex }
    public static func < (a: RecordCode, b: RecordCode) -> Bool { a.rawValue < b.rawValue }
}

/// The city code in trip records (bytes [32..33]).
public typealias CityCode = RecordCode
/// A bus or metro line code (trip record bytes [10..11]). Unique within the city.
public typealias LineID = RecordCode
/// A metro station code (trip record bytes [12..13]). A transfer station has one code and
/// appears on every line that serves it.
public typealias StationID = RecordCode

/// A rate in basis points (1/100 of a percent): 10000 = 100 %. Used for concession discounts and
/// operator commissions.
public struct BasisPoints: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// 100 %.
    public static let rawValueMax = 10_000
    /// The rate, 0...10000.
    public let rawValue: Int

    /// Wraps a rate; `nil` outside 0...10000.
    public init?(rawValue: Int) {
        guard (0...Self.rawValueMax).contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// No discount, no commission.
    public static let zero = BasisPoints(rawValue: 0)!

    /// `fen × rate / 10000`, rounded half-up to the fen (0.5 fen goes up). This is the one
    /// rounding rule of the city (docs/fares.md). Never overflows: the product is split so no
    /// intermediate exceeds `fen`.
    ///
    /// - Precondition: `fen >= 0`.
    public func portion(ofFen fen: Int64) -> Int64 {
        precondition(fen >= 0, "basis-point portion of negative \(fen) fen")
        let bp = Int64(rawValue), whole = fen / 10_000, rest = fen % 10_000
        return whole * bp + (rest * bp + 5_000) / 10_000
    }

    /// `"12.5%"`-style text.
    public var description: String {
        let frac = rawValue % 100
        return "\(rawValue / 100)" + (frac == 0 ? "" : frac % 10 == 0 ? ".\(frac / 10)" : ".\(frac < 10 ? "0" : "")\(frac)") + "%"
    }

    public static func < (a: BasisPoints, b: BasisPoints) -> Bool { a.rawValue < b.rawValue }
}
