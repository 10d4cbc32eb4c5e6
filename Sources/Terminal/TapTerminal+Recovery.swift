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
            switch try debitLogged(&ch, grey) {
            case .logged:
                try completeRecovered(grey, tac: 0, verified: false, &r)
                return true
            case .notLogged:
                try faulting("void the grey record") { try journal.void(serial: grey.serial, counter: grey.counter) }
                return false
            case .beyondLog:
                // The card made more purchases since than its log holds: nothing here can tell
                // whether the torn debit happened. Voiding it could lose a real debit; it is kept,
                // with TAC 0, for clearing to settle by hand (refused 01, the counter tells), and
                // this presentation is a new tap.
                try faulting("keep the grey record for settling by hand") { try journal.complete(Self.unproven(grey, tac: 0, verified: false)) }
                return false
            }
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

    /// The grey record completed as a recovered purchase.
    static func unproven(_ grey: BatchRecord, tac: UInt32, verified: Bool) -> BatchRecord {
        var done = grey
        done.kind = .purchase
        done.tac = tac
        done.relatedSerial = CardSerial(rawValue: 0)
        done.flags.insert(.recovered)
        if !verified { done.flags.insert(.mac2Unverified) }
        return done
    }

    private func completeRecovered(_ grey: BatchRecord, tac: UInt32, verified: Bool, _ r: inout TapResult) throws {
        let done = Self.unproven(grey, tac: tac, verified: verified)
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

    /// What the card's transaction log says of the grey record's debit.
    enum LogAnswer {
        /// The log holds this terminal's debit at that counter.
        case logged
        /// The log holds another transaction at that counter, or reaches back past it without one.
        case notLogged
        /// Every purchase the log holds is newer: it no longer reaches that counter.
        case beyondLog
    }

    /// Whether the card's transaction log holds this terminal's debit for the grey record.
    private func debitLogged(_ ch: inout some CardChannel, _ grey: BatchRecord) throws -> LogAnswer {
        var oldestAfter: UInt16?
        for n in 1...Self.logRecordsMax {
            guard let raw = try readRecord(&ch, sfi: 0x18, number: n, byteCount: TransactionLogRecord.byteCount) else { break }
            guard let log = TransactionLogRecord(bytes: raw), !log.type.isLoad else { continue }
            if log.counterAfter.rawValue == grey.counter &+ 1 {
                return log.terminal == grey.terminal && log.amountFen == grey.amountFen && log.type.rawValue == grey.transactionType ? .logged : .notLogged
            }
            oldestAfter = min(oldestAfter ?? log.counterAfter.rawValue, log.counterAfter.rawValue)
        }
        // Counters only grow: a log whose oldest purchase came after the grey's counter cannot see it.
        if let oldestAfter, oldestAfter > grey.counter &+ 1 { return .beyondLog }
        return .notLogged
    }
}
