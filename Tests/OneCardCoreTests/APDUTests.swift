import OneCardCore
import Testing

@Suite("ISO 7816-4 APDU codec")
struct APDUCodecTests {
    @Test("all four cases round-trip in short form")
    func shortCases() throws {
        let cases: [CommandAPDU] = [
            CommandAPDU(cla: 0x00, ins: 0x84, p1: 0, p2: 0),
            CommandAPDU(cla: 0x80, ins: 0x5C, p1: 0, p2: 2, le: 4),
            CommandAPDU(cla: 0x00, ins: 0x20, p1: 0, p2: 0, data: [1, 2, 3]),
            CommandAPDU(cla: 0x00, ins: 0xA4, p1: 4, p2: 0, data: [0xA0, 0, 0, 6, 0x32, 1, 1, 5], le: 256),
        ]
        for (i, c) in cases.enumerated() {
            #expect(c.isoCase == i + 1)
            #expect(!c.isExtended)
            #expect(try CommandAPDU(bytes: c.bytes) == c)
        }
        #expect(cases[3].bytes.hex == "00A4040008A00000063201010500")
    }

    @Test("extended length for long data or Le above 256")
    func extendedCases() throws {
        let long = CommandAPDU(cla: 0, ins: 0xD6, p1: 0, p2: 0, data: [UInt8](repeating: 7, count: 300))
        #expect(long.isExtended)
        #expect(Array(long.bytes[4..<7]) == [0x00, 0x01, 0x2C])
        #expect(try CommandAPDU(bytes: long.bytes) == long)
        let bigLe = CommandAPDU(cla: 0, ins: 0xB0, p1: 0, p2: 0, le: 65_536)
        #expect(bigLe.bytes == [0, 0xB0, 0, 0, 0, 0, 0])
        #expect(try CommandAPDU(bytes: bigLe.bytes) == bigLe)
        let case4 = CommandAPDU(cla: 0, ins: 0xB0, p1: 0, p2: 0, data: [1, 2], le: 1000)
        #expect(try CommandAPDU(bytes: case4.bytes) == case4)
    }

    @Test("malformed commands are errors, never traps", arguments: [
        "", "00", "00A404", "00A4040002A0", "00A40400020102FFFF", "00A404000000", "00A40400000002AA",
    ])
    func malformed(hex: String) throws {
        let bytes = try #require(Hex.decode(hex))
        #expect(throws: APDUError.self) { try CommandAPDU(bytes: bytes) }
    }

    @Test("random byte strings parse or throw, and what parses re-encodes to itself")
    func fuzz() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 12)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if let c = try? CommandAPDU(bytes: bytes) {
                #expect(c.bytes == bytes || c.le == 256 || c.le == 65_536)
            }
        }
    }

    @Test("responses split data and status word; fewer than 2 bytes is an error")
    func responses() throws {
        let r = try ResponseAPDU(bytes: [0x00, 0x00, 0x10, 0x00, 0x90, 0x00])
        #expect(r.data == [0, 0, 0x10, 0])
        #expect(r.status == .success)
        #expect(try ResponseAPDU(bytes: [0x94, 0x01]).status == .insufficientFunds)
        #expect(throws: APDUError.tooShort(byteCount: 1)) { try ResponseAPDU(bytes: [0x90]) }
        #expect(StatusWord(rawValue: 0x6110).isMoreDataAvailable)
        #expect(StatusWord(rawValue: 0x6C1E).isWrongExpectedLength)
        #expect(StatusWord(rawValue: 0x63C2).pinTriesRemaining == 2)
        #expect(StatusWord.macInvalid.description == "9302 (MAC invalid)")
    }
}
