import City
import ClearingFuzz
import OneCardCrypto
import OneCardTestSupport
import Testing
import UploadBatch

/// The bounded CI run of the clearing fuzzer (docs/performance.md, "Fuzzing clearing"); the
/// long runs are `onecard fuzz --records 10000000`.
@Suite("Clearing fuzzer")
struct FuzzTests {
    static func fuzzer(seed: UInt64) -> BatchFuzzer {
        BatchFuzzer(seed: seed, city: Day.city, batchMaster: try! TripleDESKey(hex: "11111111111111112222222222222222"), tacMaster: Day.tacMaster)
    }

    @Test("150,000 mutated records through decode, verify and post: every invariant holds and every path is reached")
    func bounded() throws {
        var f = Self.fuzzer(seed: 20_261_201)
        let report = try f.run(records: 150_000)
        #expect(report.records >= 150_000)
        #expect(report.accepted > 10_000, "genuine records still clear: \(report)")
        for code in RefusalCode.allCases.map(\.rawValue) {
            #expect((report.refused[code] ?? 0) > 0, "refusal \(code) reached: \(report.refused)")
        }
        #expect(report.decodeRefused > 0 && report.conflicts > 0 && report.replays > 0 && report.engineRefused > report.conflicts)
    }

    @Test("the same seed gives the same run")
    func deterministic() throws {
        var a = Self.fuzzer(seed: 7), b = Self.fuzzer(seed: 7)
        #expect(try a.run(records: 5_000) == b.run(records: 5_000))
    }
}
