public import City
public import OneCardCore
public import OneCardCrypto
public import UploadBatch

/// What the verifier needs to know about the world.
public struct ClearingConfig: Sendable {
    /// The city: terminals, operators, card maximum, upload window.
    public var city: City
    /// The TAC master keys by key version (the version a record names selects one; several
    /// are held while cards of an old version still upload: rotation).
    public var tacMasters: [UInt8: TripleDESKey]
    /// A counter gap unfilled for more than this many days opens an exception.
    public var gapWindowDays: Int
    /// Days after the upload window during which a settled day may still be corrected: fare
    /// identities are kept for the upload window plus this window (``fareRetentionDays``).
    public var settlementWindowDays: Int
    /// How far ahead of the clearing centre's clock a batch header's time may be (terminal
    /// clocks drift); a header further ahead is refused whole.
    public var headerSkewSecondsMax: UInt32

    /// Groups the settings.
    public init(
        city: City, tacMasters: [UInt8: TripleDESKey], gapWindowDays: Int = 2, settlementWindowDays: Int = 7, headerSkewSecondsMax: UInt32 = 300
    ) {
        self.city = city
        self.tacMasters = tacMasters
        self.gapWindowDays = gapWindowDays
        self.settlementWindowDays = settlementWindowDays
        self.headerSkewSecondsMax = headerSkewSecondsMax
    }

    /// Settings with one TAC master key, of key version 1.
    public init(city: City, tacMaster: TripleDESKey, gapWindowDays: Int = 2) {
        self.init(city: city, tacMasters: [0x01: tacMaster], gapWindowDays: gapWindowDays)
    }

    /// How many days a fare's identity is kept after the newest record of its span: the
    /// upload window plus the settlement window. A replay older than that is refused `05`
    /// by the upload window anyway, so dropping it loses no protection.
    public var fareRetentionDays: Int { city.settlement.uploadWindowDays + settlementWindowDays }
}

/// A refusal: its code and the field it is about.
public struct Verdict: Hashable, Sendable {
    /// The refusal code.
    public var code: RefusalCode
    /// The field it names (``RecordField/none`` when the code says it all).
    public var field: RecordField

    /// Names a refusal.
    public init(_ code: RefusalCode, _ field: RecordField = .none) {
        self.code = code
        self.field = field
    }

    /// Packed into two bytes for the run's verdict table: 0 = passed, else the code's index + 1
    /// in the low byte and the field in the high byte.
    var packed: UInt16 { UInt16(code.index + 1) | UInt16(field.rawValue) << 8 }

    /// The verdict of a packed value (`nil` for 0, passed).
    init?(packed v: UInt16) {
        guard v & 0xFF != 0 else { return nil }
        self.init(RefusalCode.allCases[Int(v & 0xFF) - 1], RecordField(rawValue: UInt8(v >> 8)) ?? .none)
    }
}

extension RefusalCode {
    /// The index in ``allCases``.
    var index: Int {
        switch self {
        case .tacError: 0
        case .illegalData: 1
        case .duplicate: 2
        case .grey: 3
        case .expired: 4
        case .unknownTerminal: 5
        case .hotlisted: 6
        }
    }
}

/// Checks one record on its own — everything that needs no ledger state. Pure and
/// thread-safe: the ingest pipeline runs it on both cores ahead of posting.
///
/// The order of checks decides the code of a record with several faults: grey (04), terminal
/// (06), illegal data (02), expired (05), TAC (01); then, at posting, hotlist (07) against the
/// hotlist as it is when the run posts. Duplicates (03) and the checks against a card's ledger
/// (refund and replacement amounts) come after those.
///
/// Every field is checked before it takes part in arithmetic: no value in a record can trap
/// the process (the fuzz target, docs/performance.md "Fuzzing").
public struct RecordVerifier: Sendable {
    let cardMaxFen: UInt32
    let depositFen: UInt32
    let uploadWindowDays: Int
    let tacMasters: [UInt8: TripleDESKey]

    /// Builds a verifier for a city and its TAC master keys by version.
    public init(city: City, tacMasters: [UInt8: TripleDESKey]) {
        cardMaxFen = UInt32(clamping: city.card.balanceFenMax)
        depositFen = UInt32(clamping: city.card.depositFen)
        uploadWindowDays = city.settlement.uploadWindowDays
        self.tacMasters = tacMasters
    }

    /// The refusal of `r`, or `nil` if it passes every stateless check.
    ///
    /// - Parameters:
    ///   - seconds: the record's time (``ClearingTime/seconds(bcd:)``), 0 if its BCD is invalid.
    ///   - receivedDay: the day (since 1970) the clearing centre received the batch, for the
    ///     upload window. Never the terminal's own header time: a terminal is not trusted.
    ///   - terminalOK: whether the batch's terminal is known, belongs to the batch's operator and
    ///     is the record's terminal.
    ///   - tacKey: the card's TAC key under the master of the record's key version; `nil` if
    ///     clearing holds no master of that version.
    @inline(__always)
    public func check(
        _ r: BatchRecord, seconds: UInt32, receivedDay: Int, terminalOK: Bool, operatorKind: OperatorKind?,
        tacKey: DESKey?
    ) -> Verdict? {
        if r.kind == .grey { return Verdict(.grey) }
        guard terminalOK, r.terminal.rawValue != 0 else { return Verdict(.unknownTerminal) }
        if let bad = illegal(r, seconds: seconds, operatorKind: operatorKind) { return Verdict(.illegalData, bad) }
        if receivedDay - ClearingTime.day(seconds) > uploadWindowDays { return Verdict(.expired) }
        switch r.kind {
        case .purchase:
            guard let tacKey else { return Verdict(.illegalData, .keyVersion) }
            let tac = TripleDESPurse.purchaseTAC(
                tacKey: tacKey, amountFen: r.amountFen, typeByte: r.transactionType, terminal: r.terminal.rawValue,
                terminalSequence: r.sequence, dateTimeBCD: r.dateTimeBCD)
            if tac != r.tac { return Verdict(.tacError) }
        case .load:
            guard let tacKey else { return Verdict(.illegalData, .keyVersion) }
            if loadTAC(r, tacKey) != r.tac { return Verdict(.tacError) }
        case .replacement where r.amountFen > 0:
            // The balance reached the new card by a load; its TAC is the new card's.
            guard let master = tacMasters[r.keyVersion] else { return Verdict(.illegalData, .keyVersion) }
            if loadTAC(r, TripleDESPurse.tacKey(tacMaster: master, serial: r.relatedSerial)) != r.tac { return Verdict(.tacError) }
        default: break
        }
        return nil
    }

    /// The first field of `r` that is out of range or inconsistent, if any. Subtractions come
    /// after the comparisons that make them safe; additions are done in 64 bits.
    private func illegal(_ r: BatchRecord, seconds: UInt32, operatorKind: OperatorKind?) -> RecordField? {
        guard seconds != 0 else { return .dateTime }
        guard (1...4).contains(r.cardType) else { return .cardType }
        switch r.kind {
        case .purchase:
            // A compound purchase may be 0 fen (a metro entry, a free concession ride): the card
            // counted it, so clearing must see it, but it moves no money.
            guard operatorKind != .issuer else { return .kind }
            guard r.transactionType == 0x06 || r.transactionType == 0x09 else { return .transactionType }
            guard r.amountFen > 0 || r.transactionType == 0x09, r.amountFen <= cardMaxFen else { return .amount }
            guard r.balanceBeforeFen <= cardMaxFen, r.balanceBeforeFen >= r.amountFen else { return .balanceBefore }
            guard r.balanceBeforeFen - r.amountFen == r.balanceAfterFen else { return .balanceAfter }
            return purseFields(r)
        case .load:
            guard operatorKind == .issuer else { return .kind }
            guard r.transactionType == 0x02 else { return .transactionType }
            guard r.amountFen > 0, r.amountFen <= cardMaxFen else { return .amount }
            guard r.balanceAfterFen <= cardMaxFen, r.balanceAfterFen >= r.amountFen else { return .balanceAfter }
            guard r.balanceAfterFen - r.amountFen == r.balanceBeforeFen else { return .balanceBefore }
            return purseFields(r)
        case .issue:
            guard operatorKind == .issuer else { return .kind }
            guard r.amountFen == 0 else { return .amount }
            guard r.depositFen == depositFen else { return .deposit }
        case .refund:
            guard operatorKind == .issuer else { return .kind }
            guard r.amountFen <= cardMaxFen else { return .amount }
            guard r.depositFen == 0 || r.depositFen == depositFen else { return .deposit }
        case .replacement:
            guard operatorKind == .issuer else { return .kind }
            guard r.relatedSerial.rawValue != 0, r.relatedSerial != r.serial else { return .relatedSerial }
            guard r.amountFen <= cardMaxFen else { return .amount }
            guard r.depositFen == 0 else { return .deposit }
            if r.amountFen > 0 {
                guard r.transactionType == 0x02 else { return .transactionType }
                guard r.balanceAfterFen <= cardMaxFen else { return .balanceAfter }
                guard UInt64(r.balanceBeforeFen) + UInt64(r.amountFen) == UInt64(r.balanceAfterFen) else { return .balanceBefore }
                guard r.counter != .max else { return .counter }
            }
        case .grey:
            return .kind
        }
        return nil
    }

    /// What purchases and loads share: a counter that can still advance, no deposit.
    @inline(__always)
    private func purseFields(_ r: BatchRecord) -> RecordField? {
        // A card whose counter reached FFFF cannot count another transaction: no genuine record
        // carries it (docs/card.md), and clearing could not tell the next counter.
        guard r.counter != .max else { return .counter }
        guard r.depositFen == 0 else { return .deposit }
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

    /// Seconds of a date-time (0 before 1970 or after 2106, which no clearing clock shows).
    public static func seconds(_ t: BCDDateTime) -> UInt32 { UInt32(clamping: max(0, t.secondsSinceEpoch)) }

    /// The date-time of seconds since 1970.
    public static func dateTime(_ seconds: UInt32) -> BCDDateTime { BCDDateTime(secondsSinceEpoch: Int64(seconds)) }

    /// The day (days since 1970) of a time in seconds.
    @inline(__always)
    public static func day(_ seconds: UInt32) -> Int { Int(seconds / 86_400) }
}
