import Foundation
import OneCardTestSupport
import Testing

/// `onecard simulate` (docs/simulation.md): seeds pass, a seed replays byte for byte, and the
/// seeds that found bugs stay as regression tests.
@Suite("The deterministic simulation of a city day", .serialized)
struct SimulationTests {
    func simulate(_ arguments: [String]) throws -> (status: Int32, out: String) {
        guard let binary = onecardBinary() else { return (-1, "") }
        return try runOnecardStatus(binary, ["simulate", "--city", TestPaths.city] + arguments)
    }

    @Test("the same seed gives the same trace, byte for byte; another seed another")
    func deterministic() throws {
        try withTempDir { dir in
            #expect(try simulate(["--seed", "7", "--steps", "200", "--trace", dir + "/a"]).status == 0)
            #expect(try simulate(["--seed", "7", "--steps", "200", "--trace", dir + "/b"]).status == 0)
            #expect(try simulate(["--seed", "8", "--steps", "200", "--trace", dir + "/c"]).status == 0)
            let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a"))
            #expect(a.count > 10_000)
            #expect(a == (try Data(contentsOf: URL(fileURLWithPath: dir + "/b"))))
            #expect(a != (try Data(contentsOf: URL(fileURLWithPath: dir + "/c"))))
        }
    }

    /// Seeds that found a bug, with what it was (docs/simulation.md, "Found").
    static let regressions: [(UInt64, String)] = [
        (1, "a card hotlisted while clearing ran was still accepted (the ingestor read the hotlist once)"),
        (45, "a torn debit was voided when the card's log no longer reached it"),
        (8436, "the checker's own: a terminal 10 minutes fast dated a record after a hotlisting that came after its run"),
    ]

    @Test("the seeds that found bugs pass", arguments: regressions.map(\.0))
    func regression(seed: UInt64) throws {
        let r = try simulate(["--seed", String(seed), "--steps", "300"])
        #expect(r.status == 0, "\(r.out)")
    }

    @Test("a bounded run of seeds passes, each failure with its replay command")
    func seeds() throws {
        let r = try simulate(["--seed", "1000", "--seeds", "40", "--steps", "300"])
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("40 of 40 seed(s) passed"), "\(r.out)")
    }
}
