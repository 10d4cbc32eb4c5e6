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

    @Test("a generated day ingested through repeated SIGKILLs ends with exactly the ground truth, and the ledger holds after every kill")
    func killLoop() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let keys = dir + "/keys.json"
            _ = try runOnecard(binary, ["keys", "new", "--out", keys])
            _ = try runOnecard(binary, [
                "loadgen", "--city", TestPaths.city, "--keys", keys, "--cards", "1000", "--taps", "12000", "--seed", "11",
                "--out", dir + "/day", "--duplicates", "0.01", "--forged-tac", "0.01", "--grey", "0.01", "--hotlisted", "0.02",
                "--batch-records-max", "700",
            ])
            let db = try TestBackend.location(for: dir + "/clearing.sqlite")
            _ = try runOnecard(binary, ["clearing", "hotlist", "import", "--db", db, "--city", TestPaths.city, "--file", dir + "/day/hotlist.json"])
            _ = try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--from-city"])
            let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/day/batches").sorted().map { dir + "/day/batches/" + $0 }
            let ingest = ["clearing", "ingest", "--db", db, "--keys", keys, "--received-at", "2026-03-02T23:59:59",
                          "--records-per-commit", "1500", "--json"] + files
            var batchesSeen = 0
            for _ in 0..<Self.killCountMax {
                try runAndKill(binary, ingest, afterMs: UInt32.random(in: 30...400))
                let after = try audit(db)
                #expect(after.holds, "ledger broken after a kill: \(after.violations)")
                #expect(after.batches >= batchesSeen, "a committed batch disappeared")
                // A kill during a run of the rollback journal leaves it hot; the open above rolled it
                // back and put the file back in WAL mode, which removes it.
                if !TestBackend.isPostgres { #expect(!FileManager.default.fileExists(atPath: db + "-journal"), "a journal left after reopening") }
                batchesSeen = after.batches
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


    private func runAndKill(_ binary: String, _ arguments: [String], afterMs: UInt32) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(afterMs * 1_000)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }
}
