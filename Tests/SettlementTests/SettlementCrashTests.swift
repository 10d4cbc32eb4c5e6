import Clearing
import Foundation
import OneCardCore
import OneCardTestSupport
import Settlement
import Storage
import Testing
import StoreTestSupport

@Suite("a SIGKILL during settlement changes nothing a re-run does not restore", .serialized)
struct SettlementCrashTests {
    /// How many settlements are killed.
    static let killCountMax = 6
    /// The longest a settlement lives before its kill, milliseconds.
    static let runMsMax: UInt32 = 600

    @Test("kill -9 at random points while settling, then re-run: identical files, one set of postings, clearing check holds")
    func killLoop() throws {
        guard FileManager.default.isExecutableFile(atPath: onecardPath) else {
            Issue.record("\(onecardPath) is missing: run `swift build` (the crash test runs the real onecard binary)")
            return
        }
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            try Self.bigDay(db)
            let reference = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/ref"])
            #expect(reference.status == 0, "\(reference.err)")
            var killed = 0
            for i in 0..<Self.killCountMax {
                let close = i == Self.killCountMax - 1
                if try killedSettle(db: db, out: dir + "/k", close: close, afterMs: UInt32.random(in: 10...Self.runMsMax)) { killed += 1 }
                let check = try onecard(["clearing", "check", "--db", db])
                #expect(check.status == 0, "clearing check after kill \(i): \(check.out)")
                if try TestBackend.open(db).settlementDay(settleDay)?.closed != nil { break }
            }
            #expect(killed > 0, "no settlement was killed mid-way: the day is too small to prove anything")
            // The last attempt used --close; finish it if the kill came before the close committed.
            if try TestBackend.open(db).settlementDay(settleDay)?.closed == nil {
                let final = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/k", "--close"])
                #expect(final.status == 0, "\(final.err)")
            }
            var expected = try contents(of: dir + "/ref")
            let got = try contents(of: dir + "/k")
            #expect(Set(got.keys) == Set(expected.keys), "leftover or missing files: \(got.keys.sorted())")
            // The closed run's summary differs from the open reference only in "closed".
            expected["summary.json"] = Data(String(decoding: expected["summary.json"] ?? Data(), as: UTF8.self)
                .replacingOccurrences(of: "\"closed\" : false", with: "\"closed\" : true").utf8)
            for name in expected.keys.sorted() where name != "report.html" {
                #expect(got[name] == expected[name], "\(name) differs after kills")
            }
            #expect(try TestBackend.open(db).settlementTransfers(kind: "settlement").count == Self.postings(dir + "/ref"))
            #expect(try onecard(["clearing", "check", "--db", db]).status == 0)
        }
    }

    /// Starts a settlement and SIGKILLs it after `afterMs`; returns whether it was still running.
    private func killedSettle(db: String, out: String, close: Bool, afterMs: UInt32) throws -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: onecardPath)
        p.arguments = ["settle", "--db", db, "--date", "2026-11-29", "--out", out] + (close ? ["--close"] : [])
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(afterMs * 1_000)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return p.terminationReason == .uncaughtSignal
    }

    /// Settlement postings listed in a summary.
    static func postings(_ dir: String) throws -> Int {
        try JSONDecoder().decode(SettlementSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))).postings.count
    }

    /// A day big enough that a debug-build settlement takes a while: 4,000 cards × 25 taps.
    static func bigDay(_ path: String) throws {
        let store = try TestBackend.open(path)
        try store.addCity(Data(contentsOf: URL(fileURLWithPath: HandDay.cityPath)))
        var day = SyntheticDay(city: Day.city, tacMaster: Day.tacMaster, date: settleDay, tapsPerCard: 25)
        let engine = Day.engine()
        for first in stride(from: 0, to: 4_000, by: 1_000) {
            let r = engine.run(day.batches(cards: first, count: 1_000))
            try store.commit(r, files: r.outcomes.map { "\($0.terminal)-\($0.sequence)" }, engine: engine, received: receivedAt, businessDay: settleDay)
        }
    }
}
