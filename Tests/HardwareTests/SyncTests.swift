import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import PSAMCard
import Storage
import Terminal
import Testing
import UploadBatch

extension HardwareSuite {
    /// `onecard terminal sync` against a real `onecard serve`, the batch signed by the PSAM in
    /// the virtual reader.
    @Suite("terminal sync: upload through the front-end, then signed parameters")
    struct SyncTests {
        static let binary = TestPaths.onecard

        func run(_ arguments: [String], errors: Bool = false) throws -> (status: Int32, out: String, err: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : Self.binary)
            p.arguments = arguments[0].hasPrefix("/") ? Array(arguments.dropFirst()) : arguments
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }

        @Test("a tapped purchase is uploaded and marked uploaded only after the acknowledgement; the hotlist store and city file follow the centre, by delta; a foreign signing key changes nothing")
        func syncDay() throws {
            let pcsc = try requirePCSCD()
            try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "\(Self.binary) is missing: run `swift build`")
            let dir = NSTemporaryDirectory() + "onecard-sync-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try TestKeysets.standard.exportJSON().write(to: URL(fileURLWithPath: dir + "/keys.json"))
            let info = IssuerInfo(
                issuer: IssuerID(rawValue: 1), serialPrefix: 0x7100, serial: CardSerial(rawValue: 0x7100_0000_0000_0D01),
                startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2030-12-31")!, cardType: .adult, depositFlag: 1)
            var card = try CardState.personalise(keyset: TestKeysets.standard, info: info)
            card.balanceFen = 3000
            try CardFile.save(card, path: dir + "/card.json")
            let t = TerminalID(hex: "710002000501")!
            let psam = PSAMState(
                serial: [0, 0] + t.bytes + [0, 0], terminal: t, purchaseKeys: [0x01: try TestKeysets.standard.masterKey(.purchase)],
                start: BCDDate("2026-01-01")!, expiry: BCDDate("2036-01-01")!, sequence: 700,
                uploadKey: BatchFile.uploadKey(batchMaster: try TestKeysets.standard.masterKey(.batch), terminal: t))
            try AtomicFile.write(PSAMFile.encode(psam), to: dir + "/psam.json")
            for args in [["/usr/bin/openssl", "genpkey", "-algorithm", "ed25519", "-out", dir + "/param.pem"],
                         ["/usr/bin/openssl", "pkey", "-in", dir + "/param.pem", "-pubout", "-out", dir + "/param.pub"],
                         ["/usr/bin/openssl", "genpkey", "-algorithm", "ed25519", "-out", dir + "/other.pem"],
                         ["/usr/bin/openssl", "pkey", "-in", dir + "/other.pem", "-pubout", "-out", dir + "/other.pub"]] {
                #expect(try run(args).status == 0, "openssl \(args[1]) (scripts/install-deps.sh installs openssl)")
            }
            let db = dir + "/c.sqlite"
            #expect(try run(["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"]).status == 0)
            #expect(try run(["clearing", "hotlist", "add", "--db", db, "--card", "7100000000000FFF", "--since", "2026-11-01T00:00:00"]).status == 0)

            // The server, its address from its first line.
            let server = Process()
            server.executableURL = URL(fileURLWithPath: Self.binary)
            server.arguments = ["serve", "--db", db, "--keys", dir + "/keys.json", "--listen", "127.0.0.1:0", "--parameter-key", dir + "/param.pem",
                                "--received-at", "2026-11-29T23:00:00"]
            let serverOut = Pipe()
            server.standardOutput = serverOut
            server.standardError = FileHandle.nullDevice
            try server.run()
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            var first = Data()
            while !first.contains(UInt8(ascii: "\n")) {
                let chunk = serverOut.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                first += chunk
            }
            let address = String(decoding: first, as: UTF8.self).replacingOccurrences(of: "listening on ", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
            try #require(address.hasPrefix("127.0.0.1:"), "serve printed \(address)")

            _ = try? pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(5))
            let psamEmulator = Process()
            psamEmulator.executableURL = URL(fileURLWithPath: Self.binary)
            psamEmulator.arguments = ["psam", "emulate", "--psam", dir + "/psam.json", "--remove-after", "40"]
            psamEmulator.standardOutput = FileHandle.nullDevice
            try psamEmulator.run()
            defer { kill(psamEmulator.processIdentifier, SIGKILL); psamEmulator.waitUntilExit() }
            _ = try pcsc.waitForCard(in: Slot.one, timeout: .seconds(5))

            // One purchase on the card through the PSAM.
            let cardEmulator = Process()
            cardEmulator.executableURL = URL(fileURLWithPath: Self.binary)
            cardEmulator.arguments = ["card", "emulate", "--card", dir + "/card.json", "--remove-after", "4"]
            cardEmulator.standardOutput = FileHandle.nullDevice
            try cardEmulator.run()
            let journal = dir + "/bus.sqlite"
            let tap = try run(["tap", "--reader", Slot.zero, "--city", TestPaths.city, "--terminal", t.description, "--journal", journal,
                               "--psam-reader", Slot.one, "--once", "--json", "--at", "2026-11-29T08:00:00"])
            cardEmulator.waitUntilExit()
            #expect(tap.status == 0 && tap.out.contains("\"result\":\"approved\""), "\(tap.out) \(tap.err)")

            let sync = ["terminal", "sync", "--journal", journal, "--psam-reader", Slot.one, "--parameter-key", dir + "/param.pub",
                        "--hotlist", dir + "/store.ochl", "--city-out", dir + "/city.json", "--at", "2026-11-29T22:00:00", "--json"]
            // Nobody listening: an error, and the batch stays unacknowledged.
            let down = try run(sync + ["--server", "http://127.0.0.1:1"])
            #expect(down.status != 0 && down.err.contains("nothing is marked uploaded"), "\(down.err)")
            let pending = try SQLiteJournal(existing: journal).unacknowledged()
            #expect(pending.batches == 1 && pending.records == 1)

            let up = try run(sync + ["--server", "http://\(address)"])
            #expect(up.status == 0, "\(up.err)")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(up.out.utf8)) as? [String: Any], "\(up.out)")
            let batches = try #require(summary["batches"] as? [[String: Any]])
            #expect(batches.count == 1 && batches.first?["accepted"] as? Int == 1 && batches.first?["status"] as? String == "cleared", "\(batches)")
            #expect(summary["hotlistVersion"] as? Int == 2 && summary["hotlistCards"] as? Int == 1, "\(up.out)")
            #expect(summary["cityVersion"] as? Int == 1 && summary["cityChanged"] as? Bool == true, "\(up.out)")
            let left = try SQLiteJournal(existing: journal).unacknowledged()
            #expect(left.batches == 0 && left.records == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/city.json")) == Data(contentsOf: URL(fileURLWithPath: TestPaths.city)))
            #expect(try HotlistStore(path: dir + "/store.ochl").contains(CardSerial(rawValue: 0x7100_0000_0000_0FFF)))
            // The centre has the purchase once.
            let check = try run(["clearing", "check", "--db", db, "--json"])
            #expect(check.status == 0, "\(check.out)")

            // Nothing new: no batch; the centre's hotlist grows by one card, which comes as a delta.
            #expect(try run(["clearing", "hotlist", "add", "--db", db, "--card", "7100000000000D01"]).status == 0)
            let again = try run(sync + ["--server", "http://\(address)"])
            #expect(again.status == 0, "\(again.err)")
            let s2 = try #require(try JSONSerialization.jsonObject(with: Data(again.out.utf8)) as? [String: Any], "\(again.out)")
            #expect((s2["batches"] as? [Any])?.isEmpty == true && s2["hotlistVersion"] as? Int == 3 && s2["cityChanged"] as? Bool == false, "\(again.out)")
            let store = try HotlistStore(path: dir + "/store.ochl")
            #expect(store.version == 3 && store.contains(CardSerial(rawValue: 0x7100_0000_0000_0D01)))

            // Parameters signed by a key the terminal does not trust are refused; the store stays.
            #expect(try run(["clearing", "hotlist", "remove", "--db", db, "--card", "7100000000000D01"]).status == 0)
            let foreign = try run(sync.map { $0 == dir + "/param.pub" ? dir + "/other.pub" : $0 } + ["--server", "http://\(address)"])
            #expect(foreign.status != 0 && foreign.err.contains("not the centre's key"), "\(foreign.err)")
            #expect(try HotlistStore(path: dir + "/store.ochl").version == 3)
        }
    }
}
