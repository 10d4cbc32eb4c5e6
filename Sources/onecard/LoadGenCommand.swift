import ArgumentParser
import City
import Foundation
import LoadGen
import OneCardCore
import OneCardCrypto

/// `onecard loadgen …`: write a generated city day (or days) as real upload batches, with the
/// ground truth clearing must reproduce.
struct LoadGenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Generate real upload batch files for a simulated city day, with fault injection and a ground truth.",
        discussion: """
            Writes DIR/batches/<terminal>-<batch sequence>.ocub (DIR/batches/YYYY-MM-DD/… with --uploads daily), DIR/ground-truth.json and DIR/hotlist.json
            (docs/formats.md, "Load generator output"). The same arguments give byte-identical files.
            """
    )

    @Option(help: "The city file (onecard-city/1).")
    var city: String
    @Option(help: "The keyset; needs the batch (upload keys) and tac master keys.")
    var keys: String
    @Option(help: "Number of cards.")
    var cards: Int
    @Option(help: "Number of purchase taps (loads, grey records and duplicate copies come on top).")
    var taps: Int
    @Option(help: "Number of days.")
    var days: Int = 1
    @Option(help: "Random seed: same arguments, same bytes.")
    var seed: UInt64
    @Option(help: "Output directory (its batches/ must be empty or absent).")
    var out: String
    @Option(help: "First day, YYYY-MM-DD.")
    var startDate: String = LoadGenOptions.defaultStartDate.description
    @Option(help: "Fraction of purchases uploaded twice (copy refused 03).")
    var duplicates: Double = 0
    @Option(name: .customLong("forged-tac"), help: "Fraction of purchases with a wrong TAC (refused 01).")
    var forgedTAC: Double = 0
    @Option(help: "Fraction of purchases dropped from uploads (counter gaps).")
    var gaps: Double = 0
    @Option(help: "Fraction of cards hotlisted part-way (later records refused 07).")
    var hotlisted: Double = 0
    @Option(help: "Fraction of purchases preceded by a grey record (refused 04).")
    var grey: Double = 0
    @Option(help: "Fraction of batch files that also get a truncated upload attempt (refused whole).")
    var truncatedFiles: Double = 0
    @Option(help: "Worker threads (output does not depend on it).")
    var threads: Int = min(2, ProcessInfo.processInfo.activeProcessorCount)
    @Option(help: "Most records per batch file.")
    var batchRecordsMax: Int = 100_000
    @Option(help: "When terminals upload: 'end' (every batch at the end of the last day, in batches/) or 'daily' (each day's batches at the end of that day, in batches/YYYY-MM-DD/).")
    var uploads: String = UploadSchedule.atEnd.rawValue
    @Flag(help: "Report each phase and its time on standard error.")
    var verbose = false
    @Flag(help: "Print the summary as one JSON line.")
    var json = false

    func validate() throws {
        guard BCDDate(startDate) != nil else { throw ValidationError("--start-date must be YYYY-MM-DD") }
        guard UploadSchedule(rawValue: uploads) != nil else { throw ValidationError("--uploads must be 'end' or 'daily'") }
    }

    func run() throws {
        try reporting {
            guard let start = BCDDate(startDate) else { throw CLIError("--start-date must be YYYY-MM-DD") }
            let cityFile = try City.load(path: city)
            let keyset = try Keyset.load(path: keys)
            let options = LoadGenOptions(
                cards: cards, taps: taps, days: days, seed: seed, startDate: start,
                faults: FaultRates(duplicates: duplicates, forgedTAC: forgedTAC, gaps: gaps, hotlisted: hotlisted,
                                   grey: grey, truncatedFiles: truncatedFiles),
                threads: threads, batchRecordsMax: batchRecordsMax, uploads: UploadSchedule(rawValue: uploads) ?? .atEnd)
            let began = DispatchTime.now().uptimeNanoseconds
            let verbose = verbose
            let truth = try LoadGenerator.generate(city: cityFile, keyset: keyset, options: options, outputDirectory: out) { line in
                if verbose { FileHandle.standardError.write(Data("loadgen: \(line)\n".utf8)) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            if json {
                printJSON(Summary(truth))
            } else {
                print(text(truth, seconds: seconds))
            }
        }
    }

    private func text(_ t: GroundTruth, seconds: Double) -> String {
        let refused = t.refused.keys.sorted().map { "\($0): \(t.refused[$0] ?? 0)" }.joined(separator: ", ")
        return """
            wrote \(t.batches) batches (\(t.records) records: \(t.purchases.records) purchases, \(t.loads.records) loads, \
            \(t.greyRecords) grey) to \(out)/batches in \(String(format: "%.2f", seconds)) s \
            (\(Int(Double(t.taps) / max(seconds, 1e-9))) taps/s)
            expected: accepted \(t.accepted) (\(Fen.yuan(t.acceptedAmountFen)) yuan); refused \(refused); \
            \(t.gaps.count) counter gaps; \(t.truncatedFiles.count) truncated files
            ground truth: \(out)/ground-truth.json, hotlist: \(out)/\(t.hotlistFile)
            """
    }
}

/// The `--json` summary: the ground truth's totals without its lists (deterministic: no times).
private struct Summary: Encodable {
    let batches, records, taps, accepted: Int
    let acceptedAmountFen: Int64
    let refused: [String: Int]
    let loads: Int
    let loadsAmountFen: Int64
    let gaps, truncatedFiles, hotlistedCards: Int

    init(_ t: GroundTruth) {
        (batches, records, taps, accepted, acceptedAmountFen) = (t.batches, t.records, t.taps, t.accepted, t.acceptedAmountFen)
        refused = t.refused
        (loads, loadsAmountFen) = (t.loads.records, t.loads.amountFen)
        (gaps, truncatedFiles, hotlistedCards) = (t.gaps.count, t.truncatedFiles.count, t.injected.hotlistedCards)
    }
}
