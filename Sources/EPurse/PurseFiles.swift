public import OneCardCore

/// Application identifiers and file layout of the T-Union / PBOC purse (spec §1–2).
public enum PurseApplication {
    /// "2PAY.SYS.DDF01", the proximity payment system environment.
    public static let ppseName: [UInt8] = Array("2PAY.SYS.DDF01".utf8)
    /// The purse ADF, `A0 00 00 06 32 01 01 05`.
    public static let purseAID: [UInt8] = [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05]
    /// The application label listed in the PPSE FCI.
    public static let label: [UInt8] = Array("MOT_T_EP".utf8)

    /// SFI of the public issuer information (binary, 30 bytes).
    public static let issuerInfoSFI: UInt8 = 0x15
    /// SFI of the cardholder file (binary, 55 bytes).
    public static let holderSFI: UInt8 = 0x16
    /// SFI of the management/interoperability file (binary, 60 bytes).
    public static let managementSFI: UInt8 = 0x17
    /// SFI of the purse transaction log (cyclic, 10 × 23 bytes).
    public static let transactionLogSFI: UInt8 = 0x18
    /// SFI of the compound-purchase cache (one 128-byte record).
    public static let compoundCacheSFI: UInt8 = 0x1A
    /// SFI of the trip log (cyclic, 30 × 48 bytes).
    public static let tripLogSFI: UInt8 = 0x1E

    /// The size of each binary file by SFI.
    public static let binaryFileBytes: [UInt8: Int] = [0x15: 30, 0x16: 55, 0x17: 60]
    /// Record size and record count of each record file by SFI.
    public static let recordFiles: [UInt8: (recordBytes: Int, recordCountMax: Int)] = [
        0x18: (23, 10), 0x1A: (128, 1), 0x1E: (48, 30),
    ]
}

/// File 0x15, the public issuer information, decoded (spec §2).
public struct IssuerInfo: Equatable, Sendable {
    /// The file's size.
    public static let byteCount = 30

    /// Issuer identifier, bytes [0..7].
    public var issuer: IssuerID
    /// Application type, byte [8].
    public var applicationType: UInt8
    /// Application version, byte [9].
    public var applicationVersion: UInt8
    /// The two bytes before the serial in the application serial number, [10..11]
    /// (*ours*: the city code).
    public var serialPrefix: UInt16
    /// The card serial, [12..19]: the input of key diversification.
    public var serial: CardSerial
    /// First day of validity, [20..23].
    public var startDate: BCDDate
    /// Last day of validity, [24..27].
    public var expiryDate: BCDDate
    /// Card type (concession category), [28].
    public var cardType: CardType
    /// Deposit flag, [29] (*ours*: 0x01 when the issuer holds a deposit for the card).
    public var depositFlag: UInt8

    /// Builds the file content.
    public init(
        issuer: IssuerID, applicationType: UInt8 = 0x02, applicationVersion: UInt8 = 0x01, serialPrefix: UInt16,
        serial: CardSerial, startDate: BCDDate, expiryDate: BCDDate, cardType: CardType, depositFlag: UInt8
    ) {
        self.issuer = issuer
        self.applicationType = applicationType
        self.applicationVersion = applicationVersion
        self.serialPrefix = serialPrefix
        self.serial = serial
        self.startDate = startDate
        self.expiryDate = expiryDate
        self.cardType = cardType
        self.depositFlag = depositFlag
    }

    /// Decodes the 30 bytes; `nil` for a wrong length, non-BCD dates or an unknown card type.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount,
              let issuer = bytes.bigEndianInteger(at: 0, count: 8),
              let prefix = bytes.bigEndianInteger(at: 10, count: 2),
              let serial = CardSerial(bytes: bytes[12..<20]),
              let start = BCDDate(bcd: bytes[20..<24]),
              let expiry = BCDDate(bcd: bytes[24..<28]),
              let type = CardType(rawValue: bytes[28])
        else { return nil }
        self.init(
            issuer: IssuerID(rawValue: issuer), applicationType: bytes[8], applicationVersion: bytes[9],
            serialPrefix: UInt16(prefix), serial: serial, startDate: start, expiryDate: expiry, cardType: type,
            depositFlag: bytes[29])
    }

    /// The 30 bytes of the file.
    public var bytes: [UInt8] {
        var out = issuer.bytes
        out.append(applicationType)
        out.append(applicationVersion)
        out.appendBigEndian(serialPrefix)
        out += serial.bytes
        out += startDate.bcd
        out += expiryDate.bcd
        out.append(cardType.rawValue)
        out.append(depositFlag)
        return out
    }

    /// Whether `date` lies within the validity period (both ends included).
    public func isValid(on date: BCDDate) -> Bool { startDate <= date && date <= expiryDate }
}

/// One record of the purse transaction log, file 0x18 (23 bytes, spec §2).
public struct TransactionLogRecord: Equatable, Sendable {
    /// The record size.
    public static let byteCount = 23

    /// The purse counter after the transaction (online for loads, offline for purchases).
    public var counterAfter: PurseCounter
    /// The overdraft limit (always 0 here).
    public var overdraftLimitFen: UInt32
    /// The amount.
    public var amountFen: UInt32
    /// The transaction type.
    public var type: TransactionType
    /// The terminal that did it.
    public var terminal: TerminalID
    /// When, in the terminal's local time.
    public var at: BCDDateTime

    /// Builds a record.
    public init(counterAfter: PurseCounter, overdraftLimitFen: UInt32 = 0, amountFen: UInt32, type: TransactionType, terminal: TerminalID, at: BCDDateTime) {
        self.counterAfter = counterAfter
        self.overdraftLimitFen = overdraftLimitFen
        self.amountFen = amountFen
        self.type = type
        self.terminal = terminal
        self.at = at
    }

    /// Decodes 23 bytes; `nil` if malformed.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount,
              let counter = bytes.bigEndianInteger(at: 0, count: 2),
              let overdraft = bytes.bigEndianInteger(at: 2, count: 3),
              let amount = bytes.bigEndianInteger(at: 5, count: 4),
              let type = TransactionType(rawValue: bytes[9]),
              let terminal = TerminalID(bytes: bytes[10..<16]),
              let at = BCDDateTime(bcd: bytes[16..<23])
        else { return nil }
        self.init(
            counterAfter: PurseCounter(rawValue: UInt16(counter)), overdraftLimitFen: UInt32(overdraft),
            amountFen: UInt32(amount), type: type, terminal: terminal, at: at)
    }

    /// The 23 bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.byteCount)
        out.appendBigEndian(counterAfter.rawValue)
        out.appendBigEndian(overdraftLimitFen, byteCount: 3)
        out.appendBigEndian(amountFen)
        out.append(type.rawValue)
        out += terminal.bytes
        out += at.bcd
        return out
    }
}

/// One record of the trip log, file 0x1E (48 bytes, spec §2).
public struct TripRecord: Equatable, Sendable {
    /// The record size.
    public static let byteCount = 48

    /// What the trip record says happened.
    public enum Kind: UInt8, Sendable {
        /// Metro entry.
        case entry = 0x03
        /// Metro exit.
        case exit = 0x04
        /// A single ride (bus, taxi) or a single purchase (gas).
        case singleRide = 0x06
    }

    /// The record kind, [0].
    public var kind: Kind
    /// Terminal identifier, [1..8] (8 bytes in the trip log: 2 zero bytes then the 6-byte terminal ID).
    public var terminal: TerminalID
    /// Industry, [9]: `01` metro, `02` bus; *ours*: `03` taxi, `04` gas.
    public var industry: UInt8
    /// Line, [10..11].
    public var line: UInt16
    /// Station, [12..13].
    public var station: UInt16
    /// Operator code, [14..15].
    public var operatorCode: UInt16
    /// Amount charged, [17..20].
    public var amountFen: UInt32
    /// Balance after the transaction, [21..24].
    public var balanceAfterFen: UInt32
    /// Date and time, [25..31].
    public var at: BCDDateTime
    /// City code, [32..33].
    public var cityCode: UInt16
    /// Acquirer identifier, [34..41].
    public var acquirer: UInt64

    /// Builds a record.
    public init(
        kind: Kind, terminal: TerminalID, industry: UInt8, line: UInt16, station: UInt16, operatorCode: UInt16,
        amountFen: UInt32, balanceAfterFen: UInt32, at: BCDDateTime, cityCode: UInt16, acquirer: UInt64
    ) {
        self.kind = kind
        self.terminal = terminal
        self.industry = industry
        self.line = line
        self.station = station
        self.operatorCode = operatorCode
        self.amountFen = amountFen
        self.balanceAfterFen = balanceAfterFen
        self.at = at
        self.cityCode = cityCode
        self.acquirer = acquirer
    }

    /// Decodes 48 bytes; `nil` if malformed.
    public init?(bytes b: [UInt8]) {
        guard b.count == Self.byteCount, let kind = Kind(rawValue: b[0]),
              let term = b.bigEndianInteger(at: 1, count: 8), let terminal = TerminalID(rawValue: term),
              let line = b.bigEndianInteger(at: 10, count: 2), let station = b.bigEndianInteger(at: 12, count: 2),
              let op = b.bigEndianInteger(at: 14, count: 2), let amount = b.bigEndianInteger(at: 17, count: 4),
              let after = b.bigEndianInteger(at: 21, count: 4), let at = BCDDateTime(bcd: b[25..<32]),
              let city = b.bigEndianInteger(at: 32, count: 2), let acquirer = b.bigEndianInteger(at: 34, count: 8)
        else { return nil }
        self.init(
            kind: kind, terminal: terminal, industry: b[9], line: UInt16(line), station: UInt16(station),
            operatorCode: UInt16(op), amountFen: UInt32(amount), balanceAfterFen: UInt32(after), at: at,
            cityCode: UInt16(city), acquirer: acquirer)
    }

    /// The 48 bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = [kind.rawValue]
        out.reserveCapacity(Self.byteCount)
        out.appendBigEndian(terminal.rawValue)
        out.append(industry)
        out.appendBigEndian(line)
        out.appendBigEndian(station)
        out.appendBigEndian(operatorCode)
        out.append(0)
        out.appendBigEndian(amountFen)
        out.appendBigEndian(balanceAfterFen)
        out += at.bcd
        out.appendBigEndian(cityCode)
        out.appendBigEndian(acquirer)
        out += [UInt8](repeating: 0, count: 6)
        return out
    }
}
