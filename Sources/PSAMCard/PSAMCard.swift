public import OneCardCore
public import OneCardCrypto

/// The PSAM card application: the terminal's secure access module, APDU in, APDU out
/// (docs/psam.md; `../shared/spec/PSAM.md` §1–5). It holds the purchase master keys and the
/// maintenance keys and never returns a key: it returns MAC1, checks MAC2, and MACs or
/// enciphers data under a key it diversified itself.
///
/// As the e-purse does, every command works on a copy of the state that replaces it only on
/// success; ``revision`` counts the changes (the terminal sequence), so the emulator saves
/// the PSAM file before the answer leaves — a sequence number, once answered, is never reused.
public final class PSAMCard: CardResponder {
    /// The non-volatile state.
    public private(set) var state: PSAMState
    /// How many commands changed ``state``.
    public private(set) var revision: UInt64 = 0

    /// Volatile state: lost at reset or power off.
    struct Session {
        enum Selected { case mf, application }
        var selected = Selected.mf
        /// The pending purchase (INITIALIZE SAM FOR PURCHASE done, MAC2 not yet checked).
        var purchase: (key: DESKey, amountFen: UInt32)?
        /// The key DELIVERY KEY prepared for CIPHER DATA.
        var delivered: TripleDESKey?
        /// The last response's data, for a terminal that asks for it with GET RESPONSE.
        var lastData: [UInt8] = []
    }

    var session = Session()

    /// The application's file identifier (JT/T 978).
    public static let applicationFID: [UInt8] = [0x80, 0x11]
    /// The master file.
    public static let masterFID: [UInt8] = [0x3F, 0x00]
    /// DELIVERY KEY key type of the application maintenance key (docs/psam.md).
    public static let maintenanceKeyType: UInt8 = 0x05

    /// Wraps a PSAM state.
    public init(state: PSAMState) { self.state = state }

    /// T=0 contact card ATR with historical bytes "ONECPSAM".
    public var atr: [UInt8] {
        var a: [UInt8] = [0x3B, 0x88, 0x80, 0x01] + Array("ONECPSAM".utf8)
        a.append(a.dropFirst().reduce(0, ^))
        return a
    }

    public func reset() { session = Session() }

    public func powerOff() { session = Session() }

    /// Answers one raw command. Never traps on input.
    public func respond(to command: [UInt8]) -> [UInt8] { response(to: command).bytes }

    /// Answers one raw command as a parsed response.
    public func response(to bytes: [UInt8]) -> ResponseAPDU {
        guard let c = try? CommandAPDU(bytes: bytes) else { return ResponseAPDU(status: .wrongLength) }
        var working = state
        let r = dispatch(c, &working)
        if working != state {
            state = working
            revision &+= 1
        }
        if c.ins != 0xC0 { session.lastData = r.data }
        return r
    }

    private func dispatch(_ c: CommandAPDU, _ s: inout PSAMState) -> ResponseAPDU {
        switch (c.cla, c.ins) {
        case (0x00, 0xA4): return select(c)
        case (0x00, 0xB0): return readBinary(c, s)
        case (0x00, 0xC0): return getResponse(c)
        case (0x80, 0x70): return initializeForPurchase(c, &s)
        case (0x80, 0x72): return creditForPurchase(c)
        case (0x80, 0x1A): return deliveryKey(c, s)
        case (0x80, 0xFA): return cipherData(c)
        case (0x80, 0xFC): return signBatchDigest(c, s)
        case (0x00, _), (0x80, _): return ResponseAPDU(status: .instructionNotSupported)
        default: return ResponseAPDU(status: .classNotSupported)
        }
    }

    // MARK: Files

    private func select(_ c: CommandAPDU) -> ResponseAPDU {
        guard c.p1 == 0x00, c.p2 == 0x00 else { return ResponseAPDU(status: .incorrectP1P2) }
        switch c.data {
        case Self.masterFID:
            session = Session()
        case Self.applicationFID:
            session = Session()
            session.selected = .application
        default:
            return ResponseAPDU(status: .fileNotFound)
        }
        return ResponseAPDU(status: .success)
    }

    /// READ BINARY by short file identifier (P1 = `80 | SFI`, P2 = offset). EF 0x15 and 0x16
    /// are at the MF, EF 0x17, 0x18 (*ours*: the upload key version, `00` for none) and 0x19 in
    /// the application; Le 0 reads to the end.
    private func readBinary(_ c: CommandAPDU, _ s: PSAMState) -> ResponseAPDU {
        guard c.p1 & 0x80 != 0, c.data.isEmpty else { return ResponseAPDU(status: .incorrectP1P2) }
        let file: [UInt8]
        switch (c.p1 & 0x1F, session.selected) {
        case (0x15, .mf): file = s.ef15
        case (0x16, .mf): file = s.ef16
        case (0x17, .application): file = s.ef17
        case (0x18, .application): file = [s.uploadKey == nil ? 0x00 : s.uploadKeyVersion]
        case (0x19, .application): file = s.ef19
        default: return ResponseAPDU(status: .fileNotFound)
        }
        let offset = Int(c.p2)
        guard offset <= file.count else { return ResponseAPDU(status: .wrongP1P2) }
        let n = c.le.map { $0 == 0 || $0 == 256 ? file.count - offset : $0 } ?? file.count - offset
        guard offset + n <= file.count else { return ResponseAPDU(status: .wrongLength) }
        return ResponseAPDU(data: Array(file[offset..<offset + n]), status: .success)
    }

    /// GET RESPONSE: the data of the previous answer again (this PSAM answers with its data
    /// directly, but a T=0 terminal may still ask).
    private func getResponse(_ c: CommandAPDU) -> ResponseAPDU {
        guard c.p1 == 0, c.p2 == 0 else { return ResponseAPDU(status: .incorrectP1P2) }
        guard !session.lastData.isEmpty else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        let n = min(session.lastData.count, c.le.map { $0 == 0 ? 256 : $0 } ?? session.lastData.count)
        return ResponseAPDU(data: Array(session.lastData.prefix(n)), status: .success)
    }

    // MARK: Purchase

    /// INITIALIZE SAM FOR PURCHASE (`80 70 00 00 Lc`): takes the next terminal sequence (kept
    /// in EF 0x19 before the answer), diversifies the purchase key, returns sequence ‖ MAC1.
    private func initializeForPurchase(_ c: CommandAPDU, _ s: inout PSAMState) -> ResponseAPDU {
        guard session.selected == .application else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        guard c.p1 == 0, c.p2 == 0 else { return ResponseAPDU(status: .incorrectP1P2) }
        let d = c.data
        guard [0x1C, 0x24, 0x2C].contains(d.count) else { return ResponseAPDU(status: .wrongLength) }
        guard let master = s.purchaseKeys[d[18]] else { return ResponseAPDU(status: .keyNotFound) }
        guard d[19] == 0x00 else { return ResponseAPDU(status: .keyNotFound) }
        guard let type = TransactionType(rawValue: d[10]), type == .epPurchase || type == .compoundPurchase,
              let at = BCDDateTime(bcd: d[11..<18])
        else { return ResponseAPDU(status: .incorrectData) }
        guard s.sequence < UInt32.max else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        let random = UInt32(d.bigEndianInteger(at: 0, count: 4) ?? 0)
        let counter = PurseCounter(rawValue: UInt16(d.bigEndianInteger(at: 4, count: 2) ?? 0))
        let amount = UInt32(d.bigEndianInteger(at: 6, count: 4) ?? 0)
        let dpk = Self.diversify(master, factors: Array(d[20...]))
        s.sequence += 1
        let sequence = TerminalSequence(rawValue: s.sequence)
        let key = TripleDESPurse.purchaseSessionKey(dpk: dpk, random: random, offlineCounter: counter, terminalSequence: sequence)
        session.purchase = (key, amount)
        // MAC1 is over the PSAM's own terminal number: whatever a terminal claims, a card's
        // record names the terminal this PSAM was personalised for.
        let mac1 = TripleDESPurse.purchaseMAC1(sessionKey: key, amountFen: amount, type: type, terminal: s.terminal, at: at)
        var out: [UInt8] = []
        out.appendBigEndian(s.sequence)
        out.appendBigEndian(mac1)
        return ResponseAPDU(data: out, status: .success)
    }

    /// CREDIT SAM FOR PURCHASE (`80 72 00 00 04` MAC2): checks the card's MAC2 for the
    /// pending purchase; the session ends on success and stays on a mismatch.
    private func creditForPurchase(_ c: CommandAPDU) -> ResponseAPDU {
        guard session.selected == .application else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        guard c.p1 == 0, c.p2 == 0 else { return ResponseAPDU(status: .incorrectP1P2) }
        guard c.data.count == 4 else { return ResponseAPDU(status: .wrongLength) }
        guard let p = session.purchase else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        let mac2 = UInt32(c.data.bigEndianInteger(count: 4) ?? 0)
        guard TripleDESPurse.purchaseMAC2(sessionKey: p.key, amountFen: p.amountFen) == mac2 else { return ResponseAPDU(status: .macInvalid) }
        session.purchase = nil
        return ResponseAPDU(status: .success)
    }

    // MARK: Keys for secure messaging

    /// DELIVERY KEY (`80 1A P1 P2 Lc factors`): P1 bits 7–5 the number of factors, bits 4–0 the
    /// key type; P2 the key identifier. The diversified key stays inside, for CIPHER DATA.
    private func deliveryKey(_ c: CommandAPDU, _ s: PSAMState) -> ResponseAPDU {
        let levels = Int(c.p1 >> 5), type = c.p1 & 0x1F
        guard c.data.count == 8 * levels else { return ResponseAPDU(status: .wrongLength) }
        guard type == Self.maintenanceKeyType, let key = s.maintenanceKeys[c.p2] else {
            return ResponseAPDU(status: StatusWord(rawValue: 0x6A88))
        }
        session.delivered = Self.diversify(key, factors: c.data)
        return ResponseAPDU(status: .success)
    }

    /// CIPHER DATA (`80 FA 05 00 Lc` IV ‖ data) under the delivered key: the MAC (ISO 9797-1
    /// algorithm 3) of an APPLICATION BLOCK command header (`84 1E 00 00|01 04`, padded `80 00…`
    /// by the PSAM if the terminal did not) — the only input this PSAM MACs (docs/psam.md).
    private func cipherData(_ c: CommandAPDU) -> ResponseAPDU {
        guard c.p2 == 0x00, c.p1 & ~0x07 == 0 else { return ResponseAPDU(status: .incorrectP1P2) }
        guard let key = session.delivered else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        let mac = c.p1 & 0x01 != 0, more = c.p1 & 0x02 != 0, hasIV = c.p1 & 0x04 != 0
        var data = c.data[...]
        guard !data.isEmpty else { return ResponseAPDU(status: .wrongLength) }
        // *ours*: a fare terminal's PSAM MACs one command only, APPLICATION BLOCK, in one
        // block with its IV: it is no general MAC or cipher oracle under the cards' maintenance
        // key (a stolen terminal could otherwise unblock cards or rewrite their type).
        guard mac, hasIV, !more, data.count > 8 else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        let state = Array(data.prefix(8)).bigEndianInteger(count: 8) ?? 0
        data = data.dropFirst(8)
        let padded = Self.pad(Array(data))
        guard padded.count == 8, Array(padded.prefix(3)) == [0x84, 0x1E, 0x00], padded[3] <= 0x01, padded[4] == 0x04,
              Array(padded[5...]) == [0x80, 0x00, 0x00]
        else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        let blocks = padded
        let last = Self.cbc(key.left, state, blocks)
        var out: [UInt8] = []
        out.appendBigEndian(UInt32(truncatingIfNeeded: key.left.encrypt(key.right.decrypt(last)) >> 32))
        return ResponseAPDU(data: out, status: .success)
    }

    // MARK: Upload batches

    /// SIGN BATCH DIGEST (*ours*, `80 FC 00 00 20` digest, Le `20`): HMAC-SHA-256 of the
    /// 32-byte SHA-256 of an upload file under the terminal's upload key — the file MAC of
    /// `OCUB` version 2. P1 is the upload key version; `6A88` if the PSAM holds no such key.
    private func signBatchDigest(_ c: CommandAPDU, _ s: PSAMState) -> ResponseAPDU {
        guard session.selected == .application else { return ResponseAPDU(status: .conditionsOfUseNotSatisfied) }
        guard c.p2 == 0x00 else { return ResponseAPDU(status: .incorrectP1P2) }
        guard c.data.count == SHA256Digest.byteCount else { return ResponseAPDU(status: .wrongLength) }
        guard let key = s.uploadKey, c.p1 == s.uploadKeyVersion else { return ResponseAPDU(status: StatusWord(rawValue: 0x6A88)) }
        return ResponseAPDU(data: c.data.withUnsafeBytes { HMACSHA256.authenticate(key: key, data: $0) }, status: .success)
    }

    // MARK: Helpers

    /// Diversifies `key` with each 8-byte factor, from the last to the first (spec §2).
    static func diversify(_ key: TripleDESKey, factors: [UInt8]) -> TripleDESKey {
        var k = key
        for o in stride(from: factors.count - 8, through: 0, by: -8) {
            k = TripleDESPurse.diversify(master: k, serial: CardSerial(rawValue: factors.bigEndianInteger(at: o, count: 8) ?? 0))
        }
        return k
    }

    /// `80 00…` padding, only when `d` is not a whole number of blocks.
    static func pad(_ d: [UInt8]) -> [UInt8] {
        guard d.count % 8 != 0 else { return d }
        return d + [0x80] + Array(repeating: 0, count: 7 - d.count % 8)
    }

    /// DES-CBC over whole blocks from `state`.
    static func cbc(_ key: DESKey, _ state: UInt64, _ blocks: [UInt8]) -> UInt64 {
        var s = state
        for o in stride(from: 0, to: blocks.count, by: 8) { s = key.encrypt(s ^ (blocks.bigEndianInteger(at: o, count: 8) ?? 0)) }
        return s
    }
}
