import Clearing
import Foundation
import OneCardTestSupport
import OneCardCore
import Storage
import UploadBatch
import Testing
import StoreTestSupport

@Suite("kill -9 during clearing ingest loses nothing acknowledged and applies nothing twice")
struct ClearingCrashTests {
    /// How many times ingest is killed.
    static let killCountMax = 12

    /// Runs of 1,500 records go through WAL, checkpointed on a connection of their own
    /// (``SQLiteFile/Checkpointer``); runs of 32,768 through a rollback journal when the ingest
    /// has the SQLite file alone (``ClearingStore/appendingRunRecordsMin``). The day's 20 MB fill
    /// the WAL past ``SQLiteFile/Checkpointer/framesMin`` (16 MiB).
    @Test("a generated day ingested through repeated SIGKILLs ends with exactly the ground truth, and the ledger holds after every kill",
          arguments: [1_500, ClearingStore.appendingRunRecordsMin])
    func killLoop(recordsPerRun: Int) throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let keys = dir + "/keys.json"
            _ = try runOnecard(binary, ["keys", "new", "--out", keys])
            _ = try runOnecard(binary, [
                "loadgen", "--city", TestPaths.city, "--keys", keys, "--cards", "8000", "--taps", "100000", "--seed", "11",
                "--out", dir + "/day", "--duplicates", "0.01", "--forged-tac", "0.01", "--grey", "0.01", "--hotlisted", "0.02",
                "--batch-records-max", "700",
            ])
            let db = try TestBackend.location(for: dir + "/clearing.sqlite")
            _ = try runOnecard(binary, ["clearing", "hotlist", "import", "--db", db, "--city", TestPaths.city, "--file", dir + "/day/hotlist.json"])
            _ = try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--from-city"])
            let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/day/batches").sorted().map { dir + "/day/batches/" + $0 }
            let ingest = ["clearing", "ingest", "--db", db, "--keys", keys, "--received-at", "2026-03-02T23:59:59",
                          "--records-per-commit", String(recordsPerRun), "--json"] + files
            var batchesSeen = 0
            // Every other kill waits for the moment that matters and kills then: through a
            // rollback journal, the journal hot (a run being committed), so that a reopen has a
            // hot journal to roll back; through WAL, the file growing (a checkpoint copying the
            // WAL into it). At random times, a build is mostly verifying and posting.
            let large = recordsPerRun >= ClearingStore.appendingRunRecordsMin
            var timedKills = 0
            for kill in 0..<Self.killCountMax {
                if TestBackend.isPostgres || kill % 2 == 1 {
                    try runAndKill(binary, ingest, afterMs: UInt32.random(in: 30...400))
                } else if large {
                    timedKills += try runAndKill(binary, ingest, when: { Self.isHot(db + "-journal") }) ? 1 : 0
                } else {
                    let size = FileBytes.size(db) ?? 0
                    timedKills += try runAndKill(binary, ingest, when: { FileBytes.size(db) ?? 0 > size }) ? 1 : 0
                }
                let after = try audit(db)
                #expect(after.holds, "ledger broken after a kill: \(after.violations)")
                #expect(after.batches >= batchesSeen, "a committed batch disappeared")
                // The open above rolled a hot journal back (and removed it) before it put the file
                // back in WAL mode. A kill before the journal's first fsync leaves one whose header
                // is still zero: not hot, ignored, and written over by the next such ingest.
                if !TestBackend.isPostgres { #expect(!Self.isHot(db + "-journal"), "a hot journal left after reopening") }
                batchesSeen = after.batches
            }
            if !TestBackend.isPostgres {
                #expect(timedKills > 0, large ? "no kill left a hot journal (a run being committed through the rollback journal)"
                                              : "no kill came while a checkpoint copied the WAL into the file")
            }
            let final = try runOnecard(binary, ingest)
            let summary = try JSONDecoder().decode(Summary.self, from: Data(final.utf8))
            let truth = try JSONDecoder().decode(Summary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/day/ground-truth.json")))
            #expect(summary.accepted == truth.accepted)
            #expect(summary.acceptedAmountFen == truth.acceptedAmountFen)
            #expect(summary.refused == truth.refused)
            #expect(summary.records == truth.records)
            #expect(try audit(db).holds)
        }
    }

    struct Summary: Decodable {
        var records: Int
        var accepted: Int
        var acceptedAmountFen: Int64
        var refused: [String: Int]
    }

    private func audit(_ db: String) throws -> (holds: Bool, violations: [String], batches: Int) {
        let store = try TestBackend.open(db)
        let state = try store.loadState()
        var audit = LedgerAudit()
        var accepted: [(ref: RecordRef, kind: RecordKind, amountFen: UInt32)] = []
        try store.forEachPage("transfers") { audit.add(Packing.transfers($0) ?? []) }
        try store.forEachPage("details") { accepted += Packing.acceptedRefs($0) ?? [] }
        audit.finish(accepted: accepted, shadows: state.cards)
        return (audit.holds, audit.violations, state.batches.count)
    }


    /// Whether the rollback journal at `path` is hot: its header begins with SQLite's journal
    /// magic, written after the journal's content was synced and before the file is changed.
    static func isHot(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 8)) == Data([0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7])
    }

    /// Starts the ingest and kills it as soon as `moment` holds (polled every 0.2 ms; at most
    /// 5 s). Returns whether it held when the ingest was killed.
    private func runAndKill(_ binary: String, _ arguments: [String], when moment: () -> Bool) throws -> Bool {
        var held = false
        try runAndKill(binary, arguments) { p in
            let deadline = Date().addingTimeInterval(5)
            while p.isRunning, Date() < deadline, !moment() { usleep(200) }
            held = moment()
        }
        return held
    }

    private func runAndKill(_ binary: String, _ arguments: [String], afterMs: UInt32) throws {
        try runAndKill(binary, arguments) { _ in usleep(afterMs * 1_000) }
    }

    /// Starts `binary` with its output discarded, waits as `until` does, then kills it with SIGKILL.
    private func runAndKill(_ binary: String, _ arguments: [String], until: (Process) -> Void) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        until(p)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }
}
