import ArgumentParser
import Foundation
import OneCardCore
import OneCardPCSC
import VirtualReader

/// `onecard bench-pcsc --count N` (hidden): APDU round trips through pcscd and vpcd on
/// loopback, p50/p99, without the Benchmarks package. The numbers go to docs/performance.md.
struct BenchPCSCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-pcsc",
        abstract: "Measure APDU round trips through pcscd + vpcd (needs pcscd with the virtual reader).",
        shouldDisplay: false
    )

    /// The most samples one run takes.
    static let countMax = 1_000_000

    @Option(help: "Samples per measurement.")
    var count = 2000

    @Option(help: "vpcd slot for the benchmark card (0 or 1).")
    var slot = 1

    @Flag(help: "Leave TCP_NODELAY and TCP_QUICKACK off, to show what they save.")
    var noLowLatency = false

    func validate() throws {
        guard (1...Self.countMax).contains(count) else { throw ValidationError("--count must be 1...\(Self.countMax)") }
        guard slot == 0 || slot == 1 else { throw ValidationError("--slot must be 0 or 1") }
    }

    func run() throws {
        let endpoint: VPCDEndpoint = slot == 0 ? .slot0 : .slot1
        let readerName = slot == 0 ? "Virtual PCD 00 00" : "Virtual PCD 00 01"
        let virtual = VirtualReader(card: BenchCard(), endpoint: endpoint, lowLatency: !noLowLatency)
        let context = try PCSCContext()
        // A card removed from this slot a moment ago may not be gone for pcscd yet.
        _ = try context.waitForCard(in: readerName, present: false, timeout: .seconds(2))
        try virtual.insert()
        defer { virtual.remove() }
        _ = try context.waitForCard(in: readerName, timeout: .seconds(3))
        let card = try context.connect(reader: readerName)
        let select = CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: BenchCard.aid, le: 256)
        let balance = CommandAPDU(cla: 0x80, ins: 0x5C, p1: 0x00, p2: 0x02, le: 4)
        let balanceBytes = balance.bytes

        print("PC/SC round trips through pcscd + vpcd, \(count) samples each\(noLowLatency ? " (no TCP_NODELAY/QUICKACK)" : "")")
        report("GET BALANCE (1 APDU)", try measure { _ = try card.transmitRaw(balanceBytes) })
        report("SELECT + GET BALANCE", try measure {
            _ = try card.transmit(select)
            _ = try card.transmit(balance)
        })
        report("connect + SELECT + GET BALANCE + disconnect", try measure {
            let c = try context.connect(reader: readerName)
            _ = try c.transmit(select)
            _ = try c.transmit(balance)
            try c.disconnect()
        })
    }

    /// Runs `body` a tenth of `count` times to warm up, then `count` times; sorted µs.
    private func measure(_ body: () throws -> Void) throws -> [Double] {
        for _ in 0..<max(1, count / 10) { try body() }
        var samples: [Double] = []
        samples.reserveCapacity(count)
        let clock = ContinuousClock()
        for _ in 0..<count {
            let elapsed = try clock.measure(body)
            samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
        }
        return samples.sorted()
    }

    private func report(_ name: String, _ sorted: [Double]) {
        func pct(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let padded = name.padding(toLength: 46, withPad: " ", startingAt: 0)
        print(padded + String(format: "p50 %8.1f µs   p99 %8.1f µs   max %8.1f µs", pct(0.50), pct(0.99), sorted.last ?? 0))
    }
}

/// The benchmark's card: SELECT → 9000, GET BALANCE → 4 bytes ‖ 9000, nothing else. It
/// costs nothing, so the numbers are the PC/SC stack's.
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
