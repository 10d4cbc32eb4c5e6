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

    /// APPLICATION BLOCK with the MAC made by `signer` — a fare terminal's PSAM, which keeps
    /// the maintenance key inside.
    ///
    /// - Throws: ``TerminalError/cardRefused(step:status:)``, the signer's or the channel's error.
    public static func block(_ channel: inout some CardChannel, serial: CardSerial, signer: some SecureMessagingSigner, permanent: Bool) throws {
        try secure(&channel, serial: serial, signer: signer, cla: 0x84, ins: 0x1E, p1: 0x00, p2: permanent ? 0x01 : 0x00, data: [], step: "APPLICATION BLOCK")
    }

    static func secure(
        _ channel: inout some CardChannel, damk: TripleDESKey, cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8], step: String
    ) throws {
        try secure(&channel, serial: CardSerial(rawValue: 0), signer: DiversifiedMaintenanceKey(damk: damk), cla: cla, ins: ins, p1: p1, p2: p2, data: data, step: step)
    }

    static func secure(
        _ channel: inout some CardChannel, serial: CardSerial, signer: some SecureMessagingSigner, cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8,
        data: [UInt8], step: String
    ) throws {
        let c = try channel.expectSuccess(getChallenge, step: "GET CHALLENGE")
        guard c.count == 4, let challenge = c.bigEndianInteger(count: 4) else {
            throw TerminalError.malformedResponse(step: "GET CHALLENGE", byteCount: c.count)
        }
        var body = data
        let header = [cla, ins, p1, p2, UInt8(truncatingIfNeeded: data.count + 4)]
        body.appendBigEndian(try signer.secureMessagingMAC(serial: serial, challenge: UInt32(challenge), header: header, data: data))
        _ = try channel.expectSuccess(CommandAPDU(cla: cla, ins: ins, p1: p1, p2: p2, data: body), step: step)
    }
}

/// Whoever makes a card's secure-messaging MAC: MAC algorithm 3 under the card's diversified
/// maintenance key, IV `challenge ‖ 00000000`, over the command header (Lc counting the MAC)
/// and data. A fare terminal's is its PSAM (``PSAMModule``); a service counter holds the
/// maintenance master itself.
public protocol SecureMessagingSigner {
    /// The MAC for the card `serial`.
    func secureMessagingMAC(serial: CardSerial, challenge: UInt32, header: [UInt8], data: [UInt8]) throws -> UInt32
}

/// The maintenance master in the process (service counters, personalisation).
public struct MaintenanceMaster: SecureMessagingSigner {
    let master: TripleDESKey

    /// Wraps the maintenance master key.
    public init(_ master: TripleDESKey) { self.master = master }

    public func secureMessagingMAC(serial: CardSerial, challenge: UInt32, header: [UInt8], data: [UInt8]) throws -> UInt32 {
        try DiversifiedMaintenanceKey(damk: TripleDESPurse.diversify(master: master, serial: serial))
            .secureMessagingMAC(serial: serial, challenge: challenge, header: header, data: data)
    }
}

/// One card's diversified maintenance key.
struct DiversifiedMaintenanceKey: SecureMessagingSigner {
    let damk: TripleDESKey

    func secureMessagingMAC(serial: CardSerial, challenge: UInt32, header: [UInt8], data: [UInt8]) throws -> UInt32 {
        ISO9797MAC.algorithm3(key: damk, data: header + data, iv: UInt64(challenge) << 32)
    }
}
