import OneCardCore
import OneCardCrypto
import PSAMCard
import Testing

@Suite("PSAM card application")
struct PSAMCardTests {
    static let root = try! TripleDESKey(hex: "404142434445464748494A4B4C4D4E4F")
    static let maintenance = try! TripleDESKey(hex: "55555555555555556666666666666666")

    static func psam(sequence: UInt32 = 0x0F, terminal: String = "000001000050") -> PSAMCard {
        PSAMCard(state: PSAMState(
            serial: Hex.decode("00000000000000000001")!, terminal: TerminalID(hex: terminal)!, purchaseKeys: [0x01: root],
            maintenanceKeys: [0x01: maintenance], start: BCDDate("2026-01-01")!, expiry: BCDDate("2036-01-01")!, sequence: sequence))
    }

    static func send(_ p: PSAMCard, _ hex: String) -> String { p.respond(to: Hex.decode(hex)!).hex }

    @Test("the worked example of PSAM.md §6: two levels of diversification, sequence 00000010, MAC1 BB7F398B, MAC2 accepted")
    func specVector() {
        let p = Self.psam()
        #expect(Self.send(p, "00A40000028011") == "9000")
        #expect(Self.send(p, "80700000245A5A12340005000000C806202406010830000100100001000000012301011000FFFFFFFF") == "00000010BB7F398B9000")
        #expect(p.state.sequence == 0x10)
        #expect(Self.send(p, "8072000004CB06B0A6") == "9000")
        #expect(Self.send(p, "8072000004CB06B0A6") == "6985", "the session ended with the first MAC2")
    }

    @Test("one level (Lc 1C): MAC1 and MAC2 are those of the card's purchase key under the purchase master, over the PSAM's own terminal number")
    func oneLevel() throws {
        let p = Self.psam(sequence: 41, terminal: "710002000501")
        #expect(Self.send(p, "00A40000028011") == "9000")
        let serial = CardSerial(hex: "7100000000000001")!
        let at = BCDDateTime(iso: "2026-11-29T08:00:00")!
        var cmd: [UInt8] = [0x80, 0x70, 0x00, 0x00, 0x1C]
        cmd.appendBigEndian(UInt32(0xCAFE_F00D))
        cmd.appendBigEndian(UInt16(7))
        cmd.appendBigEndian(UInt32(200))
        cmd += [0x09] + at.bcd + [0x01, 0x00]
        cmd.appendBigEndian(serial.rawValue)
        let r = p.respond(to: cmd)
        #expect(r.count == 10 && r.suffix(2) == [0x90, 0x00])
        let dpk = TripleDESPurse.diversify(master: Self.root, serial: serial)
        let key = TripleDESPurse.purchaseSessionKey(dpk: dpk, random: 0xCAFE_F00D, offlineCounter: PurseCounter(rawValue: 7), terminalSequence: TerminalSequence(rawValue: 42))
        var expected: [UInt8] = []
        expected.appendBigEndian(UInt32(42))
        expected.appendBigEndian(TripleDESPurse.purchaseMAC1(sessionKey: key, amountFen: 200, type: .compoundPurchase, terminal: TerminalID(hex: "710002000501")!, at: at))
        #expect(Array(r.prefix(8)) == expected)
        var wrong: [UInt8] = [0x80, 0x72, 0x00, 0x00, 0x04]
        wrong.appendBigEndian(TripleDESPurse.purchaseMAC2(sessionKey: key, amountFen: 200) ^ 1)
        #expect(p.respond(to: wrong) == [0x93, 0x02])
        var right: [UInt8] = [0x80, 0x72, 0x00, 0x00, 0x04]
        right.appendBigEndian(TripleDESPurse.purchaseMAC2(sessionKey: key, amountFen: 200))
        #expect(p.respond(to: right) == [0x90, 0x00], "a wrong MAC2 keeps the session")
    }

    @Test("a block MAC made inside the PSAM (DELIVERY KEY type 05, CIPHER DATA) equals the card's secure-messaging MAC")
    func blockMAC() {
        let p = Self.psam()
        let serial = CardSerial(hex: "7100000000000001")!
        #expect(Self.send(p, "00A40000028011") == "9000")
        #expect(Self.send(p, "801A2501087100000000000001") == "9000")
        let challenge: UInt32 = 0x1234_5678
        let r = Self.send(p, "80FA050010" + "1234567800000000" + "841E000004800000")
        let damk = TripleDESPurse.diversify(master: Self.maintenance, serial: serial)
        var mac: [UInt8] = []
        mac.appendBigEndian(TripleDESPurse.secureMessagingMAC(damk: damk, challenge: challenge, cla: 0x84, ins: 0x1E, p1: 0, p2: 0, data: []))
        #expect(r == mac.hex + "9000")
        // Unpadded input is padded by the PSAM: the same MAC.
        #expect(Self.send(p, "80FA05000D" + "1234567800000000" + "841E000004") == mac.hex + "9000")
        // Nothing but APPLICATION BLOCK is MACed: not UNBLOCK, not UPDATE BINARY, no chaining, no encipher.
        #expect(Self.send(p, "80FA050010" + "1234567800000000" + "8418000004800000") == "6985")
        #expect(Self.send(p, "80FA050012" + "1234567800000000" + "04D695140720" + "00000000") == "6985")
        #expect(Self.send(p, "80FA070010" + "1234567800000000" + "841E000004800000") == "6985")
        #expect(Self.send(p, "80FA000008" + "841E000004800000") == "6985")
        #expect(Self.send(p, "801A2502087100000000000001") == "6A88", "no maintenance key 02")
        #expect(Self.send(p, "801A2C01087100000000000001") == "6A88", "no key of type 0C")
    }

    @Test("files: EF 0x15 and 0x16 at the MF, 0x17 and 0x19 in the application; errors change nothing")
    func filesAndErrors() {
        let p = Self.psam(sequence: 9)
        #expect(Self.send(p, "00B0960006") == "0000010000509000")
        #expect(Self.send(p, "00B0990004") == "6A82", "EF 0x19 is in the application")
        #expect(Self.send(p, "807000001C" + String(repeating: "00", count: 28)) == "6985", "not selected")
        #expect(Self.send(p, "00A40000028011") == "9000")
        #expect(Self.send(p, "00B0990004") == "000000099000")
        #expect(Self.send(p, "00B0970001") == "019000")
        #expect(Self.send(p, "8070000010" + String(repeating: "00", count: 16)) == "6700")
        #expect(Self.send(p, "807000001C" + String(repeating: "00", count: 18) + "0200" + String(repeating: "00", count: 8)) == "9403", "key version 02 unknown")
        #expect(Self.send(p, "807000001C" + String(repeating: "00", count: 10) + "06" + "20261399000000" + "0100" + String(repeating: "00", count: 8)) == "6A80", "bad date")
        #expect(Self.send(p, "8072000004000000") == "6700")
        #expect(Self.send(p, "80720000050000000000") == "6700")
        #expect(Self.send(p, "807200000400000000") == "6985", "no session")
        #expect(Self.send(p, "80FA050008" + "0000000000000000") == "6985", "no delivered key")
        #expect(p.state.sequence == 9 && p.revision == 0)
    }

    @Test("50,000 random commands: always an answer, and only INITIALIZE SAM FOR PURCHASE moves the sequence, by one")
    func hostileCommands() {
        var rng = SplitMix64(seed: 11)
        let p = Self.psam(sequence: 0)
        var moved = 0
        for _ in 0..<50_000 {
            var c: [UInt8]
            switch rng.below(4) {
            case 0: c = [0x00, 0xA4, 0x00, 0x00, 0x02, 0x80, 0x11]
            case 1: c = [0x80, 0x70, 0x00, 0x00, 0x1C] + (0..<28).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            default: c = (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            if c.count == 33, c[0] == 0x80, c[1] == 0x70, rng.below(2) == 0 { c[15] = 0x06; c[23] = 0x01; c[24] = 0x00; c.replaceSubrange(16..<23, with: [0x20, 0x26, 0x11, 0x29, 0x08, 0x00, 0x00]) }
            let before = p.state.sequence
            let r = p.respond(to: c)
            #expect(r.count >= 2)
            if p.state.sequence != before {
                #expect(p.state.sequence == before + 1 && c.count >= 2 && c[0] == 0x80 && c[1] == 0x70 && r.suffix(2) == [0x90, 0x00])
                moved += 1
            }
        }
        #expect(moved > 1_000)
        #expect(UInt64(moved) == p.revision)
    }
}
