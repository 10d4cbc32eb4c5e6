import OneCardCore

/// A card in the field that may be torn away: the connection is cut at command `cutAt`
/// (1-based), before the card sees it or, with `responseLost`, after the card processed it;
/// every later command fails too. `cutAt == nil` never tears.
struct TearingChannel: CardChannel {
    /// The error a torn command throws (the reader's "card removed").
    struct Torn: Error {}

    var inner: InProcessChannel
    let cutAt: Int?
    let responseLost: Bool
    private(set) var sent = 0

    init(card: any CardResponder, cutAt: Int?, responseLost: Bool) {
        inner = InProcessChannel(card: card)
        self.cutAt = cutAt
        self.responseLost = responseLost
    }

    mutating func transmit(_ command: CommandAPDU) throws -> ResponseAPDU {
        sent += 1
        guard let cutAt, sent >= cutAt else { return try inner.transmit(command) }
        if sent == cutAt, responseLost { _ = try inner.transmit(command) }
        throw Torn()
    }
}
