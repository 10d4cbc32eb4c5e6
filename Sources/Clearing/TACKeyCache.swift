#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OneCardCore
import OneCardCrypto
import Synchronization

/// The TAC keys of recently verified cards, so that a card whose records arrive over many runs
/// has its key derived (two 3DES blocks) about once a day rather than once a run.
///
/// Direct-mapped and of fixed size: ``lanes`` × ``entriesPerLane`` entries of 24 bytes (48 MiB),
/// whatever the number of cards; a card that shares a slot with another is derived again. Each
/// verifying thread uses its own lane only, so no entry is ever read while another thread
/// writes it, and stages take turns on the cache (``inTurn(_:)``). The memory is unmapped when
/// the cache goes (the keys are derived key material).
final class TACKeyCache: @unchecked Sendable {
    /// One verifying thread per lane (``Stager`` splits a run in two).
    static let lanes = 2
    /// The entries of a lane (a power of two).
    static let entriesPerLane = 1 << 20

    private struct Entry {
        var serial: UInt64
        var key: UInt64
        /// The key version plus 0x100; 0 marks an empty slot.
        var tag: UInt16
    }

    private let base: UnsafeMutablePointer<Entry>
    private let masters: [UInt8: TripleDESKey]
    /// Held by the stage using the lanes.
    private let turn = Mutex(())

    init(masters: [UInt8: TripleDESKey]) {
        self.masters = masters
        // Zeroed (empty) pages that cost nothing until a lane uses them; huge pages, so that a
        // lookup (a random read) does not miss the TLB as well.
        let raw = HugePages.allocate(Self.bytes)
        base = raw.bindMemory(to: Entry.self, capacity: Self.lanes * Self.entriesPerLane)
    }

    /// The cache's memory.
    private static var bytes: Int { lanes * entriesPerLane * MemoryLayout<Entry>.stride }

    deinit {
        // Unmapped: the derived keys go back to the kernel with the pages, which it zeroes
        // before any other use; the process's allocator never hands them out again.
        HugePages.free(base, bytes: Self.bytes)
    }

    /// Runs `body`, which uses the lanes, while no other stage does.
    func inTurn(_ body: () -> Void) {
        turn.withLock { _ in body() }
    }

    /// The entry of card `serial` in `lane`: anywhere among the lane's entries.
    @inline(__always)
    static func slot(lane: Int, serial: UInt64) -> Int {
        lane * entriesPerLane + Int(truncatingIfNeeded: (serial &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - entriesPerLane.trailingZeroBitCount))
    }

    /// The TAC key of card `serial` under the master of `version`, or `nil` when clearing holds
    /// no master of that version. Call only from the thread that owns `lane`, in a turn.
    @inline(__always)
    func key(lane: Int, serial: UInt64, version: UInt8) -> DESKey? {
        let slot = Self.slot(lane: lane, serial: serial)
        let tag = UInt16(version) | 0x100
        let e = base[slot]
        if e.tag == tag, e.serial == serial { return DESKey(rawValue: e.key) }
        guard let master = masters[version] else { return nil }
        let key = TripleDESPurse.tacKey(tacMaster: master, serial: CardSerial(rawValue: serial))
        base[slot] = Entry(serial: serial, key: key.exportKeyBits(), tag: tag)
        return key
    }
}
