import City
import EPurse
import OneCardCore
import Terminal
import Testing
import UploadBatch

@Suite("Tap: fares by operator kind, hand-checked against docs/fares.md")
struct TapFareTests {
    @Test("bus line 5 charges 100 adult, 50 student, 0 senior, 0 staff, as a compound purchase with a trip record",
          arguments: [(CardType.adult, UInt32(100)), (.student, 50), (.senior, 0), (.staff, 0)])
    func busConcessions(type: CardType, fareFen: UInt32) throws {
        let card = Tap.card(type)
        let rig = try Rig(Tap.bus5)
        let r = try rig.tap(card, "2026-03-02T08:00:00")
        #expect(r.outcome == .approved && r.amountFen == fareFen && r.transactionType == .compoundPurchase)
        #expect(r.balanceBeforeFen == 5000 && r.balanceAfterFen == 5000 - fareFen)
        #expect(card.state.balanceFen == 5000 - fareFen)
        #expect(r.fare?.baseFen == 100 && r.fare?.concessionFen == Int64(100 - fareFen))
        let trip = try #require(card.state.tripLog.first.flatMap(TripRecord.init(bytes:)))
        #expect(trip.kind == .singleRide && trip.industry == 0x02 && trip.line == 0x0005 && trip.amountFen == fareFen)
        let rec = try #require(rig.journal.records.first)
        #expect(rig.journal.records.count == 1 && rig.journal.greys.isEmpty)
        #expect(rec.kind == .purchase && rec.transactionType == 0x09 && rec.amountFen == fareFen && rec.industry == 0x02)
        #expect(rec.relatedSerial.rawValue == 0 && Tap.tacVerifies(rec))
        #expect(r.jsonLine.hasPrefix("{\"result\":\"approved\""))
    }

    @Test("bus → metro within the window gets 100 off (300 − 100 = 200); that exit then gives no discount to the next bus")
    func busToMetroTransfer() throws {
        let card = Tap.card()
        _ = try Rig(Tap.bus5).tap(card, "2026-03-02T08:00:00")
        let entry = try Rig(Tap.houweizhai).tap(card, "2026-03-02T08:30:00")
        #expect(entry.outcome == .approved && entry.amountFen == 0)
        let exitRig = try Rig(Tap.beidajie, direction: .exit)
        let exit = try exitRig.tap(card, "2026-03-02T08:50:00")
        #expect(exit.outcome == .approved && exit.amountFen == 200)
        #expect(exit.fare?.baseFen == 300 && exit.fare?.transferDiscountFen == 100)
        #expect(exitRig.journal.records.first?.flags == [.metroExit, .transfer])
        #expect(exitRig.journal.records.first?.entryStation == 0x0101)
        // One discount per chain: the exit was itself a transfer.
        let bus = try Rig(Tap.bus215).tap(card, "2026-03-02T09:10:00")
        #expect(bus.amountFen == 200 && bus.fare?.transferDiscountFen == 0)
        #expect(card.state.balanceFen == 5000 - 100 - 200 - 200)
    }

    @Test("metro without a previous trip pays the distance fare: Houweizhai → Hanchenglu 200, then metro → bus 215 pays 100")
    func metroWithoutTransfer() throws {
        let card = Tap.card()
        _ = try Rig(Tap.houweizhai).tap(card, "2026-03-02T10:00:00")
        let exit = try Rig(Tap.hanchenglu, direction: .exit).tap(card, "2026-03-02T10:20:00")
        #expect(exit.amountFen == 200 && exit.fare?.transferDiscountFen == 0)
        let stored = try #require(card.state.compoundCache.flatMap(InJourneyRecord.init(bytes:)))
        #expect(stored.status == .outside && stored.exitStation == 0x0105 && stored.exitFareFen == 200)
        let bus = try Rig(Tap.bus215).tap(card, "2026-03-02T10:40:00")
        #expect(bus.amountFen == 100 && bus.fare?.transferDiscountFen == 100)
    }

    @Test("exit without entry charges the maximum fare after concession: adult 400, student 200")
    func exitWithoutEntry() throws {
        for (type, fare) in [(CardType.adult, UInt32(400)), (.student, 200)] {
            let card = Tap.card(type)
            let rig = try Rig(Tap.beidajie, direction: .exit)
            let r = try rig.tap(card, "2026-03-02T09:00:00")
            #expect(r.outcome == .approved && r.amountFen == fare)
            #expect(r.reason.contains("No entry recorded"))
            #expect(rig.journal.records.first?.flags == [.metroExit, .incompleteJourney])
        }
    }

    @Test("a second entry while a fresh entry is open is refused (Xi'an policy) and charges nothing")
    func entryTwice() throws {
        let card = Tap.card()
        _ = try Rig(Tap.houweizhai).tap(card, "2026-03-02T08:00:00")
        let rig = try Rig(Tap.hanchenglu)
        let r = try rig.tap(card, "2026-03-02T08:10:00")
        #expect(r.outcome == .declined && r.reason.contains("already entered"))
        #expect(card.state.balanceFen == 5000 && rig.journal.records.isEmpty && rig.journal.greys.isEmpty)
    }

    @Test("a stale entry: exit at 12:00:00 after an 08:00 entry pays 200, at 12:00:01 the maximum 400")
    func staleEntry() throws {
        for (time, fare) in [("12:00:00", UInt32(200)), ("12:00:01", 400)] {
            let card = Tap.card()
            _ = try Rig(Tap.houweizhai).tap(card, "2026-03-02T08:00:00")
            let r = try Rig(Tap.hanchenglu, direction: .exit).tap(card, "2026-03-02T" + time)
            #expect(r.amountFen == fare)
        }
        // A stale open entry at a new entry is charged the maximum fare with the new entry.
        let card = Tap.card()
        _ = try Rig(Tap.houweizhai).tap(card, "2026-03-02T08:00:00")
        let r = try Rig(Tap.hanchenglu).tap(card, "2026-03-02T13:00:00")
        #expect(r.outcome == .approved && r.amountFen == 400 && r.reason.contains("not finished"))
    }

    @Test("a corrupt in-journey record (bad CRC) counts as no entry: maximum fare at exit")
    func corruptInJourney() throws {
        let card = Tap.card()
        _ = try Rig(Tap.houweizhai).tap(card, "2026-03-02T08:00:00")
        var s = card.state
        s.compoundCache?[20] ^= 0x01
        let corrupt = EPurseCard(state: s)
        let r = try Rig(Tap.hanchenglu, direction: .exit).tap(corrupt, "2026-03-02T08:20:00")
        #expect(r.amountFen == 400 && r.reason.contains("No entry"))
    }

    @Test("taxi 23.50 and gas 100.00 are charged as simple purchases; out-of-limit or missing amounts are refused")
    func taxiAndGas() throws {
        let card = Tap.card(balanceFen: 50_000)
        let taxi = try Rig(Tap.taxi)
        let t = try taxi.tap(card, "2026-03-02T11:00:00", amountFen: 2350)
        #expect(t.outcome == .approved && t.amountFen == 2350 && t.transactionType == .epPurchase)
        let taxiRecord = try #require(taxi.journal.records.first)
        #expect(card.state.tripLog.isEmpty && Tap.tacVerifies(taxiRecord))
        let low = try taxi.tap(card, "2026-03-02T11:10:00", amountFen: 99)
        #expect(low.outcome == .declined && low.reason.contains("below the minimum of 1.00 yuan"))
        let none = try taxi.tap(card, "2026-03-02T11:10:00")
        #expect(none.outcome == .declined)
        let gas = try Rig(Tap.gas)
        #expect(try gas.tap(card, "2026-03-02T12:00:00", amountFen: 499).outcome == .declined)
        #expect(try gas.tap(card, "2026-03-02T12:00:00", amountFen: 10_000).amountFen == 10_000)
        #expect(card.state.balanceFen == 50_000 - 2350 - 10_000)
    }
}

@Suite("In-journey record (file 0x1A)")
struct InJourneyRecordTests {
    @Test("CRC-32 is zlib's: \"123456789\" → CBF43926")
    func crcCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    @Test("a record round-trips; its CRC covers [6..123] and any flipped bit there is refused")
    func roundTrip() throws {
        let r = InJourneyRecord(cityCode: 0x7100, entryTerminal: Tap.houweizhai, entryLine: 1, entryStation: 0x0101,
                                entryAt: Tap.at("2026-03-02T08:00:00"), operatorCode: 0x0300, entryAmountFen: 0)
        let bytes = r.bytes
        #expect(bytes.count == 128 && bytes[0] == 0x01 && bytes[1] == 0x1A)
        #expect(InJourneyRecord(bytes: bytes) == r)
        #expect(bytes.bigEndianInteger(at: 124, count: 4) == UInt64(CRC32.checksum(bytes[6..<124])))
        for i in [6, 16, 60, 123] {
            var bad = bytes
            bad[i] ^= 0x80
            #expect(InJourneyRecord(bytes: bad) == nil)
        }
    }
}
