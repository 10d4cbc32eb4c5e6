import City
import EPurse
import OneCardCore
import OneCardCrypto
import Terminal
import Testing
import UploadBatch

@Suite("Tap: refusals, hotlist, repeat taps")
struct TapRefusalTests {
    @Test("insufficient funds is refused in plain words with balance and fare, and leaves no record")
    func insufficientFunds() throws {
        let card = Tap.card(balanceFen: 50)
        let rig = try Rig(Tap.bus5)
        let r = try rig.tap(card, "2026-03-02T08:00:00")
        #expect(r.outcome == .declined && r.reason.contains("balance 0.50 yuan, fare 1.00 yuan"))
        #expect(card.state.balanceFen == 50 && rig.journal.records.isEmpty && rig.journal.greys.isEmpty)
    }

    @Test("an expired card is refused with its validity period")
    func expired() throws {
        let card = Tap.card(expiry: "2026-03-01")
        let r = try Rig(Tap.bus5).tap(card, "2026-03-02T08:00:00")
        #expect(r.outcome == .declined && r.reason.contains("not valid today"))
        #expect(card.state.balanceFen == 5000 && card.state.offlineCounter.rawValue == 0)
    }

    @Test("a hotlisted card is refused and blocked with the maintenance key; the next tap sees a blocked card")
    func hotlistBlocks() throws {
        let card = Tap.card()
        let rig = try Rig(Tap.bus5, hotlist: Hotlist(serials: [Tap.serial], maintenanceMaster: try Tap.keyset.masterKey(.maintenance)))
        let r = try rig.tap(card, "2026-03-02T08:00:00")
        #expect(r.outcome == .declined && r.reason.contains("hotlist") && r.reason.contains("has been blocked"))
        #expect(card.state.blocked == .temporary && card.state.balanceFen == 5000)
        let again = try Rig(Tap.bus5).tap(card, "2026-03-02T08:01:00")
        #expect(again.outcome == .declined && again.reason.contains("blocked"))
    }

    @Test("without a maintenance key a hotlisted card is refused, not blocked, and the rider is told")
    func hotlistWithoutKey() throws {
        let card = Tap.card()
        let r = try Rig(Tap.bus5, hotlist: Hotlist(serials: [Tap.serial])).tap(card, "2026-03-02T08:00:00")
        #expect(r.outcome == .declined && r.reason.contains("not blocked"))
        #expect(card.state.blocked == .none && card.state.balanceFen == 5000)
    }

    @Test("a wrong SAM key: the card answers 9302 at DEBIT, nothing is charged and the grey record is voided")
    func wrongSAMKey() throws {
        let card = Tap.card()
        let wrong = Keyset(keyVersion: KeyVersion(rawValue: 1), masterKeys: [.purchase: try TripleDESKey(hex: "99999999999999998888888888888888")])
        let rig = try Rig(Tap.bus5, purchaseKeyset: wrong)
        let r = try rig.tap(card, "2026-03-02T08:00:00")
        #expect(r.outcome == .declined && r.reason.contains("security check failed"))
        #expect(card.state.balanceFen == 5000 && card.state.offlineCounter.rawValue == 0)
        #expect(rig.journal.greys.isEmpty && rig.journal.records.isEmpty)
    }

    @Test("a second tap of the same card at the same terminal within the window is 'already paid', after it a new fare")
    func repeatTap() throws {
        let card = Tap.card()
        let rig = try Rig(Tap.bus5)
        #expect(try rig.tap(card, "2026-03-02T08:00:00").outcome == .approved)
        let second = try rig.tap(card, "2026-03-02T08:00:01")
        #expect(second.outcome == .alreadyPaid && second.isApproved && second.amountFen == 0)
        #expect(card.state.balanceFen == 4900 && rig.journal.records.count == 1)
        #expect(try rig.tap(card, "2026-03-02T08:00:06").outcome == .approved)
        #expect(card.state.balanceFen == 4800)
    }
}

/// A flow to tear: its terminal, the card's state before it, and the tap.
struct TearScenario: Sendable, CustomStringConvertible {
    var name: String
    var prepare: @Sendable () throws -> (EPurseCard, Rig)
    var at: String
    var again: String
    var amountFen: Int64? = nil
    var description: String { name }

    static let all: [TearScenario] = [
        TearScenario(name: "bus", prepare: { (Tap.card(), try Rig(Tap.bus5)) }, at: "2026-03-02T08:00:00", again: "2026-03-02T08:00:02"),
        TearScenario(name: "taxi", prepare: { (Tap.card(), try Rig(Tap.taxi)) }, at: "2026-03-02T08:00:00", again: "2026-03-02T08:00:02", amountFen: 2350),
        TearScenario(name: "metro entry", prepare: { (Tap.card(), try Rig(Tap.houweizhai)) }, at: "2026-03-02T08:30:00", again: "2026-03-02T08:30:02"),
        TearScenario(name: "metro exit after a bus (transfer)", prepare: {
            let card = Tap.card()
            _ = try Rig(Tap.bus5).tap(card, "2026-03-02T08:00:00")
            _ = try Rig(Tap.houweizhai).tap(card, "2026-03-02T08:30:00")
            return (card, try Rig(Tap.beidajie, direction: .exit))
        }, at: "2026-03-02T08:50:00", again: "2026-03-02T08:50:02"),
    ]
}

@Suite("Tap: tear at every step of every flow")
struct TapTearTests {
    @Test("cut at every command, before the card sees it or with the response lost: present again → one debit, journaled once",
          arguments: TearScenario.all)
    func tearEverywhere(scenario: TearScenario) throws {
        let (probeCard, probeRig) = try scenario.prepare()
        var probe = TearChannel(card: probeCard, cutAt: .max, responseLost: false)
        #expect(try probeRig.terminal.tap(&probe, at: Tap.at(scenario.at), enteredAmountFen: scenario.amountFen).outcome == .approved)
        let commandCount = probe.sent
        #expect(commandCount >= 5)
        for cut in 1...commandCount {
            for lost in [false, true] {
                try tearOnce(scenario, cut: cut, responseLost: lost, context: "\(scenario.name) cut \(cut)/\(commandCount) lost \(lost)")
            }
        }
    }

    private func tearOnce(_ s: TearScenario, cut: Int, responseLost: Bool, context: Comment) throws {
        let (card, rig) = try s.prepare()
        let before = card.state
        var torn = TearChannel(card: card, cutAt: cut, responseLost: responseLost)
        let first = try rig.terminal.tap(&torn, at: Tap.at(s.at), enteredAmountFen: s.amountFen)
        #expect(first.outcome == .cardRemoved, context)
        let debitedAtTear = card.state.offlineCounter != before.offlineCounter
        #expect(rig.journal.greys.count == (debitedAtTear ? 1 : rig.journal.greys.count), context)
        let second = try rig.tap(card, s.again, amountFen: s.amountFen)
        #expect(second.outcome == (debitedAtTear ? .recovered : .approved), context)
        #expect(card.state.offlineCounter.rawValue == before.offlineCounter.rawValue + 1, "exactly one debit; \(context)")
        #expect(rig.journal.greys.isEmpty, context)
        #expect(rig.journal.records.count == 1, context)
        let record = try #require(rig.journal.records.first, context)
        #expect(record.kind == .purchase && Tap.tacVerifies(record), context)
        #expect(record.flags.contains(.recovered) == debitedAtTear && !record.flags.contains(.mac2Unverified), context)
        #expect(card.state.balanceFen == before.balanceFen - record.amountFen, "card balance = journal's view; \(context)")
        #expect(record.balanceAfterFen == card.state.balanceFen, context)
    }

    @Test("a torn card used at another terminal before it comes back: the log proves the debit, recorded once, not charged again")
    func tornThenUsedElsewhere() throws {
        let card = Tap.card()
        let rig = try Rig(Tap.bus5)
        var torn = TearChannel(card: card, cutAt: 7, responseLost: true)
        let first = try rig.terminal.tap(&torn, at: Tap.at("2026-03-02T08:00:00"))
        #expect(first.outcome == .cardRemoved && card.state.offlineCounter.rawValue == 1 && rig.journal.greys.count == 1)
        _ = try Rig(Tap.taxi).tap(card, "2026-03-02T08:10:00", amountFen: 1000)
        let back = try rig.tap(card, "2026-03-02T08:20:00")
        #expect(back.outcome == .recovered)
        #expect(rig.journal.greys.isEmpty && rig.journal.records.count == 1)
        #expect(rig.journal.records.first?.flags.isSuperset(of: [.recovered, .mac2Unverified]) == true)
        #expect(card.state.balanceFen == 5000 - 100 - 1000)
    }

    @Test("a torn card that made more purchases elsewhere than its log holds: the debit is kept for settling by hand, not voided, and the new fare is charged (found by onecard simulate --seed 45)")
    func tornThenBeyondTheLog() throws {
        let card = Tap.card(balanceFen: 20000)
        let rig = try Rig(Tap.bus5)
        var torn = TearChannel(card: card, cutAt: 7, responseLost: true)
        let first = try rig.terminal.tap(&torn, at: Tap.at("2026-03-02T08:00:00"))
        #expect(first.outcome == .cardRemoved && card.state.offlineCounter.rawValue == 1 && rig.journal.greys.count == 1)
        // More purchases elsewhere than the card's log holds (10): it no longer reaches the torn one.
        let taxi = try Rig(Tap.taxi)
        for k in 0..<11 { _ = try taxi.tap(card, "2026-03-02T09:\(10 + k):00", amountFen: 100) }
        let back = try rig.tap(card, "2026-03-02T10:00:00")
        #expect(back.outcome == .approved, "a new fare: \(back.reason)")
        #expect(rig.journal.greys.isEmpty)
        let records = rig.journal.records
        #expect(records.count == 2, "the torn debit and the new fare")
        let kept = try #require(records.first { $0.counter == 0 })
        #expect(kept.kind == .purchase && kept.tac == 0 && kept.flags.isSuperset(of: [.recovered, .mac2Unverified]), "\(kept.flags)")
        #expect(records.contains { $0.counter == 12 && Tap.tacVerifies($0) })
        #expect(card.state.balanceFen == 20000 - 100 - 11 * 100 - 100)
    }
}
