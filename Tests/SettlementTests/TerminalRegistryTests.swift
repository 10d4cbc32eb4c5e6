import Clearing
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Testing
import UploadBatch
import StoreTestSupport

/// Who may upload: the registry and the per-terminal upload keys, through the `onecard` binary.
@Suite("the terminal registry and per-terminal upload keys", .serialized)
struct TerminalRegistryTests {
    @Test("no terminal's key signs for another; unknown, suspended, retired and other-operator terminals are refused whole, named")
    func whoMayUpload() throws {
        try withTempDir { dir in
            let batches = try SignedBatches(dir: dir)
            let keys = batches.keys
            var d = Day(tacMaster: try batches.keyset.masterKey(.tac))
            let load = d.load(cardA, 3000, at: "2026-11-29T07:00:00")
            let tap = d.tap(cardA, 200, at: "2026-11-29T08:00:00")
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            let counter = try batches.write("counter.ocub", terminal: Day.counter, op: 1, seq: 1, [load])
            // The metro gate's key signs a batch that claims to be the bus validator's.
            let forged = try batches.write("forged.ocub", terminal: Day.bus, op: 2, seq: 1, [tap], signer: Day.metro)
            let busBatch = try batches.write("bus.ocub", terminal: Day.bus, op: 2, seq: 2, [tap])
            let lying = try batches.write("lying.ocub", terminal: Day.metro, op: 2, seq: 1, [])
            func ingest(_ files: [String]) throws -> CLIRun {
                try onecard(["clearing", "ingest", "--db", db, "--city", TestPaths.city, "--keys", keys, "--received-at", "2026-11-30T01:00:00", "--json"] + files)
            }
            let unknown = try ingest([counter])
            #expect(unknown.status == 3 && unknown.err.contains("is not registered with clearing"), "\(unknown.err)")
            #expect(try onecard(["clearing", "terminals", "add", "--db", db, "--from-city"]).status == 0)
            #expect(try onecard(["clearing", "terminals", "suspend", "--db", db, "--terminal", Day.bus.description]).status == 0)
            let suspended = try ingest([counter, busBatch])
            #expect(suspended.status == 3 && suspended.err.contains("\(Day.bus) is suspended"), "\(suspended.err)")
            #expect(suspended.out.contains("\"accepted\":1"), "the counter's batch still clears: \(suspended.out)")
            #expect(try onecard(["clearing", "terminals", "activate", "--db", db, "--terminal", Day.bus.description]).status == 0)
            let r = try ingest([forged, lying, busBatch])
            #expect(r.status == 3)
            #expect(r.err.contains("forged.ocub: batch MAC does not verify under the terminal's upload key"), "\(r.err)")
            #expect(r.err.contains("belongs to operator 3 in the registry, the batch claims operator 2"), "\(r.err)")
            #expect(r.out.contains("\"accepted\":1") && r.out.contains("\"batches\":1"), "only the bus's own batch: \(r.out)")
            #expect(try onecard(["clearing", "terminals", "retire", "--db", db, "--terminal", Day.bus.description]).status == 0)
            let again = try onecard(["clearing", "terminals", "add", "--db", db, "--terminal", Day.bus.description])
            #expect(again.status != 0 && again.err.contains("retired"), "a retired terminal does not come back")
            let retired = try ingest([try batches.write("bus3.ocub", terminal: Day.bus, op: 2, seq: 3, [])])
            #expect(retired.status == 3 && retired.err.contains("is retired"), "\(retired.err)")
            let list = try onecard(["clearing", "terminals", "list", "--db", db])
            #expect(list.out.contains("\(Day.bus)  retired") && list.out.contains("\(Day.metro)  active"), "\(list.out)")
        }
    }
}
