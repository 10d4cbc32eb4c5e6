import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Testing

/// Fixed, non-production master keys for tests.
enum TestKeys {
    static let keyset = TestKeysets.standard
    static let serial = CardSerial(hex: "2000000000001234")!
    static let terminal = TerminalID(hex: "000001000050")!
    static let at = BCDDateTime(iso: "2026-11-29T08:15:00")!
    static let cardKeys = try! keyset.cardKeys(serial: serial)

    static func info(type: CardType = .adult) -> IssuerInfo {
        IssuerInfo(
            issuer: IssuerID(rawValue: 0x0102_0304_0506_0708), serialPrefix: 0x7100, serial: serial,
            startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2035-12-31")!, cardType: type, depositFlag: 1)
    }

    /// A personalised card with a deterministic random source.
    static func card(balanceFen: UInt32 = 0) -> EPurseCard {
        var state = try! CardState.personalise(keyset: keyset, info: info())
        state.balanceFen = balanceFen
        var counter: UInt32 = 0x1122_3340
        return EPurseCard(state: state, random: { counter &+= 1; return counter })
    }
}

/// A raw-APDU driver that fails the test when the card answers something unexpected.
struct Driver {
    let card: EPurseCard

    @discardableResult
    func send(_ hex: String, expect status: StatusWord = .success, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        let bytes = try #require(Hex.decode(hex), sourceLocation: sourceLocation)
        return try send(bytes, expect: status, sourceLocation: sourceLocation)
    }

    @discardableResult
    func send(_ bytes: [UInt8], expect status: StatusWord = .success, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        let r = try ResponseAPDU(bytes: card.respond(to: bytes))
        #expect(r.status == status, "\(Hex.encode(bytes)) answered \(r.status)", sourceLocation: sourceLocation)
        return r.data
    }

    func selectPurse() throws { try send("00A4040008A00000063201010500") }

    /// INITIALIZE FOR LOAD, checks MAC1 with an independent computation, then CREDIT.
    /// Returns the TAC.
    @discardableResult
    func load(_ amount: UInt32, mac2Tamper: UInt32 = 0, expect: StatusWord = .success) throws -> UInt32? {
        let before = card.state
        var cmd: [UInt8] = [0x80, 0x50, 0x00, 0x02, 0x0B, 0x01]
        cmd.appendBigEndian(amount)
        cmd += TestKeys.terminal.bytes
        cmd.append(0x10)
        let r = try send(cmd)
        #expect(r.count == 16)
        #expect(r.bigEndianInteger(count: 4) == UInt64(before.balanceFen))
        #expect(r.bigEndianInteger(at: 4, count: 2) == UInt64(before.onlineCounter.rawValue))
        #expect(r[6] == 0x01 && r[7] == 0x00)
        let random = UInt32(r.bigEndianInteger(at: 8, count: 4)!)
        let key = TripleDESPurse.loadSessionKey(dlk: TestKeys.cardKeys.dlk, random: random, onlineCounter: before.onlineCounter)
        let mac1 = TripleDESPurse.loadMAC1(sessionKey: key, oldBalanceFen: before.balanceFen, amountFen: amount, type: .epLoad, terminal: TestKeys.terminal)
        #expect(r.bigEndianInteger(at: 12, count: 4) == UInt64(mac1))
        let mac2 = TripleDESPurse.loadMAC2(sessionKey: key, amountFen: amount, type: .epLoad, terminal: TestKeys.terminal, at: TestKeys.at) ^ mac2Tamper
        var credit: [UInt8] = [0x80, 0x52, 0x00, 0x00, 0x0B] + TestKeys.at.bcd
        credit.appendBigEndian(mac2)
        credit.append(0x04)
        let t = try send(credit, expect: expect)
        guard expect == .success else { return nil }
        let tac = TripleDESPurse.loadTAC(
            tacKey: TripleDESPurse.tacKey(dtk: TestKeys.cardKeys.dtk), newBalanceFen: before.balanceFen + amount,
            onlineCounter: before.onlineCounter, amountFen: amount, type: .epLoad, terminal: TestKeys.terminal, at: TestKeys.at)
        #expect(t.bigEndianInteger(count: 4) == UInt64(tac))
        return tac
    }

    /// INITIALIZE FOR PURCHASE then DEBIT with an independently computed MAC1; checks TAC
    /// and MAC2. Returns (tac, mac2) on success.
    @discardableResult
    func purchase(
        _ amount: UInt32, sequence: UInt32 = 7, compound: Bool = false, mac1Tamper: UInt32 = 0,
        cacheWrites: [String] = [], expect: StatusWord = .success
    ) throws -> (tac: UInt32, mac2: UInt32)? {
        let before = card.state
        let type: TransactionType = compound ? .compoundPurchase : .epPurchase
        var cmd: [UInt8] = [0x80, 0x50, compound ? 0x03 : 0x01, 0x02, 0x0B, 0x01]
        cmd.appendBigEndian(amount)
        cmd += TestKeys.terminal.bytes
        cmd.append(0x0F)
        let r = try send(cmd)
        #expect(r.count == 15)
        #expect(r.bigEndianInteger(count: 4) == UInt64(before.balanceFen))
        #expect(r.bigEndianInteger(at: 4, count: 2) == UInt64(before.offlineCounter.rawValue))
        let random = UInt32(r.bigEndianInteger(at: 11, count: 4)!)
        for w in cacheWrites { try send(w) }
        let seq = TerminalSequence(rawValue: sequence)
        let key = TripleDESPurse.purchaseSessionKey(dpk: TestKeys.cardKeys.dpk, random: random, offlineCounter: before.offlineCounter, terminalSequence: seq)
        let mac1 = TripleDESPurse.purchaseMAC1(sessionKey: key, amountFen: amount, type: type, terminal: TestKeys.terminal, at: TestKeys.at) ^ mac1Tamper
        var debit: [UInt8] = [0x80, 0x54, 0x01, 0x00, 0x0F]
        debit.appendBigEndian(sequence)
        debit += TestKeys.at.bcd
        debit.appendBigEndian(mac1)
        debit.append(0x08)
        let d = try send(debit, expect: expect)
        guard expect == .success else { return nil }
        let tac = TripleDESPurse.purchaseTAC(
            tacKey: TripleDESPurse.tacKey(dtk: TestKeys.cardKeys.dtk), amountFen: amount, type: type,
            terminal: TestKeys.terminal, terminalSequence: seq, at: TestKeys.at)
        let mac2 = TripleDESPurse.purchaseMAC2(sessionKey: key, amountFen: amount)
        #expect(d.count == 8)
        #expect(d.bigEndianInteger(count: 4) == UInt64(tac))
        #expect(d.bigEndianInteger(at: 4, count: 4) == UInt64(mac2))
        return (tac, mac2)
    }

    /// GET CHALLENGE then a secure-messaging command with a MAC under DAMK.
    func secure(cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8], tamper: UInt32 = 0, expect: StatusWord = .success) throws {
        let ch = try send("0084000004")
        let challenge = UInt32(ch.bigEndianInteger(count: 4)!)
        let mac = TripleDESPurse.secureMessagingMAC(damk: TestKeys.cardKeys.damk, challenge: challenge, cla: cla, ins: ins, p1: p1, p2: p2, data: data) ^ tamper
        var body = data
        body.appendBigEndian(mac)
        try send(CommandAPDU(cla: cla, ins: ins, p1: p1, p2: p2, data: body).bytes, expect: expect)
    }
}
