import City
import OneCardCore
import Testing

@Suite("The example city (config/city-xian.json)")
struct ExampleCityTests {
    @Test("the example city loads and validates with every operator kind")
    func loads() throws {
        let city = try xian()
        #expect(city.code.description == "7100")
        #expect(city.operators.count == 5)
        #expect(Set(city.operators.values.map(\.kind)) == Set(OperatorKind.allCases))
        #expect(city.busLines.count == 5)
        let metro = try #require(city.metro)
        #expect(metro.lines.count == 2)
        #expect(metro.lines.allSatisfy { $0.stations.count >= 8 })
        #expect(metro.maxFareFen == 400)
        #expect(city.card.balanceFenMax == 100_000)
        #expect(city.card.depositFen == 2_000)
        #expect(city.card.validityYears == 10)
        #expect(city.settlement.uploadWindowDays == 7)
        #expect(city.settlement.cutoff == BCDTime(hour: 2, minute: 0, second: 0))
    }

    @Test("every terminal id follows the scheme city code ‖ operator id ‖ line or station ‖ number")
    func idScheme() throws {
        let city = try xian()
        for t in city.terminals.values {
            let b = t.id.bytes
            #expect(b[0...1] == city.code.bytes[...])
            #expect(UInt16(b[2]) == t.operatorID.rawValue)
            switch t.location {
            case .bus(let line, _): #expect(b[3...4] == line.bytes[...])
            case .metroGate(_, let station): #expect(b[3...4] == station.bytes[...])
            case .topUpAgent: #expect(b[3...4] == [0x01, 0x00])
            case .serviceCounter, .taxi, .gasCounter: #expect(b[3...4] == [0x00, 0x00])
            }
        }
    }

    @Test("the two metro lines share the transfer station Beidajie")
    func transferStation() throws {
        let metro = try #require(try xian().metro)
        let shared = Set(metro.lines[0].stations.map(\.id)).intersection(metro.lines[1].stations.map(\.id))
        #expect(shared == [try station("0110")])
        #expect(metro.metres(from: try station("0101"), to: try station("0217")) == 11_200 + 7_100)
        // The longest journey, which sets the maximum fare: Houweizhai ↔ Beikezhan.
        #expect(metro.metres(from: try station("0101"), to: try station("0201")) == 22_200)
    }

    @Test("lookups: terminal to operator and location, operator by id, commission")
    func lookups() throws {
        let city = try xian()
        let gate = try #require(city.terminal(try tid(X.gateBeidajie)))
        #expect(gate.location == .metroGate(line: try #require(LineID(hex: "0001")), station: try station("0110")))
        #expect(city.operator(ofTerminal: gate.id)?.kind == .metro)
        #expect(city.operator(ofTerminal: try tid("7100FF000001")) == nil)
        #expect(city.operator(OperatorID(rawValue: 2))?.recordCode.description == "0200")
        #expect(city.commission(of: OperatorID(rawValue: 2))?.rawValue == 150)
        #expect(city.commission(of: OperatorID(rawValue: 99)) == nil)
        #expect(city.terminal(try tid(X.counter1))?.location == .serviceCounter(name: "钟楼服务网点 Bell Tower service counter"))
    }

    @Test("a time before the 02:00 cut-off belongs to the previous business day")
    func businessDay() throws {
        let city = try xian()
        #expect(city.businessDay(of: try at("01:59:59")).description == "2026-03-01")
        #expect(city.businessDay(of: try at("02:00:00")).description == "2026-03-02")
        #expect(city.businessDay(of: try at("00:00:00", day: "2026-03-01")).description == "2026-02-28")
    }
}
