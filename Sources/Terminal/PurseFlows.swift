public import OneCardCore
import EPurse

/// A completed load, as the service counter journals it.
public struct LoadReceipt: Sendable, Equatable {
    /// The card.
    public var serial: CardSerial
    /// The card type (file 0x15 byte 28).
    public var cardType: CardType
    /// The amount loaded.
    public var amountFen: UInt32
    /// Balance before and after.
    public var balanceBeforeFen: UInt32
    /// Balance after the load.
    public var balanceAfterFen: UInt32
    /// The online counter before the load (the TAC covers it).
    public var onlineCounter: PurseCounter
    /// The load terminal.
    public var terminal: TerminalID
    /// When.
    public var at: BCDDateTime
    /// The card's TAC.
    public var tac: UInt32
    /// The card's key version (its INITIALIZE FOR LOAD response).
    public var keyVersion = KeyVersion(rawValue: 0x01)
}

/// A completed purchase, as a terminal journals it and uploads it for clearing.
public struct PurchaseReceipt: Sendable, Equatable {
    /// The card.
    public var serial: CardSerial
    /// The card type (for concession audit).
    public var cardType: CardType
    /// `06` or `09`.
    public var type: TransactionType
    /// The fare paid.
    public var amountFen: UInt32
    /// Balance before the purchase.
    public var balanceBeforeFen: UInt32
    /// Balance after the purchase.
    public var balanceAfterFen: UInt32
    /// The card's offline counter before the purchase.
    public var offlineCounter: PurseCounter
    /// The terminal.
    public var terminal: TerminalID
    /// The terminal sequence number from the SAM.
    public var sequence: TerminalSequence
    /// When.
    public var at: BCDDateTime
    /// The card's TAC.
    public var tac: UInt32
    /// Whether the SAM verified the card's MAC2 (a debit with an unverified MAC2 still happened).
    public var mac2Verified: Bool = true
    /// The card's key version (its INITIALIZE response): names the TAC master at clearing.
    public var keyVersion = KeyVersion(rawValue: 0x01)
}

/// The purse flows a terminal runs over any ``CardChannel``: the same code over a PC/SC
/// reader and over the in-process emulator.
public enum PurseFlows {
    /// The key index this deployment's cards use.
    public static let keyIndex = KeyIndex(rawValue: 1)

    /// Loads `amountFen` onto the card: INITIALIZE FOR LOAD → the issuer host verifies MAC1
    /// and computes MAC2 → CREDIT FOR LOAD → TAC.
    ///
    /// - Throws: ``TerminalError`` (the card refused, MAC1 invalid, above the maximum) or the
    ///   channel's error.
    public static func load(
        _ channel: inout some CardChannel, host: IssuerHost, amountFen: UInt32, terminal: TerminalID, at: BCDDateTime,
        balanceMaxFen: UInt32, beforeCredit: (_ pending: LoadReceipt) throws -> Void = { _ in }
    ) throws -> LoadReceipt {
        let info = try selectAndReadInfo(&channel)
        let before = try balance(&channel)
        guard let after = Fen.add(before, amountFen), after <= balanceMaxFen else {
            throw TerminalError.aboveMaximum(balanceFen: before, amountFen: amountFen, maximumFen: balanceMaxFen)
        }
        let r = try channel.expectSuccess(
            PurseCommand.initializeForLoad(keyIndex: keyIndex, amountFen: amountFen, terminal: terminal), step: "INITIALIZE FOR LOAD")
        guard r.count == 16, let old = r.bigEndianInteger(count: 4), let counter = r.bigEndianInteger(at: 4, count: 2),
              let random = r.bigEndianInteger(at: 8, count: 4), let mac1 = r.bigEndianInteger(at: 12, count: 4)
        else { throw TerminalError.malformedResponse(step: "INITIALIZE FOR LOAD", byteCount: r.count) }
        guard r[7] == 0x00 else { throw TerminalError.unsupportedAlgorithm(AlgorithmID(rawValue: r[7])) }
        let online = PurseCounter(rawValue: UInt16(counter))
        let mac2 = try host.authorizeLoad(
            serial: info.serial, random: UInt32(random), onlineCounter: online, oldBalanceFen: UInt32(old),
            amountFen: amountFen, terminal: terminal, at: at, cardMAC1: UInt32(mac1))
        var pending = LoadReceipt(
            serial: info.serial, cardType: info.cardType, amountFen: amountFen, balanceBeforeFen: UInt32(old), balanceAfterFen: UInt32(old) + amountFen,
            onlineCounter: online, terminal: terminal, at: at, tac: 0)
        pending.keyVersion = KeyVersion(rawValue: r[6])
        try beforeCredit(pending)
        let t = try channel.expectSuccess(PurseCommand.creditForLoad(at: at, mac2: mac2), step: "CREDIT FOR LOAD")
        guard t.count == 4, let tac = t.bigEndianInteger(count: 4) else {
            throw TerminalError.malformedResponse(step: "CREDIT FOR LOAD", byteCount: t.count)
        }
        pending.tac = UInt32(tac)
        return pending
    }

    /// Charges `amountFen`: INITIALIZE FOR PURCHASE → MAC1 from the SAM → (cache updates for a
    /// compound purchase) → DEBIT FOR PURCHASE → MAC2 checked by the SAM → TAC.
    ///
    /// - Parameter cacheUpdates: UPDATE CAPP DATA CACHE commands sent between INITIALIZE and
    ///   DEBIT; non-empty makes the purchase compound (`09`).
    /// - Throws: ``TerminalError`` (``TerminalError/samRejectedMAC2`` when the card debited but
    ///   its MAC2 does not verify) or the channel's error.
    public static func purchase(
        _ channel: inout some CardChannel, sam: some SAM, amountFen: UInt32, at: BCDDateTime, cacheUpdates: [CommandAPDU] = []
    ) throws -> PurchaseReceipt {
        let info = try selectAndReadInfo(&channel)
        guard info.isValid(on: at.date) else {
            throw TerminalError.cardNotValid(today: at.date, start: info.startDate, expiry: info.expiryDate)
        }
        let receipt = try debit(
            &channel, info: info, sam: sam, amountFen: amountFen, at: at, compound: !cacheUpdates.isEmpty,
            cacheUpdates: { _ in cacheUpdates })
        guard receipt.mac2Verified else { throw TerminalError.samRejectedMAC2 }
        return receipt
    }

    /// The purchase itself on a card already selected and read: INITIALIZE FOR PURCHASE →
    /// cache updates → MAC1 from the SAM → `beforeDebit` → DEBIT FOR PURCHASE → MAC2 check.
    ///
    /// `beforeDebit` is the journaling hook: it receives the purchase as it will be if the card
    /// accepts DEBIT (TAC 0) and the SAM's authorization (with the card's random), and runs after
    /// the SAM has taken the terminal sequence and before DEBIT is sent. If it throws, DEBIT is
    /// not sent.
    ///
    /// - Parameters:
    ///   - compound: `09` with P1 `03`, else `06`.
    ///   - cacheUpdates: builds the UPDATE CAPP DATA CACHE commands from the balance INITIALIZE
    ///     reported (trip records carry the balance after).
    /// - Returns: the receipt; ``PurchaseReceipt/mac2Verified`` is `false` when the card debited
    ///   but its MAC2 did not verify at the SAM (the debit happened: journal it, flagged).
    /// - Throws: ``TerminalError`` (a status at INITIALIZE, a cache update or DEBIT means the card
    ///   did not debit), the hook's error, or the channel's error.
    public static func debit(
        _ channel: inout some CardChannel, info: IssuerInfo, sam: some SAM, amountFen: UInt32, at: BCDDateTime, compound: Bool,
        cacheUpdates: (_ balanceBeforeFen: UInt32) -> [CommandAPDU] = { _ in [] },
        beforeDebit: (_ pending: PurchaseReceipt, _ authorization: PurchaseAuthorization) throws -> Void = { _, _ in }
    ) throws -> PurchaseReceipt {
        let (balance, auth) = try initializePurchase(&channel, info: info, sam: sam, amountFen: amountFen, at: at, compound: compound)
        for update in cacheUpdates(balance) { _ = try channel.expectSuccess(update, step: "UPDATE CAPP DATA CACHE") }
        let (sequence, mac1) = try sam.authorizePurchase(auth)
        var receipt = PurchaseReceipt(
            serial: info.serial, cardType: info.cardType, type: auth.type, amountFen: amountFen,
            balanceBeforeFen: balance, balanceAfterFen: balance - amountFen, offlineCounter: auth.offlineCounter,
            terminal: sam.terminal, sequence: sequence, at: at, tac: 0)
        receipt.keyVersion = auth.keyVersion
        try beforeDebit(receipt, auth)
        let d = try channel.expectSuccess(PurseCommand.debitForPurchase(sequence: sequence, at: at, mac1: mac1), step: "DEBIT FOR PURCHASE")
        guard d.count == 8, let tac = d.bigEndianInteger(count: 4), let mac2 = d.bigEndianInteger(at: 4, count: 4) else {
            throw TerminalError.malformedResponse(step: "DEBIT FOR PURCHASE", byteCount: d.count)
        }
        receipt.tac = UInt32(tac)
        receipt.mac2Verified = sam.verifyMAC2(UInt32(mac2), for: auth, sequence: sequence)
        return receipt
    }

    /// INITIALIZE FOR PURCHASE: the balance and what the SAM needs for MAC1.
    private static func initializePurchase(
        _ channel: inout some CardChannel, info: IssuerInfo, sam: some SAM, amountFen: UInt32, at: BCDDateTime, compound: Bool
    ) throws -> (balanceFen: UInt32, authorization: PurchaseAuthorization) {
        let initialize = PurseCommand.initializeForPurchase(keyIndex: keyIndex, amountFen: amountFen, terminal: sam.terminal, compound: compound)
        let ir = try channel.transmit(initialize)
        if ir.status == .insufficientFunds {
            throw TerminalError.insufficientFunds(balanceFen: try balance(&channel), amountFen: amountFen)
        }
        if ir.status == .applicationBlockedPermanently { throw TerminalError.cardBlocked }
        guard ir.status == .success else { throw TerminalError.cardRefused(step: "INITIALIZE FOR PURCHASE", status: ir.status) }
        let r = ir.data
        guard r.count == 15, let balance = r.bigEndianInteger(count: 4), let counter = r.bigEndianInteger(at: 4, count: 2),
              let random = r.bigEndianInteger(at: 11, count: 4), UInt64(amountFen) <= balance
        else { throw TerminalError.malformedResponse(step: "INITIALIZE FOR PURCHASE", byteCount: r.count) }
        guard r[10] == 0x00 else { throw TerminalError.unsupportedAlgorithm(AlgorithmID(rawValue: r[10])) }
        let auth = PurchaseAuthorization(
            serial: info.serial, random: UInt32(random), offlineCounter: PurseCounter(rawValue: UInt16(counter)),
            amountFen: amountFen, type: compound ? .compoundPurchase : .epPurchase, at: at, keyVersion: KeyVersion(rawValue: r[9]))
        return (UInt32(balance), auth)
    }

    /// SELECT and READ BINARY 0x15, also of a blocked card (`6283`: a refund or replacement may
    /// be half done, a hotlisted card is still recognised).
    static func selectAndRead(_ ch: inout some CardChannel) throws -> (info: IssuerInfo, blocked: Bool) {
        let s = try ch.transmit(PurseCommand.selectPurse)
        guard s.status == .success || s.status == .selectedFileInvalidated else { throw TerminalError.cardRefused(step: "SELECT purse", status: s.status) }
        let f = try ch.expectSuccess(PurseCommand.readBinary(sfi: 0x15, byteCount: IssuerInfo.byteCount), step: "READ BINARY 0x15")
        guard let info = IssuerInfo(bytes: f) else { throw TerminalError.unreadableCard }
        return (info, s.status == .selectedFileInvalidated)
    }

    /// READ RECORD; `nil` past the last record written (`6A83`).
    static func readRecord(_ ch: inout some CardChannel, sfi: UInt8, number: Int, byteCount: Int) throws -> [UInt8]? {
        let r = try ch.transmit(PurseCommand.readRecord(sfi: sfi, number: UInt8(number), byteCount: byteCount))
        if r.status == .recordNotFound { return nil }
        guard r.status == .success else { throw TerminalError.cardRefused(step: "READ RECORD \(sfi)", status: r.status) }
        guard r.data.count == byteCount else { throw TerminalError.malformedResponse(step: "READ RECORD \(sfi)", byteCount: r.data.count) }
        return r.data
    }

    static func selectAndReadInfo(_ channel: inout some CardChannel) throws -> IssuerInfo {
        let s = try channel.transmit(PurseCommand.selectPurse)
        if s.status == .selectedFileInvalidated { throw TerminalError.cardBlocked }
        guard s.status == .success else { throw TerminalError.cardRefused(step: "SELECT purse", status: s.status) }
        let f = try channel.expectSuccess(PurseCommand.readBinary(sfi: 0x15, byteCount: 30), step: "READ BINARY 0x15")
        guard let info = IssuerInfo(bytes: f) else { throw TerminalError.unreadableCard }
        return info
    }

    static func balance(_ channel: inout some CardChannel) throws -> UInt32 {
        let b = try channel.expectSuccess(PurseCommand.getBalance, step: "GET BALANCE")
        guard b.count == 4, let v = b.bigEndianInteger(count: 4) else { throw TerminalError.malformedResponse(step: "GET BALANCE", byteCount: b.count) }
        return UInt32(v)
    }
}
