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

    /// Loads `amountFen` (never above the city's card maximum) and journals a `load` record
    /// with the card's TAC.
    ///
    /// - Throws: ``TerminalError``, the channel's or the journal's error.
    public func load(_ channel: inout some CardChannel, amountFen: UInt32, at: BCDDateTime) throws -> BatchRecord {
        let l = try PurseFlows.load(
            &channel, host: host, amountFen: amountFen, terminal: terminal, at: at, balanceMaxFen: UInt32(clamping: city.card.balanceFenMax))
        let record = try loadRecord(l, kind: .load)
        try journal.append(record)
        return record
    }

    /// Refunds a card: reads its balance, blocks it permanently (APPLICATION BLOCK P2 `01`) and
    /// journals a `refund` record: amount = balance paid back, deposit = the city's deposit if
    /// the card's deposit flag is set; balance after 0 (the purse's value is gone with the block).
    ///
    /// - Throws: ``TerminalError/cardBlocked`` for a card already blocked, other
    ///   ``TerminalError``s, the channel's or the journal's error.
    public func refund(_ channel: inout some CardChannel, at: BCDDateTime) throws -> BatchRecord {
        let info = try PurseFlows.selectAndReadInfo(&channel)
        let balance = try PurseFlows.balance(&channel)
        try CardMaintenance.block(&channel, damk: damk(info.serial), permanent: true)
        let record = BatchRecord(
            kind: .refund, transactionType: 0, serial: info.serial, cardType: info.cardType.rawValue, counter: 0,
            amountFen: balance, balanceBeforeFen: balance, balanceAfterFen: 0, terminal: terminal,
            sequence: try journal.nextSequence().rawValue, dateTimeBCD: TripleDESPurse.packedDateTime(at), tac: 0,
            depositFen: info.depositFlag == 0x01 ? UInt32(clamping: city.card.depositFen) : 0)
        try journal.append(record)
        return record
    }

    /// Replaces a card: blocks the old card permanently, activates the new (empty) card with the
    /// old card's type and deposit flag, loads the old balance onto it and journals one
    /// `replacement` record: serial = old card, `relatedSerial` = new card, amount = balance
    /// moved; type, counter, balances and TAC are those of the new card's load (the TAC
    /// re-verifies under `relatedSerial`). The deposit stays with the issuer (deposit 0).
    ///
    /// - Throws: ``TerminalError`` (old card blocked, new card not empty or the same card), the
    ///   channel's or the journal's error.
    public func replace(old: inout some CardChannel, new: inout some CardChannel, at: BCDDateTime) throws -> BatchRecord {
        let oldInfo = try PurseFlows.selectAndReadInfo(&old)
        let balance = try PurseFlows.balance(&old)
        let newInfo = try PurseFlows.selectAndReadInfo(&new)
        guard newInfo.serial != oldInfo.serial else { throw TerminalError.replacementIsSameCard }
        let newBalance = try PurseFlows.balance(&new)
        guard newBalance == 0 else { throw TerminalError.replacementCardNotEmpty(balanceFen: newBalance) }
        try CardMaintenance.block(&old, damk: damk(oldInfo.serial), permanent: true)
        try activate(&new, newInfo, cardType: oldInfo.cardType, depositFlag: oldInfo.depositFlag, at: at)
        var record: BatchRecord
        if balance > 0 {
            record = try loadRecord(try PurseFlows.load(
                &new, host: host, amountFen: balance, terminal: terminal, at: at, balanceMaxFen: UInt32(clamping: city.card.balanceFenMax)),
                kind: .replacement)
        } else {
            record = BatchRecord(
                kind: .replacement, transactionType: 0, serial: newInfo.serial, cardType: oldInfo.cardType.rawValue, counter: 0,
                amountFen: 0, balanceBeforeFen: 0, balanceAfterFen: 0, terminal: terminal, sequence: try journal.nextSequence().rawValue,
                dateTimeBCD: TripleDESPurse.packedDateTime(at), tac: 0)
        }
        record.relatedSerial = newInfo.serial
        record.serial = oldInfo.serial
        try journal.append(record)
        return record
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
