import OneCardCore
import OneCardCrypto

/// The purse: balance, load, purchase and transaction proof (spec §3–4).
extension EPurseCard {
    /// The largest purse counter; a card at it refuses further transactions of that kind.
    static let counterMax = PurseCounter(rawValue: .max)

    func getBalance(_ c: CommandAPDU, _ s: CardState) -> ResponseAPDU {
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        guard c.p1 == 0x00, c.p2 == 0x02 else { return .sw(.incorrectP1P2) }
        guard c.data.isEmpty, c.le == 4 else { return .sw(.wrongLength) }
        var out: [UInt8] = []
        out.appendBigEndian(s.balanceFen)
        return .ok(out)
    }

    /// INITIALIZE FOR LOAD (P1 `00`) or FOR PURCHASE (P1 `01`, compound `03`); P2 `01` ED or
    /// `02` EP. Data: key index, amount, terminal ID.
    func initialize(_ c: CommandAPDU, _ s: inout CardState) -> ResponseAPDU {
        session.pending = nil
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        guard [0x00, 0x01, 0x03].contains(c.p1), c.p2 == 0x01 || c.p2 == 0x02 else { return .sw(.incorrectP1P2) }
        guard c.data.count == 11 else { return .sw(.wrongLength) }
        if s.blocked != .none { return .sw(.applicationBlockedPermanently) }
        guard KeyIndex(rawValue: c.data[0]) == s.keyIndex else { return .sw(.keyNotFound) }
        guard let amount = c.data.bigEndianInteger(at: 1, count: 4).map({ UInt32($0) }),
              let terminal = TerminalID(bytes: c.data[5..<11])
        else { return .sw(.incorrectData) }
        if c.p1 == 0x00 {
            return initializeForLoad(type: c.p2 == 0x01 ? .edLoad : .epLoad, amount, terminal, s)
        }
        let type: TransactionType = c.p1 == 0x03 ? .compoundPurchase : (c.p2 == 0x01 ? .edPurchase : .epPurchase)
        return initializeForPurchase(type: type, amount, terminal, s)
    }

    private func initializeForLoad(type: TransactionType, _ amount: UInt32, _ terminal: TerminalID, _ s: CardState) -> ResponseAPDU {
        if s.loadRequiresPIN && !session.pinVerified { return .sw(.securityStatusNotSatisfied) }
        guard amount > 0 else { return .sw(.incorrectData) }
        guard let newBalance = Fen.add(s.balanceFen, amount), newBalance <= s.balanceMaxFen else {
            return .sw(.conditionsOfUseNotSatisfied)
        }
        guard s.onlineCounter < Self.counterMax else { return .sw(.counterExhausted) }
        let r = random()
        let key = TripleDESPurse.loadSessionKey(dlk: s.keys.dlk, random: r, onlineCounter: s.onlineCounter)
        let mac1 = TripleDESPurse.loadMAC1(sessionKey: key, oldBalanceFen: s.balanceFen, amountFen: amount, type: type, terminal: terminal)
        session.pending = .load(.init(type: type, amountFen: amount, terminal: terminal, sessionKey: key))
        var out: [UInt8] = []
        out.appendBigEndian(s.balanceFen)
        out.appendBigEndian(s.onlineCounter.rawValue)
        out += [s.keyVersion.rawValue, TripleDESPurse.algorithmID.rawValue]
        out.appendBigEndian(r)
        out.appendBigEndian(mac1)
        return .ok(out)
    }

    private func initializeForPurchase(type: TransactionType, _ amount: UInt32, _ terminal: TerminalID, _ s: CardState) -> ResponseAPDU {
        guard amount <= s.balanceFen else { return .sw(.insufficientFunds) }
        guard s.offlineCounter < Self.counterMax else { return .sw(.counterExhausted) }
        let r = random()
        session.pending = .purchase(.init(type: type, amountFen: amount, terminal: terminal, random: r))
        var out: [UInt8] = []
        out.appendBigEndian(s.balanceFen)
        out.appendBigEndian(s.offlineCounter.rawValue)
        out += [0, 0, 0, s.keyVersion.rawValue, TripleDESPurse.algorithmID.rawValue]
        out.appendBigEndian(r)
        return .ok(out)
    }

    /// CREDIT FOR LOAD: date, time, MAC2. On success the balance, online counter and log
    /// change together and the card answers the TAC.
    func creditForLoad(_ c: CommandAPDU, _ s: inout CardState) -> ResponseAPDU {
        guard case .load(let load)? = session.pending else {
            return .sw(c.p1 == 0 && c.p2 == 0 && c.data.count == 11 ? .conditionsOfUseNotSatisfied : .wrongLength)
        }
        session.pending = nil
        guard c.p1 == 0, c.p2 == 0 else { return .sw(.incorrectP1P2) }
        guard c.data.count == 11 else { return .sw(.wrongLength) }
        guard let at = BCDDateTime(bcd: c.data[0..<7]), let mac2 = c.data.bigEndianInteger(at: 7, count: 4) else {
            return .sw(.incorrectData)
        }
        let expected = TripleDESPurse.loadMAC2(sessionKey: load.sessionKey, amountFen: load.amountFen, type: load.type, terminal: load.terminal, at: at)
        guard UInt32(mac2) == expected else { return .sw(.macInvalid) }
        guard let newBalance = Fen.add(s.balanceFen, load.amountFen), newBalance <= s.balanceMaxFen else {
            return .sw(.conditionsOfUseNotSatisfied)
        }
        let tac = TripleDESPurse.loadTAC(
            tacKey: TripleDESPurse.tacKey(dtk: s.keys.dtk), newBalanceFen: newBalance, onlineCounter: s.onlineCounter,
            amountFen: load.amountFen, type: load.type, terminal: load.terminal, at: at)
        s.balanceFen = newBalance
        s.onlineCounter.rawValue += 1
        s.lastLoad = PurchaseProof(type: load.type, counterAfter: s.onlineCounter, mac2: 0, tac: tac)
        appendLog(TransactionLogRecord(counterAfter: s.onlineCounter, amountFen: load.amountFen, type: load.type, terminal: load.terminal, at: at), &s)
        var out: [UInt8] = []
        out.appendBigEndian(tac)
        return .ok(out)
    }

    /// UPDATE CAPP DATA CACHE (`80 DC` P1 P2) between INITIALIZE (compound, P1 `03`) and DEBIT
    /// (*ours*, see docs/card.md): P2 = SFI << 3; P1 `01` writes the 0x1A record, P1 `00`
    /// appends a 0x1E trip record. The writes take effect at DEBIT, with the debit.
    func updateCache(_ c: CommandAPDU, _ s: CardState) -> ResponseAPDU {
        guard case .purchase(var p)? = session.pending, p.type == .compoundPurchase else {
            session.pending = nil
            return .sw(.conditionsOfUseNotSatisfied)
        }
        guard c.p2 & 0x07 == 0, let layout = PurseApplication.recordFiles[c.p2 >> 3] else { return .sw(.incorrectP1P2) }
        guard c.le == nil, c.data.count == layout.recordBytes else { return .sw(.wrongLength) }
        switch (c.p2 >> 3, c.p1) {
        case (PurseApplication.compoundCacheSFI, 0x01): p.compoundRecord = c.data
        case (PurseApplication.tripLogSFI, 0x00) where p.tripRecords.count < 2: p.tripRecords.append(c.data)
        default: return .sw(.incorrectP1P2)
        }
        session.pending = .purchase(p)
        return .ok()
    }

    /// DEBIT FOR PURCHASE: terminal sequence, date, time, MAC1. On success balance, offline
    /// counter, log, trip log and cache change together and the card answers TAC ‖ MAC2.
    func debitForPurchase(_ c: CommandAPDU, _ s: inout CardState) -> ResponseAPDU {
        guard case .purchase(let p)? = session.pending else {
            return .sw(c.data.count == 15 ? .conditionsOfUseNotSatisfied : .wrongLength)
        }
        session.pending = nil
        guard c.p1 == 0x01, c.p2 == 0x00 else { return .sw(.incorrectP1P2) }
        guard c.data.count == 15 else { return .sw(.wrongLength) }
        guard let seq = c.data.bigEndianInteger(at: 0, count: 4), let at = BCDDateTime(bcd: c.data[4..<11]),
              let mac1 = c.data.bigEndianInteger(at: 11, count: 4)
        else { return .sw(.incorrectData) }
        let sequence = TerminalSequence(rawValue: UInt32(seq))
        let key = TripleDESPurse.purchaseSessionKey(dpk: s.keys.dpk, random: p.random, offlineCounter: s.offlineCounter, terminalSequence: sequence)
        let expected = TripleDESPurse.purchaseMAC1(sessionKey: key, amountFen: p.amountFen, type: p.type, terminal: p.terminal, at: at)
        guard UInt32(mac1) == expected else { return .sw(.macInvalid) }
        guard let newBalance = Fen.subtract(s.balanceFen, p.amountFen) else { return .sw(.insufficientFunds) }
        let tac = TripleDESPurse.purchaseTAC(
            tacKey: TripleDESPurse.tacKey(dtk: s.keys.dtk), amountFen: p.amountFen, type: p.type, terminal: p.terminal,
            terminalSequence: sequence, at: at)
        let mac2 = TripleDESPurse.purchaseMAC2(sessionKey: key, amountFen: p.amountFen)
        s.balanceFen = newBalance
        s.offlineCounter.rawValue += 1
        appendLog(TransactionLogRecord(counterAfter: s.offlineCounter, amountFen: p.amountFen, type: p.type, terminal: p.terminal, at: at), &s)
        if let record = p.compoundRecord { s.compoundCache = record }
        for trip in p.tripRecords { s.tripLog.insert(trip, at: 0) }
        if s.tripLog.count > 30 { s.tripLog.removeLast(s.tripLog.count - 30) }
        s.lastPurchase = PurchaseProof(type: p.type, counterAfter: s.offlineCounter, mac2: mac2, tac: tac)
        var out: [UInt8] = []
        out.appendBigEndian(tac)
        out.appendBigEndian(mac2)
        return .ok(out)
    }

    /// GET TRANSACTION PROVE `80 5A 00 type 02 counter 08`: MAC2 ‖ TAC of the last purchase, if
    /// `counter` is its offline counter after the debit (INITIALIZE's counter + 1).
    func getTransactionProve(_ c: CommandAPDU, _ s: CardState) -> ResponseAPDU {
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        let load = c.p2 == TransactionType.epLoad.rawValue
        guard c.p1 == 0x00, load || c.p2 == TransactionType.epPurchase.rawValue || c.p2 == TransactionType.compoundPurchase.rawValue else {
            return .sw(.incorrectP1P2)
        }
        guard c.data.count == 2, let counter = c.data.bigEndianInteger(count: 2) else { return .sw(.wrongLength) }
        guard let proof = load ? s.lastLoad : s.lastPurchase, proof.type.rawValue == c.p2, proof.counterAfter.rawValue == UInt16(counter) else {
            return .sw(.proveNotAvailable)
        }
        var out: [UInt8] = []
        out.appendBigEndian(proof.mac2)
        out.appendBigEndian(proof.tac)
        return .ok(out)
    }

    private func appendLog(_ record: TransactionLogRecord, _ s: inout CardState) {
        s.transactionLog.insert(record, at: 0)
        if s.transactionLog.count > 10 { s.transactionLog.removeLast(s.transactionLog.count - 10) }
    }
}
