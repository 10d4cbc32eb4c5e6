import Clearing
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Settlement
import Storage
import Testing
import UploadBatch
import StoreTestSupport

/// An officer's click must never pay a fare twice, and a day is closed only whole.
@Suite("officers cannot pay twice; closing is atomic; secrets are created private", .serialized)
struct OfficerSafetyTests {
    /// A day with a grey record (the card left mid-DEBIT) whose completed record exists too.
    struct GreyDay {
        var load: BatchRecord
        var grey: BatchRecord
        var completed: BatchRecord

        init() {
            var d = Day()
            load = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
            completed = d.tap(cardA, 300, at: "2026-11-29T08:00:00")
            grey = completed
            grey.kind = .grey
            grey.tac = 0
        }

        static let greyRef = "\(Day.bus)/1#0"

        func store(_ path: String, _ batches: [IncomingBatch]) throws -> ClearingStore {
            let store = try TestBackend.open(path)
            try store.addCity(Data(contentsOf: URL(fileURLWithPath: TestPaths.city)))
            try ingest(store, batches)
            return store
        }

        @discardableResult
        func ingest(_ store: ClearingStore, _ batches: [IncomingBatch]) throws -> RunResult {
            let engine = ClearingEngine(config: Day.engine().config, state: try store.loadState())
            let r = engine.run(batches)
            try store.commit(r, files: batches.map(\.file), engine: engine, received: receivedAt, businessDay: settleDay)
            return r
        }
    }

    @Test("a completed record arriving after its grey record was accepted is refused 03; accepting again changes nothing")
    func completedAfterGreyAccepted() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            let g = GreyDay()
            let store = try g.store(db, [batch(Day.counter, 1, [g.load]), batch(Day.bus, 1, [g.grey])])
            let args = ["exceptions", "accept", GreyDay.greyRef, "--db", db, "--officer", "Li Wei", "--reason", "card log shows the debit", "--json"]
            let first = try onecard(args)
            #expect(first.status == 0, "\(first.err)")
            let again = try onecard(args)
            #expect(again.status == 0, "an acceptance is idempotent: \(again.err)")
            #expect(again.out == first.out, "the same decision is reported")
            #expect(try store.settlementTransfers(kind: "adjustment").count == 1, "one adjustment, not two")
            let late = try g.ingest(store, [batch(Day.bus, 2, [g.completed])])
            #expect(late.refusals.map { "\($0.code.rawValue) \($0.field)" } == ["03 terminal sequence"])
            #expect(try store.loadState().cards[cardA.rawValue]?.balanceFen == 5000, "the purse is not debited for a fare paid by adjustment")
            #expect(try onecard(["clearing", "check", "--db", db]).status == 0)
        }
    }

    @Test("accepting a grey record whose completed record was cleared is refused: it would pay the fare twice")
    func greyAfterCompleted() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            let g = GreyDay()
            let store = try g.store(db, [batch(Day.counter, 1, [g.load]), batch(Day.bus, 1, [g.grey]), batch(Day.bus, 2, [g.completed])])
            let r = try onecard(["exceptions", "accept", GreyDay.greyRef, "--db", db, "--officer", "Li Wei", "--reason", "looks genuine"])
            #expect(r.status != 0)
            #expect(r.err.contains("would pay it twice"), "\(r.err)")
            #expect(try store.settlementTransfers(kind: "adjustment").isEmpty)
            #expect(try store.decisions().isEmpty, "nothing recorded")
            let reject = try onecard(["exceptions", "reject", GreyDay.greyRef, "--db", db, "--officer", "Li Wei", "--reason", "completed record cleared"])
            #expect(reject.status == 0, "\(reject.err)")
        }
    }

    @Test("an accepted refused load is credited once: the genuine load later is refused 03, a second copy cannot be accepted, nor a copy of a cleared load")
    func loadAcceptedOnce() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            var d = Day()
            let genuine = d.load(cardA, 5000, at: "2026-11-29T07:00:00")
            var forged = genuine
            forged.tac ^= 1
            let cleared = d.load(cardB, 700, at: "2026-11-29T07:10:00")
            var copyOfCleared = cleared
            copyOfCleared.tac ^= 1
            let g = GreyDay()
            let store = try g.store(db, [batch(Day.counter, 1, [forged, cleared]), batch(Day.counter, 2, [copyOfCleared, forged])])
            func accept(_ ref: String) throws -> CLIRun {
                try onecard(["exceptions", "accept", ref, "--db", db, "--officer", "Li Wei", "--reason", "the card shows the load"])
            }
            let first = try accept("\(Day.counter)/1#0")
            #expect(first.status == 0, "\(first.err)")
            let second = try accept("\(Day.counter)/2#1")
            #expect(second.status != 0 && second.err.contains("already accepted"), "\(second.err)")
            let ofCleared = try accept("\(Day.counter)/2#0")
            #expect(ofCleared.status != 0 && ofCleared.err.contains("was cleared"), "\(ofCleared.err)")
            let late = try g.ingest(store, [batch(Day.counter, 3, [genuine])])
            #expect(late.refusals.map { "\($0.code.rawValue) \($0.field)" } == ["03 counter"])
            #expect(try store.settlementTransfers(kind: "adjustment").count == 1)
            #expect(try onecard(["clearing", "check", "--db", db]).status == 0)
        }
    }

    @Test("a day closes only after its cut-off by the clearing clock, and never with a run it did not settle")
    func closeIsAtomic() throws {
        try withTempDir { dir in
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            let store = try HandDay().store(at: db)
            let early = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/a", "--close", "--at", "2026-11-30T01:59:59"])
            #expect(early.status != 0 && early.err.contains("cannot be closed yet"), "\(early.err)")
            #expect(try store.settlementDay(settleDay)?.closed == nil)
            // A settlement computed before a run landed cannot be saved or closed.
            let runs = try store.runs(businessDay: settleDay)
            var d = Day()
            d.sequences[Day.bus] = 10
            d.cards[cardA] = (balance: 5000, offline: 20, online: 1)
            let g = GreyDay()
            try g.ingest(store, [batch(Day.bus, 9, [d.tap(cardA, 100, at: "2026-11-29T20:00:00")])])
            #expect(throws: StorageError.self) {
                try store.saveSettlement(day: settleDay, runs: runs, adjustments: [], transfers: [], closedAt: "2026-11-30T03:00:00Z")
            }
            #expect(try store.settlementDay(settleDay)?.closed == nil)
            let ok = try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", dir + "/b", "--close", "--at", "2026-11-30T02:00:00", "--json"])
            #expect(ok.status == 0, "\(ok.err)")
            let summary = try JSONDecoder().decode(SettlementSummary.self, from: Data(ok.out.utf8))
            #expect(summary.closed && summary.runs == runs + [runs.last! + 1])
        }
    }

    @Test("keysets and settlement files are created mode 0600, even over a leftover temporary file")
    func secretsArePrivate() throws {
        try withTempDir { dir in
            func mode(_ path: String) throws -> Int {
                (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
            }
            let keys = dir + "/keys.json"
            #expect(try onecard(["keys", "new", "--out", keys]).status == 0)
            #expect(try mode(keys) == 0o600)
            let sam = dir + "/sam.json"
            #expect(try onecard(["keys", "restrict", "--keys", keys, "--roles", "purchase", "--out", sam]).status == 0)
            #expect(try mode(sam) == 0o600)
            #expect(try onecard(["keys", "split", "--keys", keys, "--out-dir", dir + "/roles"]).status == 0)
            let roles = ["personalisation": "batch,load,maintenance,purchase,tac", "issuer": "load,maintenance", "clearing": "batch,tac",
                         "psam": "batch,maintenance,purchase"]
            for (name, expected) in roles {
                let path = dir + "/roles/\(name).json"
                #expect(try mode(path) == 0o600)
                let k = try Keyset.load(path: path)
                #expect(k.masterKeys.keys.map(\.rawValue).sorted().joined(separator: ",") == expected, "\(name)")
            }
            #expect(try onecard(["keys", "split", "--keys", keys, "--out-dir", dir + "/roles"]).status != 0, "never overwritten")
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            _ = try HandDay().store(at: db)
            let out = dir + "/s"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            // A world-readable leftover with the temporary's name must not lend its mode.
            FileManager.default.createFile(atPath: out + "/.refusals.csv.tmp", contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
            #expect(try onecard(["settle", "--db", db, "--date", "2026-11-29", "--out", out]).status == 0)
            for name in try FileManager.default.contentsOfDirectory(atPath: out) {
                #expect(try mode(out + "/" + name) == 0o600, "\(name)")
            }
        }
    }
}
