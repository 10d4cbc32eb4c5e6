public import City
import EPurse
public import OneCardCore
public import OneCardCrypto
public import UploadBatch

/// The issuer's service counter: issue (sale), load, refund and replacement over any
/// ``CardChannel``, each journaled as a ``BatchRecord`` before it returns (docs/terminal.md).
/// "Once only" for refunds and replacements is the issuer database's job; here a card that is
/// already blocked is refused.
public final class ServiceCounter {
    /// The city (deposit, validity, card maximum).
    public let city: City
    /// The counter's terminal ID.
    public let terminal: TerminalID
    let host: IssuerHost
    let maintenanceMaster: TripleDESKey
    let journal: any TerminalJournal

    /// Sets up a counter with a keyset holding the load and maintenance master keys.
    ///
    /// - Throws: ``KeysetError/missingKey(path:role:)`` without them.
    public init(city: City, terminal: TerminalID, keyset: Keyset, journal: any TerminalJournal) throws(KeysetError) {
        self.city = city
        self.terminal = terminal
        self.host = try IssuerHost(keyset: keyset)
        self.maintenanceMaster = try keyset.masterKey(.maintenance)
        self.journal = journal
    }

    /// Sells a personalised card: writes the card type, validity (today to `validityYears`
    /// later, less a day) and the deposit flag into file 0x15 with secure messaging, journals an
    /// `issue` record with the city's deposit, then optionally loads `firstLoadFen` (a `load`
    /// record with its TAC).
    ///
    /// - Returns: the records journaled, issue first.
    /// - Throws: ``TerminalError`` (blocked card, refused command, above maximum), the channel's
    ///   or the journal's error.
    public func issue(_ channel: inout some CardChannel, cardType: CardType, at: BCDDateTime, firstLoadFen: UInt32 = 0) throws -> [BatchRecord] {
        let info = try PurseFlows.selectAndReadInfo(&channel)
        try activate(&channel, info, cardType: cardType, depositFlag: 0x01, at: at)
        let balance = try PurseFlows.balance(&channel)
        let issue = BatchRecord(
            kind: .issue, transactionType: 0, serial: info.serial, cardType: cardType.rawValue, counter: 0, amountFen: 0,
            balanceBeforeFen: balance, balanceAfterFen: balance, terminal: terminal, sequence: try journal.nextSequence().rawValue,
            dateTimeBCD: TripleDESPurse.packedDateTime(at), tac: 0, depositFen: UInt32(clamping: city.card.depositFen))
        try journal.append(issue)
        guard firstLoadFen > 0 else { return [issue] }
        return [issue, try load(&channel, amountFen: firstLoadFen, at: at)]
    }

    /// Loads `amountFen` (never above the city's card maximum), grey-first: the load is
    /// journaled as pending before CREDIT and finished with the card's TAC after it. A load torn
    /// after CREDIT is finished on the card's next presentation with GET TRANSACTION PROVE.
    ///
    /// - Throws: ``TerminalError``, the channel's or the journal's error.
    public func load(_ channel: inout some CardChannel, amountFen: UInt32, at: BCDDateTime) throws -> BatchRecord {
        let (info, blocked) = try PurseFlows.selectAndRead(&channel)
        // The same load presented again after a tear: if the card made it, that is the answer
        // (the cash was taken once); if not, it is made now. A load of another amount is a new
        // top-up, made after the earlier one is finished.
        if let earlier = try finishPending(&channel, info, blocked: blocked), earlier.amountFen == amountFen { return earlier }
        guard !blocked else { throw TerminalError.cardBlocked }
        var pending: BatchRecord? = nil
        do {
            let l = try PurseFlows.load(
                &channel, host: host, amountFen: amountFen, terminal: terminal, at: at, balanceMaxFen: UInt32(clamping: city.card.balanceFenMax)
            ) { p in
                let r = try loadRecord(p, kind: .load)
                try journal.begin(r)
                pending = r
            }
            guard var record = pending else { throw TerminalError.malformedResponse(step: "CREDIT FOR LOAD", byteCount: 0) }
            record.tac = l.tac
            try journal.finish(record)
            return record
        } catch TerminalError.cardRefused(let step, let status) where pending != nil {
            // The card refused CREDIT: it credited nothing.
            try journal.abandon(serial: info.serial)
            throw TerminalError.cardRefused(step: step, status: status)
        }
    }

    /// Refunds a card: reads its balance, journals the refund as pending, blocks the card
    /// permanently (APPLICATION BLOCK P2 `01`) and finishes the record: amount = balance paid
    /// back, deposit = the city's deposit if the card's deposit flag is set; balance after 0. A
    /// refund interrupted anywhere is finished on the card's next presentation — blocked if it
    /// is not yet — never done twice.
    ///
    /// - Throws: ``TerminalError/cardBlocked`` for a card already blocked (and not mid-refund),
    ///   other ``TerminalError``s, the channel's or the journal's error.
    public func refund(_ channel: inout some CardChannel, at: BCDDateTime) throws -> BatchRecord {
        let (info, blocked) = try PurseFlows.selectAndRead(&channel)
        if let p = try journal.pending(for: info.serial), p.kind == .refund {
            // Blocked: the refund happened on the card, so it is finished with the balance read
            // then. Not blocked: nothing happened, and the card may have paid fares since, so the
            // refund starts again from its balance now.
            guard !blocked else {
                try journal.finish(p)
                return p
            }
            try journal.abandon(serial: info.serial)
        }
        try finishPending(&channel, info, blocked: blocked)
        guard !blocked else { throw TerminalError.cardBlocked }
        let balance = try PurseFlows.balance(&channel)
        let record = BatchRecord(
            kind: .refund, transactionType: 0, serial: info.serial, cardType: info.cardType.rawValue, counter: 0,
            amountFen: balance, balanceBeforeFen: balance, balanceAfterFen: 0, terminal: terminal,
            sequence: try journal.nextSequence().rawValue, dateTimeBCD: TripleDESPurse.packedDateTime(at), tac: 0,
            depositFen: info.depositFlag == 0x01 ? UInt32(clamping: city.card.depositFen) : 0)
        try journal.begin(record)
        do {
            try CardMaintenance.block(&channel, damk: damk(info.serial), permanent: true)
        } catch TerminalError.cardRefused(let step, let status) {
            try journal.abandon(serial: info.serial)
            throw TerminalError.cardRefused(step: step, status: status)
        }
        try journal.finish(record)
        return record
    }

    /// Replaces a card: journals the replacement as pending, blocks the old card permanently,
    /// activates the new (empty, issued) card with the old card's type and deposit flag, loads
    /// the old balance onto it and finishes one `replacement` record: serial = old card,
    /// `relatedSerial` = new card, amount = balance moved; type, counter, balances and TAC are
    /// those of the new card's load (the TAC re-verifies under `relatedSerial`). The deposit stays
    /// with the issuer (deposit 0). A replacement interrupted anywhere is finished when both cards
    /// are presented again: each step is done if it was not, proved if it was.
    ///
    /// - Throws: ``TerminalError`` (old card blocked, new card not empty or the same card), the
    ///   channel's or the journal's error.
    public func replace(old: inout some CardChannel, new: inout some CardChannel, at: BCDDateTime) throws -> BatchRecord {
        let (oldInfo, oldBlocked) = try PurseFlows.selectAndRead(&old)
        let newInfo = try PurseFlows.selectAndReadInfo(&new)
        guard newInfo.serial != oldInfo.serial else { throw TerminalError.replacementIsSameCard }
        var record: BatchRecord
        if let p = try journal.pending(for: oldInfo.serial), p.kind == .replacement, p.relatedSerial == newInfo.serial, oldBlocked {
            // The old card was blocked: its balance is the one read then; the rest is finished.
            record = p
        } else {
            // A pending replacement whose old card was never blocked changed nothing: start again
            // from the balance now (the card may have paid fares since).
            if let p = try journal.pending(for: oldInfo.serial), p.kind == .replacement, !oldBlocked { try journal.abandon(serial: oldInfo.serial) }
            try finishPending(&old, oldInfo, blocked: oldBlocked)
            guard !oldBlocked else { throw TerminalError.cardBlocked }
            let balance = try PurseFlows.balance(&old)
            let newBalance = try PurseFlows.balance(&new)
            guard newBalance == 0 else { throw TerminalError.replacementCardNotEmpty(balanceFen: newBalance) }
            record = BatchRecord(
                kind: .replacement, transactionType: balance > 0 ? TransactionType.epLoad.rawValue : 0, serial: oldInfo.serial,
                cardType: oldInfo.cardType.rawValue, counter: 0, amountFen: balance, balanceBeforeFen: 0, balanceAfterFen: balance,
                terminal: terminal, sequence: try journal.nextSequence().rawValue, dateTimeBCD: TripleDESPurse.packedDateTime(at), tac: 0,
                relatedSerial: newInfo.serial)
            try journal.begin(record)
        }
        let when = BCDDateTime(bcd: BatchCodec.bcd7(record.dateTimeBCD)) ?? at
        if !(try PurseFlows.selectAndRead(&old).blocked) {
            do {
                try CardMaintenance.block(&old, damk: damk(oldInfo.serial), permanent: true)
            } catch TerminalError.cardRefused(let step, let status) {
                // The old card refused the block: nothing happened on either card.
                try journal.abandon(serial: oldInfo.serial)
                throw TerminalError.cardRefused(step: step, status: status)
            }
        }
        try activate(&new, newInfo, cardType: oldInfo.cardType, depositFlag: oldInfo.depositFlag, at: when)
        if record.amountFen > 0 {
            let moved = try movedBalance(&new, record, at: when)
            record.counter = moved.onlineCounter.rawValue
            record.tac = moved.tac
            record.keyVersion = moved.keyVersion.rawValue
        }
        try journal.finish(record)
        return record
    }

    /// The replacement's load onto the new card: made now if the card is still empty, proved
    /// with GET TRANSACTION PROVE if an interrupted replacement already made it.
    private func movedBalance(_ new: inout some CardChannel, _ r: BatchRecord, at: BCDDateTime) throws -> LoadReceipt {
        let balance = try PurseFlows.balance(&new)
        if balance == 0 {
            return try PurseFlows.load(
                &new, host: host, amountFen: r.amountFen, terminal: terminal, at: at, balanceMaxFen: UInt32(clamping: city.card.balanceFenMax))
        }
        guard balance == r.amountFen, let raw = try PurseFlows.readRecord(&new, sfi: 0x18, number: 1, byteCount: TransactionLogRecord.byteCount),
              let log = TransactionLogRecord(bytes: raw), log.type == .epLoad, log.amountFen == r.amountFen, log.terminal == terminal,
              let tac = try Self.prove(&new, type: .epLoad, counterBefore: PurseCounter(rawValue: log.counterAfter.rawValue &- 1))
        else { throw TerminalError.replacementCardNotEmpty(balanceFen: balance) }
        var receipt = LoadReceipt(
            serial: r.relatedSerial, cardType: CardType(rawValue: r.cardType) ?? .adult, amountFen: r.amountFen, balanceBeforeFen: 0,
            balanceAfterFen: r.amountFen, onlineCounter: PurseCounter(rawValue: log.counterAfter.rawValue &- 1), terminal: terminal, at: at, tac: tac)
        receipt.keyVersion = KeyVersion(rawValue: r.keyVersion)
        return receipt
    }

    /// Finishes the card's pending load (its TAC proved by the card) or abandons it (the card
    /// never credited). A pending refund or replacement is finished by ``refund(_:at:)`` and
    /// ``replace(old:new:at:)``; any other operation on that card is refused until then.
    ///
    /// - Returns: the load record finished now, if the card had made it.
    @discardableResult
    func finishPending(_ channel: inout some CardChannel, _ info: IssuerInfo, blocked: Bool) throws -> BatchRecord? {
        guard var p = try journal.pending(for: info.serial) else { return nil }
        guard p.kind == .load else { throw TerminalError.counterOperationPending(kind: p.kind.description) }
        guard let tac = try Self.prove(&channel, type: .epLoad, counterBefore: PurseCounter(rawValue: p.counter)) else {
            try journal.abandon(serial: info.serial)
            return nil
        }
        p.tac = tac
        try journal.finish(p)
        return p
    }

    /// GET TRANSACTION PROVE: the TAC of the card's transaction of `type` made with its counter
    /// at `counterBefore`, `nil` if the card made none (`9406`).
    static func prove(_ channel: inout some CardChannel, type: TransactionType, counterBefore: PurseCounter) throws -> UInt32? {
        let r = try channel.transmit(PurseCommand.getTransactionProve(type: type, offlineCounter: counterBefore))
        if r.status == .proveNotAvailable { return nil }
        guard r.status == .success else { throw TerminalError.cardRefused(step: "GET TRANSACTION PROVE", status: r.status) }
        guard r.data.count == 8, let tac = r.data.bigEndianInteger(at: 4, count: 4) else {
            throw TerminalError.malformedResponse(step: "GET TRANSACTION PROVE", byteCount: r.data.count)
        }
        return UInt32(tac)
    }

    private func activate(_ ch: inout some CardChannel, _ info: IssuerInfo, cardType: CardType, depositFlag: UInt8, at: BCDDateTime) throws {
        let start = at.date
        let expiry = (BCDDate(year: start.year + city.card.validityYears, month: start.month, day: start.day)
            ?? BCDDate(year: start.year + city.card.validityYears, month: start.month, day: 28) ?? start).adding(days: -1)
        try CardMaintenance.updateBinary(
            &ch, damk: damk(info.serial), sfi: 0x15, offset: 20, data: start.bcd + expiry.bcd + [cardType.rawValue, depositFlag])
    }

    private func loadRecord(_ l: LoadReceipt, kind: RecordKind) throws -> BatchRecord {
        BatchRecord(
            kind: kind, transactionType: TransactionType.epLoad.rawValue, serial: l.serial, cardType: l.cardType.rawValue,
            counter: l.onlineCounter.rawValue, amountFen: l.amountFen, balanceBeforeFen: l.balanceBeforeFen,
            balanceAfterFen: l.balanceAfterFen, terminal: l.terminal, sequence: try journal.nextSequence().rawValue,
            dateTimeBCD: TripleDESPurse.packedDateTime(l.at), tac: l.tac, keyVersion: l.keyVersion.rawValue)
    }

    private func damk(_ serial: CardSerial) -> TripleDESKey { TripleDESPurse.diversify(master: maintenanceMaster, serial: serial) }
}
