import Foundation
import OneCardCore
import OneCardTestSupport
import Storage
import Testing
import StoreTestSupport

@Suite("settling a day uses the city version in force that day", .serialized)
struct CityVersionTests {
    /// The city file with the bus operator's (2) commission changed.
    func city(busCommission: Int) throws -> Data {
        var city = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: TestPaths.city))) as? [String: Any])
        var operators = try #require(city["operators"] as? [[String: Any]])
        let i = try #require(operators.firstIndex { $0["id"] as? Int == 2 })
        operators[i]["commissionBasisPoints"] = busCommission
        city["operators"] = operators
        return try JSONSerialization.data(withJSONObject: city, options: [.sortedKeys])
    }

    func busNet(_ dir: String) throws -> Substring? {
        let positions = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/positions.csv")), as: UTF8.self)
        return positions.split(separator: "\n").first { $0.contains("1215") || $0.contains("1111") }
    }

    @Test("a version effective after the day leaves the day's settlement as it was; one effective on the day changes it; closed days keep theirs")
    func versionInForce() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            _ = try HandDay().store(at: db)
            let tomorrow = dir + "/tomorrow.json", today = dir + "/today.json"
            try city(busCommission: 1000).write(to: URL(fileURLWithPath: tomorrow))
            try city(busCommission: 1000).write(to: URL(fileURLWithPath: today))
            // Bus at 150 bp: commission 18.51 → 19, net 1215 (the worked day). At 1000 bp: 123.4 → 123, net 1111.
            #expect(try onecard(["clearing", "city", "add", "--db", db, "--file", tomorrow, "--effective", "2026-11-30"]).status == 0)
            let a = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/a"])
            #expect(a.status == 0, "\(a.err)")
            #expect(try busNet(dir + "/a")?.contains("1215") == true, "version 1 is in force on 2026-11-29")
            #expect(try onecard(["clearing", "city", "add", "--db", db, "--file", today, "--effective", "2026-11-29"]).status == 0)
            let b = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/b", "--close", "--at", "2026-11-30T12:00:00"])
            #expect(b.status == 0, "\(b.err)")
            #expect(try busNet(dir + "/b")?.contains("1111") == true, "version 3 is in force on 2026-11-29")
            let list = try onecard(["clearing", "city", "list", "--db", db, "--json"])
            let versions = try #require(try JSONSerialization.jsonObject(with: Data(list.out.utf8)) as? [[String: Any]])
            #expect(versions.map { $0["effective"] as? String } == [nil, "2026-11-30", "2026-11-29"])
            // The day is closed: no version may take effect on it now, and `show` prints what it used.
            let refused = try onecard(["clearing", "city", "add", "--db", db, "--file", tomorrow, "--effective", "2026-11-29"])
            #expect(refused.status != 0 && refused.err.contains("2026-11-29"), "\(refused.err)")
            let shown = try onecard(["clearing", "city", "show", "--db", db, "--day", "2026-11-29"])
            #expect(Data(shown.out.utf8) == (try Data(contentsOf: URL(fileURLWithPath: today))))
        }
    }
}
