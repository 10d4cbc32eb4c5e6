import Foundation
import LoadGen
import Testing

@Suite("Determinism")
struct DeterminismTests {
    static let faults = FaultRates(duplicates: 0.01, forgedTAC: 0.01, gaps: 0.01, hotlisted: 0.02, grey: 0.01, truncatedFiles: 0.2)

    private func contents(_ run: Run) throws -> [String: [UInt8]] {
        var all: [String: [UInt8]] = [:]
        for f in try run.batchFiles() + ["ground-truth.json", "hotlist.json"] { all[f] = try run.bytes(f) }
        return all
    }

    @Test("the same seed gives byte-identical files, whatever the thread count")
    func sameSeed() throws {
        let a = try Run.make(LoadGenOptions(cards: 300, taps: 2_000, days: 2, seed: 42, faults: Self.faults, threads: 1))
        let b = try Run.make(LoadGenOptions(cards: 300, taps: 2_000, days: 2, seed: 42, faults: Self.faults, threads: 2))
        let (ca, cb) = (try contents(a), try contents(b))
        #expect(ca.keys.sorted() == cb.keys.sorted())
        #expect(ca == cb)
        #expect(ca.count > 10)
    }

    @Test("a different seed gives different files")
    func differentSeed() throws {
        let a = try Run.make(LoadGenOptions(cards: 300, taps: 2_000, seed: 1))
        let b = try Run.make(LoadGenOptions(cards: 300, taps: 2_000, seed: 2))
        let (ca, cb) = (try contents(a), try contents(b))
        let shared = Set(ca.keys).intersection(cb.keys).filter { $0.hasPrefix("batches/") }
        #expect(!shared.isEmpty)
        #expect(shared.allSatisfy { ca[$0] != cb[$0] })
    }

    @Test("an output directory with batches already in it is refused")
    func refusesNonEmptyOutput() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Run.make(LoadGenOptions(cards: 10, taps: 20, seed: 1), dir: dir)
        #expect(throws: LoadGenError.self) { _ = try Run.make(LoadGenOptions(cards: 10, taps: 20, seed: 1), dir: dir) }
    }

    @Test("more taps than cards can make in the days is refused with a message")
    func refusesTooManyTaps() throws {
        #expect(throws: LoadGenError.self) { _ = try Run.make(LoadGenOptions(cards: 10, taps: 10_000, seed: 1)) }
    }
}
