#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPrefetch
import OneCardCore
import OneCardCrypto
import Synchronization

/// The TAC keys of recently verified cards, so that a card whose records arrive over many runs
/// has its key derived (two 3DES blocks) about once a day rather than once a run.
///
/// Direct-mapped: ``lanes`` lanes of ``entriesPerLane`` entries of 24 bytes; a card that shares
/// a slot with another is derived again. A lane has about twice as many entries as the cards it
/// sees (half of the engine's cards: ``Stager`` splits each run in card order), from
/// ``entriesPerLaneMin`` up to ``entriesPerLaneMax`` (2 × 384 MiB): the engine tells the cache its
/// card count after each run (``noteCards(_:)``) and the next turn grows the lanes, keeping the
/// keys they hold. Each verifying thread uses its own lane only, so no entry is ever read while
/// another thread writes it, and stages take turns on the cache (``inTurn(_:)``). The memory is
/// unmapped when it goes (the keys are derived key material).
final class TACKeyCache: @unchecked Sendable {
    /// One verifying thread per lane (``Stager`` splits a run in two).
    static let lanes = 2
    /// The fewest entries of a lane (a power of two).
    static let entriesPerLaneMin = 1 << 16
    /// The most entries of a lane (a power of two): 16M cards in all, 2 × 384 MiB. A national
    /// day's 20M cards in lanes of 2²⁰ missed the cache for most of their records, and each miss
    /// is two 3DES blocks: staging then held the 100M-tap day up (docs/performance.md).
    static let entriesPerLaneMax = 1 << 24

    private struct Entry {
        var serial: UInt64
        var key: UInt64
        /// The key version plus 0x100; 0 marks an empty slot.
        var tag: UInt16
    }

    /// The entries of a lane now (a power of two); changed only in a turn.
    private(set) var entriesPerLane: Int
    private var base: UnsafeMutablePointer<Entry>
    private let masters: [UInt8: TripleDESKey]
    /// The engine's card count, as it last told it.
    private let cards = Atomic<Int>(0)
    /// Held by the stage using the lanes.
    private let turn = Mutex(())

    /// A cache sized for an engine of `cards` cards.
    init(masters: [UInt8: TripleDESKey], cards: Int = 0) {
        self.masters = masters
        self.cards.store(cards, ordering: .relaxed)
        entriesPerLane = Self.entriesPerLane(cards: cards)
        base = Self.allocate(entriesPerLane)
    }

    /// The entries a lane should have for an engine of `cards` cards.
    static func entriesPerLane(cards: Int) -> Int {
        var n = entriesPerLaneMin
        while n < entriesPerLaneMax, n < cards { n <<= 1 }
        return n
    }

    /// Zeroed (empty) entries that cost nothing until a lane uses them; in huge pages, so that a
    /// lookup (a random read) does not miss the TLB as well.
    private static func allocate(_ entriesPerLane: Int) -> UnsafeMutablePointer<Entry> {
        HugePages.allocate(bytes(entriesPerLane)).bindMemory(to: Entry.self, capacity: lanes * entriesPerLane)
    }

    private static func bytes(_ entriesPerLane: Int) -> Int { lanes * entriesPerLane * MemoryLayout<Entry>.stride }

    deinit {
        // Unmapped: the derived keys go back to the kernel with the pages, which it zeroes
        // before any other use; the process's allocator never hands them out again.
        HugePages.free(base, bytes: Self.bytes(entriesPerLane))
    }

    /// The engine's card count after a run: the next turn grows the lanes to suit it.
    func noteCards(_ count: Int) {
        cards.store(count, ordering: .relaxed)
    }

    /// Runs `body`, which uses the lanes, while no other stage does; first grows the lanes if
    /// the engine's cards outgrew them.
    func inTurn(_ body: () -> Void) {
        turn.withLock { _ in
            let wanted = Self.entriesPerLane(cards: cards.load(ordering: .relaxed))
            if wanted > entriesPerLane { grow(to: wanted) }
            body()
        }
    }

    /// Moves every cached key into lanes of `entries` entries (in a turn).
    private func grow(to entries: Int) {
        let (old, oldEntries) = (base, entriesPerLane)
        base = Self.allocate(entries)
        entriesPerLane = entries
        for lane in 0..<Self.lanes {
            for i in lane * oldEntries..<(lane + 1) * oldEntries where old[i].tag != 0 {
                base[slot(lane: lane, serial: old[i].serial)] = old[i]
            }
        }
        HugePages.free(old, bytes: Self.bytes(oldEntries))
    }

    /// The entry of card `serial` in `lane`: anywhere among the lane's entries.
    @inline(__always)
    func slot(lane: Int, serial: UInt64) -> Int {
        lane * entriesPerLane + FibonacciHash.slot(serial, tableSize: entriesPerLane)
    }

    /// Asks for the entry of card `serial` in `lane` to be brought into the cache (a prefetch),
    /// so that ``key(lane:serial:version:)`` finds it there: verifying asks for the cards a few
    /// ahead of the one it checks, so that their cache misses overlap with its work.
    @inline(__always)
    func prefetch(lane: Int, serial: UInt64) { onecard_prefetch(base + slot(lane: lane, serial: serial)) }

    /// The TAC key of card `serial` under the master of `version`, or `nil` when clearing holds
    /// no master of that version. Call only from the thread that owns `lane`, in a turn.
    @inline(__always)
    func key(lane: Int, serial: UInt64, version: UInt8) -> DESKey? {
        let slot = slot(lane: lane, serial: serial)
        let tag = UInt16(version) | 0x100
        let e = base[slot]
        if e.tag == tag, e.serial == serial { return DESKey(rawValue: e.key) }
        guard let master = masters[version] else { return nil }
        let key = TripleDESPurse.tacKey(tacMaster: master, serial: CardSerial(rawValue: serial))
        base[slot] = Entry(serial: serial, key: key.exportKeyBits(), tag: tag)
        return key
    }
}
