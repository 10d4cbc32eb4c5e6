import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import Testing

@Suite("E-purse conformance: whole flows over raw APDUs")
struct PurseFlowTests {
    @Test("PPSE lists the purse; the ADF's FCI carries file 0x15 in tag 9F0C")
    func selection() throws {
        let d = Driver(card: TestKeys.card())
        let ppse = try d.send("00A404000E325041592E5359532E444446303100")
        #expect(ppse.first == 0x6F)
        #expect(Hex.encode(ppse).contains("4F08A000000632010105"))
        #expect(Hex.encode(ppse).contains(Hex.encode(Array("MOT_T_EP".utf8))))
        let fci = try d.send("00A4040008A00000063201010500")
        #expect(Hex.encode(fci).hasSuffix("9F0C1E" + Hex.encode(TestKeys.info().bytes)))
        try d.send("00A4040008A00000063201010600", expect: .fileNotFound)
    }

    @Test("select → load → purchase → prove → read log, every byte checked")
    func fullFlow() throws {
        let card = TestKeys.card()
        let d = Driver(card: card)
        try d.selectPurse()
        #expect(try d.send("805C000204") == [0, 0, 0, 0])
        try d.load(5000)
        #expect(try d.send("805C000204") == [0, 0, 0x13, 0x88])
        let p = try #require(try d.purchase(200, sequence: 0x0001_0203))
        #expect(card.state.balanceFen == 4800)
        #expect(card.state.onlineCounter.rawValue == 1)
        #expect(card.state.offlineCounter.rawValue == 1)
        // GET TRANSACTION PROVE asks with INITIALIZE's counter + 1 and gets MAC2 ‖ TAC.
        var prove = try d.send("805A00060200010 8".replacingOccurrences(of: " ", with: ""))
        #expect(prove.bigEndianInteger(count: 4) == UInt64(p.mac2))
        #expect(prove.bigEndianInteger(at: 4, count: 4) == UInt64(p.tac))
        prove = try d.send("805A000602000208", expect: .proveNotAvailable)
        #expect(prove.isEmpty)
        // The log: newest first; counter after; amount, type, terminal, date-time.
        let newest = try d.send("00B201C417")
        #expect(Hex.encode(newest) == "0001000000000000C806000001000050202611290815" + "00")
        let older = try d.send("00B202C417")
        #expect(Hex.encode(older) == "000100000000001388020000010000502026112908150" + "0")
        try d.send("00B203C417", expect: .recordNotFound)
    }

    @Test("the log record layout matches spec §5's real card after its load")
    func logLayout() throws {
        let r = try #require(TransactionLogRecord(bytes: Hex.decode("0001 000000 00001C37 02 000001000050 20140825 103100")!))
        #expect(r.counterAfter.rawValue == 1)
        #expect(r.amountFen == 0x1C37)
        #expect(r.type == .epLoad)
        #expect(r.at.description == "2014-08-25T10:31:00")
    }

    @Test("the trip record decodes spec §2's real exit record and re-encodes it")
    func tripLayout() throws {
        let hex = "04 0000300089000340 01 08001900300000 000001F4 00000E01 20241229141740 1000 01011000FFFFFFFF 000000000000"
        let bytes = try #require(Hex.decode(hex))
        let t = try #require(TripRecord(bytes: bytes))
        #expect(t.kind == .exit)
        #expect(t.industry == 0x01)
        #expect(t.amountFen == 500)
        #expect(t.balanceAfterFen == 0xE01)
        #expect(t.cityCode == 0x1000)
        #expect(t.bytes == bytes)
    }

    @Test("the transaction log keeps the newest 10 records")
    func cyclicLog() throws {
        let card = TestKeys.card(balanceFen: 10_000)
        let d = Driver(card: card)
        try d.selectPurse()
        for i in 1...12 { try d.purchase(UInt32(i), sequence: UInt32(i)) }
        #expect(card.state.transactionLog.count == 10)
        #expect(card.state.transactionLog.first?.amountFen == 12)
        #expect(card.state.transactionLog.last?.amountFen == 3)
        try d.send("00B20AC417")
        try d.send("00B20BC417", expect: .recordNotFound)
    }

    @Test("compound purchase writes the 0x1A cache and 0x1E trip records at DEBIT, newest first, 30 kept")
    func compound() throws {
        let card = TestKeys.card(balanceFen: 100_000)
        let d = Driver(card: card)
        try d.selectPurse()
        for i in 0..<31 {
            let record = Hex.encode([UInt8](repeating: UInt8(i), count: 128))
            var trip = [UInt8](repeating: 0, count: 48)
            trip[0] = 0x03
            trip[17] = UInt8(i)
            try d.purchase(0, compound: true, cacheWrites: ["80DC01D080" + record, "80DC00F030" + Hex.encode(trip)])
        }
        #expect(card.state.tripLog.count == 30)
        #expect(card.state.tripLog.first?[17] == 30)
        #expect(card.state.compoundCache == [UInt8](repeating: 30, count: 128))
        #expect(try d.send("00B201D480") == [UInt8](repeating: 30, count: 128))
        #expect(try d.send("00B201F430")[17] == 30)
        try d.send("00B21FF430", expect: .recordNotFound)
        // A cache write outside a compound purchase is refused.
        try d.send("80DC01D080" + Hex.encode([UInt8](repeating: 1, count: 128)), expect: .conditionsOfUseNotSatisfied)
    }

    @Test("a cache write then a failed DEBIT changes nothing")
    func compoundTorn() throws {
        let card = TestKeys.card(balanceFen: 1000)
        let d = Driver(card: card)
        try d.selectPurse()
        let before = card.state
        try d.purchase(300, compound: true, mac1Tamper: 1, cacheWrites: ["80DC01D080" + String(repeating: "AB", count: 128)], expect: .macInvalid)
        #expect(card.state == before)
    }
}

@Suite("E-purse conformance: the failure side changes nothing")
struct PurseFailureTests {
    @Test("wrong MAC1 → 9302, nothing changes, and the session is gone")
    func wrongMAC1() throws {
        let card = TestKeys.card(balanceFen: 1000)
        let d = Driver(card: card)
        try d.selectPurse()
        let before = card.state
        try d.purchase(300, mac1Tamper: 0x0000_0001, expect: .macInvalid)
        #expect(card.state == before)
        try d.send("80540100 0F 00000001 20261129081500 00000000 08".replacingOccurrences(of: " ", with: ""), expect: .conditionsOfUseNotSatisfied)
        #expect(card.state == before)
    }

    @Test("wrong MAC2 on a load → 9302 and nothing changes")
    func wrongMAC2() throws {
        let card = TestKeys.card()
        let d = Driver(card: card)
        try d.selectPurse()
        let before = card.state
        try d.load(1000, mac2Tamper: 0x8000_0000, expect: .macInvalid)
        #expect(card.state == before)
    }

    @Test("an amount above the balance → 9401 at INITIALIZE")
    func insufficient() throws {
        let card = TestKeys.card(balanceFen: 199)
        let d = Driver(card: card)
        try d.selectPurse()
        try d.send("805001020B01000000C8000001000050 0F".replacingOccurrences(of: " ", with: ""), expect: .insufficientFunds)
        #expect(card.state.balanceFen == 199)
    }

    @Test("a load above the card maximum is refused; exactly the maximum is accepted")
    func maximum() throws {
        let card = TestKeys.card(balanceFen: 99_000)
        let d = Driver(card: card)
        try d.selectPurse()
        try d.send("805000020B01000003E9000001000050 10".replacingOccurrences(of: " ", with: ""), expect: .conditionsOfUseNotSatisfied)
        try d.load(1000)
        #expect(card.state.balanceFen == CardState.balanceMaxFenDefault)
    }

    @Test("DEBIT or CREDIT without INITIALIZE → 6985")
    func withoutInitialize() throws {
        let card = TestKeys.card(balanceFen: 1000)
        let d = Driver(card: card)
        try d.selectPurse()
        let before = card.state
        try d.send("805401000F0000000120261129081500AABBCCDD08", expect: .conditionsOfUseNotSatisfied)
        try d.send("805200000B2026112908150011223344 04".replacingOccurrences(of: " ", with: ""), expect: .conditionsOfUseNotSatisfied)
        #expect(card.state == before)
    }

    @Test("unknown INS → 6D00, unknown CLA → 6E00, truncated APDUs → 6700", arguments: [
        ("80FF000000", StatusWord.instructionNotSupported), ("A0A4040000", .classNotSupported),
        ("80", .wrongLength), ("805C00", .wrongLength), ("805C000205", .wrongLength),
        ("805001020A01000000C800000100005 0".replacingOccurrences(of: " ", with: ""), .wrongLength),
        ("805001020C01000000C80000010000500000", .wrongLength), ("00A4040008A0000006320101", .wrongLength),
    ])
    func malformed(hex: String, status: StatusWord) throws {
        let card = TestKeys.card(balanceFen: 1000)
        let d = Driver(card: card)
        try d.selectPurse()
        let before = card.state
        try d.send(hex, expect: status)
        #expect(card.state == before)
    }

    @Test("an unknown key index → 9403")
    func keyIndex() throws {
        let d = Driver(card: TestKeys.card(balanceFen: 1000))
        try d.selectPurse()
        try d.send("805001020B02000000C80000010000500F", expect: .keyNotFound)
    }

    @Test("purse commands before SELECT are refused")
    func notSelected() throws {
        let d = Driver(card: TestKeys.card(balanceFen: 1000))
        try d.send("805C000204", expect: .conditionsOfUseNotSatisfied)
        try d.send("00B0950000", expect: .conditionsOfUseNotSatisfied)
    }

    @Test("a reset drops an open purchase session")
    func resetDropsSession() throws {
        let card = TestKeys.card(balanceFen: 1000)
        let d = Driver(card: card)
        try d.selectPurse()
        try d.send("805001020B01000000C80000010000500F")
        card.reset()
        try d.selectPurse()
        try d.send("805401000F0000000120261129081500AABBCCDD08", expect: .conditionsOfUseNotSatisfied)
        #expect(card.state.balanceFen == 1000)
    }

    @Test("wrong PINs count down to a blocked PIN; a right one restores the tries")
    func pin() throws {
        let card = TestKeys.card()
        let d = Driver(card: card)
        try d.selectPurse()
        try d.send("0020000003123457", expect: StatusWord(rawValue: 0x63C2))
        try d.send("0020000003123456")
        #expect(card.state.pinTriesRemaining == 3)
        for left in [2, 1, 0] { try d.send("0020000003000000", expect: StatusWord(rawValue: 0x63C0 | UInt16(left))) }
        try d.send("0020000003123456", expect: .authenticationMethodBlocked)
    }

    @Test("a load that needs a PIN is refused until VERIFY succeeds")
    func loadNeedsPIN() throws {
        var state = try CardState.personalise(keyset: TestKeys.keyset, info: TestKeys.info())
        state.loadRequiresPIN = true
        let d = Driver(card: EPurseCard(state: state))
        try d.selectPurse()
        try d.send("805000020B01000003E8000001000050 10".replacingOccurrences(of: " ", with: ""), expect: .securityStatusNotSatisfied)
        try d.send("0020000003123456")
        try d.load(1000)
    }
}

@Suite("Secure messaging: activation, block and unblock")
struct SecureMessagingTests {
    @Test("UPDATE BINARY with a right MAC changes card type and dates; a wrong MAC changes nothing")
    func updateBinary() throws {
        let card = TestKeys.card()
        let d = Driver(card: card)
        try d.selectPurse()
        // Bytes [20..28] of 0x15: start, expiry, card type → student, valid 2027–2030.
        let data: [UInt8] = [0x20, 0x27, 0x01, 0x01, 0x20, 0x30, 0x12, 0x31, 0x02]
        let before = card.state
        try d.secure(cla: 0x04, ins: 0xD6, p1: 0x95, p2: 20, data: data, tamper: 1, expect: .macInvalid)
        #expect(card.state == before)
        try d.secure(cla: 0x04, ins: 0xD6, p1: 0x95, p2: 20, data: data)
        #expect(card.state.info?.cardType == .student)
        #expect(card.state.info?.expiryDate.description == "2030-12-31")
        #expect(card.state.info?.serial == TestKeys.serial)
        // The serial is not writable; an impossible date is refused; no challenge → 6985.
        try d.secure(cla: 0x04, ins: 0xD6, p1: 0x95, p2: 12, data: [0xFF], expect: .conditionsOfUseNotSatisfied)
        try d.secure(cla: 0x04, ins: 0xD6, p1: 0x95, p2: 20, data: [0x20, 0x27, 0x02, 0x30], expect: .incorrectData)
        try d.send("04D695140D20270101203012310211223344", expect: .conditionsOfUseNotSatisfied)
        #expect(card.state.info?.cardType == .student)
    }

    @Test("a blocked application answers SELECT with 6283 and refuses purchases with 9303 until unblocked")
    func blockUnblock() throws {
        let card = TestKeys.card(balanceFen: 500)
        let d = Driver(card: card)
        try d.selectPurse()
        try d.secure(cla: 0x84, ins: 0x1E, p1: 0, p2: 0, data: [], tamper: 4, expect: .macInvalid)
        #expect(card.state.blocked == .none)
        try d.secure(cla: 0x84, ins: 0x1E, p1: 0, p2: 0, data: [])
        #expect(card.state.blocked == .temporary)
        try d.send("00A4040008A00000063201010500", expect: .selectedFileInvalidated)
        try d.send("805001020B01000000C80000010000500F", expect: .applicationBlockedPermanently)
        #expect(try d.send("805C000204") == [0, 0, 1, 0xF4])
        try d.secure(cla: 0x84, ins: 0x18, p1: 0, p2: 0, data: [])
        try d.selectPurse()
        try d.purchase(200)
        try d.secure(cla: 0x84, ins: 0x1E, p1: 0, p2: 1, data: [])
        try d.secure(cla: 0x84, ins: 0x18, p1: 0, p2: 0, data: [], expect: .applicationBlockedPermanently)
        #expect(card.state.blocked == .permanent)
    }
}

@Suite("Reading files")
struct FileReadTests {
    @Test("READ BINARY returns files 0x15/0x16/0x17, 6Cxx on a wrong Le, 6A82 for unknown SFIs")
    func readBinary() throws {
        let d = Driver(card: TestKeys.card())
        try d.selectPurse()
        #expect(try d.send("00B095001E") == TestKeys.info().bytes)
        #expect(try d.send("00B0950000") == TestKeys.info().bytes)
        #expect(try d.send("00B0960037").count == 55)
        #expect(try d.send("00B097003C")[9] == 0x01)
        #expect(try d.send("00B0950C08") == TestKeys.serial.bytes)
        try d.send("00B0950020", expect: StatusWord(rawValue: 0x6C1E))
        try d.send("00B0990000", expect: .fileNotFound)
        try d.send("00B0980000", expect: .commandIncompatible)
        try d.send("00B0951E01", expect: .wrongP1P2)
        try d.send("00B201C417", expect: .recordNotFound)
        try d.send("00B201AC17", expect: .commandIncompatible)
    }
}
