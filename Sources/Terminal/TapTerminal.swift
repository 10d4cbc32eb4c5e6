public import City
import EPurse
public import OneCardCore
import OneCardCrypto
import UploadBatch

/// A fare terminal — bus validator, metro gate, taxi meter, gas counter — processing one card
/// presentation at a time over any ``CardChannel`` (docs/terminal.md).
///
/// Order of a tap: SELECT and read file 0x15 → resolve this card's grey record, if any (GET
/// TRANSACTION PROVE) → blocked, validity dates, hotlist → "already paid" (the card's newest
/// purchase was at this terminal within ``repeatTapSecondsMax``) → price by the terminal's
/// operator kind → journal grey → DEBIT → verify MAC2 → complete the journal record → approved.
public final class TapTerminal {
    /// The default window for "already paid", in seconds.
    public static let repeatTapSecondsMaxDefault: Int64 = 5
    /// The trip log's record count: the most records a scan reads.
    static let tripRecordsMax = 30
    /// The transaction log's record count.
    static let logRecordsMax = 10

    /// The city (fares, terminals, operators).
    public let city: City
    /// This terminal.
    public let terminal: TerminalID
    /// Where it stands (from the city file).
    public let location: TerminalLocation
    /// The hotlist.
    public var hotlist: Hotlist
    /// Which way a metro gate faces (ignored elsewhere).
    public var gateDirection: GateDirection
    /// A second tap of the same card at this terminal within this many seconds is "already paid".
    public var repeatTapSecondsMax: Int64
    let operatorCode: UInt16
    let sam: any SAM
    let journal: any TerminalJournal

    /// Sets up a terminal.
    ///
    /// - Throws: ``TapSetupError`` for a terminal the city does not know, an issuer terminal,
    ///   or a SAM bound to another terminal.
    public init(
        city: City, terminal: TerminalID, sam: any SAM, journal: any TerminalJournal, hotlist: Hotlist = Hotlist(),
        gateDirection: GateDirection = .entry, repeatTapSecondsMax: Int64 = repeatTapSecondsMaxDefault
    ) throws(TapSetupError) {
        guard let t = city.terminal(terminal), let op = city.operator(ofTerminal: terminal) else { throw .unknownTerminal(terminal) }
        guard t.location.operatorKind != .issuer else { throw .notAFareTerminal(terminal) }
        guard sam.terminal == terminal else { throw .samTerminalMismatch(sam: sam.terminal, terminal: terminal) }
        self.city = city
        self.terminal = terminal
        self.location = t.location
        self.operatorCode = op.recordCode.rawValue
        self.sam = sam
        self.journal = journal
        self.hotlist = hotlist
        self.gateDirection = gateDirection
        self.repeatTapSecondsMax = repeatTapSecondsMax
    }

    /// What this terminal does for a rider.
    public var action: TapResult.Action {
        switch location {
        case .bus: .bus
        case .metroGate: gateDirection == .entry ? .metroEntry : .metroExit
        case .taxi: .taxi
        default: .gas
        }
    }

    /// Processes one presentation of a card.
    ///
    /// - Parameters:
    ///   - at: the terminal's clock.
    ///   - enteredAmountFen: the amount keyed in at a taxi meter or gas counter.
    /// - Returns: the outcome; card problems, fare refusals and a card removed mid-way are
    ///   results, not errors.
    /// - Throws: ``TerminalFault`` when the journal or the SAM fails: show out of service.
    public func tap(_ channel: inout some CardChannel, at: BCDDateTime, enteredAmountFen: Int64? = nil) throws(TerminalFault) -> TapResult {
        var result = TapResult(outcome: .declined, reason: "", at: at)
        result.action = action
        var observed = ObservedChannel(base: channel)
        defer { channel = observed.base }
        do {
            try process(&observed, at: at, enteredAmountFen: enteredAmountFen, &result)
        } catch let fault as TerminalFault {
            throw fault
        } catch where observed.failed {
            result = removed(result)
        } catch let e as TerminalError {
            result.outcome = .declined
            result.reason = e.plainWords
        } catch let e as FareRefusal {
            result.outcome = .declined
            result.reason = e.description
        } catch let e as Decline {
            result.outcome = .declined
            result.reason = e.reason
        } catch {
            throw TerminalFault(operation: "process the tap", underlying: error)
        }
        return result
    }

    private func removed(_ r: TapResult) -> TapResult {
        var out = TapResult(outcome: .cardRemoved, reason: "Card removed too soon. Please present the card again.", at: r.at)
        out.action = r.action
        out.serial = r.serial
        out.cardType = r.cardType
        return out
    }

    private func process(_ ch: inout some CardChannel, at: BCDDateTime, enteredAmountFen: Int64?, _ r: inout TapResult) throws {
        let (info, blocked) = try PurseFlows.selectAndRead(&ch)
        r.serial = info.serial
        r.cardType = info.cardType
        if try recoverGrey(&ch, info: info, at: at, &r) { return }
        guard !blocked else { throw TerminalError.cardBlocked }
        guard info.isValid(on: at.date) else {
            throw TerminalError.cardNotValid(today: at.date, start: info.startDate, expiry: info.expiryDate)
        }
        if hotlist.contains(info.serial) { return try refuseHotlisted(&ch, info, &r) }
        if let paid = try recentPayment(&ch, at: at) {
            r.outcome = .alreadyPaid
            r.reason = "Already paid \(Fen.yuan(Int64(paid.amountFen))) yuan here at \(paid.at.time). Not charged again."
            return
        }
        switch location {
        case .bus: try boardBus(&ch, info, at: at, &r)
        case .metroGate: gateDirection == .entry ? try enterMetro(&ch, info, at: at, &r) : try exitMetro(&ch, info, at: at, &r)
        default: try payEntered(&ch, info, at: at, amountFen: enteredAmountFen, &r)
        }
    }

    private func refuseHotlisted(_ ch: inout some CardChannel, _ info: IssuerInfo, _ r: inout TapResult) throws {
        let refused = "This card is on the hotlist (reported lost or stolen) and cannot be used."
        // The PSAM makes the block MAC; a test double may hold the maintenance master instead.
        let signer: (any SecureMessagingSigner)? = hotlist.maintenanceMaster.map { MaintenanceMaster($0) } ?? (sam as? any SecureMessagingSigner)
        guard let signer else {
            r.reason = refused + " It was not blocked: this terminal holds no maintenance key. Please see the service counter."
            return
        }
        do {
            try CardMaintenance.block(&ch, serial: info.serial, signer: signer, permanent: false)
            r.reason = refused + " The card has been blocked. Please see the service counter."
        } catch let e as TerminalError {
            r.reason = refused + " Blocking it failed (\(e)). Please see the service counter."
        }
    }

    /// The card's newest purchase if it was made at this terminal within ``repeatTapSecondsMax``.
    private func recentPayment(_ ch: inout some CardChannel, at: BCDDateTime) throws -> TransactionLogRecord? {
        guard let raw = try readRecord(&ch, sfi: 0x18, number: 1, byteCount: TransactionLogRecord.byteCount),
              let last = TransactionLogRecord(bytes: raw), !last.type.isLoad, last.terminal == terminal
        else { return nil }
        let ageSeconds = at.secondsSinceEpoch - last.at.secondsSinceEpoch
        return (0...repeatTapSecondsMax).contains(ageSeconds) ? last : nil
    }

    /// READ RECORD; `nil` past the last record written (`6A83`).
    func readRecord(_ ch: inout some CardChannel, sfi: UInt8, number: Int, byteCount: Int) throws -> [UInt8]? {
        try PurseFlows.readRecord(&ch, sfi: sfi, number: number, byteCount: byteCount)
    }

    /// Runs a journal or SAM call, turning its failure into a ``TerminalFault``.
    func faulting<T>(_ operation: String, _ body: () throws -> T) throws(TerminalFault) -> T {
        do { return try body() } catch { throw TerminalFault(operation: operation, underlying: error) }
    }
}
