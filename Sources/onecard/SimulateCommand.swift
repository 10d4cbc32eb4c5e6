import ArgumentParser
import Foundation
import Simulation

/// `onecard simulate`: the seeded simulation of a city day with faults, and its checker
/// (docs/simulation.md).
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate a city day with injected faults from a seed, checking conservation after every step.",
        discussion: """
            Cards, fare terminals with their PSAMs, a service counter, the front-end's clearing runs and the \
            day's settlement run through the real modules; the clock, the crash points and the network (lost, \
            duplicated, delayed, reordered uploads and answers) are simulated, with torn cards, crashed \
            terminals and clearing, clock skew, a hostile terminal and hotlist changes. The same seed gives the \
            same trace. A failing seed prints the command that replays it; the exit status is 1.
            """)

    @Option(help: "The first seed.")
    var seed: UInt64
    @Option(help: "Steps (events) in the simulated day.")
    var steps = 300
    @Option(help: "How many seeds to run: seed, seed+1, …")
    var seeds = 1
    @Option(help: "The city file.")
    var city = "config/city-xian.json"
    @Option(help: "Write the trace (one line per event) here; with --seeds, of the first seed.")
    var trace: String?
    @Flag(help: "Print one JSON line per seed.")
    var json = false

    func validate() throws {
        guard (1...100_000).contains(steps) else { throw ValidationError("--steps must be 1…100000") }
        guard (1...1_000_000).contains(seeds) else { throw ValidationError("--seeds must be 1…1000000") }
        guard seed <= UInt64.max - UInt64(seeds) else { throw ValidationError("--seed + --seeds must stay below 2^64") }
    }

    struct Line: Encodable {
        var seed: UInt64
        var steps: Int
        var passed: Bool
        var violations: [String]
        var traceDigest: String
        var counts: [String: Int]
        var replay: String
    }

    func run() throws {
        var failed: [UInt64] = []
        let began = Date()
        for k in 0..<seeds {
            let s = seed + UInt64(k)
            let report = try reporting { try Simulator(.init(seed: s, steps: steps, cityPath: city)).run() }
            if k == 0, let trace {
                try reporting { try Data(report.trace.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: trace)) }
            }
            let passed = report.violations.isEmpty
            if !passed { failed.append(s) }
            if json {
                printJSON(Line(seed: s, steps: steps, passed: passed, violations: report.violations, traceDigest: report.traceDigest, counts: report.counts, replay: report.replay))
            } else if !passed || seeds == 1 {
                print("seed \(s): \(passed ? "passed" : "FAILED") (trace \(report.traceDigest.prefix(16)))")
                for v in report.violations.prefix(10) { print("  \(v)") }
                if !passed { print("  replay: \(report.replay)") }
            }
            flushOutput()
        }
        if !json {
            print("\(seeds - failed.count) of \(seeds) seed(s) passed in \(String(format: "%.1f", Date().timeIntervalSince(began))) s")
        }
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
