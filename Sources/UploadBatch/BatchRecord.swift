public import OneCardCore

/// What a batch record reports.
public enum RecordKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// A purchase (fare) with its TAC: card purse → operator.
    case purchase = 0x01
    /// A load (top-up) with its TAC: agent's cash → card purse.
    case load = 0x02
    /// A card sold: the deposit taken (no card crypto; the batch MAC vouches for it).
    case issue = 0x03
    /// A card returned: deposit and remaining balance paid back in cash.
    case refund = 0x04
    /// A replacement: the old card's balance moved to the new card (`relatedSerial`).
    case replacement = 0x05
    /// An unfinished purchase (the card left mid-DEBIT and never came back): no TAC.
    case grey = 0x06

    public var description: String {
        switch self {
        case .purchase: "purchase"
        case .load: "load"
        case .issue: "issue"
        case .refund: "refund"
        case .replacement: "replacement"
        case .grey: "grey"
        }
    }
}

/// Flags in a record's fare context.
public struct FareFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A transfer discount was applied.
    public static let transfer = FareFlags(rawValue: 1 << 0)
    /// The fare is the incomplete-journey maximum.
    public static let incompleteJourney = FareFlags(rawValue: 1 << 1)
    /// A metro entry.
    public static let metroEntry = FareFlags(rawValue: 1 << 2)
    /// A metro exit.
    public static let metroExit = FareFlags(rawValue: 1 << 3)
    /// The card debited but its MAC2 did not verify at the SAM.
    public static let mac2Unverified = FareFlags(rawValue: 1 << 4)
    /// The tap was recovered with GET TRANSACTION PROVE after a tear.
    public static let recovered = FareFlags(rawValue: 1 << 5)
}

/// One fixed-size record of an upload batch (docs/formats.md, "Upload batch"): everything the
/// clearing centre needs to re-verify the TAC and post the money.
public struct BatchRecord: Sendable, Hashable {
    /// Bytes per record.
    public static let byteCount = 128

    // Stored widest first (8-, 4-, 2-, then 1-byte fields): 96 bytes a record in memory
    // instead of 112 in the order of the file's fields; clearing copies millions of them.

    /// The card.
    public var serial: CardSerial
    /// The terminal that did it.
    public var terminal: TerminalID
    /// When, terminal local time, BCD in the low 56 bits (as `TripleDESPurse.packedDateTime`).
    public var dateTimeBCD: UInt64
    /// Metro exit: the entry time, BCD in the low 56 bits, 0 if none.
    public var entryDateTimeBCD: UInt64
    /// Replacement: the new card.
    public var relatedSerial: CardSerial
    /// The amount: fare, load, refunded balance or moved balance.
    public var amountFen: UInt32
    /// Balance before.
    public var balanceBeforeFen: UInt32
    /// Balance after.
    public var balanceAfterFen: UInt32
    /// The terminal sequence number (the TAC covers it for purchases).
    public var sequence: UInt32
    /// The card's TAC (0 where there is none).
    public var tac: UInt32
    /// The full fare before discounts.
    public var baseFareFen: UInt32
    /// The concession taken off.
    public var concessionFen: UInt32
    /// The transfer discount taken off.
    public var transferDiscountFen: UInt32
    /// Issue: deposit taken; refund: deposit returned.
    public var depositFen: UInt32
    /// The purse counter before the transaction (offline for purchases, online for loads).
    public var counter: UInt16
    /// Line code.
    public var line: UInt16
    /// Station code (metro) or 0.
    public var station: UInt16
    /// Metro exit: the entry station.
    public var entryStation: UInt16
    /// What the record reports.
    public var kind: RecordKind
    /// The card transaction type byte (`06`, `09`, `02`), 0 for records without card money.
    public var transactionType: UInt8
    /// The card type byte (01 adult … 04 staff).
    public var cardType: UInt8
    /// Industry byte of the fare (01 metro, 02 bus, 03 taxi, 04 gas, 00 issuer).
    public var industry: UInt8
    /// Fare flags.
    public var flags: FareFlags
    /// The card's key version (its INITIALIZE response): selects the TAC master key that
    /// verifies the TAC.
    public var keyVersion: UInt8    /// A record with every field given; fare context defaults to none.
    public init(
        kind: RecordKind, transactionType: UInt8, serial: CardSerial, cardType: UInt8, counter: UInt16,
        amountFen: UInt32, balanceBeforeFen: UInt32, balanceAfterFen: UInt32, terminal: TerminalID, sequence: UInt32,
        dateTimeBCD: UInt64, tac: UInt32, industry: UInt8 = 0, line: UInt16 = 0, station: UInt16 = 0,
        entryStation: UInt16 = 0, entryDateTimeBCD: UInt64 = 0, baseFareFen: UInt32 = 0, concessionFen: UInt32 = 0,
        transferDiscountFen: UInt32 = 0, flags: FareFlags = [], relatedSerial: CardSerial = CardSerial(rawValue: 0),
        depositFen: UInt32 = 0, keyVersion: UInt8 = 1
    ) {
        self.kind = kind
        self.transactionType = transactionType
        self.serial = serial
        self.cardType = cardType
        self.counter = counter
        self.amountFen = amountFen
        self.balanceBeforeFen = balanceBeforeFen
        self.balanceAfterFen = balanceAfterFen
        self.terminal = terminal
        self.sequence = sequence
        self.dateTimeBCD = dateTimeBCD
        self.tac = tac
        self.industry = industry
        self.line = line
        self.station = station
        self.entryStation = entryStation
        self.entryDateTimeBCD = entryDateTimeBCD
        self.baseFareFen = baseFareFen
        self.concessionFen = concessionFen
        self.transferDiscountFen = transferDiscountFen
        self.flags = flags
        self.relatedSerial = relatedSerial
        self.depositFen = depositFen
        self.keyVersion = keyVersion
    }

    /// The record's date-time, if its BCD is valid.
    public var at: BCDDateTime? { BCDDateTime(bcd: BatchCodec.bcd7(dateTimeBCD)) }

    /// Appends the 128-byte encoding to `out`.
    public func encode(into out: inout [UInt8]) {
        let start = out.count
        out.append(kind.rawValue)
        out.append(transactionType)
        out.appendBigEndian(serial.rawValue)
        out.append(cardType)
        out.appendBigEndian(counter)
        out.appendBigEndian(amountFen)
        out.appendBigEndian(balanceBeforeFen)
        out.appendBigEndian(balanceAfterFen)
        out.appendBigEndian(terminal.rawValue, byteCount: 6)
        out.appendBigEndian(sequence)
        out.appendBigEndian(dateTimeBCD, byteCount: 7)
        out.appendBigEndian(tac)
        out.append(industry)
        out.appendBigEndian(line)
        out.appendBigEndian(station)
        out.appendBigEndian(entryStation)
        out.appendBigEndian(entryDateTimeBCD, byteCount: 7)
        out.appendBigEndian(baseFareFen)
        out.appendBigEndian(concessionFen)
        out.appendBigEndian(transferDiscountFen)
        out.append(flags.rawValue)
        out.appendBigEndian(relatedSerial.rawValue)
        out.appendBigEndian(depositFen)
        out.append(keyVersion)
        out.append(contentsOf: repeatElement(0, count: start + Self.byteCount - out.count))
    }

    /// Decodes one record from 128 bytes at `p`. Unknown kinds are `nil`: the whole batch is
    /// then refused. Field values are checked by clearing, not here.
    public static func decode(_ p: UnsafeRawBufferPointer) -> BatchRecord? {
        precondition(p.count >= byteCount, "record slice of \(p.count) bytes")
        func be(_ o: Int, _ n: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in o..<o + n { v = v << 8 | UInt64(p[i]) }
            return v
        }
        guard let kind = RecordKind(rawValue: p[0]), let terminal = TerminalID(rawValue: be(25, 6)) else { return nil }
        return BatchRecord(
            kind: kind, transactionType: p[1], serial: CardSerial(rawValue: be(2, 8)), cardType: p[10],
            counter: UInt16(be(11, 2)), amountFen: UInt32(be(13, 4)), balanceBeforeFen: UInt32(be(17, 4)),
            balanceAfterFen: UInt32(be(21, 4)), terminal: terminal, sequence: UInt32(be(31, 4)), dateTimeBCD: be(35, 7),
            tac: UInt32(be(42, 4)), industry: p[46], line: UInt16(be(47, 2)), station: UInt16(be(49, 2)),
            entryStation: UInt16(be(51, 2)), entryDateTimeBCD: be(53, 7), baseFareFen: UInt32(be(60, 4)),
            concessionFen: UInt32(be(64, 4)), transferDiscountFen: UInt32(be(68, 4)), flags: FareFlags(rawValue: p[72]),
            relatedSerial: CardSerial(rawValue: be(73, 8)), depositFen: UInt32(be(81, 4)), keyVersion: p[85])
    }
}
