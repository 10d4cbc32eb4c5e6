import City
import OneCardCore
import Testing

@Suite("Metro distance fares and gate policies")
struct MetroFareTests {
    /// The exit fare for an entry at `from` at 08:00 and an exit at `to` at 08:30.
    func exitFare(_ city: City, from: String, to: String, type: CardType = .adult) throws -> Fare {
        let entryStation = try #require(city.terminal(try tid(from))?.location.station)
        return try city.metroExitFare(terminal: try tid(to), cardType: type, at: try at("08:30:00"),
                                      entry: OpenEntry(station: entryStation, at: try at("08:00:00")), previous: nil)
    }

    @Test("distance bands: 2 yuan to 6 km, 3 to 16 km, 4 to 30 km, 5 to 50 km, then +1 per started 20 km", arguments: [
        (Int64(0), Int64(200)), (6_000, 200), (6_001, 300), (16_000, 300), (16_001, 400), (30_000, 400),
        (30_001, 500), (50_000, 500), (50_001, 600), (70_000, 600), (70_001, 700),
    ])
    func bands(metres: Int64, fareFen: Int64) throws {
        #expect(try #require(try xian().metro).fareFen(forMetres: metres) == fareFen)
    }

    @Test("adult exit fares between gates, across the transfer station", arguments: [
        (X.gateHouweizhai, X.gateHanchenglu, Int64(5_900), Int64(200)),
        (X.gateHouweizhai, X.gateBeidajie, 11_200, 300),
        (X.gateHouweizhai, X.gateChanglepo, 18_100, 400),
        (X.gateHouweizhai, X.gateZhonglou, 12_100, 300),   // line 1 → Beidajie → line 2
        (X.gateHouweizhai, X.gateHuizhan, 18_300, 400),
        (X.gateBeikezhan, X.gateChanglepo, 17_900, 400),
        (X.gateZhonglou, X.gateXiaozhai, 4_000, 200),
        (X.gateBeidajie, X.gateBeidajie, 0, 200),          // same station: the first band
    ])
    func adultFares(from: String, to: String, metres: Int64, fareFen: Int64) throws {
        let fare = try exitFare(try xian(), from: from, to: to)
        #expect(fare.payableFen == fareFen)
        #expect(fare.baseFen == fareFen)
        guard case .distance(_, _, let m) = fare.rule else { Issue.record("rule \(fare.rule)"); return }
        #expect(m == metres)
    }

    @Test("metro concessions: student and senior half fare, staff full fare", arguments: [
        (CardType.adult, Int64(300)), (.student, 150), (.senior, 150), (.staff, 300),
    ])
    func concessions(type: CardType, payable: Int64) throws {
        let fare = try exitFare(try xian(), from: X.gateHouweizhai, to: X.gateBeidajie, type: type)
        #expect(fare.payableFen == payable)
        #expect(fare.concessionFen == 300 - payable)
    }

    @Test("exit without entry under maxFare charges the network maximum after concession")
    func noEntryMaxFare() throws {
        let city = try xian()
        let adult = try city.metroExitFare(terminal: try tid(X.gateZhonglou), cardType: .adult, at: try at("09:00:00"), entry: nil, previous: nil)
        #expect(adult == Fare(baseFen: 400, concessionFen: 0, transferDiscountFen: 0, payableFen: 400, rule: .incompleteJourney(.noEntry)))
        let student = try city.metroExitFare(terminal: try tid(X.gateZhonglou), cardType: .student, at: try at("09:00:00"), entry: nil,
                                             previous: PreviousTrip(kind: .bus, at: try at("08:50:00")))
        #expect(student.payableFen == 200)
        #expect(student.transferDiscountFen == 0)
    }

    @Test("exit without entry under refuse is refused with a sentence for the rider")
    func noEntryRefuse() throws {
        let city = try xianVariant(replacing: #""incompleteJourney": "maxFare""#, with: #""incompleteJourney": "refuse""#)
        let refusal = FareRefusal(.incompleteJourney(.noEntry))
        #expect(throws: refusal) {
            try city.metroExitFare(terminal: try tid(X.gateZhonglou), cardType: .adult, at: try at("09:00:00"), entry: nil, previous: nil)
        }
        #expect(refusal.description == "No entry recorded on this card. Please see station staff.")
    }

    @Test("an entry exactly 240 minutes old is fresh; one second more is stale and priced as incomplete")
    func staleBoundary() throws {
        let city = try xian()
        let entry = OpenEntry(station: try station("0101"), at: try at("08:00:00"))
        let fresh = try city.metroExitFare(terminal: try tid(X.gateHanchenglu), cardType: .adult, at: try at("12:00:00"), entry: entry, previous: nil)
        #expect(fresh.payableFen == 200)
        let stale = try city.metroExitFare(terminal: try tid(X.gateHanchenglu), cardType: .adult, at: try at("12:00:01"), entry: entry, previous: nil)
        #expect(stale.payableFen == 400)
        #expect(stale.rule == .incompleteJourney(.staleEntry(entry: entry)))
        let refusing = try xianVariant(replacing: #""incompleteJourney": "maxFare""#, with: #""incompleteJourney": "refuse""#)
        #expect(throws: FareRefusal(.incompleteJourney(.staleEntry(entry: entry)))) {
            try refusing.metroExitFare(terminal: try tid(X.gateHanchenglu), cardType: .adult, at: try at("12:00:01"), entry: entry, previous: nil)
        }
    }

    @Test("an entry stamped after the exit, or at an unknown station, is an incomplete journey")
    func untrustedEntry() throws {
        let city = try xian()
        let future = OpenEntry(station: try station("0101"), at: try at("08:00:01"))
        let f = try city.metroExitFare(terminal: try tid(X.gateHanchenglu), cardType: .adult, at: try at("08:00:00"), entry: future, previous: nil)
        #expect(f.rule == .incompleteJourney(.staleEntry(entry: future)))
        let nowhere = OpenEntry(station: try station("0999"), at: try at("08:00:00"))
        let g = try city.metroExitFare(terminal: try tid(X.gateHanchenglu), cardType: .adult, at: try at("08:10:00"), entry: nowhere, previous: nil)
        #expect(g.rule == .incompleteJourney(.unknownEntryStation(entry: nowhere)))
        #expect(g.payableFen == 400)
    }

    @Test("entry with no open journey is free")
    func cleanEntry() throws {
        let d = try xian().metroEntry(terminal: try tid(X.gateBeidajie), cardType: .adult, at: try at("08:00:00"), openEntry: nil)
        #expect(d.unfinishedJourneyFare == nil)
    }

    @Test("entry twice within the stale limit is refused under the example city's policy")
    func entryTwiceRefused() throws {
        let open = OpenEntry(station: try station("0110"), at: try at("08:00:00"))
        let refusal = FareRefusal(.incompleteJourney(.entryTwice(entry: open)))
        #expect(throws: refusal) {
            try xian().metroEntry(terminal: try tid(X.gateBeidajie), cardType: .adult, at: try at("08:05:00"), openEntry: open)
        }
        #expect(refusal.description == "This card already entered at 2026-03-02T08:00:00. Please see station staff.")
    }

    @Test("entry twice under maxFare charges the open journey the maximum fare and admits")
    func entryTwiceCharged() throws {
        let city = try xianVariant(replacing: #""entryTwice": "refuse""#, with: #""entryTwice": "maxFare""#)
        let open = OpenEntry(station: try station("0110"), at: try at("08:00:00"))
        let d = try city.metroEntry(terminal: try tid(X.gateBeidajie), cardType: .senior, at: try at("08:05:00"), openEntry: open)
        #expect(d.unfinishedJourneyFare == Fare(baseFen: 400, concessionFen: 200, transferDiscountFen: 0, payableFen: 200,
                                                rule: .incompleteJourney(.entryTwice(entry: open))))
    }

    @Test("entry over a stale open journey follows the incomplete-journey policy, not entry-twice")
    func entryOverStale() throws {
        let open = OpenEntry(station: try station("0110"), at: try at("08:00:00", day: "2026-03-01"))
        let d = try xian().metroEntry(terminal: try tid(X.gateBeidajie), cardType: .adult, at: try at("08:00:00"), openEntry: open)
        #expect(d.unfinishedJourneyFare?.payableFen == 400)
        #expect(d.unfinishedJourneyFare?.rule == .incompleteJourney(.staleEntry(entry: open)))
    }
}
