import Clearing
import Foundation
import OneCardCore
import OneCardTestSupport
import Settlement
import Storage
import Testing
import StoreTestSupport

@Suite("an officer accepts or rejects refused records and exceptions, with an audit trail", .serialized)
struct ExceptionQueueTests {
    @Test("accepting a refused fare posts an adjustment into the open day; the report shows who, when and why")
    func acceptIntoOpenDay() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            _ = try HandDay().store(at: db)
            let ref = HandDay().forgedRef.description
            let missing = try onecard(["exceptions", "accept", ref, "--db", db, "--officer", "Li Wei"])
            #expect(missing.status != 0 && missing.err.contains("--reason"), "the reason is mandatory")
            let ok = try onecard(["exceptions", "accept", ref, "--db", db, "--officer", "Li Wei", "--reason", "card log shows the debit"])
            #expect(ok.status == 0, "\(ok.err)")
            #expect(ok.out.contains("posted into business day 2026-11-29"))
            let twice = try onecard(["exceptions", "reject", ref, "--db", db, "--officer", "Zhang", "--reason", "changed my mind"])
            #expect(twice.status != 0 && twice.err.contains("decisions are final"))
            let s = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/a", "--json"])
            #expect(s.status == 0, "\(s.err)")
            let summary = try JSONDecoder().decode(SettlementSummary.self, from: Data(s.out.utf8))
            let bus = summary.operators.first { $0.operatorID == 2 }
            #expect(bus.map { [$0.adjustments, Int($0.adjustmentFen), Int($0.commissionFen), Int($0.netPayableFen)] } == [1, 150, 21, 1363])
            #expect(summary.positions.reduce(Int64(0)) { $0 + $1.positionFen } == 0)
            let line = summary.exceptions.first { $0.id == ref }
            #expect(line?.status == "accepted" && line?.officer == "Li Wei" && line?.reason == "card log shows the debit" && line?.decided != nil)
            let file = try String(contentsOfFile: dir + "/a/clearing-operator-2.csv", encoding: .utf8)
            #expect(file.contains("\(ref),adjustment,2000000000000002,2026-11-29T08:20:00,710002000501,1,150,"))
            #expect(try String(contentsOfFile: dir + "/a/report.html", encoding: .utf8).contains("Li Wei"))
            let check = try onecard(["clearing", "check", "--db", db])
            #expect(check.status == 0, "\(check.out)")
        }
    }

    @Test("after the day is closed, an acceptance lands in the next open day; a rejection posts nothing")
    func acceptAfterClose() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            _ = try HandDay().store(at: db)
            #expect(try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/a", "--close"]).status == 0)
            let ref = HandDay().forgedRef.description
            let ok = try onecard(["exceptions", "accept", ref, "--db", db, "--officer", "Li Wei", "--reason", "proven by the card", "--json"])
            #expect(ok.status == 0, "\(ok.err)")
            let decision = try JSONDecoder().decode(RefusalDecision.self, from: Data(ok.out.utf8))
            #expect(decision.adjustmentDay == "2026-11-30" && decision.adjustmentFen == 150)
            let next = try onecard(["settle", "--db", db, "--date", "2026-11-30", "--out", dir + "/b", "--json"])
            #expect(next.status == 0, "\(next.err)")
            let summary = try JSONDecoder().decode(SettlementSummary.self, from: Data(next.out.utf8))
            #expect(summary.operators.map { [Int($0.operatorID), $0.adjustments, Int($0.adjustmentFen), Int($0.commissionFen)] } == [[2, 1, 150, 2]])
            #expect(summary.issuer.floatChangeFen == -150)
            #expect(try onecard(["clearing", "check", "--db", db]).status == 0)
            let list = try onecard(["exceptions", "list", "--db", db, "--json"])
            let lines = try list.out.split(separator: "\n").map { try JSONDecoder().decode(ExceptionLine.self, from: Data($0.utf8)) }
            #expect(lines.contains { $0.id == ref && $0.status == "accepted" && $0.officer == "Li Wei" })
        }
    }

    @Test("rejecting a clearing exception records the officer; an unknown id is refused")
    func rejectException() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            _ = try HandDay().store(at: db)
            let unknown = try onecard(["exceptions", "reject", "12345", "--db", db, "--officer", "Li", "--reason", "x"])
            #expect(unknown.status != 0 && unknown.err.contains("no exception 12345"))
            let dup = try onecard(["exceptions", "accept", "710002000501/1#9", "--db", db, "--officer", "Li", "--reason", "x"])
            #expect(dup.status != 0 && dup.err.contains("no refused record"))
            let reject = try onecard(["exceptions", "reject", HandDay().forgedRef.description, "--db", db, "--officer", "Wang Fang", "--reason", "TAC forged"])
            #expect(reject.status == 0, "\(reject.err)")
            let decisions = try TestBackend.open(db).decisions()
            #expect(decisions.map { [$0.status, $0.officer, $0.reason] } == [["rejected", "Wang Fang", "TAC forged"]])
            #expect(decisions.first?.adjustmentDay == nil)
            #expect(try TestBackend.open(db).settlementTransfers(kind: "adjustment").isEmpty)
        }
    }
}
