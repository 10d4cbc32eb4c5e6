import EPurse
import OneCardCore
import Testing

@Suite("Property: hostile APDUs")
struct HostileAPDUTests {
    /// Mostly well-formed headers of the purse's own commands with random bodies, plus pure noise.
    static func randomCommand(_ rng: inout SplitMix64) -> [UInt8] {
        let headers: [[UInt8]] = [
            [0x80, 0x50, 0x01, 0x02], [0x80, 0x50, 0x03, 0x02], [0x80, 0x50, 0x00, 0x02], [0x80, 0x54, 0x01, 0x00],
            [0x80, 0x52, 0x00, 0x00], [0x80, 0xDC, 0x01, 0xD0], [0x80, 0xDC, 0x00, 0xF0], [0x80, 0x5A, 0x00, 0x06],
            [0x04, 0xD6, 0x95, 0x14], [0x84, 0x1E, 0x00, 0x00], [0x84, 0x18, 0x00, 0x00], [0x00, 0xB2, 0x01, 0xC4],
            [0x00, 0x84, 0x00, 0x00], [0x00, 0x20, 0x00, 0x00], [0x00, 0xA4, 0x04, 0x00],
        ]
        let n = Int(rng.next() % 40)
        let body = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        switch rng.next() % 4 {
        case 0: return body
        case 1:
            let h = headers[Int(rng.next() % UInt64(headers.count))]
            return h + [UInt8(body.count)] + body
        default:
            let h = headers[Int(rng.next() % UInt64(headers.count))]
            // A well-formed Lc with an occasional Le.
            return h + [UInt8(body.count)] + body + (rng.next() % 2 == 0 ? [0x08] : [])
        }
    }

    @Test("random APDUs never crash the card and never move money, counters or logs")
    func fuzz() throws {
        var rng = SplitMix64(seed: 2026)
        let card = TestKeys.card(balanceFen: 5000)
        let d = Driver(card: card)
        try d.selectPurse()
        let before = card.state
        for i in 0..<50_000 {
            if i % 97 == 0 { try d.selectPurse() }
            let command = Self.randomCommand(&rng)
            let r = card.respond(to: command)
            #expect(r.count >= 2)
            let s = card.state
            #expect(s.balanceFen == before.balanceFen)
            #expect(s.onlineCounter == before.onlineCounter && s.offlineCounter == before.offlineCounter)
            #expect(s.transactionLog == before.transactionLog && s.tripLog == before.tripLog)
            #expect(s.issuerInfo == before.issuerInfo && s.blocked == before.blocked)
            if s.balanceFen != before.balanceFen { break }
        }
        // The card still works after the storm (PIN tries may have been spent).
        card.reset()
        try d.selectPurse()
        try d.purchase(100)
        #expect(card.state.balanceFen == 4900)
    }
}
