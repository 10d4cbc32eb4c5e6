import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Testing

extension HardwareSuite {
    /// The `onecard` binary as an operator runs it, against the real pcscd.
    @Suite("The onecard CLI through pcscd")
    struct CLITests {
        static let binary = TestPaths.onecard

        @Test("`readers --watch` shows an emulated card coming and going, and `balance` reads it through pcscd")
        func watchAndBalance() throws {
            _ = try requirePCSCD()
            try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "\(Self.binary) is missing: run `swift build`")
            let dir = NSTemporaryDirectory() + "onecard-cli-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let info = IssuerInfo(
                issuer: IssuerID(rawValue: 1), serialPrefix: 0x7100, serial: CardSerial(rawValue: 0x2000_0000_0000_0A0A),
                startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2030-12-31")!, cardType: .senior, depositFlag: 0)
            var state = try CardState.personalise(keyset: TestKeysets.standard, info: info)
            state.balanceFen = 4321
            try CardFile.save(state, path: dir + "/card.json")

            let watch = try start(["readers", "--watch", "--json", "--seconds", "4"])
            Thread.sleep(forTimeInterval: 0.5)
            let emulator = try start(["card", "emulate", "--card", dir + "/card.json", "--connect", "127.0.0.1:35964", "--remove-after", "2"])
            Thread.sleep(forTimeInterval: 1.0)
            let balance = try start(["balance", "--reader", Slot.one, "--json"])
            balance.process.waitUntilExit()
            emulator.process.waitUntilExit()
            watch.process.waitUntilExit()

            let events = watch.output()
            #expect(events.contains("\"event\":\"cardInserted\"") && events.contains("3B8880014F4E45434152443168"), "\(events)")
            #expect(events.contains("\"event\":\"cardRemoved\""), "\(events)")
            let read = balance.output()
            #expect(read.contains("\"balanceFen\":4321") && read.contains("\"card\":\"2000000000000A0A\"") && read.contains("\"type\":\"senior\""), "\(read)")
            #expect(emulator.process.terminationStatus == 0)
        }

        struct Child {
            let process: Process
            let pipe: Pipe
            func output() -> String { String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        }

        private func start(_ arguments: [String]) throws -> Child {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.binary)
            p.arguments = arguments
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            return Child(process: p, pipe: pipe)
        }
    }
}
