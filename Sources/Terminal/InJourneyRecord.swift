public import City
public import OneCardCore

/// The metro in-journey record, file 0x1A (128 bytes; docs/formats.md, "In-journey record
/// (file 0x1A)"). The entry gate writes it with status inside; the exit gate rewrites it with
/// status outside and the exit fields. The card treats it as opaque bytes.
public struct InJourneyRecord: Equatable, Sendable {
    /// The record size.
    public static let byteCount = 128
    /// Byte [0]: the layout version this code writes and reads.
    public static let version: UInt8 = 0x01
    /// Byte [1]: the record tag, the SFI it lives in.
    public static let tag: UInt8 = 0x1A
    /// The bytes the CRC covers, [6..123] (as seen in the field).
    static let crcRange = 6..<124

    /// Whether the rider is inside the paid area.
    public enum Status: UInt8, Sendable {
        /// Exited (or never entered since the last exit).
        case outside = 0x00
        /// Entered, not yet exited.
        case inside = 0x01
    }

    /// City code, [2..3].
    public var cityCode: UInt16
    /// [6].
    public var status: Status
    /// Entry gate, [8..13].
    public var entryTerminal: TerminalID
    /// Entry line, [14..15].
    public var entryLine: UInt16
    /// Entry station, [16..17].
    public var entryStation: UInt16
    /// Entry time, [18..24].
    public var entryAt: BCDDateTime
    /// Metro operator code, [25..26].
    public var operatorCode: UInt16
    /// Charged at entry (an earlier unfinished journey), [27..30].
    public var entryAmountFen: UInt32
    /// Exit gate, [31..36]; `nil` while inside.
    public var exitTerminal: TerminalID?
    /// Exit station, [37..38].
    public var exitStation: UInt16
    /// Exit time, [39..45]; `nil` while inside.
    public var exitAt: BCDDateTime?
    /// Fare charged at exit, [46..49].
    public var exitFareFen: UInt32
    /// [50] bit 0: the exit fare had a transfer discount; bit 1: it was an incomplete journey.
    public var exitFlags: UInt8

    /// An entry record: status inside, no exit fields.
    public init(cityCode: UInt16, entryTerminal: TerminalID, entryLine: UInt16, entryStation: UInt16, entryAt: BCDDateTime,
                operatorCode: UInt16, entryAmountFen: UInt32) {
        self.cityCode = cityCode
        self.status = .inside
        self.entryTerminal = entryTerminal
        self.entryLine = entryLine
        self.entryStation = entryStation
        self.entryAt = entryAt
        self.operatorCode = operatorCode
        self.entryAmountFen = entryAmountFen
        self.exitTerminal = nil
        self.exitStation = 0
        self.exitAt = nil
        self.exitFareFen = 0
        self.exitFlags = 0
    }

    /// Decodes 128 bytes; `nil` for a wrong length, version, tag or CRC, an unknown status or
    /// non-BCD times — a corrupt record counts as no entry.
    public init?(bytes b: [UInt8]) {
        guard b.count == Self.byteCount, b[0] == Self.version, b[1] == Self.tag,
              b.bigEndianInteger(at: 4, count: 2) == UInt64(Self.byteCount),
              let crc = b.bigEndianInteger(at: 124, count: 4), UInt32(crc) == CRC32.checksum(b[Self.crcRange]),
              let status = Status(rawValue: b[6]), let city = b.bigEndianInteger(at: 2, count: 2),
              let term = b.bigEndianInteger(at: 8, count: 6), let entryTerminal = TerminalID(rawValue: term),
              let line = b.bigEndianInteger(at: 14, count: 2), let station = b.bigEndianInteger(at: 16, count: 2),
              let entryAt = BCDDateTime(bcd: b[18..<25]), let op = b.bigEndianInteger(at: 25, count: 2),
              let amount = b.bigEndianInteger(at: 27, count: 4), let exitTerm = b.bigEndianInteger(at: 31, count: 6),
              let exitStation = b.bigEndianInteger(at: 37, count: 2), let fare = b.bigEndianInteger(at: 46, count: 4)
        else { return nil }
        self.init(cityCode: UInt16(city), entryTerminal: entryTerminal, entryLine: UInt16(line), entryStation: UInt16(station),
                  entryAt: entryAt, operatorCode: UInt16(op), entryAmountFen: UInt32(amount))
        self.status = status
        self.exitTerminal = exitTerm == 0 ? nil : TerminalID(rawValue: exitTerm)
        self.exitStation = UInt16(exitStation)
        self.exitAt = BCDDateTime(bcd: b[39..<46])
        self.exitFareFen = UInt32(fare)
        self.exitFlags = b[50]
    }

    /// The 128 bytes, CRC-32 (zlib) over [6..123] in [124..127], big-endian.
    public var bytes: [UInt8] {
        var out: [UInt8] = [Self.version, Self.tag]
        out.reserveCapacity(Self.byteCount)
        out.appendBigEndian(cityCode)
        out.appendBigEndian(UInt16(Self.byteCount))
        out.append(status.rawValue)
        out.append(0x01)  // [7] industry: metro
        out.appendBigEndian(entryTerminal.rawValue, byteCount: 6)
        out.appendBigEndian(entryLine)
        out.appendBigEndian(entryStation)
        out += entryAt.bcd
        out.appendBigEndian(operatorCode)
        out.appendBigEndian(entryAmountFen)
        out.appendBigEndian(exitTerminal?.rawValue ?? 0, byteCount: 6)
        out.appendBigEndian(exitStation)
        out += exitAt?.bcd ?? [UInt8](repeating: 0, count: 7)
        out.appendBigEndian(exitFareFen)
        out.append(exitFlags)
        out += [UInt8](repeating: 0, count: 124 - out.count)
        out.appendBigEndian(CRC32.checksum(out[Self.crcRange]))
        return out
    }

    /// The open entry the fare engine reads, if the rider is inside.
    public var openEntry: OpenEntry? {
        status == .inside ? OpenEntry(station: StationID(rawValue: entryStation), at: entryAt) : nil
    }
}
