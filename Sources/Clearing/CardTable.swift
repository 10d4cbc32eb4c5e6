import CPrefetch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The card shadows by serial (``ClearingState/cards``): an open-addressing table of 64-byte
/// slots, each a serial and its shadow in one cache line, with linear probing and a
/// multiplicative hash of the serial under a random seed chosen per process.
///
/// Not a `Dictionary`, because posting looks up one shadow per card and run, and with millions
/// of cards nearly every lookup misses the caches. A `Dictionary` keeps its occupancy bits, its
/// keys and its values in three arrays, so a lookup can miss three times, and it hashes with
/// SipHash. Here a lookup reads one line, or the next few. A serial gets a slot only when a
/// record of the card is posted, which takes a TAC under the card's own key, so an uploader
/// cannot fill the table with serials of its choosing. The seed keeps the layout unpredictable
/// all the same.
///
/// The table doubles when it would be more than 3/4 full. `UInt64.max` marks an empty slot; the
/// shadow of that serial, should a card have it, is kept beside the table. It is a value type:
/// copies share the slots until one of them changes.
public struct CardTable: Sendable {
    struct Slot {
        var serial: UInt64
        var shadow: CardShadow
    }

    /// The slots, aligned to 64 bytes so that a slot is one cache line.
    final class Slots: @unchecked Sendable {
        let base: UnsafeMutablePointer<Slot>
        /// A power of two.
        let capacity: Int

        /// `capacity` empty slots.
        init(capacity: Int) {
            self.capacity = capacity
            let bytes = capacity * MemoryLayout<Slot>.stride
            // A lookup is a random read anywhere in the table.
            let raw = HugePages.allocate(bytes)
            // Every byte 0xFF: every serial UInt64.max (empty). Slot is a trivial type.
            memset(raw, 0xFF, bytes)
            base = raw.bindMemory(to: Slot.self, capacity: capacity)
        }

        /// A copy of these slots, in the same places.
        func copy() -> Slots {
            let c = Slots(capacity: capacity)
            c.base.update(from: base, count: capacity)
            return c
        }

        deinit { HugePages.free(base, bytes: capacity * MemoryLayout<Slot>.stride) }
    }

    /// Slots at most 3/4 full (at least ``minimumCapacity``).
    private var slots: Slots
    /// The shadow of serial `UInt64.max`, which cannot have a slot.
    private var emptyMarkerShadow: CardShadow?
    /// Cards in the table (in slots, plus the one beside it if any).
    public private(set) var count = 0

    /// The seed of the hash, for every table of this process.
    private static let seed = UInt64.random(in: 0...UInt64.max)
    /// The capacity of a new table.
    static let minimumCapacity = 1 << 6

    /// An empty table.
    public init() {
        slots = Slots(capacity: Self.minimumCapacity)
    }

    /// Whether no card has a shadow.
    public var isEmpty: Bool { count == 0 }

    @inline(__always)
    private func home(_ serial: UInt64) -> Int {
        FibonacciHash.slot(serial ^ Self.seed, tableSize: slots.capacity)
    }

    /// The slot holding `serial`, or `nil`. Valid until a card is added or removed.
    @inline(__always)
    public func slot(of serial: UInt64) -> Int? {
        guard serial != .max else { return nil }
        let base = slots.base
        let mask = slots.capacity - 1
        var i = home(serial)
        while true {
            let s = base[i].serial
            if s == serial { return i }
            if s == .max { return nil }
            i = (i + 1) & mask
        }
    }

    /// Asks for the line where the lookup of `serial` starts to be brought into the cache
    /// (a prefetch: nothing waits for it), so that the lookup finds it there: posting asks for
    /// the cards a few ahead of the one it posts, so that their cache misses overlap with its
    /// work instead of coming one after the other.
    @inline(__always)
    public func prefetch(_ serial: UInt64) { onecard_prefetch(slots.base + home(serial)) }

    /// The shadow in a slot found by ``slot(of:)``.
    public subscript(slot slot: Int) -> CardShadow {
        @inline(__always) get {
            precondition(slot >= 0 && slot < slots.capacity && slots.base[slot].serial != .max, "not a card's slot")
            return slots.base[slot].shadow
        }
        @inline(__always) set {
            precondition(slot >= 0 && slot < slots.capacity && slots.base[slot].serial != .max, "not a card's slot")
            makeUnique()
            slots.base[slot].shadow = newValue
        }
    }

    /// The shadow of `serial`; setting `nil` removes it.
    public subscript(serial: UInt64) -> CardShadow? {
        get {
            if serial == .max { return emptyMarkerShadow }
            return slot(of: serial).map { slots.base[$0].shadow }
        }
        set {
            if let newValue { update(serial, newValue) } else { remove(serial) }
        }
    }

    /// Makes room for `cards` cards in all without growing again.
    public mutating func reserveCapacity(_ cards: Int) {
        var capacity = slots.capacity
        while cards > capacity / 4 * 3 { capacity *= 2 }
        if capacity != slots.capacity { rehash(capacity) }
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&slots) { slots = slots.copy() }
    }

    private mutating func update(_ serial: UInt64, _ shadow: CardShadow) {
        guard serial != .max else {
            if emptyMarkerShadow == nil { count += 1 }
            emptyMarkerShadow = shadow
            return
        }
        if let i = slot(of: serial) {
            makeUnique()
            slots.base[i].shadow = shadow
            return
        }
        if count + 1 > slots.capacity / 4 * 3 { rehash(slots.capacity * 2) } else { makeUnique() }
        let base = slots.base
        let mask = slots.capacity - 1
        var i = home(serial)
        while base[i].serial != .max { i = (i + 1) & mask }
        base[i] = Slot(serial: serial, shadow: shadow)
        count += 1
    }

    private mutating func remove(_ serial: UInt64) {
        guard serial != .max else {
            if emptyMarkerShadow != nil { count -= 1 }
            emptyMarkerShadow = nil
            return
        }
        guard var hole = slot(of: serial) else { return }
        makeUnique()
        let base = slots.base
        let mask = slots.capacity - 1
        // Backward-shift deletion: each later slot of the probe run whose home is not between
        // the hole and itself moves into the hole, so that every card stays reachable.
        var i = hole
        while true {
            i = (i + 1) & mask
            let s = base[i].serial
            if s == .max { break }
            let h = home(s)
            let stays = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i)
            if !stays {
                base[hole] = base[i]
                hole = i
            }
        }
        base[hole].serial = .max
        count -= 1
    }

    private mutating func rehash(_ capacity: Int) {
        let old = slots
        slots = Slots(capacity: capacity)
        let base = slots.base
        let mask = capacity - 1
        for n in 0..<old.capacity where old.base[n].serial != .max {
            var i = home(old.base[n].serial)
            while base[i].serial != .max { i = (i + 1) & mask }
            base[i] = old.base[n]
        }
    }

    /// The bytes the table holds (its slots), for the memory figures.
    public var bytes: Int { slots.capacity * MemoryLayout<Slot>.stride }
}

extension CardTable: Sequence {
    /// The cards in slot order (which follows the seed, not the serials).
    public struct Iterator: IteratorProtocol {
        let slots: Slots
        var position = 0
        var marker: CardShadow?

        public mutating func next() -> (key: UInt64, value: CardShadow)? {
            while position < slots.capacity {
                let slot = slots.base[position]
                position += 1
                if slot.serial != .max { return (slot.serial, slot.shadow) }
            }
            if let m = marker {
                marker = nil
                return (.max, m)
            }
            return nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(slots: slots, marker: emptyMarkerShadow) }

    public var underestimatedCount: Int { count }

    /// The shadows, in slot order.
    public var values: LazyMapSequence<CardTable, CardShadow> { lazy.map(\.value) }
}

extension CardTable: Equatable {
    /// The same cards with the same shadows, wherever their slots are.
    public static func == (a: CardTable, b: CardTable) -> Bool {
        a.count == b.count && a.allSatisfy { b[$0.key] == $0.value }
    }
}
