@testable import ClearingIngest
import Testing

@Suite("an ingest's files grouped into runs")
struct RunChunksTests {
    static func check(_ sized: [(String, Int)], recordsMax: Int) -> [(files: [String], records: Int)] {
        let chunks = Ingestor.chunks(sized, recordsMax: recordsMax)
        // Every file once, in input order, and each run's count is its files' sum.
        #expect(chunks.flatMap(\.files) == sized.map(\.0))
        let counts = Dictionary(uniqueKeysWithValues: sized)
        for c in chunks { #expect(c.records == c.files.reduce(0) { $0 + counts[$1]! }) }
        return chunks
    }

    @Test("the first run holds at most a quarter of the limit, the others up to the limit, full in the middle")
    func firstRunShort() {
        let max = 262_144
        let sized = (0..<40).map { ("f\($0)", 30_000 + ($0 * 7_919) % 5_000) }
        let chunks = Self.check(sized, recordsMax: max)
        #expect(chunks[0].records <= max / 4)
        #expect(chunks.allSatisfy { $0.records <= max })
        // Every run but the last is full: the next file would not have fitted.
        for k in 1..<(chunks.count - 1) {
            let next = sized.first { $0.0 == chunks[k + 1].files[0] }!.1
            #expect(chunks[k].records + next > max, "run \(k) of \(chunks[k].records) records left room")
        }
    }

    @Test("a day within the limit is one run; a file above it is a run of its own; no files, no run")
    func edges() {
        #expect(Self.check([("a", 10), ("b", 20)], recordsMax: 30).map(\.records) == [30])
        let big = Self.check([("a", 10), ("huge", 500), ("b", 10), ("c", 10)], recordsMax: 100)
        #expect(big.contains { $0.files == ["huge"] })
        #expect(Self.check([], recordsMax: 100).isEmpty)
        // One file a run stays one file a run.
        let files = (0..<50).map { ("f\($0)", 1_150) }
        #expect(Self.check(files, recordsMax: 1_150).allSatisfy { $0.files.count == 1 })
    }
}
