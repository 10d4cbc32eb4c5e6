import OneCardCore
import Testing

@Suite("BCD dates and times")
struct BCDTests {
    @Test("dates round-trip through BCD and reject impossible days")
    func dates() throws {
        let d = try #require(BCDDate(bcd: [0x20, 0x24, 0x02, 0x29]))
        #expect(d.description == "2024-02-29")
        #expect(d.bcd == [0x20, 0x24, 0x02, 0x29])
        #expect(BCDDate(bcd: [0x20, 0x23, 0x02, 0x29]) == nil)
        #expect(BCDDate(bcd: [0x19, 0x00, 0x02, 0x29]) == nil)
        #expect(BCDDate(bcd: [0x20, 0x00, 0x02, 0x29]) != nil)
        #expect(BCDDate(bcd: [0x20, 0x24, 0x13, 0x01]) == nil)
        #expect(BCDDate(bcd: [0x20, 0x2A, 0x01, 0x01]) == nil)
        #expect(BCDDate(bcd: [0x20, 0x24, 0x01]) == nil)
    }

    @Test("day arithmetic crosses months, years and leap days")
    func arithmetic() throws {
        let d = try #require(BCDDate("2024-02-28"))
        #expect(d.adding(days: 1).description == "2024-02-29")
        #expect(d.adding(days: 2).description == "2024-03-01")
        #expect(try #require(BCDDate("1970-01-01")).daysSinceEpoch == 0)
        #expect(try #require(BCDDate("2026-12-31")).adding(days: 1).description == "2027-01-01")
        for offset in stride(from: -800_000, to: 800_000, by: 997) {
            #expect(BCDDate(daysSinceEpoch: offset).daysSinceEpoch == offset)
        }
    }

    @Test("times and date-times")
    func times() throws {
        let dt = try #require(BCDDateTime(bcd: [0x20, 0x24, 0x12, 0x29, 0x14, 0x17, 0x40]))
        #expect(dt.description == "2024-12-29T14:17:40")
        #expect(BCDDateTime(secondsSinceEpoch: dt.secondsSinceEpoch) == dt)
        #expect(BCDDateTime(iso: "2024-12-29T14:17:40") == dt)
        #expect(BCDTime(bcd: [0x24, 0x00, 0x00]) == nil)
        #expect(BCDTime(bcd: [0x23, 0x60, 0x00]) == nil)
    }
}

@Suite("Identifiers and money")
struct IdentifierTests {
    @Test("serials and terminal IDs parse exact hex widths only")
    func identifiers() {
        #expect(CardSerial(hex: "2000000000001234")?.bytes == [0x20, 0, 0, 0, 0, 0, 0x12, 0x34])
        #expect(CardSerial(hex: "20000000000012") == nil)
        #expect(CardSerial(hex: "200000000000123G") == nil)
        #expect(TerminalID(hex: "001122334455")?.description == "001122334455")
        #expect(TerminalID(hex: "0011223344") == nil)
        #expect(TerminalID(rawValue: 1 << 48) == nil)
        #expect(CardSerial(hex: "2000000000001234")?.masked == "************1234")
        #expect(CardType(name: "senior") == .senior)
        #expect(CardType(name: "child") == nil)
    }

    @Test("fen arithmetic reports overflow instead of trapping")
    func money() {
        #expect(Fen.add(UInt32.max, 1) == nil)
        #expect(Fen.subtract(100, 101) == nil)
        #expect(Fen.subtract(101, 100) == 1)
        #expect(Fen.add(Int64.max, 1) == nil)
        #expect(Fen.yuan(12345) == "123.45")
        #expect(Fen.yuan(-5) == "-0.05")
        #expect(Fen.parseYuan("12.5") == 1250)
        #expect(Fen.parseYuan("0.05") == 5)
        #expect(Fen.parseYuan("1.234") == nil)
        #expect(Fen.parseYuan("-1") == nil)
        #expect(Fen.parseYuan("") == nil)
    }

    @Test("hex decoding rejects odd lengths and stray characters")
    func hex() {
        #expect(Hex.decode("0a 1B") == [0x0A, 0x1B])
        #expect(Hex.decode("0a1") == nil)
        #expect(Hex.decode("0g") == nil)
        #expect(Hex.decode("0 a") == nil)
        #expect(Hex.encode([0xDE, 0xAD]) == "DEAD")
    }
}
