import Benchmark
import OneCardCore
import OneCardCrypto

/// Throughput of the purse cryptography: the floor under every tap and every clearing check.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    // A fixed, non-secret benchmark key (not a production key).
    let tacMaster = try! TripleDESKey(hex: "0123456789ABCDEFFEDCBA9876543210")
    let terminal = TerminalID(hex: "000001000050")!
    let at = BCDDateTime(iso: "2026-11-29T08:15:00")!
    let dateTime = TripleDESPurse.packedDateTime(at)

    Benchmark("TAC verify with per-card diversification") { benchmark in
        var ok = 0
        for i in benchmark.scaledIterations {
            let serial = CardSerial(rawValue: 0x2000_0000_0000_0000 | UInt64(i))
            let key = TripleDESPurse.tacKey(tacMaster: tacMaster, serial: serial)
            let tac = TripleDESPurse.purchaseTAC(
                tacKey: key, amountFen: 200, typeByte: 0x06, terminal: terminal.rawValue,
                terminalSequence: UInt32(truncatingIfNeeded: i), dateTimeBCD: dateTime)
            if tac != 0 { ok += 1 }
        }
        blackHole(ok)
    }

    Benchmark("purchase TAC, key cached") { benchmark in
        let key = TripleDESPurse.tacKey(tacMaster: tacMaster, serial: CardSerial(rawValue: 42))
        var x: UInt32 = 0
        for i in benchmark.scaledIterations {
            x ^= TripleDESPurse.purchaseTAC(
                tacKey: key, amountFen: UInt32(truncatingIfNeeded: i), typeByte: 0x06, terminal: terminal.rawValue,
                terminalSequence: 1, dateTimeBCD: dateTime)
        }
        blackHole(x)
    }

    Benchmark("purchase MAC1 (session key + MAC over 18 bytes)") { benchmark in
        let dpk = TripleDESPurse.diversify(master: tacMaster, serial: CardSerial(rawValue: 7))
        var x: UInt32 = 0
        for i in benchmark.scaledIterations {
            let k = TripleDESPurse.purchaseSessionKey(
                dpk: dpk, random: UInt32(truncatingIfNeeded: i), offlineCounter: PurseCounter(rawValue: 1),
                terminalSequence: TerminalSequence(rawValue: 1))
            x ^= TripleDESPurse.purchaseMAC1(sessionKey: k, amountFen: 200, type: .epPurchase, terminal: terminal, at: at)
        }
        blackHole(x)
    }

    Benchmark("3DES block") { benchmark in
        var b: UInt64 = 1
        for _ in benchmark.scaledIterations { b = tacMaster.encrypt(b) }
        blackHole(b)
    }
}
