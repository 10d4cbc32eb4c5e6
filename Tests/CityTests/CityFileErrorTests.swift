import City
import FoundationEssentials
import OneCardCore
import Testing

/// A small valid city: one operator of each kind, one bus line, a two-line metro, a terminal of
/// each kind. Malformed cases replace one piece of it.
let minimalCity = """
{
  "format": "onecard-city/1",
  "city": {"code": "9900", "name": "Testville", "timeZone": "Asia/Shanghai"},
  "card": {"depositFen": 1000, "validityYears": 5},
  "concessions": [{"cardType": "student", "operatorKinds": ["bus"], "discountBasisPoints": 5000}],
  "operators": [
    {"id": 1, "name": "Issuer", "kind": "issuer", "recordCode": "0100", "commissionBasisPoints": 0},
    {"id": 2, "name": "Bus", "kind": "bus", "recordCode": "0200", "commissionBasisPoints": 150},
    {"id": 3, "name": "Metro", "kind": "metro", "recordCode": "0300", "commissionBasisPoints": 100}
  ],
  "busLines": [{"line": "0005", "operator": 2, "name": "5", "fareFen": 100}],
  "metro": {
    "operator": 3,
    "lines": [
      {"line": "0001", "name": "L1", "stations": [{"station": "0101", "name": "A", "metres": 0}, {"station": "0102", "name": "B", "metres": 2000}]},
      {"line": "0002", "name": "L2", "stations": [{"station": "0102", "name": "B", "metres": 0}, {"station": "0201", "name": "C", "metres": 3000}]}
    ],
    "fareBands": [{"metresMax": 3000, "fareFen": 200}, {"metresMax": 9000, "fareFen": 300}],
    "staleEntryMinutesMax": 240, "incompleteJourney": "maxFare", "entryTwice": "refuse"
  },
  "terminals": [
    {"id": "990001000001", "operator": 1, "serviceCounter": {"name": "Desk"}},
    {"id": "990002000501", "operator": 2, "bus": {"line": "0005", "vehicle": "V1"}},
    {"id": "990003010101", "operator": 3, "metroGate": {"line": "0001", "station": "0101"}}
  ],
  "settlement": {"cutoff": "02:00", "uploadWindowDays": 7}
}
"""

func parseMinimal(replacing old: String, with new: String) throws -> City {
    try #require(minimalCity.contains(old), "the minimal city no longer contains \(old)")
    return try City.parse(data: Data(minimalCity.replacing(old, with: new).utf8), source: "test.json")
}

@Suite("City file validation: every malformed file gives its own typed error")
struct CityFileErrorTests {
    @Test("the minimal city is valid, with the default card maximum and the metro maximum fare")
    func minimalIsValid() throws {
        let city = try parseMinimal(replacing: "Testville", with: "Testville")
        #expect(city.card.balanceFenMax == 100_000)
        #expect(city.metro?.maxFareFen == 300)  // A → C is 5000 m
        #expect(city.transfer == nil)
        #expect(city.terminals.count == 3)
    }

    @Test("each malformed file names the JSON path and the problem", arguments: [
        ("\"format\": \"onecard-city/1\",", "", "$.format", CityFileError.Problem.missingKey("format")),
        ("onecard-city/1", "onecard-city/2", "$.format", .unsupportedFormat("onecard-city/2")),
        ("\"settlement\": {\"cutoff\": \"02:00\", \"uploadWindowDays\": 7}", "\"x\": 1", "$.settlement", .missingKey("settlement")),
        ("\"operator\": 2, \"bus\"", "\"operator\": 9, \"bus\"", "$.terminals[1].operator", .unknownOperator(OperatorID(rawValue: 9))),
        ("990002000501", "990001000001", "$.terminals[1].id", .duplicateTerminal(TerminalID(rawValue: 0x99_0001_000001)!)),
        ("\"fareFen\": 100}", "\"fareFen\": -100}", "$.busLines[0].fareFen", .amountOutOfRange(valueFen: -100, minFen: 0, maxFen: 100_000)),
        ("\"fareFen\": 100}", "\"fareFen\": 100001}", "$.busLines[0].fareFen", .amountOutOfRange(valueFen: 100_001, minFen: 0, maxFen: 100_000)),
        ("\"commissionBasisPoints\": 150", "\"commissionBasisPoints\": 10001", "$.operators[1].commissionBasisPoints", .basisPointsOutOfRange(10_001)),
        ("\"discountBasisPoints\": 5000", "\"discountBasisPoints\": -1", "$.concessions[0].discountBasisPoints", .basisPointsOutOfRange(-1)),
        ("{\"metresMax\": 9000, \"fareFen\": 300}", "{\"metresMax\": 3000, \"fareFen\": 300}", "$.metro.fareBands[1]", .unsortedFareBands),
        ("{\"metresMax\": 9000, \"fareFen\": 300}", "{\"metresMax\": 9000, \"fareFen\": 150}", "$.metro.fareBands[1]", .unsortedFareBands),
        ("\"name\": \"B\", \"metres\": 2000", "\"name\": \"B\", \"metres\": 0", "$.metro.lines[0].stations[1].metres", .unsortedStations),
        ("\"operator\": 2, \"name\": \"5\"", "\"operator\": 3, \"name\": \"5\"", "$.busLines[0].operator",
         .operatorKindMismatch(OperatorID(rawValue: 3), expected: .bus, found: .metro)),
        ("\"station\": \"0101\"}}", "\"station\": \"0201\"}}", "$.terminals[2].metroGate.station",
         .unknownStation(StationID(rawValue: 0x0201), line: LineID(rawValue: 0x0001))),
        ("\"line\": \"0005\", \"vehicle\"", "\"line\": \"0006\", \"vehicle\"", "$.terminals[1].bus.line", .unknownLine(LineID(rawValue: 6))),
        ("\"id\": \"990001000001\"", "\"id\": \"99000100000G\"", "$.terminals[0].id", .invalidValue("\"99000100000G\" is not 12 hex digits")),
        ("\"serviceCounter\": {\"name\": \"Desk\"}", "\"serviceCounter\": {\"name\": \"Desk\"}, \"taxi\": {\"vehicle\": \"T\"}", "$.terminals[0]", .terminalLocationCount(2)),
        ("\"cardType\": \"student\"", "\"cardType\": \"pupil\"", "$.concessions[0].cardType",
         .invalidValue("\"pupil\" is not a card type (adult, student, senior, staff)")),
        ("\"entryTwice\": \"refuse\"", "\"entryTwice\": \"allow\"", "$.metro.entryTwice", .invalidValue("\"allow\" is not a policy (maxFare, refuse)")),
        ("{\"station\": \"0102\", \"name\": \"B\", \"metres\": 0}", "{\"station\": \"0202\", \"name\": \"D\", \"metres\": 0}", "$.metro.lines",
         .disconnectedMetro(StationID(rawValue: 0x0101), StationID(rawValue: 0x0202))),
        ("\"fareFen\": 100}", "\"fareFen\": \"100\"}", "$.busLines[0].fareFen", .wrongType("expected an integer")),
        ("\"cutoff\": \"02:00\"", "\"cutoff\": \"25:00\"", "$.settlement.cutoff", .invalidValue("\"25:00\" is not a time HH:MM or HH:MM:SS")),
        ("{\"id\": 3, \"name\": \"Metro\"", "{\"id\": 2, \"name\": \"Metro\"", "$.operators[2].id", .duplicateOperator(OperatorID(rawValue: 2))),
        ("\"line\": \"0002\"", "\"line\": \"0005\"", "$.metro.lines[1].line", .duplicateLine(LineID(rawValue: 5))),
        ("\"kind\": \"bus\"", "\"kind\": \"tram\"", "$.operators[1].kind",
         .invalidValue("\"tram\" is not an operator kind (issuer, bus, metro, taxi, gas)")),
        ("\"commissionBasisPoints\": 150}", "\"commissionBasisPoints\": 150, \"amountFenMax\": 500}", "$.operators[1].amountFenMax",
         .invalidValue("amount limits are for taxi and gas operators only")),
        ("\"operator\": 1, \"serviceCounter\"", "\"operator\": 2, \"serviceCounter\"", "$.terminals[0].operator",
         .operatorKindMismatch(OperatorID(rawValue: 2), expected: .issuer, found: .bus)),
        ("\"uploadWindowDays\": 7", "\"uploadWindowDays\": 0", "$.settlement.uploadWindowDays", .numberOutOfRange(value: 0, min: 1, max: 366)),
    ])
    func malformed(old: String, new: String, path: String, problem: CityFileError.Problem) throws {
        let error = try #require(throws: CityFileError.self) { try parseMinimal(replacing: old, with: new) }
        #expect(error.source == "test.json")
        #expect(error.path == path)
        #expect(error.problem == problem)
    }

    @Test("an integer too large for 64 bits is a typed error at its path, not a trap")
    func overflowingNumber() throws {
        let error = try #require(throws: CityFileError.self) {
            try parseMinimal(replacing: "\"fareFen\": 100}", with: "\"fareFen\": 99999999999999999999}")
        }
        #expect(error.path == "$.busLines[0].fareFen")
        guard case .wrongType = error.problem else { Issue.record("problem \(error.problem)"); return }
    }

    @Test("bytes that are not JSON are reported as malformed at the root")
    func notJSON() throws {
        for text in ["", "{", "[1, 2]", "{\"format\": \"onecard-city/1\""] {
            let error = try #require(throws: CityFileError.self) { try City.parse(data: Data(text.utf8), source: "bad.json") }
            #expect(error.path == "$" || error.path == "$.format", "\(text): \(error)")
        }
        let error = try #require(throws: CityFileError.self) { try City.parse(data: Data("{".utf8), source: "bad.json") }
        guard case .malformedJSON = error.problem else { Issue.record("problem \(error.problem)"); return }
    }

    @Test("a missing file is unreadable and the error names the file")
    func missingFile() throws {
        let error = try #require(throws: CityFileError.self) { try City.load(path: "/nonexistent/dir/nowhere.json") }
        #expect(error.source == "nowhere.json")
        guard case .unreadable = error.problem else { Issue.record("problem \(error.problem)"); return }
    }

    @Test("the error reads file: path: problem")
    func description() throws {
        let error = try #require(throws: CityFileError.self) {
            try parseMinimal(replacing: "\"operator\": 2, \"bus\"", with: "\"operator\": 9, \"bus\"")
        }
        #expect(error.description == "test.json: $.terminals[1].operator: unknown operator 9")
    }
}
