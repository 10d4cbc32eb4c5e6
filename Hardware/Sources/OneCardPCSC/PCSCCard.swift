import CPCSCLite
import OneCardCore

/// A connection to the card in a reader (`SCARDHANDLE`), disconnected (leaving the card as it
/// is) in `deinit` unless ``disconnect(_:)`` was called.
///
/// Use one connection from one thread at a time. It is a ``CardChannel``: its
/// ``transmit(_:)`` follows `61xx` and `6Cxx` so terminal flows see complete responses.
public final class PCSCCard: CardChannel {
    /// The context the connection was made on (kept alive by the card).
    public let context: PCSCContext
    /// The reader's name.
    public let reader: String
    /// The protocol negotiated at connect (or the last reconnect).
    public private(set) var activeProtocol: CardProtocols
    private var handle: SCARDHANDLE
    private var connected = true
    /// Set when a deadline-bounded exchange gave up: a helper thread may still be inside
    /// `SCardTransmit`, so this connection must not be used again.
    private let abandoned = Locked(false)
    /// The receive buffer, allocated once per connection (extended APDUs need 64 KiB).
    private var receiveBuffer: [UInt8]

    /// Most GET RESPONSE commands one exchange sends after `61xx` (256 × 256 bytes covers
    /// the largest extended response).
    public static let getResponseCountMax = 256
    /// Most re-sends one exchange makes after `6Cxx`.
    public static let wrongLengthResendCountMax = 2
    /// Most response data bytes one exchange collects.
    public static let responseBytesMax = 65_536

    init(context: PCSCContext, reader: String, handle: SCARDHANDLE, activeProtocol: CardProtocols) {
        self.context = context
        self.reader = reader
        self.handle = handle
        self.activeProtocol = activeProtocol
        receiveBuffer = [UInt8](repeating: 0, count: int(onecard_pcsc_max_buffer_size_extended()))
    }

    deinit {
        if connected { _ = SCardDisconnect(handle, Disposition.leave.dwordValue) }
    }

    /// Ends the connection (`SCardDisconnect`), leaving, resetting or powering off the card.
    ///
    /// - Throws: ``PCSCError``; the handle is released either way.
    public func disconnect(_ disposition: Disposition = .leave) throws(PCSCError) {
        guard connected else { return }
        connected = false
        try pcscCheck(SCardDisconnect(handle, disposition.dwordValue), "SCardDisconnect")
    }

    /// Re-establishes the connection (`SCardReconnect`), e.g. after ``PCSCStatus/resetCard``.
    ///
    /// - Throws: ``PCSCError``.
    public func reconnect(
        share: ShareMode = .shared, protocols: CardProtocols = .any, initialization: Disposition = .leave
    ) throws(PCSCError) {
        var active: DWORD = 0
        try pcscCheck(
            SCardReconnect(handle, share.dwordValue, protocols.dwordValue, initialization.dwordValue, &active),
            "SCardReconnect")
        activeProtocol = CardProtocols(dword: active)
    }

    /// Runs `body` inside `SCardBeginTransaction`/`SCardEndTransaction`: no other
    /// application's command reaches the card in between. The transaction ends (leaving the
    /// card) even when `body` throws.
    ///
    /// - Throws: ``PCSCError`` from begin, or whatever `body` throws.
    public func withTransaction<R>(_ body: (PCSCCard) throws -> R) throws -> R {
        try pcscCheck(SCardBeginTransaction(handle), "SCardBeginTransaction")
        defer { _ = SCardEndTransaction(handle, Disposition.leave.dwordValue) }
        return try body(self)
    }

    /// The reader's view of the card (`SCardStatus`).
    ///
    /// - Throws: ``PCSCError``, e.g. ``PCSCStatus/removedCard``.
    public func status() throws(PCSCError) -> CardStatus {
        var state: DWORD = 0
        var proto: DWORD = 0
        var atr = [UInt8](repeating: 0, count: int(onecard_pcsc_max_atr_size()))
        var atrLength = dword(atr.count)
        var nameLength: DWORD = 0
        try pcscCheck(SCardStatus(handle, nil, &nameLength, &state, &proto, &atr, &atrLength), "SCardStatus")
        return CardStatus(
            reader: reader, atr: Array(atr.prefix(int(atrLength))), activeProtocol: CardProtocols(dword: proto))
    }

    /// Reads a reader attribute (`SCardGetAttrib`), e.g. ``PCSCAttribute/atrString``.
    ///
    /// - Throws: ``PCSCError`` (often ``PCSCStatus/invalidParameter``: unsupported attribute).
    public func attribute(_ id: UInt32) throws(PCSCError) -> [UInt8] {
        var length: DWORD = 0
        try pcscCheck(SCardGetAttrib(handle, dword(id), nil, &length), "SCardGetAttrib")
        var value = [UInt8](repeating: 0, count: int(length))
        try pcscCheck(SCardGetAttrib(handle, dword(id), &value, &length), "SCardGetAttrib")
        return Array(value.prefix(int(length)))
    }

    /// The reader's vendor name (`SCARD_ATTR_VENDOR_NAME`), if it reports one.
    public var readerVendor: String? {
        guard let bytes = try? attribute(PCSCAttribute.vendorName) else { return nil }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Sends a control code to the reader (`SCardControl`).
    ///
    /// - Throws: ``PCSCError``.
    public func control(code: UInt32, _ input: [UInt8] = []) throws(PCSCError) -> [UInt8] {
        var received: DWORD = 0
        let rv = input.withUnsafeBytes { inBuf in
            receiveBuffer.withUnsafeMutableBytes { outBuf in
                SCardControl(
                    handle, dword(onecard_pcsc_ctl_code(dword(code))), inBuf.baseAddress, dword(inBuf.count),
                    outBuf.baseAddress, dword(outBuf.count), &received)
            }
        }
        try pcscCheck(rv, "SCardControl")
        return Array(receiveBuffer.prefix(int(received)))
    }

    /// Marks the connection unusable after a deadline-bounded exchange gave up.
    func markAbandoned() { abandoned.withLock { $0 = true } }

    /// Sends raw bytes and returns the raw answer (`SCardTransmit`), with no `61xx`/`6Cxx`
    /// handling. When the exchange fails because the card left, throws
    /// ``PCSCStatus/removedCard`` whatever the driver reported.
    ///
    /// - Throws: ``PCSCError``.
    public func transmitRaw(_ command: [UInt8]) throws(PCSCError) -> [UInt8] {
        guard connected, !abandoned.withLock({ $0 }) else {
            throw PCSCError(.invalidHandle, function: "SCardTransmit")
        }
        let pci = activeProtocol.contains(.t0) ? onecard_pcsc_pci_t0() : onecard_pcsc_pci_t1()
        var received = dword(receiveBuffer.count)
        let handle = self.handle
        let rv = receiveBuffer.withUnsafeMutableBufferPointer { out in
            SCardTransmit(handle, pci, command, dword(command.count), nil, out.baseAddress, &received)
        }
        do {
            try pcscCheck(rv, "SCardTransmit")
        } catch {
            throw refineTransmitError(error)
        }
        return Array(receiveBuffer.prefix(int(received)))
    }

    /// A driver that loses the card mid-exchange reports "not transacted", "unresponsive" or
    /// an empty answer, and pcscd notices the removal only at its next poll of the reader.
    /// Wait that long for the reader to settle; if the card is gone, say so.
    private func refineTransmitError(_ error: PCSCError) -> PCSCError {
        let vague: Set<PCSCStatus> = [.notTransacted, .unresponsiveCard, .commError, .notReady]
        guard vague.contains(error.status) else { return error }
        return cardWasRemoved() ? PCSCError(.removedCard, function: "SCardTransmit") : error
    }

    /// How long to wait for pcscd to notice a removal after a failed exchange (it polls
    /// readers such as vpcd every 400 ms).
    public static let removalSettleMax: Duration = .milliseconds(600)

    /// Whether the card left the reader (or was swapped) since this connection was made.
    private func cardWasRemoved() -> Bool {
        if handleSaysRemoved() { return true }
        let state = try? context.waitForCard(in: reader, present: false, timeout: Self.removalSettleMax)
        if state?.isCardPresent == false { return true }
        // Removed and re-inserted within one poll: the reader shows a card, but not ours.
        return handleSaysRemoved()
    }

    /// `SCardStatus` on this handle fails once pcscd saw the card go (or come back).
    private func handleSaysRemoved() -> Bool {
        do {
            _ = try status()
            return false
        } catch {
            return [.removedCard, .noSmartcard, .resetCard].contains(error.status)
        }
    }

    /// Sends one command and parses the answer, with no `61xx`/`6Cxx` handling.
    ///
    /// - Throws: ``PCSCError``, or ``CardExchangeError/malformedResponse(byteCount:)``.
    public func transmitSingle(_ command: CommandAPDU) throws -> ResponseAPDU {
        let raw = try transmitRaw(command.bytes)
        guard let response = try? ResponseAPDU(bytes: raw) else {
            // vpcd answers an empty response when the card leaves mid-command.
            if cardWasRemoved() { throw PCSCError(.removedCard, function: "SCardTransmit") }
            throw CardExchangeError.malformedResponse(byteCount: raw.count)
        }
        return response
    }

    /// Sends `command` and returns the complete response: on `6Cxx` re-sends with Le = xx,
    /// on `61xx` collects the rest with GET RESPONSE, each within the named limits.
    ///
    /// - Throws: ``PCSCError`` (card removed, reader gone, …) or ``CardExchangeError``.
    public func transmit(_ command: CommandAPDU) throws -> ResponseAPDU {
        var response = try transmitSingle(command)
        var sent = command
        var resends = 0
        while response.status.isWrongExpectedLength {
            resends += 1
            guard resends <= Self.wrongLengthResendCountMax else { throw CardExchangeError.tooManyResends(resends) }
            sent.le = response.status.sw2 == 0 ? 256 : Int(response.status.sw2)
            response = try transmitSingle(sent)
        }
        return try collectMoreData(after: response, cla: command.cla)
    }

    /// Follows `61xx` with GET RESPONSE until the card answers something else.
    private func collectMoreData(after first: ResponseAPDU, cla: UInt8) throws -> ResponseAPDU {
        var response = first
        var data = first.data
        var count = 0
        // GET RESPONSE keeps the logical channel of an inter-industry CLA.
        let getResponseCLA: UInt8 = cla & 0x80 == 0 ? cla & 0x03 : 0x00
        while response.status.isMoreDataAvailable {
            count += 1
            guard count <= Self.getResponseCountMax else { throw CardExchangeError.tooManyGetResponses(count) }
            let le = response.status.sw2 == 0 ? 256 : Int(response.status.sw2)
            response = try transmitSingle(CommandAPDU(cla: getResponseCLA, ins: 0xC0, p1: 0, p2: 0, le: le))
            data += response.data
            guard data.count <= Self.responseBytesMax else { throw CardExchangeError.responseTooLong(byteCount: data.count) }
        }
        return ResponseAPDU(data: data, status: response.status)
    }
}

/// What ``PCSCCard/status()`` reports.
public struct CardStatus: Sendable, Equatable {
    /// The reader's name.
    public var reader: String
    /// The card's answer to reset.
    public var atr: [UInt8]
    /// The protocol in use.
    public var activeProtocol: CardProtocols
}

/// A card that answered, but not in a way an exchange can complete.
public enum CardExchangeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The answer had fewer than the two status bytes.
    case malformedResponse(byteCount: Int)
    /// The card kept answering `61xx` past ``PCSCCard/getResponseCountMax``.
    case tooManyGetResponses(Int)
    /// The card kept answering `6Cxx` past ``PCSCCard/wrongLengthResendCountMax``.
    case tooManyResends(Int)
    /// The chained response exceeded ``PCSCCard/responseBytesMax``.
    case responseTooLong(byteCount: Int)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .malformedResponse(let n): "the card answered \(n) bytes, fewer than a status word"
        case .tooManyGetResponses(let n): "the card still had more data after \(n) GET RESPONSE commands"
        case .tooManyResends(let n): "the card asked for a different Le \(n) times in a row"
        case .responseTooLong(let n): "the card's chained response grew to \(n) bytes"
        }
    }
}

/// Reader attribute identifiers for ``PCSCCard/attribute(_:)`` (`SCARD_ATTR_*`).
public enum PCSCAttribute {
    /// `SCARD_ATTR_VENDOR_NAME`: the reader's vendor (a string).
    public static let vendorName = UInt32(truncatingIfNeeded: onecard_pcsc_attr_vendor_name())
    /// `SCARD_ATTR_VENDOR_IFD_VERSION`: the reader's firmware version.
    public static let vendorIFDVersion = UInt32(truncatingIfNeeded: onecard_pcsc_attr_vendor_ifd_version())
    /// `SCARD_ATTR_ATR_STRING`: the card's ATR.
    public static let atrString = UInt32(truncatingIfNeeded: onecard_pcsc_attr_atr_string())
    /// `SCARD_ATTR_MAXINPUT`: the largest APDU the reader accepts.
    public static let maxInput = UInt32(truncatingIfNeeded: onecard_pcsc_attr_maxinput())
}
