import EPurse
import OneCardCore
import OneCardCrypto
import UploadBatch

/// Tear recovery: resolving this card's grey record when it is presented again.
extension TapTerminal {
    /// Resolves the card's grey record, if any. GET TRANSACTION PROVE answering MAC2 ‖ TAC means
    /// the debit happened: the record is completed (flag `recovered`) and the tap ends there
    /// (the rider is not charged again). `9406` means it did not: the record is voided and the
    /// tap goes on — unless the card's log shows this terminal's debit at that counter (the card
    /// made another purchase since and can no longer prove this one): then it is completed
    /// with TAC 0 and flags `recovered` + `mac2Unverified`, for clearing to settle by hand.
    ///
    /// - Returns: `true` when the tap is over (recovered).
    /// - Throws: ``TerminalError`` when the card answers anything else (the grey record stays).
    func recoverGrey(_ ch: inout some CardChannel, info: IssuerInfo, at: BCDDateTime, _ r: inout TapResult) throws -> Bool {
        guard let grey = try faulting("read the grey record", { try journal.grey(for: info.serial) }) else { return false }
        guard let type = TransactionType(rawValue: grey.transactionType) else {
            try faulting("void the grey record") { try journal.void(serial: grey.serial, counter: grey.counter) }
            return false
        }
        let counter = PurseCounter(rawValue: grey.counter)
        let proof = try ch.transmit(PurseCommand.getTransactionProve(type: type, offlineCounter: counter))
        if proof.status == .proveNotAvailable {
            guard try debitLogged(&ch, grey) else {
                try faulting("void the grey record") { try journal.void(serial: grey.serial, counter: grey.counter) }
                return false
            }
            try completeRecovered(grey, tac: 0, verified: false, &r)
            return true
        }
        guard proof.status == .success, proof.data.count == 8, let mac2 = proof.data.bigEndianInteger(count: 4),
              let tac = proof.data.bigEndianInteger(at: 4, count: 4)
        else { throw TerminalError.cardRefused(step: "GET TRANSACTION PROVE", status: proof.status) }
        var verified = false
        if let greyAt = grey.at {
            let auth = PurchaseAuthorization(
                serial: grey.serial, random: UInt32(truncatingIfNeeded: grey.relatedSerial.rawValue), offlineCounter: counter,
                amountFen: grey.amountFen, type: type, at: greyAt)
            verified = sam.verifyMAC2(UInt32(mac2), for: auth, sequence: TerminalSequence(rawValue: grey.sequence))
        }
        try completeRecovered(grey, tac: UInt32(tac), verified: verified, &r)
        return true
    }

    private func completeRecovered(_ grey: BatchRecord, tac: UInt32, verified: Bool, _ r: inout TapResult) throws {
        var done = grey
        done.kind = .purchase
        done.tac = tac
        done.relatedSerial = CardSerial(rawValue: 0)
        done.flags.insert(.recovered)
        if !verified { done.flags.insert(.mac2Unverified) }
        try faulting("complete the recovered record") { try journal.complete(done) }
        r.outcome = .recovered
        r.transactionType = TransactionType(rawValue: grey.transactionType)
        r.amountFen = grey.amountFen
        r.balanceBeforeFen = grey.balanceBeforeFen
        r.balanceAfterFen = grey.balanceAfterFen
        r.offlineCounter = PurseCounter(rawValue: grey.counter)
        r.sequence = TerminalSequence(rawValue: grey.sequence)
        r.tac = tac
        let when = grey.at.map { " at \($0.time)" } ?? ""
        r.reason = "Your earlier tap\(when) went through: \(Fen.yuan(Int64(grey.amountFen))) yuan was paid. You are not charged again."
    }

    /// Whether the card's transaction log holds this terminal's debit for the grey record.
    private func debitLogged(_ ch: inout some CardChannel, _ grey: BatchRecord) throws -> Bool {
        for n in 1...Self.logRecordsMax {
            guard let raw = try readRecord(&ch, sfi: 0x18, number: n, byteCount: TransactionLogRecord.byteCount) else { return false }
            guard let log = TransactionLogRecord(bytes: raw), !log.type.isLoad else { continue }
            if log.counterAfter.rawValue == grey.counter &+ 1 {
                return log.terminal == grey.terminal && log.amountFen == grey.amountFen && log.type.rawValue == grey.transactionType
            }
        }
        return false
    }
}
