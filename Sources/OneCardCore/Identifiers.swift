/// The 8-byte card serial: file 0x15 bytes [12..19], the input of key diversification and the
/// number printed on the card. Shown as 16 hex digits.
public struct CardSerial: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The serial as a big-endian 64-bit integer.
    public var rawValue: UInt64
    /// Wraps a raw serial.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Parses exactly 16 hex digits.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 16, let bytes = Hex.decode(hex), let v = bytes.bigEndianInteger(count: 8) else {
            return nil
        }
        self.rawValue = v
    }

    /// Reads 8 big-endian bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 8, let v = bytes.bigEndianInteger(count: 8) else { return nil }
        self.rawValue = v
    }

    /// The 8 big-endian bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.appendBigEndian(rawValue)
        return out
    }

    /// 16 upper-case hex digits.
    public var description: String { bytes.hex }

    /// The serial with all but the last four digits hidden, for logs.
    public var masked: String { "************" + String(description.suffix(4)) }

    public static func < (a: CardSerial, b: CardSerial) -> Bool { a.rawValue < b.rawValue }
}

/// A 6-byte terminal identifier (PSAM terminal number), shown as 12 hex digits.
public struct TerminalID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The largest value six bytes hold.
    public static let rawValueMax: UInt64 = 0xFFFF_FFFF_FFFF
    /// The identifier in the low 48 bits.
    public let rawValue: UInt64

    /// Wraps a raw identifier; `nil` if it does not fit in six bytes.
    public init?(rawValue: UInt64) {
        guard rawValue <= Self.rawValueMax else { return nil }
        self.rawValue = rawValue
    }

    /// Parses exactly 12 hex digits.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 12, let bytes = Hex.decode(hex), let v = bytes.bigEndianInteger(count: 6) else {
            return nil
        }
        self.rawValue = v
    }

    /// Reads 6 big-endian bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6, let v = bytes.bigEndianInteger(count: 6) else { return nil }
        self.rawValue = v
    }

    /// The 6 big-endian bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.appendBigEndian(rawValue, byteCount: 6)
        return out
    }

    /// 12 upper-case hex digits.
    public var description: String { bytes.hex }

    public static func < (a: TerminalID, b: TerminalID) -> Bool { a.rawValue < b.rawValue }
}

/// The 8-byte issuer identifier in file 0x15 bytes [0..7].
public struct IssuerID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The identifier as a big-endian 64-bit integer.
    public var rawValue: UInt64
    /// Wraps a raw identifier.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Parses exactly 16 hex digits.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 16, let bytes = Hex.decode(hex), let v = bytes.bigEndianInteger(count: 8) else {
            return nil
        }
        self.rawValue = v
    }

    /// The 8 big-endian bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.appendBigEndian(rawValue)
        return out
    }

    /// 16 upper-case hex digits.
    public var description: String { bytes.hex }
}

/// The key index a terminal names in INITIALIZE FOR LOAD/PURCHASE (P1 data byte 0).
public struct KeyIndex: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The index byte.
    public var rawValue: UInt8
    /// Wraps an index byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Two hex digits.
    public var description: String { [rawValue].hex }
}

/// The version of a key set, returned by the card in INITIALIZE responses.
public struct KeyVersion: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The version byte.
    public var rawValue: UInt8
    /// Wraps a version byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Two hex digits.
    public var description: String { [rawValue].hex }
}

/// The algorithm identifier a card returns in INITIALIZE responses (`00` = 3DES).
public struct AlgorithmID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The identifier byte.
    public var rawValue: UInt8
    /// Wraps an identifier byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Triple DES with 16-byte keys, the PBOC 2.0 baseline.
    public static let tripleDES = AlgorithmID(rawValue: 0x00)
    /// SM4 (PBOC 3.0). Declared so that a card announcing it is recognised; its purse rules
    /// are not public and are not implemented.
    public static let sm4 = AlgorithmID(rawValue: 0x04)
    /// Two hex digits.
    public var description: String { [rawValue].hex }
}

/// A purse transaction counter (the card's online counter for loads, offline for purchases).
public struct PurseCounter: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 16-bit counter value.
    public var rawValue: UInt16
    /// Wraps a counter value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Decimal.
    public var description: String { String(rawValue) }
    public static func < (a: PurseCounter, b: PurseCounter) -> Bool { a.rawValue < b.rawValue }
}

/// The terminal's own transaction sequence number (4 bytes), sent in DEBIT FOR PURCHASE.
public struct TerminalSequence: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 32-bit sequence number.
    public var rawValue: UInt32
    /// Wraps a sequence number.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Decimal.
    public var description: String { String(rawValue) }
    public static func < (a: TerminalSequence, b: TerminalSequence) -> Bool { a.rawValue < b.rawValue }
}

/// The cardholder category in file 0x15 byte [28]; it selects concession fares.
public enum CardType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// A full-fare card.
    case adult = 0x01
    /// A student concession card.
    case student = 0x02
    /// A senior concession card.
    case senior = 0x03
    /// A staff card of an operator.
    case staff = 0x04

    /// The lower-case name used on the command line and in files.
    public var description: String {
        switch self {
        case .adult: "adult"
        case .student: "student"
        case .senior: "senior"
        case .staff: "staff"
        }
    }

    /// Parses a lower-case name (`adult`, `student`, `senior`, `staff`).
    public init?(name: String) {
        guard let t = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = t
    }
}

/// The transaction type byte in the purse log and in MAC/TAC inputs.
public enum TransactionType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Electronic deposit (passbook) load.
    case edLoad = 0x01
    /// Electronic purse load.
    case epLoad = 0x02
    /// Electronic deposit purchase.
    case edPurchase = 0x05
    /// Electronic purse purchase.
    case epPurchase = 0x06
    /// Compound (metro entry/exit) purchase.
    case compoundPurchase = 0x09

    /// Whether the type credits the purse.
    public var isLoad: Bool { self == .edLoad || self == .epLoad }

    /// A short English name.
    public var description: String {
        switch self {
        case .edLoad: "ED load"
        case .epLoad: "load"
        case .edPurchase: "ED purchase"
        case .epPurchase: "purchase"
        case .compoundPurchase: "compound purchase"
        }
    }
}
