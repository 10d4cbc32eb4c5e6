import Benchmark
import OneCardCore
import OneCardPCSC
import VirtualReader

// APDU round trips through the real pcscd + vpcd on loopback. Needs pcscd running with
// OneCard's reader config (Hardware/scripts/pcscd-start.sh). Without the benchmark package:
// `onecard bench-pcsc --count 20000` prints the same p50/p99 (docs/performance.md).
//
// Target to add to Benchmarks/Package.swift (dependencies: Benchmark, OneCardCore,
// OneCardPCSC, VirtualReader; path Benchmarks/PCSCBenchmarks; the BenchmarkPlugin).

/// The benchmark's card: SELECT → 9000, GET BALANCE → 4 bytes ‖ 9000. It costs nothing, so
/// the numbers are the PC/SC stack's.
private final class BenchCard: CardResponder {
    static let aid: [UInt8] = [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05]
    let atr: [UInt8] = [0x3B, 0x80, 0x80, 0x01, 0x01]
    func reset() {}
    func powerOff() {}
    func respond(to command: [UInt8]) -> [UInt8] {
        guard command.count >= 4 else { return [0x67, 0x00] }
        switch (command[0], command[1]) {
        case (0x00, 0xA4): return [0x90, 0x00]
        case (0x80, 0x5C): return [0x00, 0x00, 0x30, 0x39, 0x90, 0x00]
        default: return [0x6D, 0x00]
        }
    }
}

/// One virtual card in slot 1 and one connection to it, shared by every run.
private final class PCSCFixture: @unchecked Sendable {
    // @unchecked: used by the benchmark runner's one thread; setup and teardown bracket it.
    static let readerName = "Virtual PCD 00 01"
    let virtual = VirtualReader(card: BenchCard(), endpoint: .slot1)
    var context: PCSCContext?
    var card: PCSCCard?

    func insert() throws {
        let context = try PCSCContext()
        try virtual.insert()
        _ = try context.waitForCard(in: Self.readerName, timeout: .seconds(3))
        card = try context.connect(reader: Self.readerName)
        self.context = context
    }

    func remove() {
        try? card?.disconnect()
        card = nil
        virtual.remove()
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        maxDuration: .seconds(3)
    )
    let fixture = PCSCFixture()
    let select = CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: BenchCard.aid, le: 256)
    let getBalance = CommandAPDU(cla: 0x80, ins: 0x5C, p1: 0x00, p2: 0x02, le: 4)
    let getBalanceBytes = getBalance.bytes

    Benchmark(
        "PC/SC GET BALANCE round trip (pcscd + vpcd)",
        closure: { benchmark in
            guard let card = fixture.card else { return }
            for _ in benchmark.scaledIterations { blackHole(try card.transmitRaw(getBalanceBytes)) }
        },
        setup: { try fixture.insert() },
        teardown: { fixture.remove() }
    )

    Benchmark(
        "PC/SC SELECT + GET BALANCE (pcscd + vpcd)",
        closure: { benchmark in
            guard let card = fixture.card else { return }
            for _ in benchmark.scaledIterations {
                blackHole(try card.transmit(select))
                blackHole(try card.transmit(getBalance))
            }
        },
        setup: { try fixture.insert() },
        teardown: { fixture.remove() }
    )
}
