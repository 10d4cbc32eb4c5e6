/// The cards a little ahead of the one being checked or posted, whose entries in a table read
/// at random (the card table, the TAC key cache) are asked for before they are needed, so that
/// their cache misses overlap with the work instead of coming one after the other. Items are in
/// card order; at each new card, once half of the cards asked for are used up, the next ones
/// are asked for, up to ``count`` ahead.
struct CardsAhead {
    /// How many cards ahead are asked for (half of them at a time).
    static let count = 32
    /// The first item not asked for yet, and the cards asked for that are still ahead.
    private var next: Int
    private var ahead = 0
    private let end: Int

    /// For the items in `range`.
    init(_ range: Range<Int>) {
        next = range.lowerBound
        end = range.upperBound
    }

    /// Called at the first item of each card: hands the serials to ask for to `prefetch`.
    @inline(__always)
    mutating func newCard(_ items: [Posting.Item], _ prefetch: (UInt64) -> Void) {
        if ahead <= Self.count / 2 {
            while ahead < Self.count, next < end {
                let s = items[next].serial
                prefetch(s)
                repeat { next += 1 } while next < end && items[next].serial == s
                ahead += 1
            }
        }
        ahead -= 1
    }
}
