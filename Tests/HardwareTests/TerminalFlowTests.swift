import City
import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import OneCardPCSC
import PSAMCard
import Storage
import Terminal
import Testing
import UploadBatch
import VirtualReader

/// Fixed, non-production keys for the flow tests.
private let keyset = TestKeysets.standard
private let city = try! City.load(path: TestPaths.city)
private let counterID = TerminalID(hex: "710001000001")!

private func newCard(_ serial: UInt64) -> EPurseCard {
    let info = IssuerInfo(
        issuer: IssuerID(rawValue: 0x7100_0000_0000_0001), serialPrefix: 0x7100, serial: CardSerial(rawValue: serial),
        startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2030-12-31")!, cardType: .adult, depositFlag: 0)
    return EPurseCard(state: try! CardState.personalise(keyset: keyset, info: info))
}

private func at(_ iso: String) -> BCDDateTime { BCDDateTime(iso: iso)! }

/// A terminal's PSAM, personalised for it.
private func psamCard(_ hex: String) -> PSAMCard {
    let id = TerminalID(hex: hex)!
    return PSAMCard(state: PSAMState(
        serial: [0, 0] + id.bytes + [0, 0], terminal: id, purchaseKeys: [0x01: try! keyset.masterKey(.purchase)],
        maintenanceKeys: [0x01: try! keyset.masterKey(.maintenance)], start: BCDDate("2026-01-01")!, expiry: BCDDate("2036-01-01")!))
}

/// Where a fare terminal finds its PSAM: in process, or in slot 1 through pcscd.
private typealias PSAMSlot = (PSAMCard, (PSAMModule) throws -> TapResult) throws -> TapResult

private func inProcessPSAM() -> PSAMSlot { { card, body in try body(try PSAMModule(channel: InProcessChannel(card: card))) } }

/// The PSAM served into slot 1 through pcscd for one tap, then taken out.
private func psamInSlot1(_ pcsc: PCSCContext) -> PSAMSlot {
    { card, body in
        let reader = VirtualReader(card: card, endpoint: .slot1)
        try reader.insert()
        defer {
            reader.remove()
            _ = try? pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(3))
        }
        _ = try pcsc.waitForCard(in: Slot.one, timeout: .seconds(3))
        return try body(try PSAMModule(channel: try pcsc.connect(reader: Slot.one)))
    }
}

/// A fare terminal with a real SQLite journal in `dir`, on the PSAM it is given.
private func terminal(_ hex: String, in dir: String, sam: any SAM, gate: GateDirection = .entry) throws -> (TapTerminal, SQLiteJournal) {
    let id = TerminalID(hex: hex)!
    let journal = try SQLiteJournal(path: "\(dir)/\(hex).sqlite", terminal: id, operatorID: city.operator(ofTerminal: id)!.id.rawValue)
    return (try TapTerminal(city: city, terminal: id, sam: sam, journal: journal, gateDirection: gate), journal)
}

/// One rider's day, run over any channel factory: the same code in-process and through pcscd.
private func riderDay(_ dir: String, psam slot: PSAMSlot, _ channel: @escaping () throws -> any CardChannel) throws -> [TapResult] {
    let db = try IssuerDatabase(path: "\(dir)/issuer.sqlite", journal: "\(dir)/counter.sqlite", counterTerminal: counterID, operatorID: 1)
    let counter = try ServiceCounter(city: city, terminal: counterID, keyset: keyset, journal: IssuerCounterJournal(db))
    var c = try channel()
    _ = try counter.issue(&c, cardType: .student, at: at("2026-11-29T07:00:00"), firstLoadFen: 5000)
    let steps: [(String, GateDirection, String, Int64?)] = [
        ("710002000501", .entry, "2026-11-29T08:00:00", nil),   // bus line
        ("710003010101", .entry, "2026-11-29T08:20:00", nil),   // metro entry, transfer window open
        ("710003021101", .exit, "2026-11-29T08:45:00", nil),    // metro exit
        ("710004000001", .entry, "2026-11-29T12:00:00", 1350),  // taxi
        ("710005000001", .entry, "2026-11-29T18:00:00", 2000),  // gas counter
    ]
    return try steps.map { hex, gate, time, amount in
        try slot(psamCard(hex)) { psam in
            let (t, _) = try terminal(hex, in: dir, sam: psam, gate: gate)
            var ch = try channel()
            return try t.tap(&ch, at: at(time), enteredAmountFen: amount)
        }
    }
}

private func tempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "onecard-hw-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Wraps a card so that the reader loses the answer to DEBIT: the card debits, then the card
/// leaves the field before its answer is sent (a tear after DEBIT).
private final class TearAfterDebit: CardResponder {
    let inner: EPurseCard
    var onDebit: (() -> Void)?
    init(_ inner: EPurseCard) { self.inner = inner }
    var atr: [UInt8] { inner.atr }
    func reset() { inner.reset() }
    func powerOff() { inner.powerOff() }
    func respond(to command: [UInt8]) -> [UInt8] {
        let r = inner.respond(to: command)
        if command.count > 1, command[1] == 0x54, let tear = onDebit {
            onDebit = nil
            tear()
            Thread.sleep(forTimeInterval: 1.0)  // the socket is gone by now: the answer is lost
        }
        return r
    }
}

extension HardwareSuite {
    @Suite("Terminal flows through pcscd and vpcd")
    struct TerminalFlowTests {
        @Test("issue, load, bus, metro entry and exit with a transfer discount, taxi and gas, each terminal's PSAM in slot 1: the same results through pcscd as in-process")
        func riderDayThroughPCSC() throws {
            let pcsc = try requirePCSCD()
            let inDir = try tempDir(), hwDir = try tempDir()
            defer { try? FileManager.default.removeItem(atPath: inDir); try? FileManager.default.removeItem(atPath: hwDir) }
            let local = newCard(0x2000_0000_0000_0101)
            let expected = try riderDay(inDir, psam: inProcessPSAM()) { InProcessChannel(card: local) }
            let card = newCard(0x2000_0000_0000_0101)
            let virtual = VirtualReader(card: card, endpoint: .slot0)
            try virtual.insert()
            defer { virtual.remove(); _ = try? pcsc.waitForCard(in: Slot.zero, present: false, timeout: .seconds(2)) }
            _ = try pcsc.waitForCard(in: Slot.zero, timeout: .seconds(2))
            let got = try riderDay(hwDir, psam: psamInSlot1(pcsc)) { try pcsc.connect(reader: Slot.zero) }
            #expect(got.map(\.outcome) == Array(repeating: .approved, count: 5))
            #expect(got.map(\.amountFen) == expected.map(\.amountFen))
            #expect(got.map(\.balanceAfterFen) == expected.map(\.balanceAfterFen))
            #expect(got[2].fare?.transferDiscountFen ?? 0 > 0)
            // Same card memory both ways (MAC2 differs: the card's random numbers differ).
            #expect(card.state.transactionLog == local.state.transactionLog && card.state.tripLog == local.state.tripLog)
            #expect(card.state.compoundCache == local.state.compoundCache && card.state.issuerInfo == local.state.issuerInfo)
            // Student: bus 1.00 half price; metro 3.00 half price less the transfer; taxi and gas in full.
            #expect(got.map(\.amountFen) == [50, 0, 50, 1350, 2000])
            #expect(card.state.balanceFen == 5000 - 50 - 50 - 1350 - 2000)
        }

        @Test("a card torn after DEBIT through the real reader, the PSAM in slot 1, is recovered on its next tap, charged once, journaled once")
        func tearAfterDebit() throws {
            let pcsc = try requirePCSCD()
            let dir = try tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let card = newCard(0x2000_0000_0000_0202)
            var local = InProcessChannel(card: card)
            let db = try IssuerDatabase(path: "\(dir)/issuer.sqlite", journal: "\(dir)/counter.sqlite", counterTerminal: counterID, operatorID: 1)
            _ = try ServiceCounter(city: city, terminal: counterID, keyset: keyset, journal: IssuerCounterJournal(db))
                .issue(&local, cardType: .adult, at: at("2026-11-29T07:00:00"), firstLoadFen: 1000)
            let psam = VirtualReader(card: psamCard("710002000501"), endpoint: .slot1)
            try psam.insert()
            defer { psam.remove(); _ = try? pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(2)) }
            _ = try pcsc.waitForCard(in: Slot.one, timeout: .seconds(3))
            let (bus, journal) = try terminal("710002000501", in: dir, sam: try PSAMModule(channel: try pcsc.connect(reader: Slot.one)))
            let tearing = TearAfterDebit(card)
            let first = VirtualReader(card: tearing, endpoint: .slot0, reconnects: false)
            tearing.onDebit = { DispatchQueue.global().async { first.remove() } }
            try first.insert()
            _ = try pcsc.waitForCard(in: Slot.zero, timeout: .seconds(2))
            var ch = try pcsc.connect(reader: Slot.zero)
            let torn = try bus.tap(&ch, at: at("2026-11-29T08:00:00"))
            #expect(torn.outcome == .cardRemoved)
            #expect(card.state.balanceFen == 900)  // the card did debit
            #expect(try journal.grey(for: card.state.info!.serial) != nil)
            first.remove()
            _ = try pcsc.waitForCard(in: Slot.zero, present: false, timeout: .seconds(3))
            let second = VirtualReader(card: card, endpoint: .slot0)
            try second.insert()
            defer { second.remove(); _ = try? pcsc.waitForCard(in: Slot.zero, present: false, timeout: .seconds(2)) }
            _ = try pcsc.waitForCard(in: Slot.zero, timeout: .seconds(2))
            var again = try pcsc.connect(reader: Slot.zero)
            let recovered = try bus.tap(&again, at: at("2026-11-29T08:00:30"))
            #expect(recovered.outcome == .recovered)
            #expect(card.state.balanceFen == 900)
            #expect(try journal.grey(for: card.state.info!.serial) == nil)
            let records = try journal.records(limit: 10)
            #expect(records.filter { $0.kind == .purchase }.count == 1)
        }
    }
}

/// A PSAM pulled out of slot 1 when it receives the command `ins` (the answer is lost).
private final class PulledPSAM: CardResponder {
    let inner: PSAMCard
    let ins: UInt8
    var onPull: (() -> Void)?
    init(_ inner: PSAMCard, at ins: UInt8) {
        self.inner = inner
        self.ins = ins
    }
    var atr: [UInt8] { inner.atr }
    func reset() { inner.reset() }
    func powerOff() { inner.powerOff() }
    func respond(to command: [UInt8]) -> [UInt8] {
        if command.count > 1, command[1] == ins, let pull = onPull {
            onPull = nil
            pull()
            Thread.sleep(forTimeInterval: 1.0)  // the socket is gone: the answer is lost
        }
        return inner.respond(to: command)
    }
}

extension HardwareSuite {
    @Suite("The PSAM pulled out of slot 1 mid-tap, through pcscd")
    struct PSAMRemovedTests {
        @Test("pulled at INITIALIZE SAM FOR PURCHASE: nothing debited; pulled at CREDIT SAM: the debit is journaled with MAC2 unverified")
        func pulledMidTap() throws {
            let pcsc = try requirePCSCD()
            for (ins, debited) in [(UInt8(0x70), false), (0x72, true)] {
                let dir = try tempDir()
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let card = newCard(0x2000_0000_0000_0606 + UInt64(ins))
                var local = InProcessChannel(card: card)
                let db = try IssuerDatabase(path: "\(dir)/issuer.sqlite", journal: "\(dir)/counter.sqlite", counterTerminal: counterID, operatorID: 1)
                _ = try ServiceCounter(city: city, terminal: counterID, keyset: keyset, journal: IssuerCounterJournal(db))
                    .issue(&local, cardType: .adult, at: at("2026-11-29T07:00:00"), firstLoadFen: 1000)
                let pulled = PulledPSAM(psamCard("710002000501"), at: ins)
                let psamReader = VirtualReader(card: pulled, endpoint: .slot1, reconnects: false)
                pulled.onPull = { DispatchQueue.global().async { psamReader.remove() } }
                let cardReader = VirtualReader(card: card, endpoint: .slot0)
                try psamReader.insert()
                try cardReader.insert()
                defer {
                    cardReader.remove()
                    psamReader.remove()
                    _ = try? pcsc.waitForCard(in: Slot.zero, present: false, timeout: .seconds(3))
                    _ = try? pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(3))
                }
                _ = try pcsc.waitForCard(in: Slot.one, timeout: .seconds(3))
                _ = try pcsc.waitForCard(in: Slot.zero, timeout: .seconds(3))
                let (bus, journal) = try terminal("710002000501", in: dir, sam: try PSAMModule(channel: try pcsc.connect(reader: Slot.one)))
                var ch = try pcsc.connect(reader: Slot.zero)
                let result = Result { try bus.tap(&ch, at: at("2026-11-29T08:00:00")) }
                if debited {
                    let r = try result.get()
                    #expect(r.outcome == .approved)
                    #expect(card.state.balanceFen < 1000)
                    #expect(try journal.records(limit: 10).first?.flags.contains(.mac2Unverified) == true)
                } else {
                    #expect(throws: TerminalFault.self) { try result.get() }
                    #expect(card.state.balanceFen == 1000)
                    #expect(try journal.records(limit: 10).isEmpty && journal.grey(for: card.state.info!.serial) == nil)
                }
            }
        }
    }
}

extension HardwareSuite {
    @Suite("Service counter and hotlist through pcscd and vpcd")
    struct CounterFlowTests {
        @Test("a hotlisted card is refused and blocked; a replacement moves the balance once between two readers; a refund closes the card")
        func hotlistReplaceRefund() throws {
            let pcsc = try requirePCSCD()
            let dir = try tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let old = newCard(0x2000_0000_0000_0303), new = newCard(0x2000_0000_0000_0304)
            let a = VirtualReader(card: old, endpoint: .slot0), b = VirtualReader(card: new, endpoint: .slot1)
            try a.insert()
            try b.insert()
            defer {
                a.remove()
                b.remove()
                _ = try? pcsc.waitForCard(in: Slot.zero, present: false, timeout: .seconds(2))
                _ = try? pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(2))
            }
            _ = try pcsc.waitForCard(in: Slot.zero, timeout: .seconds(2))
            _ = try pcsc.waitForCard(in: Slot.one, timeout: .seconds(2))
            let db = try IssuerDatabase(path: "\(dir)/issuer.sqlite", journal: "\(dir)/counter.sqlite", counterTerminal: counterID, operatorID: 1)
            let counter = try ServiceCounter(city: city, terminal: counterID, keyset: keyset, journal: IssuerCounterJournal(db))
            var oldChannel = try pcsc.connect(reader: Slot.zero)
            var newChannel = try pcsc.connect(reader: Slot.one)
            _ = try counter.issue(&oldChannel, cardType: .adult, at: at("2026-11-29T07:00:00"), firstLoadFen: 2500)
            _ = try counter.issue(&newChannel, cardType: .adult, at: at("2026-11-29T07:01:00"))

            // The counter moves the old card's balance to the new card, once.
            let moved = try counter.replace(old: &oldChannel, new: &newChannel, at: at("2026-11-29T09:00:00"))
            #expect(moved.amountFen == 2500 && new.state.balanceFen == 2500 && old.state.blocked == .permanent)
            #expect(throws: (any Error).self) { try counter.replace(old: &oldChannel, new: &newChannel, at: at("2026-11-29T09:05:00")) }
            #expect(new.state.balanceFen == 2500)
            #expect(try db.card(old.state.info!.serial)?.status == .replaced)

            // The new card is refunded: balance and deposit back, card closed for good.
            let refund = try counter.refund(&newChannel, at: at("2026-11-29T10:00:00"))
            #expect(refund.amountFen == 2500 && refund.depositFen == UInt32(city.card.depositFen))
            #expect(new.state.blocked == .permanent)
            #expect(throws: (any Error).self) { try counter.refund(&newChannel, at: at("2026-11-29T10:05:00")) }

            // A third card, reported lost: a bus refuses it and blocks it on the spot.
            a.remove()
            _ = try pcsc.waitForCard(in: Slot.zero, present: false, timeout: .seconds(3))
            let lost = newCard(0x2000_0000_0000_0305)
            let c = VirtualReader(card: lost, endpoint: .slot0)
            try c.insert()
            defer { c.remove() }
            _ = try pcsc.waitForCard(in: Slot.zero, timeout: .seconds(3))
            var lostChannel = try pcsc.connect(reader: Slot.zero)
            _ = try counter.issue(&lostChannel, cardType: .adult, at: at("2026-11-29T11:00:00"), firstLoadFen: 1000)
            // The bus's PSAM takes slot 1 and makes the block MAC: the bus holds no maintenance key.
            b.remove()
            _ = try pcsc.waitForCard(in: Slot.one, present: false, timeout: .seconds(3))
            let refused = try psamInSlot1(pcsc)(psamCard("710002000501")) { psam in
                let (bus, journal) = try terminal("710002000501", in: dir, sam: psam)
                bus.hotlist = Hotlist(serials: [lost.state.info!.serial])
                var ch = try pcsc.connect(reader: Slot.zero)
                let r = try bus.tap(&ch, at: at("2026-11-29T12:00:00"))
                #expect(try journal.records(limit: 10).isEmpty)
                return r
            }
            #expect(refused.outcome == .declined)
            #expect(refused.reason.contains("has been blocked"), "\(refused.reason)")
            #expect(lost.state.blocked == .temporary && lost.state.balanceFen == 1000)
        }
    }
}
