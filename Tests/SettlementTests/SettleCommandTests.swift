import Clearing
import Foundation
import OneCardCore
import OneCardTestSupport
import Settlement
import Storage
import Testing
import StoreTestSupport

@Suite("onecard settle, reconcile and exceptions on a real database", .serialized)
struct SettleCommandTests {
    @Test("settle writes every file, re-running an open day gives identical bytes, and clearing check holds")
    func rerunIdentical() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            _ = try HandDay().store(at: db)
            let first = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/a"])
            #expect(first.status == 0, "\(first.err)")
            let a = try contents(of: dir + "/a")
            #expect(Set(a.keys) == ["summary.json", "positions.csv", "report.html", "refusals.csv",
                                    "clearing-operator-2.csv", "clearing-operator-3.csv", "clearing-operator-4.csv", "clearing-operator-5.csv"])
            let again = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/a", "--json"])
            #expect(again.status == 0, "\(again.err)")
            #expect(try contents(of: dir + "/a") == a)
            let check = try onecard(["clearing", "check", "--db", db])
            #expect(check.status == 0, "\(check.out)")
            let store = try TestBackend.open(db)
            #expect(try store.settlementTransfers(kind: "settlement").count == 9, "re-settling replaced, not doubled, the postings")
            let bus = String(decoding: a["clearing-operator-2.csv"] ?? Data(), as: UTF8.self).split(separator: "\n")
            #expect(bus.count == 3)
            #expect(bus[1].hasPrefix("710002000501/1#0,purchase,2000000000000001,2026-11-29T08:00:00,710002000501,0,1000,"))
            let refusals = String(decoding: a["refusals.csv"] ?? Data(), as: UTF8.self)
            #expect(refusals.contains("710002000501/1#2,01,TAC error,purchase,2000000000000002,2026-11-29T08:20:00"))
            let positions = String(decoding: a["positions.csv"] ?? Data(), as: UTF8.self).split(separator: "\n")
            #expect(positions.count == 1 + 6)
            let html = String(decoding: a["report.html"] ?? Data(), as: UTF8.self)
            #expect(html.contains("<svg") && html.contains("12.15"))
            #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("<link") && !html.contains("href="), "the report is self-contained")
        }
    }

    @Test("a closed day is immutable: settling it again and ingesting into it are refused with a clear message")
    func closedDay() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            _ = try HandDay().store(at: db)
            let closed = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/a", "--close"])
            #expect(closed.status == 0, "\(closed.err)")
            let summary = try JSONDecoder().decode(SettlementSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/a/summary.json")))
            #expect(summary.closed)
            let again = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/b"])
            #expect(again.status != 0)
            #expect(again.err.contains("business day 2026-11-29 was closed") && again.err.contains("adjustments"))
            let store = try TestBackend.open(db)
            let engine = ClearingEngine(config: Day.engine().config, state: try store.loadState())
            var d = Day()
            let late = batch(Day.counter, 2, [d.load(CardSerial(hex: "2000000000000009")!, 100, at: "2026-11-29T20:00:00")])
            #expect(throws: StorageError.dayClosed(path: db, day: "2026-11-29")) {
                try store.commit(engine.run([late]), files: ["late"], engine: engine, received: receivedAt, businessDay: settleDay)
            }
            #expect(throws: (any Error).self) { try store.saveSettlement(day: settleDay, runs: [], adjustments: [], transfers: [], closedAt: nil) }
            #expect(try onecard(["clearing", "check", "--db", db]).status == 0)
        }
    }

    @Test("reconcile reports a matching, a mismatching and missing terminals in both directions")
    func reconcile() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            _ = try HandDay().store(at: db)
            let statement = dir + "/s.csv"
            // bus matches, metro differs by 10 fen, bus2 cleared nothing, taxi2 listed with nothing
            // cleared (so taxi is the statement's operator and the cleared taxi terminal is missing).
            try "terminal,count,amount_fen\n710002000501,2,1234\n710003010101,2,560\n710002000502,1,200\n710004000002,0,0\n"
                .write(toFile: statement, atomically: true, encoding: .utf8)
            let r = try onecard(["reconcile", "--db", db, "--date", "2026-11-29", "--statement", statement, "--json"])
            #expect(r.status == 1)
            let rec = try JSONDecoder().decode(Reconciliation.self, from: Data(r.out.utf8))
            #expect(rec.matched.map(\.terminal) == ["710002000501"])
            #expect(rec.mismatched.first.map { [$0.statementCount, $0.clearedCount] } == [2, 2])
            #expect(rec.mismatched.first.map { [$0.statementAmountFen, $0.clearedAmountFen] } == [560, 550])
            #expect(rec.missingInClearing.map(\.terminal) == ["710002000502", "710004000002"])
            #expect(rec.missingInStatement.map(\.terminal) == ["710004000001"])
            try "terminal,count,amount_fen\n710002000501,2,1234\n".write(toFile: statement, atomically: true, encoding: .utf8)
            #expect(try onecard(["reconcile", "--db", db, "--date", "2026-11-29", "--statement", statement]).status == 0)
        }
    }
}
