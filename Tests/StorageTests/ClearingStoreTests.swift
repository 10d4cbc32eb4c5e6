import City
import Clearing
import Foundation
import GRDB
import OneCardCore
import OneCardTestSupport
import Storage
import Testing
import UploadBatch

@Suite("Clearing database")
struct ClearingStoreTests {
    static func day() -> (IncomingBatch, IncomingBatch) {
        var d = Day()
        let loads = Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00"), d.load(cardB, 300, at: "2026-11-29T07:10:00")])
        var forged = d.tap(cardB, 100, at: "2026-11-29T08:30:00")
        forged.tac ^= 0xFF
        let taps = Day.batch(Day.bus, 1, [d.tap(cardA, 200, at: "2026-11-29T08:00:00"), forged, d.tap(cardA, 200, at: "2026-11-29T09:00:00")])
        return (loads, taps)
    }

    @Test("a committed run rebuilds the same engine state after reopening, and replays are no-ops")
    func rebuild() throws {
        try withTempDir { dir in
            let path = dir + "/clearing.sqlite"
            let (loads, taps) = Self.day()
            let engine = Day.engine()
            let r = engine.run([loads, taps])
            try ClearingStore(path: path).commit(r, files: ["l", "t"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            let reopened = try ClearingStore(path: path)
            let state = try reopened.loadState()
            #expect(state.cards == engine.state.cards)
            #expect(state.batches == engine.state.batches)
            #expect(state.accountNetFen == engine.state.accountNetFen)
            #expect(state.newestDay == engine.state.newestDay)
            let again = ClearingEngine(config: engine.config, state: state).run([taps])
            #expect(again.replayed == [true])
            #expect(again.outcomes[0] == r.outcomes[1])
            #expect(again.transfers.isEmpty)
        }
    }

    @Test("the stored pages pass the ledger audit; refusals keep their records")
    func pages() throws {
        try withTempDir { dir in
            let store = try ClearingStore(path: dir + "/c.sqlite")
            let (loads, taps) = Self.day()
            let engine = Day.engine()
            try store.commit(engine.run([loads, taps]), files: ["l", "t"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            var audit = LedgerAudit()
            var accepted: [(ref: RecordRef, kind: RecordKind, amountFen: UInt32)] = []
            try store.forEachPage("transfers") { audit.add(Packing.transfers($0) ?? []) }
            try store.forEachPage("details") { accepted += Packing.acceptedRefs($0) ?? [] }
            audit.finish(accepted: accepted, shadows: try store.loadState().cards)
            #expect(audit.holds, "\(audit.violations)")
            #expect(audit.transferCount == 4 && accepted.count == 4)
            var refusals: [Refusal] = []
            try store.forEachPage("refusals") { refusals += Packing.refusals($0) ?? [] }
            #expect(refusals.map(\.code) == [.tacError])
            #expect(refusals.first?.record.serial == cardB)
        }
    }

    @Test("ledger pages and ingested batches cannot be changed or deleted")
    func immutable() throws {
        try withTempDir { dir in
            let path = dir + "/c.sqlite"
            let (loads, _) = Self.day()
            let engine = Day.engine()
            try ClearingStore(path: path).commit(engine.run([loads]), files: ["l"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            let db = try GRDB.DatabaseQueue(path: path)
            #expect(throws: (any Error).self) { try db.write { try $0.execute(sql: "DELETE FROM clearing_page") } }
            #expect(throws: (any Error).self) { try db.write { try $0.execute(sql: "UPDATE clearing_batch SET run = 9") } }
        }
    }
}
