import ArgumentParser
import Foundation
import OneCardCore
import Terminal

/// `onecard terminal hotlist compile|delta|apply|info|bench`: a validator's hotlist store
/// (docs/formats.md, "Hotlist store").
struct HotlistStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotlist",
        abstract: "Build, update and measure a terminal's hotlist store (OCHL): sorted serials, loaded as they are and searched in place.",
        subcommands: [Compile.self, Delta.self, Apply.self, Info.self, Bench.self])

    struct Compile: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a full-list store from a hotlist file (onecard-hotlist/1).")
        @Option(help: "The hotlist file (JSON).")
        var input: String
        @Option(help: "The list's version (a positive number; deltas go from one version to a later one).")
        var version: UInt64
        @Option(help: "The store file to write (replaced atomically).")
        var out: String

        func validate() throws { guard version > 0 else { throw ValidationError("--version must be positive") } }

        func run() throws {
            try reporting {
                let serials = try HotlistFile.sortedSerials(path: input)
                guard serials.count <= HotlistStore.entriesMax else { throw CLIError("\(input) lists \(serials.count) cards, more than \(HotlistStore.entriesMax)") }
                try HotlistStore.writeAtomically(HotlistStore.encode(kind: .full, version: version, baseVersion: 0, added: serials, removed: []), to: out)
                print("wrote \(out): version \(version), \(serials.count) card(s)")
            }
        }
    }

    struct Delta: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the delta that takes one full-list store to another.")
        @Option(help: "The older store.")
        var from: String
        @Option(help: "The newer store.")
        var to: String
        @Option(help: "The delta file to write.")
        var out: String

        func run() throws {
            try reporting {
                let old = try HotlistStore(path: from), new = try HotlistStore(path: to)
                guard new.version > old.version else { throw CLIError("\(to) is version \(new.version), not newer than \(from)'s \(old.version)") }
                let bytes = HotlistStore.delta(from: old.serials, version: old.version, to: new.serials, version: new.version)
                try HotlistStore.writeAtomically(bytes, to: out)
                print("wrote \(out): version \(old.version) → \(new.version)")
            }
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply a delta to a store in place (atomic: the old list or the new one, never a mix).")
        @Option(help: "The store to update.")
        var store: String
        @Option(help: "The delta file.")
        var delta: String

        func run() throws {
            try reporting {
                let s = try HotlistStore(path: store)
                let before = s.version
                try s.apply(deltaAt: delta)
                print("\(store): version \(before) → \(s.version), \(s.count) card(s)")
            }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a store and print its version and size.")
        @Option(help: "The store.")
        var store: String
        @Flag(help: "One JSON line.")
        var json = false

        func run() throws {
            try reporting {
                let s = try HotlistStore(path: store)
                if json {
                    print("{\"version\":\(s.version),\"cards\":\(s.count),\"bytes\":\(s.byteCount)}")
                } else {
                    print("\(store): version \(s.version), \(s.count) card(s), \(s.byteCount) bytes")
                }
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure a store of N cards: file size, open time, lookup time, delta apply time (docs/performance.md).")
        @Option(help: "Cards on the list.")
        var cards = 500_000
        @Option(help: "Cards added and removed by the delta, each.")
        var deltaCards = 5_000
        @Option(help: "Lookups to time.")
        var lookups = 1_000_000
        @Option(help: "Directory for the files (default: a fresh temporary one, removed afterwards).")
        var dir: String?

        func run() throws {
            try reporting {
                let work = dir ?? NSTemporaryDirectory() + "onecard-hotlist-bench-" + UUID().uuidString
                try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
                defer { if dir == nil { try? FileManager.default.removeItem(atPath: work) } }
                var rng = SplitMix64(seed: 7)
                var list = Set<UInt64>()
                while list.count < cards { list.insert(0x3100_9000_0000_0000 | (rng.next() & 0xFFF_FFFF_FFFF)) }
                let sorted = list.sorted()
                let path = work + "/hotlist.ochl"
                try HotlistStore.writeAtomically(HotlistStore.encode(kind: .full, version: 1, baseVersion: 0, added: sorted, removed: []), to: path)
                // Open: map, SHA-256, order check. The best of 20 (a warm page cache, as on a
                // validator that opened it before).
                var opens: [Double] = []
                var store = try HotlistStore(path: path)
                for _ in 0..<20 {
                    let t = DispatchTime.now().uptimeNanoseconds
                    store = try HotlistStore(path: path)
                    opens.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
                }
                // Lookups: half on the list, half not.
                let probes = (0..<lookups).map { i in i % 2 == 0 ? sorted[Int(rng.next() % UInt64(sorted.count))] : rng.next() }
                var hits = 0
                let t0 = DispatchTime.now().uptimeNanoseconds
                for p in probes where store.contains(CardSerial(rawValue: p)) { hits += 1 }
                let lookupNs = Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(max(1, lookups))
                // A delta: some cards off the list, as many new ones on.
                var next = list
                for s in sorted.prefix(deltaCards) { next.remove(s) }
                while next.count < cards { next.insert(0x3100_9000_0000_0000 | (rng.next() & 0xFFF_FFFF_FFFF)) }
                let delta = HotlistStore.delta(from: sorted, version: 1, to: next.sorted(), version: 2)
                try HotlistStore.writeAtomically(delta, to: work + "/delta.ochl")
                let t1 = DispatchTime.now().uptimeNanoseconds
                try store.apply(deltaAt: work + "/delta.ochl")
                let applyMs = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e6
                guard store.version == 2, store.count == cards, store.contains(CardSerial(rawValue: next.first!)),
                      !store.contains(CardSerial(rawValue: sorted[0])) else { throw CLIError("the delta did not apply as expected") }
                // What `tap` did before the store: the same list as a hotlist file, read whole
                // into a set.
                let jsonPath = work + "/hotlist.json"
                try JSONEncoder().encode(HotlistFile(next.sorted().map { (CardSerial(rawValue: $0), UInt32(1_764_547_200)) }))
                    .write(to: URL(fileURLWithPath: jsonPath))
                let rss0 = Self.residentBytes()
                let t2 = DispatchTime.now().uptimeNanoseconds
                let set = Set(try HotlistFile.entries(path: jsonPath).map(\.serial))
                let jsonMs = Double(DispatchTime.now().uptimeNanoseconds - t2) / 1e6
                let jsonResident = Self.residentBytes() - rss0
                guard set.count == cards else { throw CLIError("the hotlist file lost cards") }
                print(String(format: "{\"cards\":%d,\"fileBytes\":%d,\"openMsBest\":%.2f,\"openMsMedian\":%.2f,\"lookupNs\":%.0f,\"hits\":%d,\"deltaBytes\":%d,\"deltaApplyMs\":%.1f,\"jsonFileLoadMs\":%.0f,\"jsonFileResidentMB\":%.0f}",
                             cards, store.byteCount, opens.min() ?? 0, opens.sorted()[opens.count / 2], lookupNs, hits, delta.count, applyMs,
                             jsonMs, Double(jsonResident) / 1e6))
            }
        }

        /// Resident bytes of this process (/proc/self/statm).
        static func residentBytes() -> Int {
            guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
            let fields = text.split(separator: " ")
            return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
        }
    }
}
