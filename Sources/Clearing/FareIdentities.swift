/// The fares clearing has accepted, by the identity the purchase TAC signs: (terminal,
/// terminal transaction sequence). A record with an identity already here is a duplicate
/// (`03`), whatever card counter or balances it claims: those fields are the terminal's word,
/// not the card's.
///
/// A terminal numbers its transactions one after the other, so its accepted sequences are
/// dense: they are kept as bitmaps of ``Page/bitsPerPage`` sequences per (terminal, page) —
/// one bit a fare, O(1) to test and to set in whatever order the records come (clearing posts
/// them card by card, not terminal by terminal). Each page remembers the newest record day in
/// it, so pages whose records are all past the retention (``ClearingConfig/fareRetentionDays``)
/// can be dropped. Only accepted records are inserted, and their sequences are TAC-signed, so a
/// terminal cannot scatter pages it did not earn.
public struct FareIdentities: Sendable, Equatable {
    /// Which page: a terminal and its sequences `page << 12 ..< (page + 1) << 12`.
    public struct PageKey: Hashable, Sendable, Comparable {
        /// The terminal.
        public var terminal: UInt64
        /// The sequence's high 20 bits.
        public var page: UInt32

        /// Names a page.
        public init(terminal: UInt64, page: UInt32) {
            self.terminal = terminal
            self.page = page
        }

        public static func < (a: PageKey, b: PageKey) -> Bool { (a.terminal, a.page) < (b.terminal, b.page) }

        /// One word hashed, not two (posting looks a page up for every fare): the page in the
        /// low 20 bits, the terminal shifted above it (a terminal differing only in its top
        /// four bits collides, which costs a comparison, nothing else).
        public func hash(into hasher: inout Hasher) {
            hasher.combine(terminal &* 0x10_0000 ^ UInt64(page))
        }
    }

    /// 4096 sequences of one terminal, one bit each, with the newest record day among them.
    public struct Page: Hashable, Sendable {
        /// Sequences per page.
        public static let bitsPerPage = 4096
        /// Bytes of a packed page's bitmap.
        public static let bitmapBytes = bitsPerPage / 8
        /// The bitmap: bit `s & 63` of word `(s & 4095) >> 6` is sequence `s`.
        public var words: [UInt64]
        /// The newest record day (days since 1970) in the page.
        public var newestDay: Int32

        /// An empty page.
        public init(newestDay: Int32 = .min) {
            words = [UInt64](repeating: 0, count: Self.bitsPerPage / 64)
            self.newestDay = newestDay
        }
    }

    /// The pages held.
    public private(set) var pages: [PageKey: Page] = [:]

    /// No identities.
    public init() {}

    @inline(__always)
    static func locate(_ terminal: UInt64, _ sequence: UInt32) -> (PageKey, word: Int, bit: UInt64) {
        (PageKey(terminal: terminal, page: sequence >> 12), Int((sequence & 0xFFF) >> 6), 1 << UInt64(sequence & 63))
    }

    /// Whether `sequence` of `terminal` was accepted.
    public func contains(terminal: UInt64, sequence: UInt32) -> Bool {
        let (key, word, bit) = Self.locate(terminal, sequence)
        return pages[key].map { $0.words[word] & bit != 0 } ?? false
    }

    /// Adds an identity; `false` if it was already there (nothing changes then).
    @discardableResult
    public mutating func insert(terminal: UInt64, sequence: UInt32, day: Int) -> Bool {
        let (key, word, bit) = Self.locate(terminal, sequence)
        let d = Int32(clamping: day)
        return Self.set(&pages[key, default: Page()], word, bit, d)
    }

    @inline(__always)
    private static func set(_ p: inout Page, _ word: Int, _ bit: UInt64, _ day: Int32) -> Bool {
        guard p.words[word] & bit == 0 else { return false }
        p.words[word] |= bit
        p.newestDay = max(p.newestDay, day)
        return true
    }

    /// Removes an identity inserted by mistake (a record refused after all, in the same step).
    public mutating func remove(terminal: UInt64, sequence: UInt32) {
        let (key, word, bit) = Self.locate(terminal, sequence)
        pages[key]?.words[word] &= ~bit
    }

    /// The page `sequence` of `terminal` lives in.
    public static func pageKey(terminal: UInt64, sequence: UInt32) -> PageKey { locate(terminal, sequence).0 }

    /// Drops the pages whose newest record is older than `day`; returns them.
    public mutating func prune(before day: Int) -> [PageKey] {
        let old = pages.filter { Int($0.value.newestDay) < day }.map(\.key)
        for k in old { pages[k] = nil }
        return old
    }

    /// Puts a stored page back (storage rebuilding the set).
    public mutating func set(_ key: PageKey, _ page: Page) { pages[key] = page }
}

extension Packing {
    /// Packs a page's bitmap: 512 bytes, word by word big-endian.
    public static func farePage(_ p: FareIdentities.Page) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(FareIdentities.Page.bitmapBytes)
        for w in p.words { out.appendBigEndian(w) }
        return out
    }

    /// Unpacks a page's bitmap; `nil` unless it is exactly 512 bytes.
    public static func farePage(_ bytes: [UInt8], newestDay: Int32) -> FareIdentities.Page? {
        guard bytes.count == FareIdentities.Page.bitmapBytes else { return nil }
        var p = FareIdentities.Page(newestDay: newestDay)
        for i in p.words.indices { p.words[i] = bytes.bigEndianInteger(at: i * 8, count: 8) ?? 0 }
        return p
    }
}
