import CPCSCLite

/// A pcsc-lite return code (`LONG`) as a small value: the C name, a message a person can act
/// on, and the raw 32-bit code. Compare with the named constants (`.removedCard`, …).
public struct PCSCStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The code as pcsc-lite defines it, e.g. `0x8010001D` for `SCARD_E_NO_SERVICE`.
    public var rawValue: UInt32
    /// Wraps a raw code.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `SCARD_S_SUCCESS`.
    public static let success = PCSCStatus(rawValue: 0)
    /// `SCARD_E_CANCELLED`: an `SCardCancel` ended the wait.
    public static let cancelled = PCSCStatus(rawValue: 0x8010_0002)
    /// `SCARD_E_INVALID_HANDLE`.
    public static let invalidHandle = PCSCStatus(rawValue: 0x8010_0003)
    /// `SCARD_E_INVALID_PARAMETER`.
    public static let invalidParameter = PCSCStatus(rawValue: 0x8010_0004)
    /// `SCARD_E_INSUFFICIENT_BUFFER`.
    public static let insufficientBuffer = PCSCStatus(rawValue: 0x8010_0008)
    /// `SCARD_E_UNKNOWN_READER`.
    public static let unknownReader = PCSCStatus(rawValue: 0x8010_0009)
    /// `SCARD_E_TIMEOUT`.
    public static let timeout = PCSCStatus(rawValue: 0x8010_000A)
    /// `SCARD_E_SHARING_VIOLATION`.
    public static let sharingViolation = PCSCStatus(rawValue: 0x8010_000B)
    /// `SCARD_E_NO_SMARTCARD`.
    public static let noSmartcard = PCSCStatus(rawValue: 0x8010_000C)
    /// `SCARD_E_PROTO_MISMATCH`.
    public static let protocolMismatch = PCSCStatus(rawValue: 0x8010_000F)
    /// `SCARD_E_NOT_READY`.
    public static let notReady = PCSCStatus(rawValue: 0x8010_0010)
    /// `SCARD_F_COMM_ERROR`: the socket to pcscd broke.
    public static let commError = PCSCStatus(rawValue: 0x8010_0013)
    /// `SCARD_E_NOT_TRANSACTED`: the reader could not complete the exchange.
    public static let notTransacted = PCSCStatus(rawValue: 0x8010_0016)
    /// `SCARD_E_READER_UNAVAILABLE`.
    public static let readerUnavailable = PCSCStatus(rawValue: 0x8010_0017)
    /// `SCARD_E_NO_SERVICE`: pcscd is not running.
    public static let noService = PCSCStatus(rawValue: 0x8010_001D)
    /// `SCARD_E_SERVICE_STOPPED`: pcscd stopped under us.
    public static let serviceStopped = PCSCStatus(rawValue: 0x8010_001E)
    /// `SCARD_E_UNSUPPORTED_FEATURE`: e.g. an attribute the reader driver does not have.
    public static let unsupportedFeature = PCSCStatus(rawValue: 0x8010_001F)
    /// `SCARD_E_NO_READERS_AVAILABLE`.
    public static let noReadersAvailable = PCSCStatus(rawValue: 0x8010_002E)
    /// `SCARD_W_UNRESPONSIVE_CARD`.
    public static let unresponsiveCard = PCSCStatus(rawValue: 0x8010_0066)
    /// `SCARD_W_UNPOWERED_CARD`.
    public static let unpoweredCard = PCSCStatus(rawValue: 0x8010_0067)
    /// `SCARD_W_RESET_CARD`: another application reset the card; reconnect.
    public static let resetCard = PCSCStatus(rawValue: 0x8010_0068)
    /// `SCARD_W_REMOVED_CARD`.
    public static let removedCard = PCSCStatus(rawValue: 0x8010_0069)

    /// The C macro name, e.g. `SCARD_E_NO_SERVICE`.
    public var name: String { Self.table[rawValue]?.name ?? "SCARD_0x" + String(rawValue, radix: 16, uppercase: true) }

    /// What happened, in words a terminal operator can act on.
    public var message: String { Self.table[rawValue]?.message ?? "unknown PC/SC error" }

    /// `NAME (0xCODE): message`.
    public var description: String {
        "\(name) (0x\(String(rawValue, radix: 16, uppercase: true))): \(message)"
    }

    /// Every code pcsc-lite 1.9 defines, with its name and message.
    private static let table: [UInt32: (name: String, message: String)] = [
        0x0000_0000: ("SCARD_S_SUCCESS", "success"),
        0x8010_0001: ("SCARD_F_INTERNAL_ERROR", "internal error in the PC/SC service"),
        0x8010_0002: ("SCARD_E_CANCELLED", "the wait was cancelled"),
        0x8010_0003: ("SCARD_E_INVALID_HANDLE", "invalid context or card handle (was pcscd restarted?)"),
        0x8010_0004: ("SCARD_E_INVALID_PARAMETER", "invalid parameter"),
        0x8010_0005: ("SCARD_E_INVALID_TARGET", "invalid target"),
        0x8010_0006: ("SCARD_E_NO_MEMORY", "the PC/SC service is out of memory"),
        0x8010_0007: ("SCARD_F_WAITED_TOO_LONG", "an internal timer expired"),
        0x8010_0008: ("SCARD_E_INSUFFICIENT_BUFFER", "the response is larger than the receive buffer"),
        0x8010_0009: ("SCARD_E_UNKNOWN_READER", "no reader with that name (list them with `onecard readers`)"),
        0x8010_000A: ("SCARD_E_TIMEOUT", "timed out"),
        0x8010_000B: ("SCARD_E_SHARING_VIOLATION", "another application holds the card (exclusive or in a transaction)"),
        0x8010_000C: ("SCARD_E_NO_SMARTCARD", "no card in the reader"),
        0x8010_000D: ("SCARD_E_UNKNOWN_CARD", "unknown card"),
        0x8010_000E: ("SCARD_E_CANT_DISPOSE", "the card cannot be disposed of as requested"),
        0x8010_000F: ("SCARD_E_PROTO_MISMATCH", "the card does not speak the requested protocol"),
        0x8010_0010: ("SCARD_E_NOT_READY", "the reader or card is not ready"),
        0x8010_0011: ("SCARD_E_INVALID_VALUE", "invalid value"),
        0x8010_0012: ("SCARD_E_SYSTEM_CANCELLED", "cancelled by the system"),
        0x8010_0013: ("SCARD_F_COMM_ERROR", "lost the connection to the PC/SC service"),
        0x8010_0014: ("SCARD_F_UNKNOWN_ERROR", "unknown internal error"),
        0x8010_0015: ("SCARD_E_INVALID_ATR", "invalid ATR"),
        0x8010_0016: ("SCARD_E_NOT_TRANSACTED", "the reader could not complete the exchange with the card"),
        0x8010_0017: ("SCARD_E_READER_UNAVAILABLE", "the reader is unavailable (unplugged?)"),
        0x8010_0018: ("SCARD_P_SHUTDOWN", "the PC/SC service is shutting down"),
        0x8010_0019: ("SCARD_E_PCI_TOO_SMALL", "the PCI receive buffer is too small"),
        0x8010_001A: ("SCARD_E_READER_UNSUPPORTED", "the reader driver is not supported"),
        0x8010_001B: ("SCARD_E_DUPLICATE_READER", "duplicate reader name"),
        0x8010_001C: ("SCARD_E_CARD_UNSUPPORTED", "the card is not supported"),
        0x8010_001D: ("SCARD_E_NO_SERVICE", "PC/SC service not running (start pcscd, e.g. Hardware/scripts/pcscd-start.sh)"),
        0x8010_001E: ("SCARD_E_SERVICE_STOPPED", "the PC/SC service stopped"),
        0x8010_001F: ("SCARD_E_UNSUPPORTED_FEATURE", "feature not supported"),
        0x8010_0020: ("SCARD_E_ICC_INSTALLATION", "no primary provider for the card"),
        0x8010_0021: ("SCARD_E_ICC_CREATEORDER", "object creation order not supported"),
        0x8010_0023: ("SCARD_E_DIR_NOT_FOUND", "directory not found on the card"),
        0x8010_0024: ("SCARD_E_FILE_NOT_FOUND", "file not found on the card"),
        0x8010_0025: ("SCARD_E_NO_DIR", "not a directory"),
        0x8010_0026: ("SCARD_E_NO_FILE", "not a file"),
        0x8010_0027: ("SCARD_E_NO_ACCESS", "access denied"),
        0x8010_0028: ("SCARD_E_WRITE_TOO_MANY", "the card is full"),
        0x8010_0029: ("SCARD_E_BAD_SEEK", "bad seek"),
        0x8010_002A: ("SCARD_E_INVALID_CHV", "incorrect PIN"),
        0x8010_002B: ("SCARD_E_UNKNOWN_RES_MNG", "unknown resource manager error"),
        0x8010_002C: ("SCARD_E_NO_SUCH_CERTIFICATE", "no such certificate"),
        0x8010_002D: ("SCARD_E_CERTIFICATE_UNAVAILABLE", "certificate unavailable"),
        0x8010_002E: ("SCARD_E_NO_READERS_AVAILABLE", "no reader connected"),
        0x8010_002F: ("SCARD_E_COMM_DATA_LOST", "communication data lost; retry"),
        0x8010_0030: ("SCARD_E_NO_KEY_CONTAINER", "no key container"),
        0x8010_0031: ("SCARD_E_SERVER_TOO_BUSY", "the PC/SC service is too busy"),
        0x8010_0065: ("SCARD_W_UNSUPPORTED_CARD", "the reader cannot talk to this card (ATR conflict)"),
        0x8010_0066: ("SCARD_W_UNRESPONSIVE_CARD", "the card does not answer reset (unresponsive or badly placed)"),
        0x8010_0067: ("SCARD_W_UNPOWERED_CARD", "the card is not powered"),
        0x8010_0068: ("SCARD_W_RESET_CARD", "the card was reset by another application; reconnect"),
        0x8010_0069: ("SCARD_W_REMOVED_CARD", "the card was removed"),
        0x8010_006A: ("SCARD_W_SECURITY_VIOLATION", "security violation"),
        0x8010_006B: ("SCARD_W_WRONG_CHV", "wrong PIN"),
        0x8010_006C: ("SCARD_W_CHV_BLOCKED", "PIN blocked"),
        0x8010_006D: ("SCARD_W_EOF", "end of file"),
        0x8010_006E: ("SCARD_W_CANCELLED_BY_USER", "cancelled by the user"),
        0x8010_006F: ("SCARD_W_CARD_NOT_AUTHENTICATED", "no PIN presented"),
    ]
}

/// A failed PC/SC call: which C function failed and with which code.
public struct PCSCError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The pcsc-lite return code.
    public var status: PCSCStatus
    /// The C function that returned it, e.g. `SCardTransmit`.
    public var function: String

    /// Builds an error; normally made by ``pcscCheck(_:_:)`` only.
    public init(_ status: PCSCStatus, function: String) {
        self.status = status
        self.function = function
    }

    /// `SCardTransmit: SCARD_W_REMOVED_CARD (0x80100069): the card was removed`.
    public var description: String { "\(function): \(status)" }
}

/// The one funnel from a C `LONG` return code to Swift: returns on `SCARD_S_SUCCESS`,
/// throws ``PCSCError`` otherwise. `LONG` is 64-bit on Linux and 32-bit on macOS; the codes
/// fit in 32 bits either way.
@inline(__always)
func pcscCheck(_ rv: LONG, _ function: String) throws(PCSCError) {
    let status = pcscStatus(rv)
    if status != .success { throw PCSCError(status, function: function) }
}

/// A C `LONG` return code as a ``PCSCStatus``, for the few callers that branch on a code
/// before it becomes an error (e.g. "no readers" is an empty list, not a failure).
@inline(__always)
func pcscStatus(_ rv: LONG) -> PCSCStatus { PCSCStatus(rawValue: UInt32(truncatingIfNeeded: rv)) }
