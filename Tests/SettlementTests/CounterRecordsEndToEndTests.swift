import Clearing
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Settlement
import Testing
import UploadBatch
import StoreTestSupport

/// Issue, load, fares, refund and replacement records written as real upload files, ingested
/// and settled by the `onecard` binary: what the counter paid out and took in settles to the fen.
@Suite("counter records cleared and settled end to end", .serialized)
struct CounterRecordsEndToEndTests {
    static let cardC = CardSerial(hex: "2000000000000003")!

    func record(_ kind: RecordKind, _ serial: CardSerial, _ d: inout Day, amount: UInt32 = 0, deposit: UInt32 = 0, at: String) -> BatchRecord {
        BatchRecord(
            kind: kind, transactionType: 0, serial: serial, cardType: 1, counter: 0, amountFen: amount, balanceBeforeFen: amount,
            balanceAfterFen: 0, terminal: Day.counter, sequence: d.next(Day.counter), dateTimeBCD: Day.bcd(at), tac: 0, depositFen: deposit)
    }

    @Test("issue 2 cards, load, ride, refund A, replace B by C, refund C: deposits, balances and positions to the fen")
    func counterDay() throws {
        try withTempDir { dir in
            let batches = try SignedBatches(dir: dir)
            let keys = batches.keys
            var d = Day(tacMaster: try batches.keyset.masterKey(.tac))
            var counter: [BatchRecord] = []
            counter.append(record(.issue, cardA, &d, deposit: 2000, at: "2026-11-29T06:00:00"))
            counter.append(record(.issue, cardB, &d, deposit: 2000, at: "2026-11-29T06:01:00"))
            counter.append(record(.issue, Self.cardC, &d, deposit: 2000, at: "2026-11-29T06:02:00"))
            counter.append(d.load(cardA, 3000, at: "2026-11-29T07:00:00"))
            counter.append(d.load(cardB, 2000, at: "2026-11-29T07:01:00"))
            let taps = [d.tap(cardA, 200, at: "2026-11-29T08:00:00"), d.tap(cardB, 150, at: "2026-11-29T08:05:00")]
            counter.append(record(.refund, cardA, &d, amount: 2800, deposit: 2000, at: "2026-11-29T18:00:00"))
            counter.append(d.replace(cardB, with: Self.cardC, at: "2026-11-29T18:10:00"))
            counter.append(record(.refund, Self.cardC, &d, amount: 1850, deposit: 2000, at: "2026-11-29T19:00:00"))
            // A second refund of A: refused 03, pays nothing.
            counter.append(record(.refund, cardA, &d, amount: 2800, deposit: 2000, at: "2026-11-29T19:30:00"))
            let files = [try batches.write("counter.ocub", terminal: Day.counter, op: 1, seq: 1, counter),
                         try batches.write("bus.ocub", terminal: Day.bus, op: 2, seq: 1, taps)]
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            #expect(try onecard(["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"]).status == 0)
            let ingest = try onecard(["clearing", "ingest", "--db", db, "--city", TestPaths.city, "--keys", keys,
                                      "--received-at", "2026-11-30T01:00:00", "--json"] + files)
            #expect(ingest.status == 0, "\(ingest.err)")
            #expect(ingest.out.contains("\"accepted\":10") && ingest.out.contains("\"03\":1"), "\(ingest.out)")
            let s = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/s", "--json"])
            #expect(s.status == 0, "\(s.err)")
            let summary = try JSONDecoder().decode(SettlementSummary.self, from: Data(s.out.utf8))
            let agent = try #require(summary.agents.first { $0.terminal == Day.counter.description })
            #expect(agent.issues == 3 && agent.refunds == 2)
            #expect([agent.loadsFen, agent.depositsTakenFen, agent.depositsRefundedFen, agent.balancesRefundedFen] == [Int64(5000), 6000, 4000, 4650])
            #expect(agent.owedToIssuerFen == Int64(5000 + 6000 - 4000 - 4650))
            #expect(summary.positions.reduce(Int64(0)) { $0 + $1.positionFen } == 0)
            let check = try onecard(["clearing", "check", "--db", db])
            #expect(check.status == 0, "\(check.out)")
            let refusals = try String(contentsOfFile: dir + "/s/refusals.csv", encoding: .utf8)
            #expect(refusals.contains(",03,duplicate: card serial,refund,2000000000000001,"), "\(refusals)")
        }
    }
}
