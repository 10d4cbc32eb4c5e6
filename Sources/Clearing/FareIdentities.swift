/// The fares clearing has accepted, by the identity the purchase TAC signs: (terminal,
/// terminal transaction sequence). A record with an identity already here is a duplicate
/// (`03`), whatever card counter or balances it claims: those fields are the terminal's word,
/// not the card's.
///
/// A terminal numbers its transactions one after the other, so its accepted sequences form a
/// few runs of consecutive numbers: they are kept as sorted, disjoint spans per terminal —
/// a handful of 12-byte spans per terminal however many fares it took. Each span remembers
/// the newest record day in it, so that spans whose records are all past the retention
/// (``ClearingConfig/fareRetentionDays``) can be dropped.
public struct FareIdentities: Sendable, Equatable {
    /// Consecutive sequences `first...last` of one terminal, with the newest record day
    /// (days since 1970) among them.
    public struct Span: Hashable, Sendable {
        /// The first sequence.
        public var first: UInt32
        /// The last sequence (inclusive).
        public var last: UInt32
        /// The newest record day in the span.
        public var newestDay: Int32

        /// Describes a span.
        public init(first: UInt32, last: UInt32, newestDay: Int32) {
            self.first = first
            self.last = last
            self.newestDay = newestDay
        }
    }

    /// Spans per terminal, sorted and disjoint, never two adjacent ones.
    public private(set) var spans: [UInt64: [Span]] = [:]

    /// No identities.
    public init() {}

    /// The number of spans held (memory is about 12 bytes a span plus a dictionary entry a
    /// terminal).
    public var spanCount: Int { spans.values.reduce(0) { $0 + $1.count } }

    /// Whether `sequence` of `terminal` was accepted.
    public func contains(terminal: UInt64, sequence: UInt32) -> Bool {
        guard let list = spans[terminal] else { return false }
        let i = Self.lowerBound(list, sequence)
        return i < list.count && list[i].first <= sequence
    }

    /// Adds an identity; `false` if it was already there (nothing changes then).
    @discardableResult
    public mutating func insert(terminal: UInt64, sequence: UInt32, day: Int) -> Bool {
        let d = Int32(clamping: day)
        var list = spans[terminal] ?? []
        let i = Self.lowerBound(list, sequence)
        if i < list.count, list[i].first <= sequence { return false }
        // 64-bit arithmetic: a sequence of 0 or FFFFFFFF has no neighbour on one side.
        let s = UInt64(sequence)
        let joinsLeft = i > 0 && UInt64(list[i - 1].last) + 1 == s
        let joinsRight = i < list.count && UInt64(list[i].first) == s + 1
        switch (joinsLeft, joinsRight) {
        case (true, true):
            list[i - 1].last = list[i].last
            list[i - 1].newestDay = max(list[i - 1].newestDay, list[i].newestDay, d)
            list.remove(at: i)
        case (true, false):
            list[i - 1].last = sequence
            list[i - 1].newestDay = max(list[i - 1].newestDay, d)
        case (false, true):
            list[i].first = sequence
            list[i].newestDay = max(list[i].newestDay, d)
        case (false, false):
            list.insert(Span(first: sequence, last: sequence, newestDay: d), at: i)
        }
        spans[terminal] = list
        return true
    }

    /// Drops the spans whose newest record is older than `day`; returns the terminals whose
    /// spans changed.
    public mutating func prune(before day: Int) -> [UInt64] {
        var changed: [UInt64] = []
        for (t, list) in spans where list.contains(where: { Int($0.newestDay) < day }) {
            let kept = list.filter { Int($0.newestDay) >= day }
            spans[t] = kept.isEmpty ? nil : kept
            changed.append(t)
        }
        return changed
    }

    /// Replaces one terminal's spans (storage rebuilding the set); `nil` if they are not
    /// sorted, disjoint and non-adjacent.
    public mutating func set(terminal: UInt64, _ list: [Span]) -> Bool {
        for (n, s) in list.enumerated() {
            guard s.first <= s.last else { return false }
            if n > 0, UInt64(list[n - 1].last) + 1 >= UInt64(s.first) { return false }
        }
        spans[terminal] = list.isEmpty ? nil : list
        return true
    }

    /// The index of the first span whose `last` is at or above `sequence`.
    private static func lowerBound(_ list: [Span], _ sequence: UInt32) -> Int {
        var lo = 0, hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if list[mid].last < sequence { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

extension Packing {
    /// Bytes per packed fare-identity span: first(4) last(4) newest day(4), big-endian.
    public static let fareSpanBytes = 12

    /// Packs one terminal's spans.
    public static func fareSpans(_ list: [FareIdentities.Span]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(list.count * fareSpanBytes)
        for s in list {
            out.appendBigEndian(s.first)
            out.appendBigEndian(s.last)
            out.appendBigEndian(UInt32(bitPattern: s.newestDay))
        }
        return out
    }

    /// Unpacks one terminal's spans; `nil` if the length is not a whole number of spans.
    public static func fareSpans(_ bytes: [UInt8]) -> [FareIdentities.Span]? {
        guard bytes.count % fareSpanBytes == 0 else { return nil }
        return stride(from: 0, to: bytes.count, by: fareSpanBytes).map { o in
            FareIdentities.Span(
                first: UInt32(bytes.bigEndianInteger(at: o, count: 4) ?? 0), last: UInt32(bytes.bigEndianInteger(at: o + 4, count: 4) ?? 0),
                newestDay: Int32(bitPattern: UInt32(bytes.bigEndianInteger(at: o + 8, count: 4) ?? 0)))
        }
    }
}
