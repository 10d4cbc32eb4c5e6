import City
import Clearing
import Foundation
import GRDB
import OneCardCore
import OneCardTestSupport
import Storage
import Testing
import UploadBatch
import StoreTestSupport

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

    @Test("clearing check, run by run, finds a fare paid twice, a transfer from no accepted record and a duplicate transfer id, naming each")
    func checkFindsForgedPages() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let path = try TestBackend.location(for: dir + "/c.sqlite")
            let store = try TestBackend.open(path)
            try store.addCity(Data(contentsOf: URL(fileURLWithPath: TestPaths.city)))
            let (loads, taps) = Self.day()
            let engine = Day.engine()
            let r = engine.run([loads, taps])
            try store.commit(r, files: ["l", "t"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            func check() throws -> (status: Int32, out: String) { try runOnecardStatus(binary, ["clearing", "check", "--db", path]) }
            #expect(try check().status == 0)
            // Pages are append-only, but a forged page can be appended to a run.
            let purchase = try #require(r.transfers.first { $0.reason == .purchase })
            var twice = purchase
            twice.id &+= 1
            var orphan = purchase
            orphan.id &+= 2
            orphan.source = RecordRef(terminal: purchase.source.terminal, batch: 999, index: 0)
            var bytes: [UInt8] = []
            Packing.append([twice, orphan, purchase], to: &bytes)
            try store.engine.write { db in try db.execute("INSERT INTO clearing_page (run, kind, page, count, data) VALUES (1, 'transfers', 99, 3, ?)", bytes) }
            let (status, out) = try check()
            #expect(status == 1)
            #expect(out.contains("ledger VIOLATION"))
            #expect(out.contains("has 3 purchase transfers, expected 1"), "\(out)")
            #expect(out.contains("is not an accepted record"), "\(out)")
            #expect(out.contains("appears twice"), "\(out)")
        }
    }

    @Test("a committed run rebuilds the same engine state after reopening, and replays are no-ops")
    func rebuild() throws {
        try withTempDir { dir in
            let path = try TestBackend.location(for: dir + "/clearing.sqlite")
            let (loads, taps) = Self.day()
            let engine = Day.engine()
            let r = engine.run([loads, taps])
            try TestBackend.open(path).commit(r, files: ["l", "t"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            let reopened = try TestBackend.open(path)
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

    @Test("gap rows an older version stored are dropped at the next commit, and a commit without them keeps the table empty")
    func legacyGapRows() throws {
        try withTempDir { dir in
            let path = try TestBackend.location(for: dir + "/clearing.sqlite")
            let store = try TestBackend.open(path)
            try store.engine.write { db in
                _ = try db.execute(
                    "INSERT INTO clearing_gap (serial, offline, counter, seen_day, reported) VALUES (?, ?, ?, ?, ?)",
                    [.int(Int64(cardA.rawValue)), .int(0), .int(3), .int(100), .int(0)])
            }
            func gapRows() throws -> Int64? { try store.engine.read { db in try db.int("SELECT COUNT(*) FROM clearing_gap") } }
            #expect(try gapRows() == 1)
            let (loads, taps) = Self.day()
            let engine = ClearingEngine(config: Day.engine().config, state: try store.loadState())
            try store.commit(engine.run([loads]), files: ["l"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            #expect(try gapRows() == 0)
            try store.commit(engine.run([taps]), files: ["t"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:40:00")!, businessDay: BCDDate("2026-11-29")!)
            #expect(try gapRows() == 0)
            #expect(try store.loadState().cards == engine.state.cards)
        }
    }

    @Test("a snapshot of the shadows is due once the runs since the last one have written two shadow rows per card")
    func snapshotDue() throws {
        try withTempDir { dir in
            let store = try TestBackend.open(dir + "/c.sqlite", snapshotRowsMin: 1)
            var d = Day()
            let engine = Day.engine()
            func commit(_ b: IncomingBatch, at time: String) throws {
                try store.commit(engine.run([b]), files: ["f"], engine: engine, received: BCDDateTime(iso: "2026-11-29T" + time)!, businessDay: BCDDate("2026-11-29")!)
            }
            try commit(Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00"), d.load(cardB, 5000, at: "2026-11-29T07:10:00")]), at: "23:30:00")
            #expect(try store.snapshotRun() == 0, "two shadow rows for two cards: none due yet")
            try commit(Day.batch(Day.bus, 1, [d.tap(cardA, 200, at: "2026-11-29T08:00:00"), d.tap(cardB, 200, at: "2026-11-29T08:05:00")]), at: "23:40:00")
            #expect(try store.snapshotRun() == 2, "four rows for two cards")
            #expect(try store.loadState().cards == engine.state.cards)
        }
    }

    @Test("the stored pages pass the ledger audit; refusals keep their records")
    func pages() throws {
        try withTempDir { dir in
            let store = try TestBackend.open(dir + "/c.sqlite")
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
            let path = try TestBackend.location(for: dir + "/c.sqlite")
            let (loads, _) = Self.day()
            let engine = Day.engine()
            let store = try TestBackend.open(path)
            try store.commit(engine.run([loads]), files: ["l"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            let pages = try store.engine.read { db in try db.int("SELECT COUNT(*) FROM clearing_page") }
            #expect(pages ?? 0 > 0)
            // Straight through the database's own connection: the database refuses, not the store's code.
            #expect(throws: (any Error).self) { try store.engine.write { db in try db.execute("DELETE FROM clearing_page") } }
            #expect(throws: (any Error).self) { try store.engine.write { db in try db.execute("UPDATE clearing_batch SET run = 9") } }
            #expect(throws: (any Error).self) { try store.engine.write { db in try db.execute("UPDATE clearing_run SET records = 0") } }
            #expect(try store.engine.read { db in try db.int("SELECT COUNT(*) FROM clearing_page") } == pages)
        }
    }
}

@Suite("Clearing database: what a restart must not forget")
struct ClearingRestartTests {
    static let received = BCDDateTime(iso: "2026-11-29T23:30:00")!
    static let day = BCDDate("2026-11-29")!

    @Test("after a restart a fare re-sent with another counter is still refused 03, and a squatted key is still a conflict")
    func identitiesSurviveRestart() throws {
        try withTempDir { dir in
            let path = try TestBackend.location(for: dir + "/c.sqlite")
            var d = Day()
            let load = Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")])
            let fare = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
            let taps = Day.batch(Day.bus, 1, [fare])
            let engine = Day.engine()
            try TestBackend.open(path).commit(engine.run([load, taps]), files: ["l", "t"], engine: engine, received: Self.received, businessDay: Self.day)
            let state = try TestBackend.open(path).loadState()
            #expect(state.fares == engine.state.fares)
            #expect(state.batchDigests == engine.state.batchDigests)
            var replay = fare
            replay.counter += 1
            replay.balanceBeforeFen = fare.balanceAfterFen
            replay.balanceAfterFen = fare.balanceAfterFen - 200
            let restarted = ClearingEngine(config: engine.config, state: state)
            let other = Day.batch(Day.bus, 1, [replay])
            let r = restarted.run([Day.batch(Day.bus, 2, [replay]), other])
            #expect(r.refusals.map { "\($0.code.rawValue) \($0.field)" } == ["03 terminal sequence"])
            #expect(r.conflicts.count == 1)
            let store = try TestBackend.open(path)
            try store.commit(r, files: ["t2", "t1-again"], engine: restarted, received: Self.received, businessDay: Self.day)
            let listed = try store.conflicts()
            #expect(listed.map { [$0.terminal, String($0.sequence), $0.file, $0.sha256] } == [[Day.bus.description, "1", other.file, other.digest.hex]])
            #expect(listed.first?.ingestedSHA256 == taps.digest.hex)
            #expect(try store.loadState().cards[cardA.rawValue]?.balanceFen == 4800)
        }
    }

    @Test("two writers from the same state: the second commit is refused stale and nothing of it is stored")
    func staleWriter() throws {
        try withTempDir { dir in
            let path = try TestBackend.location(for: dir + "/c.sqlite")
            var d = Day()
            let load = Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")])
            let fare = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
            let store = try TestBackend.open(path)
            let base = Day.engine()
            try store.commit(base.run([load]), files: ["l"], engine: base, received: Self.received, businessDay: Self.day)
            let state = try store.loadState()
            let one = ClearingEngine(config: base.config, state: state), two = ClearingEngine(config: base.config, state: state)
            // The same fare in two different batches, posted by two processes at once.
            let r1 = one.run([Day.batch(Day.bus, 1, [fare])]), r2 = two.run([Day.batch(Day.bus, 2, [fare])])
            #expect(r1.summary.accepted == 1 && r2.summary.accepted == 1, "each alone would pay it")
            try store.commit(r1, files: ["a"], engine: one, received: Self.received, businessDay: Self.day)
            #expect(throws: StorageError.stale(path: path, what: "the clearing database")) {
                try store.commit(r2, files: ["b"], engine: two, received: Self.received, businessDay: Self.day)
            }
            let after = try store.loadState()
            #expect(after.cards[cardA.rawValue]?.balanceFen == 4800, "paid once")
            // Redone from the database as it is now, the second run refuses the fare.
            let redo = ClearingEngine(config: base.config, state: after)
            let r3 = redo.run([Day.batch(Day.bus, 2, [fare])])
            #expect(r3.refusals.map(\.code) == [.duplicate])
            try store.commit(r3, files: ["b"], engine: redo, received: Self.received, businessDay: Self.day)
            #expect(try store.loadState().generation == redo.generation)
        }
    }
}

@Suite("the terminal registry as clearing reads it")
struct TerminalRegistryCacheTests {
    @Test("a registry change made through another connection is seen at the next read; one made through this store at once")
    func changesAreSeen() throws {
        try withTempDir { dir in
            let path = try TestBackend.location(for: dir + "/c.sqlite")
            let clearing = try TestBackend.open(path)
            let officer = try TestBackend.open(path)
            let t = TerminalID(rawValue: 0x7100_0200_0501)!
            try clearing.registerTerminal(t, operatorID: 2, keyVersion: 1, at: "2026-03-01T00:00:00Z")
            #expect(try clearing.terminals()[t]?.status == .active)
            // Another process (here: another connection) suspends it.
            try officer.setTerminalStatus(t, .suspended, at: "2026-03-01T01:00:00Z")
            #expect(try clearing.terminals()[t]?.status == .suspended)
            // And this store re-registers another one.
            let u = TerminalID(rawValue: 0x7100_0200_0502)!
            try clearing.registerTerminal(u, operatorID: 2, keyVersion: 1, at: "2026-03-01T02:00:00Z")
            #expect(try clearing.terminals()[u]?.status == .active)
            #expect(try officer.terminals().count == 2)
        }
    }
}
