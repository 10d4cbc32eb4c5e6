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
            try UploadFixture.prepare(store)
            let ingestor = try UploadFixture.ingestor(store)
            let upload = { UploadFixture.upload($0) }
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
