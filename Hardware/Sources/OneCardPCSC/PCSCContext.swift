import CPCSCLite
import OneCardCore

/// An application context with pcscd (`SCARDCONTEXT`), released in `deinit`.
///
/// pcsc-lite serialises calls on one context; run at most one blocking call
/// (`SCardGetStatusChange`) on it at a time and use another context for card I/O — the
/// ``ReaderMonitor`` has its own. ``cancel()`` may be called from any thread.
public final class PCSCContext: @unchecked Sendable {
    // @unchecked: the handle is immutable after init; pcsc-lite locks per context, and
    // SCardCancel is documented as callable from another thread.
    let handle: SCARDCONTEXT

    /// Establishes a context (`SCardEstablishContext`, system scope).
    ///
    /// - Throws: ``PCSCError`` with ``PCSCStatus/noService`` when pcscd is not running.
    public init() throws(PCSCError) {
        var h: SCARDCONTEXT = 0
        try pcscCheck(SCardEstablishContext(dword(SCARD_SCOPE_SYSTEM), nil, nil, &h), "SCardEstablishContext")
        handle = h
    }

    deinit { _ = SCardReleaseContext(handle) }

    /// Whether pcscd still knows this context (`SCardIsValidContext`); false after a restart.
    public var isValid: Bool { SCardIsValidContext(handle) == SCARD_S_SUCCESS }

    /// Wakes a blocked `SCardGetStatusChange` on this context (`SCardCancel`).
    public func cancel() { _ = SCardCancel(handle) }

    /// The names of the connected readers (`SCardListReaders`); empty when there are none.
    ///
    /// - Throws: ``PCSCError`` (no service, service stopped, …).
    public func readers() throws(PCSCError) -> [String] {
        for _ in 0..<Self.listAttemptsMax {
            var length: DWORD = 0
            let rv = SCardListReaders(handle, nil, nil, &length)
            if pcscStatus(rv) == .noReadersAvailable { return [] }
            try pcscCheck(rv, "SCardListReaders")
            var buffer = [CChar](repeating: 0, count: int(length))
            let rv2 = SCardListReaders(handle, nil, &buffer, &length)
            let status = pcscStatus(rv2)
            if status == .noReadersAvailable { return [] }
            if status == .insufficientBuffer { continue }  // a reader appeared in between
            try pcscCheck(rv2, "SCardListReaders")
            return splitMultiString(buffer)
        }
        throw PCSCError(.insufficientBuffer, function: "SCardListReaders")
    }

    /// How often ``readers()`` retries when readers change between sizing and reading.
    static let listAttemptsMax = 4

    /// The current state of each reader (`SCardGetStatusChange` with a zero timeout).
    ///
    /// - Throws: ``PCSCError``, e.g. ``PCSCStatus/unknownReader``.
    public func states(of readers: [String]) throws(PCSCError) -> [ReaderState] {
        if readers.isEmpty { return [] }
        let table = ReaderStateTable(readers: readers)
        try table.wait(context: handle, timeout: .zero)
        return table.snapshots()
    }

    /// Waits until a card is present in `reader` (or absent when `present` is false).
    ///
    /// - Throws: ``PCSCError`` with ``PCSCStatus/timeout`` after `timeout`.
    public func waitForCard(in reader: String, present: Bool = true, timeout: Duration) throws(PCSCError) -> ReaderState {
        let table = ReaderStateTable(readers: [reader])
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let remaining = clock.now.duration(to: deadline)
            try table.wait(context: handle, timeout: remaining > .zero ? remaining : .zero)
            let state = table.snapshots()[0]
            if state.isCardPresent == present { return state }
            table.acknowledge()
        }
    }

    /// Connects to the card in `reader` (`SCardConnect`).
    ///
    /// - Parameters:
    ///   - share: shared (default) or exclusive access.
    ///   - protocols: which of T=0/T=1 to accept.
    /// - Throws: ``PCSCError``: no card, sharing violation, unknown reader, …
    public func connect(
        reader: String, share: ShareMode = .shared, protocols: CardProtocols = .any
    ) throws(PCSCError) -> PCSCCard {
        var card: SCARDHANDLE = 0
        var active: DWORD = 0
        try pcscCheck(
            SCardConnect(handle, reader, share.dwordValue, protocols.dwordValue, &card, &active), "SCardConnect")
        return PCSCCard(context: self, reader: reader, handle: card, activeProtocol: CardProtocols(dword: active))
    }
}

/// How a connection shares the card with other applications.
public enum ShareMode: Sendable {
    /// Others may connect too (`SCARD_SHARE_SHARED`).
    case shared
    /// No one else may connect while this connection lives (`SCARD_SHARE_EXCLUSIVE`).
    case exclusive

    var dwordValue: DWORD { dword(self == .shared ? SCARD_SHARE_SHARED : SCARD_SHARE_EXCLUSIVE) }
}

/// The transmission protocols a connection accepts or uses (`SCARD_PROTOCOL_*`).
public struct CardProtocols: OptionSet, Sendable, CustomStringConvertible {
    /// The `SCARD_PROTOCOL_*` bits.
    public var rawValue: UInt32
    /// Wraps raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    init(dword: DWORD) { rawValue = UInt32(truncatingIfNeeded: dword) }

    /// T=0, character oriented.
    public static let t0 = CardProtocols(rawValue: UInt32(SCARD_PROTOCOL_T0))
    /// T=1, block oriented (contactless readers report T=1).
    public static let t1 = CardProtocols(rawValue: UInt32(SCARD_PROTOCOL_T1))
    /// Raw.
    public static let raw = CardProtocols(rawValue: UInt32(SCARD_PROTOCOL_RAW))
    /// Whichever of T=0/T=1 the card offers.
    public static let any: CardProtocols = [.t0, .t1]

    var dwordValue: DWORD { dword(rawValue) }

    /// `T=0`, `T=1`, `raw` or `none`.
    public var description: String {
        if contains(.t1) { return "T=1" }
        if contains(.t0) { return "T=0" }
        return contains(.raw) ? "raw" : "none"
    }
}

/// What happens to the card when a connection ends (`SCARD_*_CARD`).
public enum Disposition: Sendable {
    /// Leave it powered and as it is.
    case leave
    /// Warm reset.
    case reset
    /// Power it off.
    case unpower

    var dwordValue: DWORD {
        switch self {
        case .leave: dword(SCARD_LEAVE_CARD)
        case .reset: dword(SCARD_RESET_CARD)
        case .unpower: dword(SCARD_UNPOWER_CARD)
        }
    }
}
