import ArgumentParser
import City
import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardPCSC
import PSAMCard
import Storage
import Terminal
import VirtualReader

/// `onecard bench-tap` (hidden): tap latency, card presented → result journaled, for a bus
/// validator with a real SQLite journal, in-process and through pcscd + vpcd. The numbers go to
/// docs/performance.md.
struct BenchTapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-tap",
        abstract: "Measure tap latency in-process and through pcscd + vpcd (needs pcscd with the virtual reader).",
        shouldDisplay: false)

    /// The most taps one card file holds before its balance runs out (1 yuan per tap).
    static let countMax = 900

    @Option(help: "Taps per measurement.")
    var count = 300
    @Option(help: "The city file.")
    var city = "config/city-xian.json"
    @Option(help: "Where the benchmark's journals go.")
    var dir = NSTemporaryDirectory()

    func validate() throws {
        guard (10...Self.countMax).contains(count) else { throw ValidationError("--count must be 10...\(Self.countMax)") }
    }

    func run() throws {
        try reporting {
            let city = try City.loadForCLI(self.city)
            var rng = SystemRandomNumberGenerator()
            var keys: [KeyRole: TripleDESKey] = [:]
            for role in KeyRole.allCases { keys[role] = try TripleDESKey(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
            let keyset = Keyset(keyVersion: KeyVersion(rawValue: 1), masterKeys: keys)
            print("tap latency, bus validator 710002000501, SQLite journal (synchronous=FULL), \(count) taps each")
            let terminal = TerminalID(hex: "710002000501")!
            let local = try card(keyset)
            report("in-process, software SAM (test double)", try measure(keyset, city, "inproc", sam: { journal in
                try SoftwareSAM(keyset: keyset.restricted(to: [.purchase]), terminal: terminal) { try journal.nextSequence() }
            }) { InProcessChannel(card: local) })
            let localPSAM = psam(keyset, terminal)
            let local2 = try card(keyset)
            report("in-process, PSAM", try measure(keyset, city, "inproc-psam", sam: { _ in
                try PSAMModule(channel: InProcessChannel(card: localPSAM))
            }) { InProcessChannel(card: local2) })
            let remote = try card(keyset)
            let context = try PCSCContext()
            let cardReader = VirtualReader(card: remote, endpoint: .slot0)
            let psamReader = VirtualReader(card: psam(keyset, terminal), endpoint: .slot1)
            for r in ["Virtual PCD 00 00", "Virtual PCD 00 01"] { _ = try context.waitForCard(in: r, present: false, timeout: .seconds(2)) }
            try cardReader.insert()
            try psamReader.insert()
            defer {
                cardReader.remove()
                psamReader.remove()
            }
            for r in ["Virtual PCD 00 00", "Virtual PCD 00 01"] { _ = try context.waitForCard(in: r, timeout: .seconds(3)) }
            let psamChannel = try context.connect(reader: "Virtual PCD 00 01")
            report("through pcscd + vpcd: card slot 0, PSAM slot 1", try measure(keyset, city, "pcsc", sam: { _ in
                try PSAMModule(channel: psamChannel)
            }) { try context.connect(reader: "Virtual PCD 00 00") })
        }
    }

    private func psam(_ keyset: Keyset, _ terminal: TerminalID) -> PSAMCard {
        PSAMCard(state: PSAMState(
            serial: [0, 0] + terminal.bytes + [0, 0], terminal: terminal, purchaseKeys: [0x01: try! keyset.masterKey(.purchase)],
            start: BCDDate(year: 2020, month: 1, day: 1)!, expiry: BCDDate(year: 2099, month: 12, day: 31)!))
    }

    private func card(_ keyset: Keyset) throws -> EPurseCard {
        let info = IssuerInfo(
            issuer: IssuerID(rawValue: 0x7100_0000_0000_0001), serialPrefix: 0x7100, serial: CardSerial(rawValue: 0x7100_FFFF_0000_0001),
            startDate: BCDDate(year: 2020, month: 1, day: 1)!, expiryDate: BCDDate(year: 2099, month: 12, day: 31)!,
            cardType: .adult, depositFlag: 0)
        var state = try CardState.personalise(keyset: keyset, info: info)
        state.balanceFen = CardState.balanceMaxFenDefault
        return EPurseCard(state: state)
    }

    /// Taps `count` times, ten minutes apart in card time (no transfer, no repeat-tap rule).
    private func measure<C: CardChannel>(
        _ keyset: Keyset, _ city: City, _ name: String, sam makeSAM: (SQLiteJournal) throws -> any SAM, _ open: () throws -> C
    ) throws -> [Double] {
        let path = "\(dir)/onecard-bench-tap-\(name)-\(getpid()).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } }
        let terminal = TerminalID(hex: "710002000501")!
        let journal = try SQLiteJournal(path: path, terminal: terminal, operatorID: 2)
        let sam = try makeSAM(journal)
        let tap = try TapTerminal(city: city, terminal: terminal, sam: sam, journal: journal)
        var at = BCDDateTime(iso: "2026-11-29T00:00:00")!.secondsSinceEpoch
        var samples: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<count {
            at += 600
            var result: TapResult?
            let elapsed = try clock.measure {
                var channel = try open()
                result = try tap.tap(&channel, at: BCDDateTime(secondsSinceEpoch: at))
            }
            guard result?.outcome == .approved else { throw CLIError("benchmark tap not approved: \(result?.reason ?? "?")") }
            samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
        }
        return samples.sorted()
    }

    private func report(_ name: String, _ sorted: [Double]) {
        func pct(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] / 1000 }
        print(name.padding(toLength: 50, withPad: " ", startingAt: 0)
            + String(format: "p50 %7.2f ms   p99 %7.2f ms", pct(0.50), pct(0.99)))
    }
}
