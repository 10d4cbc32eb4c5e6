import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardPCSC
import OneCardTestSupport
import Terminal
import Testing

extension HardwareSuite {
    @Suite("kill -9 of the card emulator mid-traffic")
    struct CardFileCrashTests {
        /// How many times the emulator process is killed.
        static let killCountMax = 6
        static let fareFen: UInt32 = 100

        @Test("after every SIGKILL the card file is whole and holds the last acknowledged purchase, or one more whose answer was lost")
        func killLoop() throws {
            let pcsc = try requirePCSCD()
            let binary = TestPaths.onecard
            try #require(FileManager.default.isExecutableFile(atPath: binary), "\(binary) is missing: run `swift build`")
            let dir = NSTemporaryDirectory() + "onecard-cardkill-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = dir + "/card.json"
            let info = IssuerInfo(
                issuer: IssuerID(rawValue: 1), serialPrefix: 0x7100, serial: CardSerial(rawValue: 0x2000_0000_0000_0909),
                startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2030-12-31")!, cardType: .adult, depositFlag: 0)
            var state = try CardState.personalise(keyset: TestKeysets.standard, info: info)
            state.balanceFen = 100_000
            try CardFile.save(state, path: path)
            let sequence = Counter()
            let sam = try SoftwareSAM(keyset: TestKeysets.standard, terminal: TerminalID(hex: "710002000501")!) { sequence.next() }
            var acknowledgedBalance = state.balanceFen
            var purchases = 0
            for _ in 0..<Self.killCountMax {
                _ = try pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(3))
                let child = Process()
                child.executableURL = URL(fileURLWithPath: binary)
                child.arguments = ["card", "emulate", "--card", path, "--connect", "127.0.0.1:35964"]
                child.standardOutput = FileHandle.nullDevice
                child.standardError = FileHandle.nullDevice
                try child.run()
                _ = try pcsc.waitForCard(in: Slot.one, timeout: .seconds(5))
                let pid = child.processIdentifier
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int.random(in: 150...600))) { kill(pid, SIGKILL) }
                var channel = try pcsc.connect(reader: Slot.one)
                while let receipt = try? PurseFlows.purchase(&channel, sam: sam, amountFen: Self.fareFen, at: BCDDateTime(iso: "2026-11-29T08:00:00")!) {
                    acknowledgedBalance = receipt.balanceAfterFen
                    purchases += 1
                }
                child.waitUntilExit()
                let saved = try CardFile.load(path: path)  // whole: it decodes
                #expect(saved.balanceFen == acknowledgedBalance || saved.balanceFen == acknowledgedBalance - Self.fareFen,
                        "card file holds \(saved.balanceFen) fen, last acknowledged \(acknowledgedBalance)")
                #expect(UInt32(saved.offlineCounter.rawValue) * Self.fareFen == 100_000 - saved.balanceFen, "counter and balance disagree")
                acknowledgedBalance = saved.balanceFen
            }
            #expect(purchases > Self.killCountMax, "too few purchases between kills to prove anything")
        }
    }
}

/// A thread-safe terminal sequence for the test SAM.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt32 = 0
    func next() -> TerminalSequence {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return TerminalSequence(rawValue: value)
    }
}
