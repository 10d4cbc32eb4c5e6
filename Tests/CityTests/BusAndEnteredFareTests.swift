import City
import OneCardCore
import Testing

@Suite("Bus flat fares, taxi and gas amounts, concessions")
struct BusAndEnteredFareTests {
    @Test("bus flat fare per card type on line 5 (100 fen) and tour line 8 (300 fen)", arguments: [
        (X.bus5, CardType.adult, Int64(100), Int64(0), Int64(100)),
        (X.bus5, .student, 100, 50, 50),
        (X.bus5, .senior, 100, 100, 0),
        (X.bus5, .staff, 100, 100, 0),
        (X.bus215, .adult, 200, 0, 200),
        (X.bus215, .student, 200, 100, 100),
        (X.tour8, .student, 300, 150, 150),
        (X.tour8, .senior, 300, 300, 0),
    ])
    func busFare(terminal: String, type: CardType, base: Int64, concession: Int64, payable: Int64) throws {
        let fare = try xian().busFare(terminal: try tid(terminal), cardType: type, at: try at("08:00:00"), previous: nil)
        #expect(fare.baseFen == base)
        #expect(fare.concessionFen == concession)
        #expect(fare.transferDiscountFen == 0)
        #expect(fare.payableFen == payable)
        #expect(fare.payableCardFen == UInt32(payable))
    }

    @Test("a bus fare names its line as the rule")
    func busRule() throws {
        let fare = try xian().busFare(terminal: try tid(X.bus215), cardType: .adult, at: try at("08:00:00"), previous: nil)
        #expect(fare.rule == .flat(line: try #require(LineID(hex: "0215"))))
    }

    @Test("a taxi or gas amount is charged as entered, inclusive limits accepted", arguments: [
        (X.taxi1, Int64(2350)), (X.taxi1, Int64(100)), (X.taxi1, Int64(50_000)), (X.gas1, Int64(500)), (X.gas1, Int64(100_000)), (X.gas1, Int64(12_345)),
    ])
    func enteredAmount(terminal: String, amountFen: Int64) throws {
        for type in CardType.allCases {
            let fare = try xian().enteredAmountFare(terminal: try tid(terminal), amountFen: amountFen, cardType: type)
            #expect(fare == Fare(baseFen: amountFen, concessionFen: 0, transferDiscountFen: 0, payableFen: amountFen, rule: .entered))
        }
    }

    @Test("a taxi amount below 100 or above 50000 fen, a gas amount below 500 fen, is refused")
    func enteredLimits() throws {
        let city = try xian()
        #expect(throws: FareRefusal(.amountBelowMinimum(amountFen: 99, minFen: 100))) {
            try city.enteredAmountFare(terminal: try tid(X.taxi1), amountFen: 99, cardType: .adult)
        }
        #expect(throws: FareRefusal(.amountAboveMaximum(amountFen: 50_001, maxFen: 50_000))) {
            try city.enteredAmountFare(terminal: try tid(X.taxi1), amountFen: 50_001, cardType: .adult)
        }
        #expect(throws: FareRefusal(.amountBelowMinimum(amountFen: 499, minFen: 500))) {
            try city.enteredAmountFare(terminal: try tid(X.gas1), amountFen: 499, cardType: .adult)
        }
        #expect(throws: FareRefusal(.amountBelowMinimum(amountFen: -5, minFen: 100))) {
            try city.enteredAmountFare(terminal: try tid(X.taxi1), amountFen: -5, cardType: .adult)
        }
        let refusal = FareRefusal(.amountAboveMaximum(amountFen: 50_001, maxFen: 50_000))
        #expect(refusal.description == "Amount 500.01 yuan is above the maximum of 500.00 yuan.")
    }

    @Test("a taxi concession, when configured, is applied with half-up rounding of the amount paid")
    func taxiConcession() throws {
        let city = try xianVariant(replacing: #""cardType": "staff","#,
                                   with: #""cardType": "senior", "operatorKinds": ["taxi"], "discountBasisPoints": 1000}, {"cardType": "staff","#)
        // 2355 × 90 % = 2119.5 → 2120 paid, 235 off.
        let fare = try city.enteredAmountFare(terminal: try tid(X.taxi1), amountFen: 2355, cardType: .senior)
        #expect(fare.payableFen == 2120)
        #expect(fare.concessionFen == 235)
        let adult = try city.enteredAmountFare(terminal: try tid(X.taxi1), amountFen: 2355, cardType: .adult)
        #expect(adult.payableFen == 2355)
    }

    @Test("a terminal of the wrong kind or not in the city refuses the payment")
    func wrongTerminal() throws {
        let city = try xian()
        let now = try at("08:00:00")
        #expect(throws: FareRefusal(.wrongTerminalKind(.bus))) {
            try city.enteredAmountFare(terminal: try tid(X.bus5), amountFen: 1000, cardType: .adult)
        }
        #expect(throws: FareRefusal(.wrongTerminalKind(.metro))) {
            try city.busFare(terminal: try tid(X.gateBeidajie), cardType: .adult, at: now, previous: nil)
        }
        #expect(throws: FareRefusal(.wrongTerminalKind(.issuer))) {
            try city.metroExitFare(terminal: try tid(X.counter1), cardType: .adult, at: now, entry: nil, previous: nil)
        }
        #expect(throws: FareRefusal(.wrongTerminalKind(.taxi))) {
            try city.metroEntry(terminal: try tid(X.taxi1), cardType: .adult, at: now, openEntry: nil)
        }
        #expect(throws: FareRefusal(.unknownTerminal(try tid("7100020005FF")))) {
            try city.busFare(terminal: try tid("7100020005FF"), cardType: .adult, at: now, previous: nil)
        }
    }
}

@Suite("Concession rounding: half-up to the fen, once")
struct RoundingTests {
    @Test("basis-point portions round half-up", arguments: [
        (Int64(5), 5000, Int64(3)),        // 2.5 → 3
        (Int64(4), 5000, Int64(2)),
        (Int64(1), 5000, Int64(1)),        // 0.5 → 1
        (Int64(1), 4999, Int64(0)),        // 0.4999 → 0
        (Int64(100), 6667, Int64(67)),     // 66.67 → 67
        (Int64(333), 150, Int64(5)),       // 4.995 → 5 (a commission)
        (Int64(12_345), 150, Int64(185)),  // 185.175 → 185
        (Int64(0), 10_000, Int64(0)),
        (Int64(777), 10_000, Int64(777)),
        (Int64(777), 0, Int64(0)),
    ])
    func portion(fen: Int64, bp: Int, expected: Int64) throws {
        #expect(try #require(BasisPoints(rawValue: bp)).portion(ofFen: fen) == expected)
    }

    @Test("a portion of a very large amount does not overflow")
    func largePortion() throws {
        let half = try #require(BasisPoints(rawValue: 5000))
        #expect(half.portion(ofFen: Int64.max) == Int64.max / 2 + 1)
        #expect(try #require(BasisPoints(rawValue: 10_000)).portion(ofFen: Int64.max) == Int64.max)
    }

    @Test("basis points outside 0...10000 do not exist")
    func range() {
        #expect(BasisPoints(rawValue: 10_001) == nil)
        #expect(BasisPoints(rawValue: -1) == nil)
        #expect(BasisPoints(rawValue: 1250)?.description == "12.5%")
    }

    @Test("a 50 % concession on an odd fare rounds the amount paid up: 125 fen pays 63, 1 fen pays 1")
    func oddFare() throws {
        let city = try xianVariant(replacing: #""游8路 Tour Line 8", "fareFen": 300"#, with: #""游8路 Tour Line 8", "fareFen": 125"#)
        let fare = try city.busFare(terminal: try tid(X.tour8), cardType: .student, at: try at("08:00:00"), previous: nil)
        #expect(fare.payableFen == 63)
        #expect(fare.concessionFen == 62)
        let one = try xianVariant(replacing: #""游8路 Tour Line 8", "fareFen": 300"#, with: #""游8路 Tour Line 8", "fareFen": 1"#)
        let penny = try one.busFare(terminal: try tid(X.tour8), cardType: .student, at: try at("08:00:00"), previous: nil)
        #expect(penny.payableFen == 1)
        #expect(penny.concessionFen == 0)
    }
}
