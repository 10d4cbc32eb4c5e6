import Benchmark
import City
import Clearing
import Foundation
import OneCardCore
import OneCardCrypto
import UploadBatch

/// The clearing engine's in-memory pipeline (sort, verify TAC, post), without storage:
/// a synthetic day of `tapCount` purchases on 200 bus terminals by `cardCount` cards, each card
/// loaded once at a service counter first.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .peakMemoryResident],
        scalingFactor: .one,
        maxDuration: .seconds(20),
        maxIterations: 5
    )
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let city = try! City.load(path: root.appendingPathComponent("config/city-xian.json").path)
    // Fixed, non-secret benchmark key.
    let tacMaster = try! TripleDESKey(hex: "33333333333333334444444444444444")

    for (cards, taps) in [(100_000, 1_000_000)] {
        let day = SyntheticDay(city: city, tacMaster: tacMaster, cardCount: cards, tapCount: taps)
        Benchmark("engine.run \(taps) taps, \(cards) cards (records/s)") { benchmark in
            for _ in benchmark.scaledIterations {
                let engine = ClearingEngine(config: ClearingConfig(city: city, tacMaster: tacMaster))
                benchmark.startMeasurement()
                let r = engine.run(day.batches)
                benchmark.stopMeasurement()
                precondition(r.summary.accepted == taps + cards, "accepted \(r.summary.accepted)")
                blackHole(r)
            }
        }
    }
}

struct SyntheticDay {
    var batches: [IncomingBatch] = []

    init(city: City, tacMaster: TripleDESKey, cardCount: Int, tapCount: Int) {
        let counter = TerminalID(hex: "710001000001")!
        let buses = city.terminals.values.filter { $0.location.operatorKind == .bus }.map(\.id).sorted()
        let created = TripleDESPurse.packedDateTime(BCDDateTime(iso: "2026-11-29T23:30:00")!)
        // Received at the end of the day, after every header time.
        let received = ClearingTime.seconds(BCDDateTime(iso: "2026-11-29T23:59:59")!)
        var loads: [BatchRecord] = []
        var perBus = [[BatchRecord]](repeating: [], count: buses.count)
        var rng = SystemRandomNumberGenerator()
        var offline = [UInt16](repeating: 0, count: cardCount)
        var balance = [UInt32](repeating: 0, count: cardCount)
        let morning = BCDDateTime(iso: "2026-11-29T06:00:00")!.secondsSinceEpoch
        for c in 0..<cardCount {
            let serial = CardSerial(rawValue: 0x2000_0000_0000_0000 | UInt64(c))
            let at = BCDDateTime(secondsSinceEpoch: morning)
            let key = TripleDESPurse.tacKey(tacMaster: tacMaster, serial: serial)
            let tac = TripleDESPurse.loadTAC(tacKey: key, newBalanceFen: 50_000, onlineCounter: PurseCounter(rawValue: 0), amountFen: 50_000, type: .epLoad, terminal: counter, at: at)
            loads.append(BatchRecord(kind: .load, transactionType: 2, serial: serial, cardType: 1, counter: 0, amountFen: 50_000, balanceBeforeFen: 0, balanceAfterFen: 50_000, terminal: counter, sequence: UInt32(c + 1), dateTimeBCD: TripleDESPurse.packedDateTime(at), tac: tac))
            balance[c] = 50_000
        }
        for t in 0..<tapCount {
            let c = t % cardCount
            let b = Int.random(in: 0..<buses.count, using: &rng)
            let serial = CardSerial(rawValue: 0x2000_0000_0000_0000 | UInt64(c))
            let at = TripleDESPurse.packedDateTime(BCDDateTime(secondsSinceEpoch: morning + 60 + Int64(t / cardCount) * 600))
            let seq = UInt32(perBus[b].count + 1)
            let tac = TripleDESPurse.purchaseTAC(tacKey: TripleDESPurse.tacKey(tacMaster: tacMaster, serial: serial), amountFen: 100, typeByte: 6, terminal: buses[b].rawValue, terminalSequence: seq, dateTimeBCD: at)
            perBus[b].append(BatchRecord(kind: .purchase, transactionType: 6, serial: serial, cardType: 1, counter: offline[c], amountFen: 100, balanceBeforeFen: balance[c], balanceAfterFen: balance[c] - 100, terminal: buses[b], sequence: seq, dateTimeBCD: at, tac: tac))
            offline[c] += 1
            balance[c] -= 100
        }
        batches.append(IncomingBatch(file: "counter", batch: BatchFile(header: BatchHeader(terminal: counter, operatorID: 1, sequence: 1, createdBCD: created), records: loads), received: received))
        for (i, bus) in buses.enumerated() {
            let op = city.terminal(bus)!.operatorID.rawValue
            batches.append(IncomingBatch(file: "\(bus)", batch: BatchFile(header: BatchHeader(terminal: bus, operatorID: op, sequence: 1, createdBCD: created), records: perBus[i]), received: received))
        }
    }
}
