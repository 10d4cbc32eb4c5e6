import City
import OneCardCore
import OneCardCrypto
import UploadBatch

/// What phase 1 leaves: every record in card order (one array per worker, workers in card
/// order), and the hotlist.
struct Simulation: Sendable {
    var parts: [[TapEvent]] = []
    var hotlist: [(card: UInt32, time: UInt32)] = []
    /// Records in all parts.
    var count: Int { parts.reduce(0) { $0 + $1.count } }
}

extension LoadGenerator {
    /// Phase 1: cards in contiguous ranges, one per worker, joined in card order.
    static func simulate(plan: CityPlan, options: LoadGenOptions, tacMaster: TripleDESKey, serialBase: UInt64) -> Simulation {
        let workers = min(options.threads, options.cards)
        let parts = parallelMap(workers) { w in
            let range = options.cards * w / workers..<options.cards * (w + 1) / workers
            var sim = CardSimulator(plan: plan, options: options)
            sim.events.reserveCapacity(options.taps / workers * 5 / 4 + 1_024)
            for i in range {
                var rng = SplitMix64(seed: options.seed, UInt64(i), 0)
                let type = CardSimulator.cardType(&rng, plan: plan)
                let f = serialBase | UInt64(i)
                sim.simulate(card: i, type: type, tacKey: tacMaster.encrypt(f) ^ tacMaster.encrypt(~f), taps: tapsFor(card: i, options))
            }
            return Simulation(parts: [sim.events], hotlist: sim.hotlist)
        }
        let all = Simulation(parts: parts.flatMap(\.parts), hotlist: parts.flatMap(\.hotlist))
        precondition(all.parts.allSatisfy { $0.count < 1 << 32 } && all.parts.count <= 1 << partBits,
                     "\(all.count) events in \(all.parts.count) parts do not fit the sort key")
        return all
    }

    /// Bits of a sort key naming the worker part (times take 25 bits: 366 days of seconds).
    static let partBits = 7

    /// A card's purchases over the run: an even share, varied between the two cards of a pair
    /// so the total stays exact and no card exceeds the per-day maximum.
    static func tapsFor(card i: Int, _ o: LoadGenOptions) -> Int {
        func base(_ c: Int) -> Int { CardSimulator.share(o.taps, part: c, of: o.cards) }
        let pair = i / 2
        guard 2 * pair + 1 < o.cards else { return base(i) }
        let (b0, b1) = (base(2 * pair), base(2 * pair + 1))
        let bound = min(b0 - 1, b1 - 1, o.days * LoadGenOptions.tapsPerCardDayMax - max(b0, b1))
        guard bound > 0 else { return base(i) }
        var rng = SplitMix64(seed: o.seed, UInt64(pair), 3)
        let d = rng.int(in: -bound...bound)
        return i % 2 == 0 ? b0 + d : b1 - d
    }

    /// Phase 2: the records grouped by (terminal, day), each group in time order (ties by card
    /// order): a counting sort of keys `time ‖ part ‖ index`, each group's keys sorted, then the
    /// records gathered in that order (so the writers read memory in order), all on every worker.
    static func group(_ sim: Simulation, plan: CityPlan, options: LoadGenOptions) -> (events: [TapEvent], starts: [Int]) {
        let days = options.days
        let buckets = plan.terminalIDs.count * days
        var starts = [Int](repeating: 0, count: buckets + 1)
        for part in sim.parts {
            for e in part { starts[Int(e.terminal) * days + Int(e.time / 86_400) + 1] += 1 }
        }
        for b in 0..<buckets { starts[b + 1] += starts[b] }
        var next = starts
        let total = sim.count
        var keys = [UInt64](repeating: 0, count: total)
        for (p, part) in sim.parts.enumerated() {
            for (i, e) in part.enumerated() {
                let b = Int(e.terminal) * days + Int(e.time / 86_400)
                keys[next[b]] = UInt64(e.time) << (32 + partBits) | UInt64(p) << 32 | UInt64(i)
                next[b] += 1
            }
        }
        let parts = sim.parts
        let workers = options.threads
        let bounds = starts
        let ordered = keys.withUnsafeMutableBufferPointer { k in
            let sharedKeys = SharedBuffer(base: k)
            return [TapEvent](unsafeUninitializedCapacity: total) { out, initialized in
                let sharedOut = SharedBuffer(base: out)
                _ = parallelMap(workers) { w in
                    for b in stride(from: w, to: buckets, by: workers) {
                        var slice = UnsafeMutableBufferPointer(rebasing: sharedKeys.base[bounds[b]..<bounds[b + 1]])
                        slice.sort()
                        for (i, key) in slice.enumerated() {
                            let part = Int(key >> 32) & (1 << partBits - 1)
                            sharedOut.base.initializeElement(at: bounds[b] + i, to: parts[part][Int(key & 0xFFFF_FFFF)])
                        }
                    }
                    return true
                }
                initialized = total
            }
        }
        return (ordered, starts)
    }

    /// Phase 3: terminals dealt to workers by size (largest first, to the least loaded worker).
    static func write(_ input: WriteInput) throws(LoadGenError) -> Tally {
        let n = input.plan.terminalIDs.count, days = input.options.days
        let sizes = (0..<n).map { input.bucketStarts[($0 + 1) * days] - input.bucketStarts[$0 * days] }
        let workers = max(1, min(input.options.threads, n))
        var assigned = [[Int]](repeating: [], count: workers)
        var load = [Int](repeating: 0, count: workers)
        for t in (0..<n).sorted(by: { (sizes[$0], $1) > (sizes[$1], $0) }) {
            let w = load.indices.min { (load[$0], $0) < (load[$1], $1) } ?? 0
            assigned[w].append(t)
            load[w] += sizes[t]
        }
        let plan = assigned
        let results = parallelMap(workers) { w -> Result<Tally, LoadGenError> in
            var writer = BatchWriter(input: input)
            do throws(LoadGenError) {
                for t in plan[w].sorted() { try writer.writeTerminal(t) }
            } catch {
                return .failure(error)
            }
            return .success(writer.tally)
        }
        var total = Tally(terminals: n)
        for r in results { total.merge(try r.get()) }
        return total
    }
}
