import City
import Clearing
import ClearingIngest
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Storage
import Testing
import UploadBatch
import StoreTestSupport

@Suite("A running clearing (the front-end's) sees hotlist changes made since it started")
struct HotlistRefreshTests {
    @Test("a card hotlisted while the ingestor runs is refused 07 in its next run; taken off, it is accepted again (found by onecard simulate --seed 1)")
    func hotlistSeenByRunningIngestor() throws {
        try withTempDir { dir in
            let store = try TestBackend.open(dir + "/c.sqlite")
            try store.addCity(Data(contentsOf: URL(fileURLWithPath: TestPaths.city)))
            for t in Day.city.terminals.values { try store.registerTerminal(t.id, operatorID: t.operatorID.rawValue, keyVersion: 1, at: "2026-11-29T00:00:00Z") }
            let keyset = Keyset(keyVersion: KeyVersion(rawValue: 1), masterKeys: [.tac: Day.tacMaster, .batch: try TripleDESKey(hex: "77777777777777778888888888888888")])
            let ingestor = try Ingestor(store: store, city: Day.city, keys: try ClearingKeys(keysets: [keyset]))
            func upload(_ b: IncomingBatch) -> Ingestor.Upload {
                let key = BatchFile.uploadKey(batchMaster: try! keyset.masterKey(.batch), terminal: b.batch.header.terminal)
                return Ingestor.Upload(name: b.file, bytes: b.batch.encode(key: key))
            }
            func accepted(_ r: [Ingestor.UploadResult]) -> [Int] {
                r.map { if case .cleared(let o, _) = $0 { o.accepted } else { -1 } }
            }
            var d = Day()
            let received = BCDDateTime(iso: "2026-11-29T23:30:00")!
            let loads = Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")])
            let first = Day.batch(Day.bus, 1, [d.tap(cardA, 200, at: "2026-11-29T08:00:00")])
            #expect(accepted(try ingestor.clear([upload(loads), upload(first)], received: received)) == [1, 1])
            // An officer hotlists the card (another process, or this store) while clearing runs.
            try store.hotlistAdd(cardA, since: UInt32(BCDDateTime(iso: "2026-11-29T09:00:00")!.secondsSinceEpoch), reason: "stolen")
            let second = Day.batch(Day.bus, 2, [d.tap(cardA, 200, at: "2026-11-29T10:00:00")])
            let r = try ingestor.clear([upload(second)], received: received)
            guard case .cleared(let outcome, _) = r[0] else { Issue.record("batch 2 not cleared: \(r)"); return }
            #expect(outcome.accepted == 0 && outcome.refused["07"] == 1, "\(outcome.refused)")
            try store.hotlistRemove(cardA)
            let third = Day.batch(Day.bus, 3, [d.tap(cardA, 200, at: "2026-11-29T11:00:00")])
            #expect(accepted(try ingestor.clear([upload(third)], received: received)) == [1])
        }
    }
}
