import City
import Foundation
import LoadGen
import OneCardCore
import OneCardCrypto
import Testing
import UploadBatch

/// Recounts a run from its files alone, as an independent clearing would.
private struct Recount {
    var refused: [String: Int] = Dictionary(uniqueKeysWithValues: (1...7).map { ("0\($0)", 0) })
    var accepted = 0
    var acceptedAmountFen: Int64 = 0
    var perOperator: [String: (Int, Int64)] = [:]
    var loadsAccepted = 0
    var offline: [CardSerial: Set<UInt16>] = [:]

    init(_ run: Run, city: City, keyset: Keyset) throws {
        let tacMaster = try keyset.masterKey(.tac)
        let hotlist = Dictionary(uniqueKeysWithValues: run.hotlist.cards.map { ($0.card, BCDDateTime(iso: $0.since)) })
        let upload = try #require(BCDDate(run.truth.uploadDate))
        var seen = Set<String>()
        for (_, batch) in try run.decoded(keyset: keyset) {
            for r in batch.records {
                let code = refusal(r, tacMaster: tacMaster, hotlist: hotlist, upload: upload, window: city.settlement.uploadWindowDays, seen: &seen)
                if r.kind == .purchase, code != "03" { offline[r.serial, default: []].insert(r.counter) }
                if let code { refused[code, default: 0] += 1; continue }
                accepted += 1
                acceptedAmountFen += Int64(r.amountFen)
                if r.kind == .load { loadsAccepted += 1 }
                let op = String(city.operator(ofTerminal: r.terminal)?.id.rawValue ?? 0)
                perOperator[op, default: (0, 0)].0 += 1
                perOperator[op, default: (0, 0)].1 += Int64(r.amountFen)
            }
        }
    }

    private func refusal(_ r: BatchRecord, tacMaster: TripleDESKey, hotlist: [String: BCDDateTime?], upload: BCDDate,
                         window: Int, seen: inout Set<String>) -> String? {
        if r.kind == .grey { return "04" }
        guard r.tac == expectedTAC(r, tacMaster: tacMaster) else { return "01" }
        guard seen.insert("\(r.serial)-\(r.kind)-\(r.counter)").inserted else { return "03" }
        guard let at = r.at else { return "02" }
        if upload.daysSinceEpoch - at.date.daysSinceEpoch > window { return "05" }
        if let entry = hotlist[r.serial.description], let listedAt = entry, at > listedAt { return "07" }
        return nil
    }

    /// Holes in each card's offline counters between its first and last uploaded purchase.
    func holes() -> Set<String> {
        var out = Set<String>()
        for (serial, counters) in offline {
            guard let lo = counters.min(), let hi = counters.max() else { continue }
            for c in lo...hi where !counters.contains(c) { out.insert("\(serial)-\(c)") }
        }
        return out
    }
}

@Suite("Ground truth matches the files")
struct GroundTruthTests {
    static let faults = FaultRates(duplicates: 0.01, forgedTAC: 0.01, gaps: 0.01, hotlisted: 0.05, grey: 0.01, truncatedFiles: 0.3)

    @Test("with every fault kind, a recount from the files gives exactly the ground truth")
    func everyFault() throws {
        let (city, keys) = (try xian(), try testKeyset())
        // Nine days with a seven-day window: the first day is expired at upload.
        let run = try Run.make(LoadGenOptions(cards: 500, taps: 8_000, days: 9, seed: 11, faults: Self.faults, batchRecordsMax: 300))
        let t = run.truth
        let recount = try Recount(run, city: city, keyset: keys)
        #expect(recount.refused == t.refused)
        #expect(recount.accepted == t.accepted)
        #expect(recount.acceptedAmountFen == t.acceptedAmountFen)
        #expect(recount.loadsAccepted == t.loads.accepted)
        for (op, totals) in t.perOperator where totals.accepted > 0 {
            #expect(recount.perOperator[op]?.0 == totals.accepted && recount.perOperator[op]?.1 == totals.acceptedAmountFen, "operator \(op)")
        }
        #expect(recount.holes() == Set(t.gaps.map { "\($0.serial)-\($0.counter)" }))
        for code in ["01", "03", "04", "05", "07"] { #expect((t.refused[code] ?? 0) > 0, "no \(code) injected") }
        #expect(t.refused["01"] == t.injected.forgedTAC && t.refused["03"] == t.injected.duplicates && t.refused["04"] == t.injected.grey)
        #expect(!t.gaps.isEmpty && t.injected.hotlistedCards > 0 && t.taps == 8_000)
        #expect(t.accepted + t.refused.values.reduce(0, +) == t.records)
    }

    @Test("truncated files are listed, cut short, and fail to decode; their complete file decodes")
    func truncatedFiles() throws {
        let keys = try testKeyset()
        let run = try Run.make(LoadGenOptions(cards: 200, taps: 2_000, seed: 5, faults: FaultRates(truncatedFiles: 0.5), batchRecordsMax: 100))
        let onDisk = try run.batchFiles().filter { $0.contains("-truncated") }
        #expect(!onDisk.isEmpty)
        #expect(onDisk == run.truth.truncatedFiles.map(\.file))
        let batchMaster = try keys.masterKey(.batch)
        for t in run.truth.truncatedFiles {
            let cut = try run.bytes(t.file), full = try run.bytes(t.completeFile)
            #expect(cut.count == t.byteCount && full.count == t.completeByteCount && cut.count < full.count)
            #expect(Array(full[0..<cut.count]) == cut)
            let header = try BatchFile.peekHeader(full, file: t.completeFile)
            let key = BatchFile.uploadKey(batchMaster: batchMaster, terminal: header.terminal)
            #expect(throws: BatchError.self) { _ = try BatchFile.decode(cut, file: t.file, key: key) }
            _ = try BatchFile.decode(full, file: t.completeFile, key: key)
        }
        #expect(run.truth.batches == (try run.batchFiles().count) - onDisk.count)
    }

    @Test("without fault options nothing is refused and nothing is missing")
    func noFaults() throws {
        let (city, keys) = (try xian(), try testKeyset())
        let run = try Run.make(LoadGenOptions(cards: 300, taps: 3_000, days: 3, seed: 3))
        let t = run.truth
        #expect(t.refused.values.allSatisfy { $0 == 0 })
        #expect(t.accepted == t.records && t.gaps.isEmpty && t.truncatedFiles.isEmpty && run.hotlist.cards.isEmpty)
        let recount = try Recount(run, city: city, keyset: keys)
        #expect(recount.accepted == t.records && recount.holes().isEmpty)
        #expect(t.acceptedAmountFen == t.purchases.amountFen + t.loads.amountFen)
    }
}

@Suite("Faults leave the cards' own history intact")
struct FaultChainTests {
    @Test("without grey records and duplicate copies, a card's chain breaks only at a listed gap, by the dropped amount")
    func chainsBreakOnlyAtGaps() throws {
        let run = try Run.make(LoadGenOptions(cards: 300, taps: 6_000, days: 2, seed: 13, faults: GroundTruthTests.faults))
        let gaps = Dictionary(uniqueKeysWithValues: run.truth.gaps.map { ("\($0.serial)-\($0.counter)", $0.amountFen) })
        var seen = Set<String>()
        var byCard: [CardSerial: [BatchRecord]] = [:]
        var greys: [BatchRecord] = []
        for r in try run.decoded(keyset: try testKeyset()).flatMap(\.batch.records) {
            if r.kind == .grey { greys.append(r); continue }
            guard seen.insert("\(r.serial)-\(r.kind)-\(r.counter)").inserted else { continue }
            byCard[r.serial, default: []].append(r)
        }
        var explained = 0
        for (serial, records) in byCard {
            var previous: BatchRecord?
            var lastPurchase: UInt16?
            for r in records.sorted(by: { ($0.at?.secondsSinceEpoch ?? 0) < ($1.at?.secondsSinceEpoch ?? 0) }) {
                if let p = previous, r.balanceBeforeFen != p.balanceAfterFen {
                    // The purchase after the card's last uploaded one (a load may come first).
                    let missing = lastPurchase.flatMap { gaps["\(serial)-\($0 &+ 1)"] }
                    #expect(missing.map { Int64(p.balanceAfterFen) - $0 == Int64(r.balanceBeforeFen) } == true, "\(serial) counter \(r.counter)")
                    explained += 1
                }
                if r.kind == .purchase { lastPurchase = r.counter }
                previous = r
            }
        }
        #expect(explained == gaps.count && explained > 0)
        // A grey record is the torn first attempt of the purchase that follows it: same card,
        // counter, amount and balance, and the card did not change.
        let purchases = Dictionary(byCard.values.joined().filter { $0.kind == .purchase }.map { ("\($0.serial)-\($0.counter)", $0) },
                                   uniquingKeysWith: { a, _ in a })
        #expect(!greys.isEmpty)
        for g in greys {
            let retry = try #require(purchases["\(g.serial)-\(g.counter)"])
            #expect(g.tac == 0 && retry.amountFen == g.amountFen && retry.balanceBeforeFen == g.balanceBeforeFen && retry.terminal == g.terminal)
        }
    }
}
