import Foundation
import OneCardCore
import OneCardCrypto
import Testing

private func key16(_ hex: String) throws -> TripleDESKey { try TripleDESKey(hex: hex) }
private func dt(_ date: String, _ time: String) throws -> BCDDateTime {
    let d = try #require(Hex.decode(date + time))
    return try #require(BCDDateTime(bcd: d))
}
private let terminal1 = TerminalID(hex: "001122334455")!
private let terminal2 = TerminalID(hex: "000001000050")!

@Suite("EPURSE.md §5 worked example (card key 1122…2211)")
struct WorkedExampleVectors {
    let cardKey: TripleDESKey

    init() throws { cardKey = try key16("11223344556677888877665544332211") }

    @Test("SESLK = 3DES(DLK, random ‖ online counter ‖ 8000)")
    func loadSessionKey() {
        let k = TripleDESPurse.loadSessionKey(dlk: cardKey, random: 0x1122_3344, onlineCounter: PurseCounter(rawValue: 0))
        #expect(k == DESKey(rawValue: 0x9B1D_924E_0559_5603))
    }

    @Test("load MAC1 over old balance, amount, type 01, terminal is 2988AE5A")
    func loadMAC1() {
        let k = TripleDESPurse.loadSessionKey(dlk: cardKey, random: 0x1122_3344, onlineCounter: PurseCounter(rawValue: 0))
        let mac = TripleDESPurse.loadMAC1(sessionKey: k, oldBalanceFen: 0, amountFen: 0x1000, type: .edLoad, terminal: terminal1)
        #expect(mac == 0x2988_AE5A)
    }

    @Test("load MAC2 over 00001000 01 001122334455 20111221 214822 is 3A845BF0")
    func loadMAC2() throws {
        let k = TripleDESPurse.loadSessionKey(dlk: cardKey, random: 0x1122_3344, onlineCounter: PurseCounter(rawValue: 0))
        let mac = TripleDESPurse.loadMAC2(sessionKey: k, amountFen: 0x1000, type: .edLoad, terminal: terminal1, at: try dt("20111221", "214822"))
        #expect(mac == 0x3A84_5BF0)
    }

    @Test("SESPK from random 11223344, offline counter 0000, terminal sequence 00000001")
    func purchaseSessionKey() {
        let k = TripleDESPurse.purchaseSessionKey(
            dpk: cardKey, random: 0x1122_3344, offlineCounter: PurseCounter(rawValue: 0),
            terminalSequence: TerminalSequence(rawValue: 1))
        #expect(k == DESKey(rawValue: 0x0032_38AB_C576_59DD))
    }

    @Test("purchase MAC1 over 00001000 06 001122334455 20120229 135100 is F15CAB75")
    func purchaseMAC1() throws {
        let k = TripleDESPurse.purchaseSessionKey(
            dpk: cardKey, random: 0x1122_3344, offlineCounter: PurseCounter(rawValue: 0),
            terminalSequence: TerminalSequence(rawValue: 1))
        let mac = TripleDESPurse.purchaseMAC1(sessionKey: k, amountFen: 0x1000, type: .epPurchase, terminal: terminal1, at: try dt("20120229", "135100"))
        #expect(mac == 0xF15C_AB75)
    }
}

@Suite("EPURSE.md §5 a real card's load")
struct RealCardLoadVectors {
    let dlk: TripleDESKey
    let dtk: TripleDESKey

    init() throws {
        dlk = try key16("374598B5C0B0EAE1E1D06609AC5BB369")
        dtk = try key16("CAA6025290114BFCC3C9043F70F7A07A")
    }

    @Test("SESLK 3C05F429713D0188 and MAC1 06B1BEF5")
    func sessionAndMAC1() {
        let k = TripleDESPurse.loadSessionKey(dlk: dlk, random: 0xCDEF_4F20, onlineCounter: PurseCounter(rawValue: 0))
        #expect(k == DESKey(rawValue: 0x3C05_F429_713D_0188))
        #expect(TripleDESPurse.loadMAC1(sessionKey: k, oldBalanceFen: 0, amountFen: 0x1C37, type: .epLoad, terminal: terminal2) == 0x06B1_BEF5)
    }

    @Test("MAC2 0641DCD8 for 20140825 103100")
    func mac2() throws {
        let k = TripleDESPurse.loadSessionKey(dlk: dlk, random: 0xCDEF_4F20, onlineCounter: PurseCounter(rawValue: 0))
        #expect(TripleDESPurse.loadMAC2(sessionKey: k, amountFen: 0x1C37, type: .epLoad, terminal: terminal2, at: try dt("20140825", "103100")) == 0x0641_DCD8)
    }

    @Test("TAC key 096F066DE0E6EB86 and load TAC ED0F8755")
    func tac() throws {
        let tk = TripleDESPurse.tacKey(dtk: dtk)
        #expect(tk == DESKey(rawValue: 0x096F_066D_E0E6_EB86))
        let tac = TripleDESPurse.loadTAC(
            tacKey: tk, newBalanceFen: 0x1C37, onlineCounter: PurseCounter(rawValue: 0), amountFen: 0x1C37,
            type: .epLoad, terminal: terminal2, at: try dt("20140825", "103100"))
        #expect(tac == 0xED0F_8755)
        // The allocation-free register path clearing and the load generator use gives the same.
        let fast = TripleDESPurse.loadTAC(
            tacKey: tk, newBalanceFen: 0x1C37, onlineCounter: 0, amountFen: 0x1C37, typeByte: 0x02,
            terminal: terminal2.rawValue, dateTimeBCD: TripleDESPurse.packedDateTime(try dt("20140825", "103100")))
        #expect(fast == 0xED0F_8755)
        // The same TAC through the generic MAC over the spec's literal TAC input.
        let input = try #require(Hex.decode("00001C37 0000 00001C37 02 000001000050 20140825 103100"))
        #expect(ISO9797MAC.algorithm1(key: tk, data: input) == 0xED0F_8755)
    }
}

@Suite("Diversification, MAC algorithm 3 and the purchase TAC fast path")
struct DerivedVectors {
    // Computed independently with Python's `cryptography` TripleDES (see docs/card.md, "Cryptography").
    @Test("DK = 3DES(MK, F) ‖ 3DES(MK, ~F)")
    func diversification() throws {
        let mk = try key16("0123456789ABCDEFFEDCBA9876543210")
        let serial = try #require(CardSerial(hex: "2000000000001234"))
        let dk = TripleDESPurse.diversify(master: mk, serial: serial)
        #expect(dk.exportKeyMaterial().hex == "7D3FF3DC3223E91E88F6F8D135F4CF93")
        #expect(TripleDESPurse.tacKey(tacMaster: mk, serial: serial) == TripleDESPurse.tacKey(dtk: dk))
        let other = TripleDESPurse.diversify(master: mk, serial: CardSerial(rawValue: serial.rawValue + 1))
        #expect(other != dk)
    }

    @Test("MAC algorithm 3 with IV from a challenge")
    func retailMAC() throws {
        let k = try key16("7D3FF3DC3223E91E88F6F8D135F4CF93")
        let data = try #require(Hex.decode("04D6950009 0102030405"))
        #expect(ISO9797MAC.algorithm3(key: k, data: data, iv: 0xA1B2_C3D4_0000_0000) == 0x0AA5_D4F0)
    }

    @Test("MAC algorithm 1 pads a whole-block input with a full 80 00… block")
    func fullBlockPadding() throws {
        let k = DESKey(rawValue: 0x0123_4567_89AB_CDEF)
        let data = try #require(Hex.decode("00112233445566778899AABBCCDDEEFF"))
        #expect(ISO9797MAC.algorithm1(key: k, data: data) == 0x0FC7_57C5)
    }

    @Test("the register purchase TAC equals the generic MAC over the 22-byte input", arguments: [
        (UInt32(1), UInt32(0x0000_0001)), (200, 0xFFFF_FFFF), (0xFFFF_FFFF, 0x1234_5678),
    ])
    func purchaseTACFastPath(amount: UInt32, sequence: UInt32) throws {
        let tk = DESKey(rawValue: 0x096F_066D_E0E6_EB86)
        let at = try dt("20261129", "235959")
        let fast = TripleDESPurse.purchaseTAC(
            tacKey: tk, amountFen: amount, type: .compoundPurchase, terminal: terminal1,
            terminalSequence: TerminalSequence(rawValue: sequence), at: at)
        var input: [UInt8] = []
        input.appendBigEndian(amount)
        input.append(0x09)
        input += terminal1.bytes
        input.appendBigEndian(sequence)
        input += at.bcd
        #expect(fast == ISO9797MAC.algorithm1(key: tk, data: input))
    }

    @Test("the CBC-MAC of three and four blocks in one call equals DES block by block")
    func cbcMACInOneCall() {
        let k = DESKey(rawValue: 0x1334_5779_9BBC_DFF1)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let b = (0..<4).map { _ in UInt64.random(in: .min ... .max, using: &rng) }
            let three = k.encrypt(k.encrypt(k.encrypt(b[0]) ^ b[1]) ^ b[2])
            #expect(k.cbcMAC(b[0], b[1], b[2]) == three)
            #expect(k.cbcMAC(b[0], b[1], b[2], b[3]) == k.encrypt(three ^ b[3]))
        }
        // FIPS 46's example block, then a zero block: the chain starts from IV 0.
        #expect(k.cbcMAC(0x0123_4567_89AB_CDEF, 0x85E8_1354_0F0A_B405, 0) == k.encrypt(k.encrypt(0)))
    }

    @Test("single DES equals DES-EDE3 with K‖K‖K")
    func singleDESIsDegenerateTripleDES() throws {
        let k = DESKey(rawValue: 0x1334_5779_9BBC_DFF1)
        let kkk = TripleDESKey(left: k, right: k)
        #expect(k.encrypt(0x0123_4567_89AB_CDEF) == 0x85E8_1354_0F0A_B405)  // FIPS 46 classic example
        #expect(kkk.encrypt(0x0123_4567_89AB_CDEF) == k.encrypt(0x0123_4567_89AB_CDEF))
        #expect(k.decrypt(k.encrypt(42)) == 42)
    }
}

@Suite("Bad key material gets a clear error and no key in any text")
struct KeyHandling {
    @Test("wrong-length keys are refused", arguments: [0, 7, 9, 15, 17, 24])
    func wrongLength(n: Int) {
        let bytes = [UInt8](repeating: 0x11, count: n)
        if n != 8 { #expect(throws: CryptoError.keyLength(expected: 8, actual: n)) { try DESKey(bytes: bytes) } }
        if n != 16 { #expect(throws: CryptoError.keyLength(expected: 16, actual: n)) { try TripleDESKey(bytes: bytes) } }
    }

    @Test("keys never print their bytes")
    func redacted() throws {
        let k = try key16("11223344556677888877665544332211")
        var dumped = ""
        dump(k, to: &dumped)
        for text in [k.description, k.debugDescription, String(describing: k), String(reflecting: k), dumped] {
            #expect(!text.contains("1122"))
            #expect(!text.contains("4455"))
        }
    }

    @Test("keyset: any subset loads, missing role and malformed files are named, keys not echoed")
    func keyset() throws {
        let json = #"{"format":"onecard-keyset/1","algorithm":"3DES","keyVersion":2,"masterKeys":{"purchase":"11223344556677888877665544332211"}}"#
        let ks = try Keyset.parse(Data(json.utf8), source: "t.json")
        #expect(ks.keyVersion == KeyVersion(rawValue: 2))
        _ = try ks.masterKey(.purchase)
        #expect(throws: KeysetError.missingKey(path: "t.json", role: .tac)) { try ks.masterKey(.tac) }
        #expect(!ks.description.contains("1122"))
        let bad = #"{"format":"onecard-keyset/1","algorithm":"3DES","keyVersion":1,"masterKeys":{"tac":"AABBCCDDEEFF0011223344556677"}}"#
        do {
            _ = try Keyset.parse(Data(bad.utf8), source: "bad.json")
            Issue.record("short key accepted")
        } catch {
            #expect(error.description.contains("masterKeys.tac"))
            #expect(!error.description.contains("AABB"))
        }
        let wrongFormat = #"{"format":"x","algorithm":"3DES","keyVersion":1,"masterKeys":{}}"#
        #expect(throws: KeysetError.self) { try Keyset.parse(Data(wrongFormat.utf8), source: "x") }
        let roundTrip = try Keyset.parse(ks.exportJSON(), source: "rt")
        #expect(try roundTrip.masterKey(.purchase) == ks.masterKey(.purchase))
    }
}
