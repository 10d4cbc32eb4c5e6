import City
import Clearing
import ClearingIngest
import Foundation
import OneCardCore
import OneCardTestSupport
import Storage
import Testing
import UploadBatch
import StoreTestSupport

@Suite("a day cleared in many small runs ends exactly as the day cleared in one", .serialized)
struct IncrementalRunsTests {
    @Test("one run, a run per batch in one process, and runs of a few batches each in a fresh process: same ledger, shadows, refusals, exceptions and settlement files")
    func manyRunsEqualOne() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            // Small batches, so that a card's records are scattered over many runs, with faults
            // (duplicates, forged TACs, grey records) for the checks to refuse.
            let (keys, files) = try generatedDay(binary, dir, [
                "--cards", "1500", "--taps", "15000", "--seed", "12",
                "--duplicates", "0.01", "--forged-tac", "0.01", "--grey", "0.01", "--batch-records-max", "60",
            ])
            #expect(files.count > 200, "the day must be split into many batches (\(files.count))")
            let city = try City.parse(data: Data(contentsOf: URL(fileURLWithPath: TestPaths.city)), source: TestPaths.city)
            let clearingKeys = try ClearingKeys(paths: [keys])
            let received = BCDDateTime(iso: "2026-03-02T23:59:59")!
            let nextDay = BCDDateTime(iso: "2026-03-03T23:59:59")!

            func open(_ name: String, snapshotRowsMin: Int = ClearingStore.snapshotRowsMinDefault) throws -> ClearingStore {
                let store = try TestBackend.open(dir + "/" + name + ".sqlite", snapshotRowsMin: snapshotRowsMin)
                try registerCity(store, city)
                return store
            }
            // One run for the whole day.
            let one = try open("one")
            let oneReport = try Ingestor(store: one, city: city, keys: clearingKeys).ingest(files, received: received, recordsPerRun: 1 << 30)
            #expect(oneReport.runs == 1)
            // A run per batch, in one process.
            let perBatch = try open("per-batch")
            let perBatchReport = try Ingestor(store: perBatch, city: city, keys: clearingKeys).ingest(files, received: received, recordsPerRun: 1)
            #expect(perBatchReport.runs == files.count)
            // Runs of up to 600 records, the first of them short (the pipeline's start).
            let sixHundred = try open("six-hundred")
            let sixHundredReport = try Ingestor(store: sixHundred, city: city, keys: clearingKeys).ingest(files, received: received, recordsPerRun: 600)
            #expect(sixHundredReport.runs > files.count / 10 && sixHundredReport.runs < files.count)
            #expect(sixHundredReport.summary == oneReport.summary)
            // Runs of three batches, each from a fresh ingestor (a restart between every run),
            // with snapshots of the shadows as often as the store allows: startup reads the newest
            // snapshot and the runs after it.
            let restarted = try open("restarted", snapshotRowsMin: 1)
            var summaries: [IngestSummary] = []
            for start in stride(from: 0, to: files.count, by: 3) {
                let r = try Ingestor(store: restarted, city: city, keys: clearingKeys)
                    .ingest(Array(files[start..<min(files.count, start + 3)]), received: received)
                summaries.append(r.summary)
            }
            #expect(try restarted.snapshotRun() > 1, "snapshots were taken")
            #expect(try perBatch.snapshotRun() == 0)
            #expect(perBatchReport.summary == oneReport.summary)
            #expect(summaries.reduce(0) { $0 + $1.accepted } == oneReport.summary.accepted)
            #expect(summaries.reduce(0) { $0 + $1.acceptedAmountFen } == oneReport.summary.acceptedAmountFen)
            #expect(oneReport.summary.refused.values.reduce(0, +) > 0, "the faults must have something refused")

            // The next receipt day closes the day: gaps and balances are judged on what arrived.
            var closing: [Int] = []
            for store in [one, perBatch, restarted, sixHundred] {
                closing.append(try Ingestor(store: store, city: city, keys: clearingKeys).ingest([], received: nextDay).summary.exceptions)
            }
            #expect(closing[1] == closing[0] && closing[2] == closing[0] && closing[3] == closing[0], "exceptions opened when the day closed: \(closing)")

            let expected = try books(one)
            #expect(expected.transfers.count > 10_000)
            #expect(expected.accounts.count > 3, "the account nets were stored")
            for store in [perBatch, restarted, sixHundred] {
                let got = try books(store)
                #expect(got.transfers == expected.transfers, "the ledger differs")
                #expect(got.shadows == expected.shadows, "the card shadows differ")
                #expect(got.accounts == expected.accounts, "the account nets differ")
                #expect(got.refusals == expected.refusals, "the refusals differ")
                #expect(got.exceptions == expected.exceptions, "the exceptions differ")
            }

            // Settlement of both days through the binary: byte-identical files.
            for day in ["2026-03-02", "2026-03-03"] {
                for name in ["one", "per-batch", "restarted"] {
                    try runOnecard(binary, ["settle", "--db", try TestBackend.location(for: dir + "/" + name + ".sqlite"), "--date", day, "--out", dir + "/out-\(name)-\(day)", "--json"])
                }
                let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/out-one-\(day)").sorted()
                #expect(names.contains("refusals.csv"))
                if day == "2026-03-02" { #expect(names.contains { $0.hasPrefix("clearing-operator-") }) }
                for name in names where name != "summary.json" && name != "report.html" {
                    let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/out-one-\(day)/" + name))
                    for other in ["per-batch", "restarted"] {
                        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/out-\(other)-\(day)/" + name))
                        #expect(a == b, "\(day) \(name) differs between one run and \(other)")
                    }
                }
                // The summary differs only in the list of runs it settled.
                let a = try summaryWithoutRuns(dir + "/out-one-\(day)/summary.json")
                for other in ["per-batch", "restarted"] {
                    #expect(try summaryWithoutRuns(dir + "/out-\(other)-\(day)/summary.json") == a, "\(day) summary.json differs beyond its runs")
                }
            }
        }
    }

    /// The registry is read between writes, on the writing thread, right after each write
    /// (``Ingestor/ingest(_:received:recordsPerRun:progress:phase:)``), and runs of fewer than
    /// 32,768 records are read two ahead. A terminal suspended right after run k committed: run
    /// k+1 is posted and its files were read before, runs k+2 and k+3 are being read with the
    /// registry of before, and run k+4 is read with the one read after run k's write. Run k+5 is
    /// the first read with the registry read after run k+1's write, the first write after the
    /// suspension (docs/operations.md, "The clearing centre").
    @Test("a terminal suspended during an ingest of small runs is refused from the fifth run after the last one committed before, and nothing of it before that")
    func suspendedDuringIngest() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let (keys, files) = try generatedDay(binary, dir, ["--cards", "1500", "--taps", "15000", "--seed", "21", "--batch-records-max", "20"])
            // The terminal with the most batches (the lowest number among equals, so that every
            // try takes the same). Files are named terminal-sequence, so its batches are
            // consecutive runs (a run per file).
            let byTerminal = Dictionary(grouping: files.indices) { String(files[$0].split(separator: "/").last!.prefix(12)) }
            let (name, runs) = try #require(byTerminal.max { ($0.value.count, $1.key) < ($1.value.count, $0.key) })
            try #require(runs.count >= 10, "the busiest terminal has \(runs.count) batches")
            let terminal = try #require(UInt64(name, radix: 16).flatMap(TerminalID.init(rawValue:)))
            let city = try City.parse(data: Data(contentsOf: URL(fileURLWithPath: TestPaths.city)), source: TestPaths.city)
            let location = try TestBackend.location(for: dir + "/c.sqlite")
            let store = try TestBackend.open(location)
            try registerCity(store, city)
            // An officer's connection: another process, as `clearing terminals suspend` is.
            let officer = try TestBackend.open(location)
            let lastBefore = runs[1]
            var committed = 0
            let report = try Ingestor(store: store, city: city, keys: try ClearingKeys(paths: [keys]))
                .ingest(files, received: BCDDateTime(iso: "2026-03-02T23:59:59")!, recordsPerRun: 1, progress: { _, _ in
                    committed += 1
                    guard committed == lastBefore + 1 else { return }
                    do { try officer.setTerminalStatus(terminal, .suspended, at: "2026-03-02T12:00:00Z") } catch { Issue.record("suspending: \(error)") }
                })
            #expect(report.runs == files.count)
            let refused = Set(report.rejected.filter { $0.reason.contains("\(terminal) is suspended") }.map(\.file))
            let expected = Set(runs.filter { $0 >= lastBefore + 5 }.map { files[$0] })
            #expect(!expected.isEmpty)
            let first = refused.compactMap { files.firstIndex(of: $0) }.min() ?? -1
            if TestBackend.isPostgres {
                // On PostgreSQL the first refused run was k+6 in one try of 18, k+5 in the others
                // (not yet explained; docs/operations.md, "The clearing centre"): never one before
                // k+5, every one from k+6 on.
                #expect(refused.isSubset(of: expected), "refused from run \(first), the last run before the suspension \(lastBefore)")
                #expect(refused.isSuperset(of: runs.filter { $0 >= lastBefore + 6 }.map { files[$0] }), "refused from run \(first)")
            } else {
                #expect(refused == expected, "refused from run \(first), the last run before the suspension \(lastBefore)")
            }
            #expect(report.rejected.count == refused.count, "other files refused: \(report.rejected.filter { !refused.contains($0.file) })")
        }
    }

    struct Books: Equatable {
        var transfers: [Transfer]
        var shadows: CardTable
        var accounts: [AccountID: Int64]
        var refusals: [String]
        var exceptions: [String]
    }

    /// What a clearing database holds, in an order that does not depend on its runs.
    private func books(_ store: ClearingStore) throws -> Books {
        var transfers: [Transfer] = []
        try store.forEachPage("transfers") { transfers += Packing.transfers($0) ?? [] }
        var refusals: [String] = []
        try store.forEachPage("refusals") { page in
            refusals += (Packing.refusals(page) ?? []).map { "\($0.ref) \($0.code) \($0.field)" }
        }
        let state = try store.loadState()
        let exceptions = try store.exceptions().map { "\($0.exception.id) \($0.exception.kind) \($0.exception.card) \($0.exception.detail) \($0.exception.opened)" }
        return Books(
            transfers: transfers.sorted { $0.id != $1.id ? $0.id < $1.id : $0.debit.number < $1.debit.number },
            shadows: state.cards, accounts: state.accountNetFen.filter { $0.value != 0 }, refusals: refusals,
            exceptions: exceptions.sorted())
    }

    private func summaryWithoutRuns(_ path: String) throws -> NSDictionary {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        guard let dict = object as? [String: Any] else { return [:] }
        return dict.filter { $0.key != "runs" } as NSDictionary
    }
}
