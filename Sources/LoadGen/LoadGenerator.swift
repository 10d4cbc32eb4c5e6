public import City
import Foundation
import OneCardCore
public import OneCardCrypto
import UploadBatch

/// The load generator: simulates a city's cards for some days and writes what the terminals
/// would upload — real batch files with real TACs — plus the ground truth of what clearing must
/// accept and refuse (docs/formats.md, "Load generator output").
///
/// Three phases, each deterministic whatever the thread count: (1) cards are simulated in
/// parallel ranges, each from its own random stream; (2) records are grouped by terminal and day
/// (counting sort) and ordered by time; (3) terminals are written in parallel, each numbering its
/// own records and batches.
public enum LoadGenerator {
    /// Generates a run into `outputDirectory` (`batches/`, `ground-truth.json`, `hotlist.json`).
    ///
    /// - Parameters:
    ///   - keyset: must hold the `batch` (terminals' upload keys) and `tac` master keys.
    ///   - progress: called after each phase with a line saying what was done and how long it
    ///     took (for `--verbose`); never part of the output files.
    /// - Throws: ``LoadGenError`` for bad options, a city that cannot carry the traffic, a
    ///   missing key, an output directory whose `batches/` is not empty, or a write failure.
    public static func generate(city: City, keyset: Keyset, options: LoadGenOptions,
                                outputDirectory: String, progress: @escaping (String) -> Void = { _ in }) throws(LoadGenError) -> GroundTruth {
        var clock = PhaseClock(report: progress)
        try validate(options)
        let plan = try CityPlan(city: city)
        let (tacMaster, batchMaster) = try masterKeys(keyset)
        let batchDir = outputDirectory + "/" + BatchWriter.batchDirectory
        guard !FileOutput.isNonEmptyDirectory(batchDir) else {
            throw .invalidOption("\(batchDir) is not empty: choose a fresh --out directory")
        }
        try FileOutput.makeDirectory(batchDir)
        if options.uploads == .daily {
            for day in 0..<options.days { try FileOutput.makeDirectory(batchDir + "/" + BatchWriter.dayFolder(options, day: day)) }
        }
        let serialBase = UInt64(city.code.rawValue) << 48 | 0x9 << 44 | (SplitMix64.mix(options.seed) & 0xFFF) << 32
        let sim = simulate(plan: plan, options: options, tacMaster: tacMaster, serialBase: serialBase)
        clock.lap("simulated \(options.cards) cards: \(sim.count) records")
        let (ordered, starts) = group(sim, plan: plan, options: options)
        clock.lap("grouped by terminal and day, sorted by time")
        let input = WriteInput(
            plan: plan, options: options, events: ordered, bucketStarts: starts, serialBase: serialBase,
            batchKeys: plan.terminalIDs.map { BatchFile.uploadKey(batchMaster: batchMaster, terminal: $0) },
            dateBCD: (0...options.days).map { TripleDESPurse.packedDateTime(BCDDateTime(
                date: options.startDate.adding(days: $0), time: BCDTime(hour: 0, minute: 0, second: 0) ?? BCDDateTime(secondsSinceEpoch: 0).time)) >> 24 },
            outputDirectory: outputDirectory)
        let tally = try write(input)
        clock.lap("wrote \(tally.batches) batch files")
        let hotlist = hotlistFile(sim.hotlist, serialBase: serialBase, options: options)
        let truth = groundTruth(tally, hotlist: hotlist, plan: plan, options: options)
        try writeJSON(hotlist, to: outputDirectory + "/hotlist.json")
        try writeJSON(truth, to: outputDirectory + "/ground-truth.json")
        clock.lap("wrote ground-truth.json and hotlist.json")
        return truth
    }

    /// Reports the time since the previous lap.
    struct PhaseClock {
        let report: (String) -> Void
        var last = DispatchTime.now().uptimeNanoseconds

        mutating func lap(_ what: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            report("\(what) in \(String(format: "%.2f", Double(now - last) / 1e9)) s")
            last = now
        }
    }

    static func validate(_ o: LoadGenOptions) throws(LoadGenError) {
        guard (1...LoadGenOptions.cardsMax).contains(o.cards) else { throw .invalidOption("--cards must be 1…\(LoadGenOptions.cardsMax)") }
        guard (0...LoadGenOptions.tapsMax).contains(o.taps) else { throw .invalidOption("--taps must be 0…\(LoadGenOptions.tapsMax)") }
        guard (1...LoadGenOptions.daysMax).contains(o.days) else { throw .invalidOption("--days must be 1…\(LoadGenOptions.daysMax)") }
        guard o.taps <= o.cards * o.days * LoadGenOptions.tapsPerCardDayMax else {
            throw .invalidOption("--taps \(o.taps) is more than \(LoadGenOptions.tapsPerCardDayMax) per card per day; add --cards")
        }
        guard (1...LoadGenOptions.threadsMax).contains(o.threads) else { throw .invalidOption("--threads must be 1…\(LoadGenOptions.threadsMax)") }
        guard (1...BatchFile.recordsMax).contains(o.batchRecordsMax) else {
            throw .invalidOption("--batch-records-max must be 1…\(BatchFile.recordsMax)")
        }
        let f = o.faults
        for (name, rate) in [("duplicates", f.duplicates), ("forged-tac", f.forgedTAC), ("gaps", f.gaps),
                             ("hotlisted", f.hotlisted), ("grey", f.grey), ("truncated-files", f.truncatedFiles)]
        where !(rate >= 0 && rate <= 1) {
            throw .invalidOption("--\(name) must be a fraction in 0…1, e.g. 0.001")
        }
        guard f.perPurchaseSum <= 1 else { throw .invalidOption("--duplicates + --forged-tac + --gaps + --grey must not exceed 1") }
    }

    private static func masterKeys(_ keyset: Keyset) throws(LoadGenError) -> (tac: TripleDESKey, batch: TripleDESKey) {
        do {
            return (try keyset.masterKey(.tac), try keyset.masterKey(.batch))
        } catch {
            throw .missingKey("\(error) (the load generator computes TACs and batch MACs)")
        }
    }

    private static func writeJSON(_ value: some Encodable, to path: String) throws(LoadGenError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { throw .io(path: path, reason: "could not encode JSON") }
        try FileOutput.write(Array(data) + [0x0A], count: data.count + 1, to: path)
    }
}
