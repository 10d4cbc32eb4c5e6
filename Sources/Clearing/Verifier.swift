public import City
import OneCardCore
public import OneCardCrypto
public import UploadBatch

/// What the verifier needs to know about the world.
public struct ClearingConfig: Sendable {
    /// The city: terminals, operators, card maximum, upload window.
    public var city: City
    /// The TAC master key (diversified per card to re-compute each TAC).
    public var tacMaster: TripleDESKey
    /// A counter gap unfilled for more than this many days opens an exception.
    public var gapWindowDays: Int

    /// Groups the settings.
    public init(city: City, tacMaster: TripleDESKey, gapWindowDays: Int = 2) {
        self.city = city
        self.tacMaster = tacMaster
        self.gapWindowDays = gapWindowDays
    }
}

/// Checks one record on its own — everything that needs no ledger state. Pure and
/// thread-safe: the ingest pipeline runs it on both cores ahead of posting.
///
/// The order of checks decides the code of a record with several faults: grey (04), terminal
/// (06), illegal data (02), expired (05), TAC (01), hotlist (07). Duplicates (03) are found
/// later, against the ledger.
public struct RecordVerifier: Sendable {
    let cardMaxFen: UInt32
    let uploadWindowDays: Int
    let tacMaster: TripleDESKey

    /// Builds a verifier for a city and TAC master key.
    public init(city: City, tacMaster: TripleDESKey) {
        cardMaxFen = UInt32(clamping: city.card.balanceFenMax)
        uploadWindowDays = city.settlement.uploadWindowDays
        self.tacMaster = tacMaster
    }

    /// The refusal code for `r`, or `nil` if it passes every stateless check.
    ///
    /// - Parameters:
    ///   - seconds: the record's time (``ClearingTime/seconds(bcd:)``), 0 if its BCD is invalid.
    ///   - uploadDay: the batch's creation day (days since 1970), for the upload window.
    ///   - terminalOK: whether the batch's terminal is known, belongs to the batch's operator and
    ///     is the record's terminal.
    ///   - tacKey: the card's TAC key.
    ///   - hotlistedAt: when the card was hotlisted (seconds), if it is.
    @inline(__always)
    public func check(
        _ r: BatchRecord, seconds: UInt32, uploadDay: Int, terminalOK: Bool, operatorKind: OperatorKind?,
        tacKey: DESKey, hotlistedAt: UInt32?
    ) -> RefusalCode? {
        if r.kind == .grey { return .grey }
        guard terminalOK, r.terminal.rawValue != 0 else { return .unknownTerminal }
        if let bad = illegal(r, seconds: seconds, operatorKind: operatorKind) { return bad }
        if uploadDay - ClearingTime.day(seconds) > uploadWindowDays { return .expired }
        switch r.kind {
        case .purchase:
            let tac = TripleDESPurse.purchaseTAC(
                tacKey: tacKey, amountFen: r.amountFen, typeByte: r.transactionType, terminal: r.terminal.rawValue,
                terminalSequence: r.sequence, dateTimeBCD: r.dateTimeBCD)
            if tac != r.tac { return .tacError }
        case .load:
            if loadTAC(r, tacKey) != r.tac { return .tacError }
        case .replacement where r.amountFen > 0:
            // The balance reached the new card by a load; its TAC is the new card's.
            if loadTAC(r, TripleDESPurse.tacKey(tacMaster: tacMaster, serial: r.relatedSerial)) != r.tac { return .tacError }
        default: break
        }
        if let h = hotlistedAt, h <= seconds { return .hotlisted }
        return nil
    }

    private func illegal(_ r: BatchRecord, seconds: UInt32, operatorKind: OperatorKind?) -> RefusalCode? {
        guard seconds != 0, (1...4).contains(r.cardType) else { return .illegalData }
        switch r.kind {
        case .purchase:
            // A compound purchase may be 0 fen (a metro entry, a free concession ride): the card
            // counted it, so clearing must see it, but it moves no money.
            guard r.transactionType == 0x06 || r.transactionType == 0x09, r.amountFen > 0 || r.transactionType == 0x09,
                  r.amountFen <= cardMaxFen,
                  operatorKind != .issuer, r.balanceBeforeFen >= r.amountFen,
                  r.balanceBeforeFen - r.amountFen == r.balanceAfterFen
            else { return .illegalData }
        case .load:
            guard r.transactionType == 0x02, r.amountFen > 0, operatorKind == .issuer, r.balanceAfterFen <= cardMaxFen,
                  r.balanceAfterFen >= r.amountFen, r.balanceAfterFen - r.amountFen == r.balanceBeforeFen
            else { return .illegalData }
        case .issue, .refund:
            guard operatorKind == .issuer, r.amountFen <= cardMaxFen else { return .illegalData }
        case .replacement:
            guard operatorKind == .issuer, r.relatedSerial.rawValue != 0, r.relatedSerial != r.serial, r.amountFen <= cardMaxFen,
                  r.amountFen == 0 || (r.transactionType == 0x02 && r.balanceAfterFen == r.balanceBeforeFen + r.amountFen)
            else { return .illegalData }
        case .grey:
            return .grey
        }
        return nil
    }

    @inline(__always)
    private func loadTAC(_ r: BatchRecord, _ key: DESKey) -> UInt32 {
        TripleDESPurse.loadTAC(
            tacKey: key, newBalanceFen: r.balanceAfterFen, onlineCounter: r.counter, amountFen: r.amountFen,
            typeByte: r.transactionType, terminal: r.terminal.rawValue, dateTimeBCD: r.dateTimeBCD)
    }
}

/// Time in clearing: seconds since 1970-01-01 local time as `UInt32` (good to 2106), decoded
/// straight from packed BCD without allocating.
public enum ClearingTime {
    /// Seconds of a packed 7-byte BCD date-time, or 0 if it is not a valid date-time.
    @inline(__always)
    public static func seconds(bcd v: UInt64) -> UInt32 {
        // Bytes: YY YY MM DD hh mm ss.
        @inline(__always) func pair(_ byte: Int) -> Int? {
            let b = Int(truncatingIfNeeded: v >> (8 * (6 - byte))) & 0xFF
            let hi = b >> 4, lo = b & 0xF
            return hi <= 9 && lo <= 9 ? hi * 10 + lo : nil
        }
        guard v >> 56 == 0, let y1 = pair(0), let y2 = pair(1), let mo = pair(2), let da = pair(3), let h = pair(4),
              let mi = pair(5), let s = pair(6), let date = BCDDate(year: y1 * 100 + y2, month: mo, day: da),
              h < 24, mi < 60, s < 60
        else { return 0 }
        let total = date.daysSinceEpoch * 86_400 + h * 3600 + mi * 60 + s
        guard total > 0, total <= Int(UInt32.max) else { return 0 }
        return UInt32(total)
    }

    /// The day (days since 1970) of a time in seconds.
    @inline(__always)
    public static func day(_ seconds: UInt32) -> Int { Int(seconds / 86_400) }
}
