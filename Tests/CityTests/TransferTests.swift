import City
import OneCardCore
import Testing

@Suite("Transfer discount bus ↔ metro within 60 minutes, 100 fen, once")
struct TransferTests {
    /// Exit at Beidajie (300 fen from Houweizhai) after entering at `entryTime`.
    func metroAfter(_ previous: PreviousTrip?, entryTime: String, type: CardType = .adult) throws -> Fare {
        try xian().metroExitFare(terminal: try tid(X.gateBeidajie), cardType: type, at: try at("10:30:00"),
                                 entry: OpenEntry(station: try station("0101"), at: try at(entryTime)), previous: previous)
    }

    @Test("bus then metro entered 30 minutes later: 300 − 100 = 200 fen")
    func busToMetro() throws {
        let fare = try metroAfter(PreviousTrip(kind: .bus, at: try at("08:00:00")), entryTime: "08:30:00")
        #expect(fare.transferDiscountFen == 100)
        #expect(fare.payableFen == 200)
    }

    @Test("the window's last second is inside, the next one outside (measured to the metro entry)")
    func boundary() throws {
        let bus = PreviousTrip(kind: .bus, at: try at("08:00:00"))
        #expect(try metroAfter(bus, entryTime: "09:00:00").transferDiscountFen == 100)
        #expect(try metroAfter(bus, entryTime: "09:00:01").transferDiscountFen == 0)
        #expect(try metroAfter(bus, entryTime: "09:00:01").payableFen == 300)
    }

    @Test("metro then bus 20 minutes later: the 100 fen bus fare is fully discounted, never negative")
    func metroToBus() throws {
        let city = try xian()
        let metro = PreviousTrip(kind: .metro, at: try at("09:00:00"))
        let adult = try city.busFare(terminal: try tid(X.bus5), cardType: .adult, at: try at("09:20:00"), previous: metro)
        #expect(adult.payableFen == 0)
        let student = try city.busFare(terminal: try tid(X.bus5), cardType: .student, at: try at("09:20:00"), previous: metro)
        #expect(student == Fare(baseFen: 100, concessionFen: 50, transferDiscountFen: 50, payableFen: 0,
                                rule: .flat(line: try #require(LineID(hex: "0005")))))
        let line215 = try city.busFare(terminal: try tid(X.bus215), cardType: .adult, at: try at("09:20:00"), previous: metro)
        #expect(line215.payableFen == 100)
    }

    @Test("no discount for unpaired kinds, a chained transfer, a clock running backwards, or no previous trip")
    func noDiscount() throws {
        let city = try xian()
        let bus5 = try tid(X.bus5), now = try at("09:20:00")
        for previous in [
            PreviousTrip(kind: .bus, at: try at("09:10:00")),
            PreviousTrip(kind: .taxi, at: try at("09:10:00")),
            PreviousTrip(kind: .metro, at: try at("09:10:00"), wasTransfer: true),
            PreviousTrip(kind: .metro, at: try at("09:20:01")),
            nil,
        ] {
            #expect(try city.busFare(terminal: bus5, cardType: .adult, at: now, previous: previous).payableFen == 100)
        }
        #expect(city.transferDiscountFen(to: .metro, startingAt: now, previous: PreviousTrip(kind: .bus, at: now)) == 100)
    }

    @Test("a discount larger than any fare leaves every fare at zero or more and the breakdown adds up")
    func neverNegative() throws {
        let city = try xianVariant(replacing: #""discountFen": 100"#, with: #""discountFen": 100000"#)
        let buses = [X.bus5, X.bus215, X.tour8]
        for type in CardType.allCases {
            for terminal in buses {
                let fare = try city.busFare(terminal: try tid(terminal), cardType: type, at: try at("08:10:00"),
                                            previous: PreviousTrip(kind: .metro, at: try at("08:00:00")))
                #expect(fare.payableFen == 0)
                #expect(fare.baseFen - fare.concessionFen - fare.transferDiscountFen == fare.payableFen)
            }
            let metro = try city.metroExitFare(terminal: try tid(X.gateChanglepo), cardType: type, at: try at("08:40:00"),
                                               entry: OpenEntry(station: try station("0101"), at: try at("08:10:00")),
                                               previous: PreviousTrip(kind: .bus, at: try at("08:00:00")))
            #expect(metro.payableFen == 0)
            #expect(metro.transferDiscountFen == 400 - metro.concessionFen)
        }
    }
}
