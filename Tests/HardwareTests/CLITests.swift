import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import PSAMCard
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

        @Test("`tap` charges the card in slot 0 with the terminal's PSAM in slot 1; without its PSAM, or with another's, it refuses to start")
        func tapOnPSAM() throws {
            _ = try requirePCSCD()
            try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "\(Self.binary) is missing: run `swift build`")
            let dir = NSTemporaryDirectory() + "onecard-psam-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let info = IssuerInfo(
                issuer: IssuerID(rawValue: 1), serialPrefix: 0x7100, serial: CardSerial(rawValue: 0x7100_0000_0000_0B0B),
                startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2030-12-31")!, cardType: .adult, depositFlag: 1)
            var state = try CardState.personalise(keyset: TestKeysets.standard, info: info)
            state.balanceFen = 3000
            try CardFile.save(state, path: dir + "/card.json")
            func psam(_ terminal: String, _ name: String) throws {
                let t = TerminalID(hex: terminal)!
                let s = PSAMState(
                    serial: [0, 0] + t.bytes + [0, 0], terminal: t, purchaseKeys: [0x01: try TestKeysets.standard.masterKey(.purchase)],
                    start: BCDDate("2026-01-01")!, expiry: BCDDate("2036-01-01")!, sequence: 500)
                try AtomicFile.write(PSAMFile.encode(s), to: dir + "/" + name)
            }
            try psam("710002000501", "bus5.json")
            try psam("710002021501", "bus215.json")
            let tap = ["tap", "--reader", Slot.zero, "--city", TestPaths.city, "--terminal", "710002000501", "--journal", dir + "/bus.sqlite",
                       "--once", "--json", "--at", "2026-11-29T08:00:00"]
            let card = try start(["card", "emulate", "--card", dir + "/card.json", "--remove-after", "12"])
            defer { card.process.terminate(); card.process.waitUntilExit() }
            let noPSAM = try start(tap)
            noPSAM.process.waitUntilExit()
            #expect(noPSAM.process.terminationStatus != 0)
            var other = try start(["psam", "emulate", "--psam", dir + "/bus215.json", "--remove-after", "3"])
            Thread.sleep(forTimeInterval: 1.0)
            let wrong = try start(tap + ["--psam-reader", Slot.one], errors: true)
            wrong.process.waitUntilExit()
            #expect(wrong.process.terminationStatus != 0)
            #expect(wrong.errors().contains("personalised for terminal 710002021501"), "\(wrong.errors())")
            other.process.waitUntilExit()
            other = try start(["psam", "emulate", "--psam", dir + "/bus5.json", "--remove-after", "4"])
            Thread.sleep(forTimeInterval: 1.0)
            let ok = try start(tap + ["--psam-reader", Slot.one])
            ok.process.waitUntilExit()
            let line = ok.output()
            #expect(ok.process.terminationStatus == 0)
            #expect(line.contains("\"result\":\"approved\"") && line.contains("\"terminalSequence\":501"), "\(line)")
            other.process.waitUntilExit()
            let saved = try PSAMFile.decode(try Data(contentsOf: URL(fileURLWithPath: dir + "/bus5.json")), source: "bus5.json")
            #expect(saved.sequence == 501, "the PSAM saved its sequence before answering")
        }

        @Test("a running `tap` on a hotlist store picks up a delta applied while it runs: the next tap of the newly listed card is declined")
        func tapPicksUpHotlistDelta() throws {
            let pcsc = try requirePCSCD()
            try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "\(Self.binary) is missing: run `swift build`")
            let dir = NSTemporaryDirectory() + "onecard-hotlist-tap-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            func card(_ serial: UInt64, _ name: String) throws {
                let info = IssuerInfo(
                    issuer: IssuerID(rawValue: 1), serialPrefix: 0x7100, serial: CardSerial(rawValue: serial),
                    startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2030-12-31")!, cardType: .adult, depositFlag: 1)
                var state = try CardState.personalise(keyset: TestKeysets.standard, info: info)
                state.balanceFen = 3000
                try CardFile.save(state, path: dir + "/" + name)
            }
            try card(0x7100_0000_0000_0C01, "a.json")
            try card(0x7100_0000_0000_0C02, "b.json")
            let t = TerminalID(hex: "710002000501")!
            let psamState = PSAMState(
                serial: [0, 0] + t.bytes + [0, 0], terminal: t, purchaseKeys: [0x01: try TestKeysets.standard.masterKey(.purchase)],
                start: BCDDate("2026-01-01")!, expiry: BCDDate("2036-01-01")!, sequence: 900)
            try AtomicFile.write(PSAMFile.encode(psamState), to: dir + "/psam.json")
            // Version 1 lists another card; version 2 adds card B. The store starts at version 1.
            func hotlistJSON(_ cards: [String], _ name: String) throws {
                let entries = cards.map { "{\"card\":\"\($0)\",\"since\":\"2026-11-01T00:00:00\"}" }.joined(separator: ",")
                try Data("{\"format\":\"onecard-hotlist/1\",\"cards\":[\(entries)]}".utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
            }
            try hotlistJSON(["7100000000000FFF"], "v1.json")
            try hotlistJSON(["7100000000000FFF", "7100000000000C02"], "v2.json")
            for args in [["compile", "--input", dir + "/v1.json", "--version", "1", "--out", dir + "/store.ochl"],
                         ["compile", "--input", dir + "/v2.json", "--version", "2", "--out", dir + "/v2.ochl"],
                         ["delta", "--from", dir + "/store.ochl", "--to", dir + "/v2.ochl", "--out", dir + "/delta.ochl"]] {
                let p = try start(["terminal", "hotlist"] + args)
                p.process.waitUntilExit()
                #expect(p.process.terminationStatus == 0, "terminal hotlist \(args[0])")
            }
            _ = try? pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(5))
            let psam = try start(["psam", "emulate", "--psam", dir + "/psam.json", "--remove-after", "25"])
            defer { psam.process.terminate(); psam.process.waitUntilExit() }
            _ = try pcsc.waitForCard(in: Slot.one, timeout: .seconds(5))
            let tap = try start(["tap", "--reader", Slot.zero, "--city", TestPaths.city, "--terminal", "710002000501", "--journal", dir + "/bus.sqlite",
                                 "--psam-reader", Slot.one, "--hotlist", dir + "/store.ochl", "--json", "--at", "2026-11-29T08:00:00"], errors: true)
            defer { if tap.process.isRunning { kill(tap.process.processIdentifier, SIGKILL) } }
            Thread.sleep(forTimeInterval: 1.0)
            // Card A taps on version 1.
            let a = try start(["card", "emulate", "--card", dir + "/a.json", "--remove-after", "3"])
            a.process.waitUntilExit()
            // The delta is applied while `tap` runs.
            let apply = try start(["terminal", "hotlist", "apply", "--store", dir + "/store.ochl", "--delta", dir + "/delta.ochl"])
            apply.process.waitUntilExit()
            #expect(apply.process.terminationStatus == 0)
            Thread.sleep(forTimeInterval: 1.5)
            let b = try start(["card", "emulate", "--card", dir + "/b.json", "--remove-after", "3"])
            b.process.waitUntilExit()
            Thread.sleep(forTimeInterval: 0.5)
            // SIGKILL: a child started from a test's worker thread inherits its blocked signals,
            // so SIGTERM would wait.
            kill(tap.process.processIdentifier, SIGKILL)
            tap.process.waitUntilExit()
            let lines = tap.output().split(separator: "\n").map(String.init)
            #expect(lines.count == 2, "\(lines)")
            #expect(lines.first?.contains("\"result\":\"approved\"") == true && lines.first?.contains("7100000000000C01") == true, "\(lines)")
            #expect(lines.last?.contains("\"result\":\"declined\"") == true && lines.last?.contains("hotlist") == true
                    && lines.last?.contains("7100000000000C02") == true, "\(lines)")
            #expect(tap.errors().contains("hotlist version 2"), "\(tap.errors())")
        }

        @Test("a PSAM whose file cannot be saved leaves the reader without answering: no sequence is handed out unsaved")
        func psamSaveFailure() throws {
            let pcsc = try requirePCSCD()
            try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "\(Self.binary) is missing: run `swift build`")
            let dir = NSTemporaryDirectory() + "onecard-psam-save-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let t = TerminalID(hex: "710002000501")!
            let state = PSAMState(
                serial: [0, 0] + t.bytes + [0, 0], terminal: t, purchaseKeys: [0x01: try TestKeysets.standard.masterKey(.purchase)],
                start: BCDDate("2026-01-01")!, expiry: BCDDate("2036-01-01")!, sequence: 7)
            try AtomicFile.write(PSAMFile.encode(state), to: dir + "/p.json")
            // An earlier test's PSAM must have left slot 1 first.
            _ = try? pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(5))
            let emulator = try start(["psam", "emulate", "--psam", dir + "/p.json", "--remove-after", "6"])
            _ = try pcsc.waitForCard(in: Slot.one, timeout: .seconds(3))
            // The PSAM file's directory disappears: the next save cannot happen.
            try FileManager.default.removeItem(atPath: dir)
            let ch = try pcsc.connect(reader: Slot.one)
            _ = try ch.transmit(CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x00, p2: 0x00, data: [0x80, 0x11]))
            var cmd: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 0, 0, 100, 0x06] + BCDDateTime(iso: "2026-11-29T08:00:00")!.bcd + [0x01, 0x00]
            cmd += [0x71, 0, 0, 0, 0, 0, 0, 1]
            let answer = Result { try ch.transmit(CommandAPDU(cla: 0x80, ins: 0x70, p1: 0, p2: 0, data: cmd, le: 8)) }
            emulator.process.waitUntilExit()
            #expect(emulator.process.terminationStatus == 75)
            if case .success(let r) = answer { Issue.record("the PSAM answered \(r) although its sequence was not saved") }
            _ = try? pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(3))
        }

        struct Child {
            let process: Process
            let pipe: Pipe
            let errorPipe: Pipe?
            func output() -> String { String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
            func errors() -> String { errorPipe.map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) } ?? "" }
        }

        private func start(_ arguments: [String], errors: Bool = false) throws -> Child {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.binary)
            p.arguments = arguments
            let pipe = Pipe()
            p.standardOutput = pipe
            let errorPipe = errors ? Pipe() : nil
            if let errorPipe { p.standardError = errorPipe } else { p.standardError = FileHandle.nullDevice }
            try p.run()
            return Child(process: p, pipe: pipe, errorPipe: errorPipe)
        }
    }
}
