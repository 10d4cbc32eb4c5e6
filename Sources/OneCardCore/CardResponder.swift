/// A contact or contactless card as a reader sees it: it is powered, answers with an ATR,
/// and answers each command APDU with a response APDU. The e-purse emulator conforms; the
/// virtual reader bridge (vpcd) and in-process channels drive any conformer.
///
/// Implementations answer every byte string, however malformed, with a status word: a card
/// never fails to answer.
public protocol CardResponder: AnyObject {
    /// The answer to reset (at most 33 bytes).
    var atr: [UInt8] { get }
    /// Power on, or a warm reset: volatile state (selected application, open sessions) is lost.
    func reset()
    /// Power off: volatile state is lost.
    func powerOff()
    /// Processes one raw command APDU and returns the raw response APDU (data ‖ SW1 SW2).
    func respond(to command: [UInt8]) -> [UInt8]
}

/// A ``CardChannel`` straight into a ``CardResponder`` in the same process: the terminal
/// flows run over it in unit tests exactly as they run over a PC/SC reader.
public struct InProcessChannel: CardChannel {
    /// The card being talked to.
    public let card: any CardResponder

    /// Opens a channel to `card`, powering it on.
    public init(card: any CardResponder) {
        self.card = card
        card.reset()
    }

    /// Sends the command's bytes and parses the response.
    ///
    /// - Throws: ``APDUError`` if the card answers fewer than two bytes.
    public mutating func transmit(_ command: CommandAPDU) throws -> ResponseAPDU {
        try ResponseAPDU(bytes: card.respond(to: command.bytes))
    }
}
