import City
import Clearing
import ClearingIngest
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Storage
import StoreTestSupport
import Testing
import UploadBatch

@Suite("Several clearing workers on one database (two front-ends, or serve beside clearing ingest)")
struct ConcurrentWritersTests {
    @Test("two workers clearing the same uploads at once, in opposite orders: each batch is posted once, the books equal one worker's")
    func twoWorkersPostOnce() throws {
        try withTempDir { dir in
            var day = SyntheticDay(city: Day.city, tacMaster: Day.tacMaster, date: BCDDate("2026-11-29")!, tapsPerCard: 4)
            var batches: [IncomingBatch] = []
            for first in stride(from: 0, to: 240, by: 40) { batches += day.batches(cards: first, count: 40) }
            let uploads = batches.enumerated().map { i, b in UploadFixture.upload(b, name: "b\(i)") }
            #expect(uploads.count > 30)
            let received = BCDDateTime(iso: "2026-11-29T23:30:00")!
            func prepared(_ name: String) throws -> String {
                let location = try TestBackend.location(for: dir + "/" + name + ".sqlite")
                try UploadFixture.prepare(try TestBackend.open(location))
                return location
            }
            // The reference: one worker, all uploads in one call.
            let reference = try TestBackend.open(try prepared("reference"))
            let one = try UploadFixture.ingestor(reference).clear(uploads, received: received)
            let referenceAccepted = one.reduce(0) { if case .cleared(let o, _) = $1 { $0 + o.accepted } else { $0 } }
            #expect(referenceAccepted == batches.reduce(0) { $0 + $1.batch.records.count })

            // Two workers, each with its own connection, each clearing every upload, two at a time.
            let shared = try prepared("shared")
            let orders = [Array(uploads.indices), Array(uploads.indices.reversed())]
            let results = Locked<[[(index: Int, result: Ingestor.UploadResult)]]>([[], []])
            let failures = Locked<[String]>([])
            let group = DispatchGroup()
            for w in 0..<2 {
                let order = orders[w]
                DispatchQueue.global().async(group: group) {
                    do {
                        let ingestor = try UploadFixture.ingestor(try TestBackend.open(shared))
                        for start in stride(from: 0, to: order.count, by: 2) {
                            let picked = Array(order[start..<min(order.count, start + 2)])
                            // A worker that lost the race five times in a row answers "stale" (the
                            // front-end's 503): the terminal sends the batches again, as here.
                            var tries = 0
                            while true {
                                do {
                                    let r = try ingestor.clear(picked.map { uploads[$0] }, received: received)
                                    results.withLock { $0[w] += zip(picked, r).map { ($0, $1) } }
                                    break
                                } catch StorageError.stale where tries < 200 {
                                    tries += 1
                                }
                            }
                        }
                    } catch {
                        failures.withLock { $0.append("worker \(w): \(error)") }
                    }
                }
            }
            group.wait()
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
            var fresh = [Int](repeating: 0, count: uploads.count)
            var accepted = 0
            for (index, result) in results.withLock({ $0 }).joined() {
                guard case .cleared(let o, let replayed) = result else { Issue.record("upload \(index) not cleared: \(result)"); continue }
                if !replayed {
                    fresh[index] += 1
                    accepted += o.accepted
                }
            }
            #expect(fresh.allSatisfy { $0 == 1 }, "each upload is posted by exactly one worker: \(fresh)")
            #expect(accepted == referenceAccepted)
            let store = try TestBackend.open(shared)
            #expect(try store.batchKeys().count == uploads.count)
            #expect(try store.loadState().accountNetFen == reference.loadState().accountNetFen, "the account nets differ from one worker's")
            var transfers = 0
            try store.forEachPage("transfers") { transfers += $0.count / Packing.transferBytes }
            var referenceTransfers = 0
            try reference.forEachPage("transfers") { referenceTransfers += $0.count / Packing.transferBytes }
            #expect(transfers == referenceTransfers)
        }
    }

    @Test("a run into a closed business day is refused by the database itself, whatever the client")
    func closedDayInDatabase() throws {
        try withTempDir { dir in
            let store = try TestBackend.open(dir + "/c.sqlite")
            try store.saveSettlement(day: BCDDate("2026-11-29")!, runs: [], adjustments: [], transfers: [], closedAt: "2026-11-30T01:00:00Z")
            #expect(throws: (any Error).self) {
                try store.engine.write { db in
                    try db.execute("""
                        INSERT INTO clearing_run (run, finished, received, business_day, batches, records, summary)
                        VALUES (1, 'x', '2026-11-29T23:00:00', '2026-11-29', 0, 0, '{}')
                        """)
                }
            }
            #expect(throws: (any Error).self) {
                try store.engine.write { db in try db.execute("UPDATE settlement_day SET closed = NULL") }
            }
            #expect(try store.runNumbers().isEmpty)
            #expect(try store.settlementDay(BCDDate("2026-11-29")!)?.closed == "2026-11-30T01:00:00Z")
        }
    }
}
