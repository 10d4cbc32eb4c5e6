import City
import EPurse
import OneCardCore
import OneCardCrypto
import UploadBatch

/// What a batch record says about how the amount was reached.
struct FareContext {
    var fare: Fare?
    var flags: FareFlags
    var entryStation: UInt16 = 0
    var entryAt: BCDDateTime? = nil
}

extension TapTerminal {
    /// Debits the card with the journal around DEBIT: grey before, completed after.
    ///
    /// A status word at DEBIT means the card changed nothing: the grey record is voided. The
    /// channel failing after the grey record leaves it for the next presentation to resolve.
    func charge(
        _ ch: inout some CardChannel, _ info: IssuerInfo, at: BCDDateTime, amountFen: UInt32, compound: Bool,
        context: FareContext, _ r: inout TapResult, updates: (_ balanceBeforeFen: UInt32) -> [CommandAPDU]
    ) throws {
        var grey: BatchRecord? = nil
        let receipt: PurchaseReceipt
        do {
            receipt = try PurseFlows.debit(
                &ch, info: info, sam: sam, amountFen: amountFen, at: at, compound: compound, cacheUpdates: updates
            ) { pending, auth in
                let g = record(pending, context, kind: .grey, random: auth.random)
                try faulting("journal the grey record") {
                    try journal.adopt(pending.sequence)
                    try journal.recordGrey(g)
                }
                grey = g
            }
        } catch TerminalError.cardRefused(let step, let status) where grey != nil {
            if let g = grey { try faulting("void the grey record") { try journal.void(serial: g.serial, counter: g.counter) } }
            throw TerminalError.cardRefused(step: step, status: status)
        } catch TerminalError.malformedResponse where grey != nil {
            // The card may have debited: the grey record stays for the next presentation.
            throw Decline(reason: "The card's answer was garbled. Please present the card again.")
        }
        var done = record(receipt, context, kind: .purchase, random: 0)
        if !receipt.mac2Verified { done.flags.insert(.mac2Unverified) }
        try faulting("complete the journal record") { try journal.complete(done) }
        r.outcome = .approved
        r.transactionType = receipt.type
        r.amountFen = receipt.amountFen
        r.balanceBeforeFen = receipt.balanceBeforeFen
        r.balanceAfterFen = receipt.balanceAfterFen
        r.offlineCounter = receipt.offlineCounter
        r.sequence = receipt.sequence
        r.tac = receipt.tac
        r.fare = context.fare
    }

    /// The batch record of a purchase. A grey record carries the card's INITIALIZE random in
    /// `relatedSerial` (low 32 bits) so MAC2 can be verified when the tear is resolved, even
    /// after a restart; a completed purchase has 0 there (docs/terminal.md).
    func record(_ p: PurchaseReceipt, _ c: FareContext, kind: RecordKind, random: UInt32) -> BatchRecord {
        BatchRecord(
            kind: kind, transactionType: p.type.rawValue, serial: p.serial, cardType: p.cardType.rawValue,
            counter: p.offlineCounter.rawValue, amountFen: p.amountFen, balanceBeforeFen: p.balanceBeforeFen,
            balanceAfterFen: p.balanceAfterFen, terminal: p.terminal, sequence: p.sequence.rawValue,
            dateTimeBCD: TripleDESPurse.packedDateTime(p.at), tac: p.tac, industry: location.operatorKind.industryCode ?? 0,
            line: location.line.rawValue, station: location.station.rawValue, entryStation: c.entryStation,
            entryDateTimeBCD: c.entryAt.map(TripleDESPurse.packedDateTime) ?? 0,
            baseFareFen: UInt32(clamping: c.fare?.baseFen ?? Int64(p.amountFen)),
            concessionFen: UInt32(clamping: c.fare?.concessionFen ?? 0),
            transferDiscountFen: UInt32(clamping: c.fare?.transferDiscountFen ?? 0), flags: c.flags,
            relatedSerial: CardSerial(rawValue: UInt64(random)), keyVersion: p.keyVersion.rawValue)
    }

    /// UPDATE CAPP DATA CACHE appending a trip record to 0x1E; byte [16] bit 0 marks a trip
    /// that itself got a transfer discount (docs/fares.md §5).
    func tripUpdate(_ kind: TripRecord.Kind, amountFen: UInt32, balanceAfterFen: UInt32, at: BCDDateTime, transfer: Bool) -> CommandAPDU {
        let trip = TripRecord(
            kind: kind, terminal: terminal, industry: location.operatorKind.industryCode ?? 0, line: location.line.rawValue,
            station: location.station.rawValue, operatorCode: operatorCode, amountFen: amountFen, balanceAfterFen: balanceAfterFen,
            at: at, cityCode: city.code.rawValue, acquirer: 0)
        var bytes = trip.bytes
        bytes[16] = transfer ? 0x01 : 0x00
        return PurseCommand.updateCache(sfi: 0x1E, recordNumber: 0x00, record: bytes)
    }

    /// UPDATE CAPP DATA CACHE writing the in-journey record 0x1A.
    func inJourneyUpdate(_ record: InJourneyRecord) -> CommandAPDU {
        PurseCommand.updateCache(sfi: 0x1A, recordNumber: 0x01, record: record.bytes)
    }

    /// The card's previous charged trip for the transfer discount: the newest trip record that
    /// is not a metro entry (entries are not charged trips; docs/fares.md §5). With `entry`,
    /// the scan first skips down to that entry's record, so a metro exit looks at the trip
    /// before its own entry.
    func previousTrip(_ ch: inout some CardChannel, before entry: OpenEntry? = nil) throws -> PreviousTrip? {
        var skipping = entry != nil
        for n in 1...Self.tripRecordsMax {
            guard let raw = try readRecord(&ch, sfi: 0x1E, number: n, byteCount: TripRecord.byteCount) else { return nil }
            guard let trip = TripRecord(bytes: raw) else { continue }
            if skipping {
                skipping = !(trip.kind == .entry && trip.at == entry?.at && trip.station == entry?.station.rawValue)
                continue
            }
            guard trip.kind != .entry, let kind = OperatorKind(industryCode: trip.industry) else { continue }
            return PreviousTrip(kind: kind, at: trip.at, wasTransfer: raw[16] & 0x01 != 0)
        }
        return nil
    }
}
