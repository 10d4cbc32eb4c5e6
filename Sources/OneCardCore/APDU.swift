/// ISO/IEC 7816-4 application protocol data units.
///
/// The codec accepts all four cases in short and extended length and never traps on
/// untrusted bytes: a malformed command is a thrown ``APDUError``.

/// Why a byte string is not a valid APDU.
public enum APDUError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer than the 4 header bytes (command) or 2 status bytes (response).
    case tooShort(byteCount: Int)
    /// The length fields do not match the number of bytes.
    case lengthMismatch(byteCount: Int)
    /// The data field is longer than an extended APDU can carry.
    case dataTooLong(byteCount: Int)
    /// Le is outside 1...65536.
    case expectedLengthOutOfRange(Int)

    public var description: String {
        switch self {
        case .tooShort(let n): "APDU too short (\(n) bytes)"
        case .lengthMismatch(let n): "APDU length fields do not match its \(n) bytes"
        case .dataTooLong(let n): "APDU data field too long (\(n) bytes, at most \(CommandAPDU.dataBytesMax))"
        case .expectedLengthOutOfRange(let n): "APDU Le \(n) outside 1...65536"
        }
    }
}

/// A command APDU: header, optional data (Lc) and optional expected length (Le).
public struct CommandAPDU: Equatable, Sendable, CustomStringConvertible {
    /// The largest data field of an extended-length command.
    public static let dataBytesMax = 65_535
    /// The largest Le (encoded as `00` short or `0000` extended).
    public static let expectedLengthMax = 65_536

    /// Class byte.
    public var cla: UInt8
    /// Instruction byte.
    public var ins: UInt8
    /// Parameter 1.
    public var p1: UInt8
    /// Parameter 2.
    public var p2: UInt8
    /// The command data (Lc is its length); empty for cases 1 and 2.
    public var data: [UInt8]
    /// The expected response length, `nil` for cases 1 and 3. 256 is short `00`.
    public var le: Int?

    /// Builds a command. Invalid lengths are a programmer error.
    public init(cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8] = [], le: Int? = nil) {
        precondition(data.count <= Self.dataBytesMax, "APDU data \(data.count) bytes")
        precondition(le.map { (1...Self.expectedLengthMax).contains($0) } ?? true, "APDU Le \(le ?? 0)")
        self.cla = cla
        self.ins = ins
        self.p1 = p1
        self.p2 = p2
        self.data = data
        self.le = le
    }

    /// Whether the encoding needs extended length fields.
    public var isExtended: Bool { data.count > 255 || (le ?? 0) > 256 }

    /// The ISO 7816-4 case: 1 (header), 2 (Le), 3 (Lc+data), 4 (Lc+data+Le).
    public var isoCase: Int {
        switch (data.isEmpty, le == nil) {
        case (true, true): 1
        case (true, false): 2
        case (false, true): 3
        case (false, false): 4
        }
    }

    /// Parses untrusted bytes.
    ///
    /// - Throws: ``APDUError`` when the length fields do not describe exactly these bytes.
    public init(bytes: [UInt8]) throws(APDUError) {
        let n = bytes.count
        guard n >= 4 else { throw .tooShort(byteCount: n) }
        cla = bytes[0]; ins = bytes[1]; p1 = bytes[2]; p2 = bytes[3]
        data = []
        le = nil
        if n == 4 { return }
        let b4 = Int(bytes[4])
        if n == 5 {
            le = b4 == 0 ? 256 : b4
            return
        }
        if b4 != 0 {
            let lc = b4
            if n == 5 + lc {
                data = Array(bytes[5..<n])
            } else if n == 6 + lc {
                data = Array(bytes[5..<5 + lc])
                let l = Int(bytes[n - 1])
                le = l == 0 ? 256 : l
            } else {
                throw .lengthMismatch(byteCount: n)
            }
            return
        }
        try self.parseExtended(bytes)
    }

    private mutating func parseExtended(_ bytes: [UInt8]) throws(APDUError) {
        let n = bytes.count
        guard n >= 7 else { throw .lengthMismatch(byteCount: n) }
        let x = Int(bytes[5]) << 8 | Int(bytes[6])
        if n == 7 {
            le = x == 0 ? 65_536 : x
            return
        }
        guard x != 0 else { throw .lengthMismatch(byteCount: n) }
        if n == 7 + x {
            data = Array(bytes[7..<n])
        } else if n == 9 + x {
            data = Array(bytes[7..<7 + x])
            let l = Int(bytes[n - 2]) << 8 | Int(bytes[n - 1])
            le = l == 0 ? 65_536 : l
        } else {
            throw .lengthMismatch(byteCount: n)
        }
    }

    /// The wire encoding, short when the lengths allow it, extended otherwise.
    public var bytes: [UInt8] {
        var out: [UInt8] = [cla, ins, p1, p2]
        out.reserveCapacity(4 + 3 + data.count + 3)
        if isExtended {
            out.append(0)
            if !data.isEmpty {
                out.appendBigEndian(UInt16(data.count))
                out += data
            }
            if let le { out.appendBigEndian(UInt16(truncatingIfNeeded: le == 65_536 ? 0 : le)) }
        } else {
            if !data.isEmpty {
                out.append(UInt8(data.count))
                out += data
            }
            if let le { out.append(UInt8(truncatingIfNeeded: le == 256 ? 0 : le)) }
        }
        return out
    }

    /// The command in hex, header and body separated by spaces.
    public var description: String {
        let b = bytes
        return b.prefix(4).hex + (b.count > 4 ? " " + b.dropFirst(4).hex : "")
    }
}

/// A response APDU: data followed by the two status bytes.
public struct ResponseAPDU: Equatable, Sendable, CustomStringConvertible {
    /// The response data (may be empty).
    public var data: [UInt8]
    /// SW1 SW2.
    public var status: StatusWord

    /// Builds a response.
    public init(data: [UInt8] = [], status: StatusWord) {
        self.data = data
        self.status = status
    }

    /// Parses untrusted bytes: everything but the last two bytes is data.
    ///
    /// - Throws: ``APDUError/tooShort(byteCount:)`` for fewer than two bytes.
    public init(bytes: [UInt8]) throws(APDUError) {
        guard bytes.count >= 2 else { throw .tooShort(byteCount: bytes.count) }
        data = Array(bytes[..<(bytes.count - 2)])
        status = StatusWord(rawValue: UInt16(bytes[bytes.count - 2]) << 8 | UInt16(bytes[bytes.count - 1]))
    }

    /// Data followed by SW1 SW2.
    public var bytes: [UInt8] {
        var out = data
        out.appendBigEndian(status.rawValue)
        return out
    }

    /// Data in hex then the status word.
    public var description: String { (data.isEmpty ? "" : data.hex + " ") + status.hexString }
}

/// The two status bytes of a response, with the names this project uses (spec §3).
public struct StatusWord: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// SW1 << 8 | SW2.
    public var rawValue: UInt16
    /// Wraps a raw status word.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Builds from the two bytes.
    public init(sw1: UInt8, sw2: UInt8) { rawValue = UInt16(sw1) << 8 | UInt16(sw2) }

    /// SW1.
    public var sw1: UInt8 { UInt8(rawValue >> 8) }
    /// SW2.
    public var sw2: UInt8 { UInt8(rawValue & 0xFF) }

    public static let success = StatusWord(rawValue: 0x9000)
    public static let selectedFileInvalidated = StatusWord(rawValue: 0x6283)
    public static let wrongLength = StatusWord(rawValue: 0x6700)
    public static let securityStatusNotSatisfied = StatusWord(rawValue: 0x6982)
    public static let authenticationMethodBlocked = StatusWord(rawValue: 0x6983)
    public static let conditionsOfUseNotSatisfied = StatusWord(rawValue: 0x6985)
    public static let commandIncompatible = StatusWord(rawValue: 0x6981)
    public static let incorrectData = StatusWord(rawValue: 0x6A80)
    public static let fileNotFound = StatusWord(rawValue: 0x6A82)
    public static let recordNotFound = StatusWord(rawValue: 0x6A83)
    public static let incorrectP1P2 = StatusWord(rawValue: 0x6A86)
    public static let wrongP1P2 = StatusWord(rawValue: 0x6B00)
    public static let instructionNotSupported = StatusWord(rawValue: 0x6D00)
    public static let classNotSupported = StatusWord(rawValue: 0x6E00)
    public static let macInvalid = StatusWord(rawValue: 0x9302)
    public static let applicationBlockedPermanently = StatusWord(rawValue: 0x9303)
    public static let insufficientFunds = StatusWord(rawValue: 0x9401)
    public static let keyNotFound = StatusWord(rawValue: 0x9403)

    /// `61xx`: more data available; fetch with GET RESPONSE Le = SW2.
    public var isMoreDataAvailable: Bool { sw1 == 0x61 }
    /// `6Cxx`: wrong Le; re-send with Le = SW2.
    public var isWrongExpectedLength: Bool { sw1 == 0x6C }
    /// `63Cx`: PIN verification failed, x tries left.
    public var pinTriesRemaining: Int? { sw1 == 0x63 && sw2 & 0xF0 == 0xC0 ? Int(sw2 & 0x0F) : nil }

    /// Four hex digits.
    public var hexString: String { [sw1, sw2].hex }

    /// Four hex digits and the meaning.
    public var description: String { "\(hexString) (\(meaning))" }

    /// A short English meaning of the status word.
    public var meaning: String {
        switch self {
        case .success: return "success"
        case .selectedFileInvalidated: return "application blocked"
        case .wrongLength: return "wrong length"
        case .securityStatusNotSatisfied: return "security status not satisfied"
        case .authenticationMethodBlocked: return "PIN blocked"
        case .conditionsOfUseNotSatisfied: return "conditions of use not satisfied"
        case .commandIncompatible: return "command incompatible with file structure"
        case .incorrectData: return "incorrect data"
        case .fileNotFound: return "file not found"
        case .recordNotFound: return "record not found"
        case .incorrectP1P2, .wrongP1P2: return "incorrect P1/P2"
        case .instructionNotSupported: return "instruction not supported"
        case .classNotSupported: return "class not supported"
        case .macInvalid: return "MAC invalid"
        case .applicationBlockedPermanently: return "application blocked permanently"
        case .insufficientFunds: return "insufficient funds"
        case .keyNotFound: return "key not found"
        default:
            if isMoreDataAvailable { return "\(sw2) more bytes available" }
            if isWrongExpectedLength { return "wrong Le, expected \(sw2)" }
            if let tries = pinTriesRemaining { return "wrong PIN, \(tries) tries left" }
            return "unknown status"
        }
    }
}

/// Anything a terminal can send command APDUs to: a card in a PC/SC reader, or the card
/// emulator in-process. Terminal flows are written once against this protocol.
public protocol CardChannel {
    /// Sends one command and returns the card's response.
    ///
    /// - Throws: the channel's own errors (card removed, reader gone, timeout).
    mutating func transmit(_ command: CommandAPDU) throws -> ResponseAPDU
}
