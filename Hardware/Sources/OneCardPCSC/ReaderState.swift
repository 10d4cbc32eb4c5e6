import CPCSCLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A reader's state as `SCardGetStatusChange` reports it.
public struct ReaderState: Sendable, Equatable {
    /// The reader's name.
    public var reader: String
    /// The `SCARD_STATE_*` bits (lower 16 bits of `dwEventState`).
    public var flags: ReaderStateFlags
    /// pcscd's per-reader event counter (upper 16 bits of `dwEventState`): it changes on every
    /// insertion and removal, even when both happen between two calls.
    public var eventCount: Int
    /// The card's answer to reset; empty when no card is present.
    public var atr: [UInt8]

    /// Whether a card is in the reader.
    public var isCardPresent: Bool { flags.contains(.present) }
}

/// `SCARD_STATE_*` flags.
public struct ReaderStateFlags: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public var rawValue: UInt32
    /// Wraps raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `SCARD_STATE_CHANGED`.
    public static let changed = ReaderStateFlags(rawValue: UInt32(SCARD_STATE_CHANGED))
    /// `SCARD_STATE_UNKNOWN`: the reader is gone.
    public static let unknown = ReaderStateFlags(rawValue: UInt32(SCARD_STATE_UNKNOWN))
    /// `SCARD_STATE_UNAVAILABLE`.
    public static let unavailable = ReaderStateFlags(rawValue: UInt32(SCARD_STATE_UNAVAILABLE))
    /// `SCARD_STATE_EMPTY`.
    public static let empty = ReaderStateFlags(rawValue: UInt32(SCARD_STATE_EMPTY))
    /// `SCARD_STATE_PRESENT`.
    public static let present = ReaderStateFlags(rawValue: UInt32(SCARD_STATE_PRESENT))
    /// `SCARD_STATE_EXCLUSIVE`: an application holds the card exclusively.
    public static let exclusive = ReaderStateFlags(rawValue: UInt32(SCARD_STATE_EXCLUSIVE))
    /// `SCARD_STATE_INUSE`.
    public static let inUse = ReaderStateFlags(rawValue: UInt32(SCARD_STATE_INUSE))
    /// `SCARD_STATE_MUTE`: the card does not answer.
    public static let mute = ReaderStateFlags(rawValue: UInt32(SCARD_STATE_MUTE))
}

/// The `SCARD_READERSTATE` array of one `SCardGetStatusChange` caller, with the C strings it
/// points to (they must outlive every call). Owned by one thread at a time.
final class ReaderStateTable {
    let names: [String]
    private let cNames: [UnsafeMutablePointer<CChar>]
    private var states: [SCARD_READERSTATE]

    init(readers: [String]) {
        names = readers
        cNames = readers.map { strdup($0) }  // strdup fails only when out of memory: crash is right
        states = cNames.map { name in
            var s = SCARD_READERSTATE()
            s.szReader = UnsafePointer(name)
            s.dwCurrentState = dword(SCARD_STATE_UNAWARE)
            return s
        }
    }

    deinit { cNames.forEach { free($0) } }

    /// `SCardGetStatusChange`: returns when some reader's state differs from what this table
    /// last acknowledged, or throws ``PCSCStatus/timeout``.
    func wait(context: SCARDCONTEXT, timeout: Duration) throws(PCSCError) {
        let rv = states.withUnsafeMutableBufferPointer { buffer in
            SCardGetStatusChange(context, timeoutMilliseconds(timeout), buffer.baseAddress, dword(buffer.count))
        }
        try pcscCheck(rv, "SCardGetStatusChange")
    }

    /// Marks every reported state as seen, keeping the event counter (upper 16 bits) so the
    /// next wait returns on the next change only.
    func acknowledge() {
        for i in states.indices {
            states[i].dwCurrentState = states[i].dwEventState & ~dword(SCARD_STATE_CHANGED)
        }
    }

    /// Forgets what was seen for reader `index`, so the next wait reports its state at once.
    func forget(_ index: Int) { states[index].dwCurrentState = dword(SCARD_STATE_UNAWARE) }

    /// The states reported by the last wait.
    func snapshots() -> [ReaderState] {
        states.indices.map { i in
            let s = states[i]
            let event = UInt32(truncatingIfNeeded: s.dwEventState)
            let flags = ReaderStateFlags(rawValue: event & 0xFFFF)
            let atrCount = min(int(s.cbAtr), int(onecard_pcsc_max_atr_size()))
            let atr = flags.contains(.present)
                ? withUnsafeBytes(of: s.rgbAtr) { Array($0.prefix(atrCount)) } : []
            return ReaderState(reader: names[i], flags: flags, eventCount: Int(event >> 16), atr: atr)
        }
    }
}
