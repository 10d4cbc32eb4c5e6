import ArgumentParser
import City
import ClearingFuzz
import Dispatch
import Foundation
import OneCardCrypto

/// `onecard fuzz`: the seeded mutation fuzzer over batch decode → verify → post.
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz clearing: MAC-valid hostile upload files through decode, verify and post, checking the books after every run.",
        discussion: """
            Builds a genuine city day with real TACs, then writes upload files a hostile terminal could write \
            (fields mutated, bytes changed, records duplicated or moved, keys reused, replays, bad header times), \
            each with a valid MAC, and runs them through the real decoder and clearing engine. After every run it \
            recomputes every account's net from the transfers and checks it against the engine, that all nets sum \
            to zero, that no fare is accepted twice, and that each batch's records add up. Exit status 1 and the \
            broken invariant on a failure; a trap ends the process and the same --seed and --records replay it. \
            Keys are generated from the seed: the fuzzer needs no keyset.
            """)

    @Option(help: "The city file (onecard-city/1).")
    var city: String
    @Option(help: "The seed: the same seed and count give the same files.")
    var seed: UInt64 = 1
    @Option(help: "Mutated records to run through (at least).")
    var records: Int = 1_000_000
    @Flag(help: "Print the report as one JSON object.")
    var json = false

    func run() throws {
        try reporting {
            let parsed = try City.load(path: city)
            // Keys of the fuzzer's own, from the seed: nothing secret is needed or touched.
            func key(_ salt: UInt64) throws -> TripleDESKey {
                var bytes: [UInt8] = []
                bytes.appendBigEndian(seed &* 0x9E37_79B9_7F4A_7C15 ^ salt)
                bytes.appendBigEndian(~seed ^ salt &* 31)
                return try TripleDESKey(bytes: bytes)
            }
            var fuzzer = BatchFuzzer(seed: seed, city: parsed, batchMaster: try key(1), tacMaster: try key(2))
            let start = DispatchTime.now()
            let report: BatchFuzzer.Report
            do {
                report = try fuzzer.run(records: records)
            } catch {
                FileHandle.standardError.write(Data("\(error)\nreplay: onecard fuzz --city \(city) --seed \(seed) --records \(records)\n".utf8))
                throw ExitCode(1)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            if json {
                printJSON(report)
            } else {
                let refused = report.refused.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                print("fuzz seed \(seed): \(report.records) records in \(report.files) files, \(report.runs) runs, \(String(format: "%.1f", seconds)) s")
                print("  decoder refused \(report.decodeRefused) files; engine refused \(report.engineRefused) (\(report.conflicts) conflicts); \(report.replays) replays")
                print("  accepted \(report.accepted) records; refused \(refused)")
                print("  every invariant held after every run")
            }
        }
    }
}
