public import OneCardCore
import OneCardCrypto

/// The PSAM in the terminal's second reader slot as its ``SAM`` (docs/psam.md): the terminal
/// holds no purchase key; it asks the PSAM for MAC1 and the terminal sequence, and has it check
/// the card's MAC2. The same code drives an emulated PSAM over vpcd and a physical one in a
/// reader's SAM slot, through any ``CardChannel``.
public final class PSAMModule: SAM, SecureMessagingSigner {
    /// The terminal number the PSAM was personalised with (EF 0x16): the terminal ID of every
    /// purchase it authorises.
    public let terminal: TerminalID
    /// The purchase key index (EF 0x17 [0]).
    public let keyIndex: KeyIndex
    /// The version of the upload key it signs batches with (EF 0x18), 0 if it holds none.
    public let uploadKeyVersion: UInt8
    /// The last terminal sequence it handed out (EF 0x19) when it was opened: a terminal
    /// whose journal is further on holds a PSAM that would hand out used numbers.
    public let lastSequence: TerminalSequence
    private var channel: any CardChannel

    /// Opens the PSAM: reads its terminal number at the MF, then selects the application and
    /// reads its key index, upload key version and last sequence.
    ///
    /// - Throws: ``TerminalError/psamRefused(step:status:)`` or the channel's error.
    public init(channel: some CardChannel) throws {
        var ch: any CardChannel = channel
        _ = try Self.expect(&ch, CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x00, p2: 0x00, data: [0x3F, 0x00]), "SELECT MF")
        guard let t = TerminalID(rawValue: try Self.readFile(&ch, sfi: 0x16, count: 6)) else {
            throw TerminalError.malformedResponse(step: "PSAM READ BINARY 0x16", byteCount: 6)
        }
        terminal = t
        _ = try Self.expect(&ch, CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x00, p2: 0x00, data: [0x80, 0x11]), "SELECT 8011")
        keyIndex = KeyIndex(rawValue: UInt8(try Self.readFile(&ch, sfi: 0x17, count: 1)))
        uploadKeyVersion = UInt8(try Self.readFile(&ch, sfi: 0x18, count: 1))
        lastSequence = TerminalSequence(rawValue: UInt32(try Self.readFile(&ch, sfi: 0x19, count: 4)))
        self.channel = ch
    }

    /// INITIALIZE SAM FOR PURCHASE with one level of diversification (the card serial).
    public func authorizePurchase(_ p: PurchaseAuthorization) throws -> (sequence: TerminalSequence, mac1: UInt32) {
        var d: [UInt8] = []
        d.appendBigEndian(p.random)
        d.appendBigEndian(p.offlineCounter.rawValue)
        d.appendBigEndian(p.amountFen)
        d.append(p.type.rawValue)
        d += p.at.bcd
        d += [p.keyVersion.rawValue, AlgorithmID.tripleDES.rawValue]
        d.appendBigEndian(p.serial.rawValue)
        let r = try Self.expect(&channel, CommandAPDU(cla: 0x80, ins: 0x70, p1: 0x00, p2: 0x00, data: d, le: 8), "INITIALIZE SAM FOR PURCHASE")
        guard r.count == 8, let seq = r.bigEndianInteger(count: 4), let mac1 = r.bigEndianInteger(at: 4, count: 4) else {
            throw TerminalError.malformedResponse(step: "PSAM INITIALIZE SAM FOR PURCHASE", byteCount: r.count)
        }
        return (TerminalSequence(rawValue: UInt32(seq)), UInt32(mac1))
    }

    /// CREDIT SAM FOR PURCHASE. The PSAM keeps one session, the last authorised purchase: a
    /// MAC2 for another one (a recovery after a tear) cannot be checked and reads as unverified.
    public func verifyMAC2(_ mac2: UInt32, for p: PurchaseAuthorization, sequence: TerminalSequence) -> Bool {
        var d: [UInt8] = []
        d.appendBigEndian(mac2)
        guard let r = try? channel.transmit(CommandAPDU(cla: 0x80, ins: 0x72, p1: 0x00, p2: 0x00, data: d)) else { return false }
        return r.status == .success
    }

    /// A block or secure-messaging MAC for a card made inside the PSAM (DELIVERY KEY of the
    /// maintenance key, type 05, diversified by the card serial; CIPHER DATA over the IV
    /// `challenge ‖ 00000000` and the padded command header): the maintenance master never
    /// leaves the PSAM.
    ///
    /// - Throws: ``TerminalError/psamRefused(step:status:)`` (`6A88`: the PSAM holds no
    ///   maintenance key) or the channel's error.
    public func secureMessagingMAC(serial: CardSerial, challenge: UInt32, header: [UInt8], data: [UInt8]) throws -> UInt32 {
        var factor: [UInt8] = []
        factor.appendBigEndian(serial.rawValue)
        _ = try Self.expect(&channel, CommandAPDU(cla: 0x80, ins: 0x1A, p1: 0x20 | 0x05, p2: 0x01, data: factor), "DELIVERY KEY")
        var input: [UInt8] = []
        input.appendBigEndian(UInt64(challenge) << 32)
        // Padded here, as the card pads its MAC input (ISO 9797-1 method 2, always).
        input += header + data + [0x80]
        while input.count % 8 != 0 { input.append(0) }
        let r = try Self.expect(&channel, CommandAPDU(cla: 0x80, ins: 0xFA, p1: 0x05, p2: 0x00, data: input), "CIPHER DATA")
        guard r.count == 4, let mac = r.bigEndianInteger(count: 4) else { throw TerminalError.malformedResponse(step: "PSAM CIPHER DATA", byteCount: r.count) }
        return UInt32(mac)
    }

    /// SIGN BATCH DIGEST: the MAC of an upload file's SHA-256 under the terminal's upload key
    /// (version `keyVersion`), which only the PSAM holds.
    ///
    /// - Throws: ``TerminalError/psamRefused(step:status:)`` (`6A88`: no upload key of that
    ///   version) or the channel's error.
    public func signBatch(digest: [UInt8], keyVersion: UInt8) throws -> [UInt8] {
        let r = try Self.expect(&channel, CommandAPDU(cla: 0x80, ins: 0xFC, p1: keyVersion, p2: 0x00, data: digest, le: 32), "SIGN BATCH DIGEST")
        guard r.count == 32 else { throw TerminalError.malformedResponse(step: "PSAM SIGN BATCH DIGEST", byteCount: r.count) }
        return r
    }

    /// READ BINARY of the first `count` (≤ 8) bytes of a PSAM file, as a big-endian number.
    private static func readFile(_ ch: inout any CardChannel, sfi: UInt8, count: Int) throws -> UInt64 {
        let step = "READ BINARY 0x\(String(sfi, radix: 16))"
        let d = try expect(&ch, CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x80 | sfi, p2: 0x00, le: count), step)
        guard d.count == count, let v = d.bigEndianInteger(count: count) else {
            throw TerminalError.malformedResponse(step: "PSAM " + step, byteCount: d.count)
        }
        return v
    }

    private static func expect(_ ch: inout any CardChannel, _ c: CommandAPDU, _ step: String) throws -> [UInt8] {
        let r = try ch.transmit(c)
        guard r.status == .success else { throw TerminalError.psamRefused(step: step, status: r.status) }
        return r.data
    }
}
