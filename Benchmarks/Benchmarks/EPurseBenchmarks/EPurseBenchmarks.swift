import Benchmark
import EPurse
import OneCardCore
import OneCardCrypto
import Terminal

/// The card emulator's speed: raw APDUs per second and whole purchases per second, in-process.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    // Fixed, non-secret benchmark keys.
    let keyset = Keyset(
        keyVersion: KeyVersion(rawValue: 1),
        masterKeys: [
            .purchase: try! TripleDESKey(hex: "0123456789ABCDEFFEDCBA9876543210"),
            .load: try! TripleDESKey(hex: "11111111111111112222222222222222"),
            .tac: try! TripleDESKey(hex: "33333333333333334444444444444444"),
            .maintenance: try! TripleDESKey(hex: "55555555555555556666666666666666"),
        ])
    let info = IssuerInfo(
        issuer: IssuerID(rawValue: 1), serialPrefix: 0x7100, serial: CardSerial(rawValue: 0x2000_0000_0000_0001),
        startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2035-12-31")!, cardType: .adult, depositFlag: 0)
    let at = BCDDateTime(iso: "2026-11-29T08:15:00")!

    func freshCard() -> EPurseCard {
        var s = try! CardState.personalise(keyset: keyset, info: info)
        s.balanceFen = 100_000
        return EPurseCard(state: s)
    }

    Benchmark("emulator GET BALANCE APDU") { benchmark in
        let card = freshCard()
        _ = card.respond(to: PurseCommand.selectPurse.bytes)
        let command = PurseCommand.getBalance.bytes
        var n = 0
        for _ in benchmark.scaledIterations { n &+= card.respond(to: command).count }
        blackHole(n)
    }

    Benchmark("emulator purchase (SELECT, READ 0x15, INITIALIZE, DEBIT, SAM MAC1/MAC2)") { benchmark in
        var sequence: UInt32 = 0
        let sam = try! SoftwareSAM(keyset: keyset, terminal: TerminalID(hex: "010100000001")!, nextSequence: {
            sequence &+= 1
            return TerminalSequence(rawValue: sequence)
        })
        var card = freshCard()
        var channel = InProcessChannel(card: card)
        for _ in benchmark.scaledIterations {
            if card.state.balanceFen < 1 || card.state.offlineCounter.rawValue == .max {
                card = freshCard()
                channel = InProcessChannel(card: card)
            }
            blackHole(try! PurseFlows.purchase(&channel, sam: sam, amountFen: 1, at: at))
        }
    }
}
