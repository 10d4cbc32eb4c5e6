public import OneCardCore
public import OneCardCrypto

/// Secure-messaging commands under the card's diversified maintenance key (DAMK, spec §4;
/// docs/card.md): GET CHALLENGE, then the command with a 4-byte MAC appended.
public enum CardMaintenance {
    /// GET CHALLENGE, 4 bytes.
    static let getChallenge = CommandAPDU(cla: 0x00, ins: 0x84, p1: 0x00, p2: 0x00, le: 4)

    /// APPLICATION BLOCK (`84 1E 00 P2 04 MAC`): P2 `00` temporary (hotlist; the counter can
    /// unblock), `01` permanent (refund, replacement).
    ///
    /// - Throws: ``TerminalError/cardRefused(step:status:)`` (`9302` for a wrong key) or the
    ///   channel's error.
    public static func block(_ channel: inout some CardChannel, damk: TripleDESKey, permanent: Bool) throws {
        try secure(&channel, damk: damk, cla: 0x84, ins: 0x1E, p1: 0x00, p2: permanent ? 0x01 : 0x00, data: [], step: "APPLICATION BLOCK")
    }

    /// UPDATE BINARY with secure messaging (`04 D6 (80|SFI) offset Lc data MAC`).
    ///
    /// - Throws: ``TerminalError/cardRefused(step:status:)`` or the channel's error.
    public static func updateBinary(_ channel: inout some CardChannel, damk: TripleDESKey, sfi: UInt8, offset: UInt8, data: [UInt8]) throws {
        try secure(&channel, damk: damk, cla: 0x04, ins: 0xD6, p1: 0x80 | sfi, p2: offset, data: data, step: "UPDATE BINARY")
    }

    static func secure(
        _ channel: inout some CardChannel, damk: TripleDESKey, cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8], step: String
    ) throws {
        let c = try channel.expectSuccess(getChallenge, step: "GET CHALLENGE")
        guard c.count == 4, let challenge = c.bigEndianInteger(count: 4) else {
            throw TerminalError.malformedResponse(step: "GET CHALLENGE", byteCount: c.count)
        }
        var body = data
        body.appendBigEndian(TripleDESPurse.secureMessagingMAC(
            damk: damk, challenge: UInt32(challenge), cla: cla, ins: ins, p1: p1, p2: p2, data: data))
        _ = try channel.expectSuccess(CommandAPDU(cla: cla, ins: ins, p1: p1, p2: p2, data: body), step: step)
    }
}
