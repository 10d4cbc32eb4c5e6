public import OneCardCore

/// The cryptography of a PBOC 2.0 / T-Union e-purse with 3DES (algorithm ID `00`),
/// spec §4: key diversification, session keys, load and purchase MAC1/MAC2, TAC and the
/// secure-messaging MAC.
///
/// A second algorithm (SM4, PBOC 3.0) would be a second conformer of ``PurseAlgorithm``; its
/// exact purse rules are not public, so it is not implemented.
public protocol PurseAlgorithm: Sendable {
    /// The byte a card returns in INITIALIZE responses for this algorithm.
    static var algorithmID: AlgorithmID { get }
}

/// The 3DES purse algorithm.
public enum TripleDESPurse: PurseAlgorithm {
    public static let algorithmID = AlgorithmID.tripleDES

    // MARK: Keys

    /// Diversifies a card key from an issuer master key: `3DES(MK, F) ‖ 3DES(MK, ~F)` with F
    /// the 8-byte card serial.
    public static func diversify(master: TripleDESKey, serial: CardSerial) -> TripleDESKey {
        let f = serial.rawValue
        return TripleDESKey(
            left: DESKey(rawValue: master.encrypt(f)),
            right: DESKey(rawValue: master.encrypt(~f))
        )
    }

    /// `SESLK = 3DES(DLK, random ‖ onlineCounter ‖ 80 00)`.
    public static func loadSessionKey(dlk: TripleDESKey, random: UInt32, onlineCounter: PurseCounter) -> DESKey {
        let block = UInt64(random) << 32 | UInt64(onlineCounter.rawValue) << 16 | 0x8000
        return DESKey(rawValue: dlk.encrypt(block))
    }

    /// `SESPK = 3DES(DPK, random ‖ offlineCounter ‖ terminalSequence[2..3])`.
    public static func purchaseSessionKey(
        dpk: TripleDESKey, random: UInt32, offlineCounter: PurseCounter, terminalSequence: TerminalSequence
    ) -> DESKey {
        let block = UInt64(random) << 32 | UInt64(offlineCounter.rawValue) << 16
            | UInt64(terminalSequence.rawValue & 0xFFFF)
        return DESKey(rawValue: dpk.encrypt(block))
    }

    /// The TAC key: `DTK[0..7] XOR DTK[8..15]`.
    public static func tacKey(dtk: TripleDESKey) -> DESKey {
        DESKey(rawValue: dtk.left.rawValue ^ dtk.right.rawValue)
    }

    /// The TAC key of a card straight from the TAC master key, without building the DTK's
    /// key schedules: the clearing hot path.
    @inline(__always)
    public static func tacKey(tacMaster: TripleDESKey, serial: CardSerial) -> DESKey {
        let f = serial.rawValue
        return DESKey(rawValue: tacMaster.encrypt(f) ^ tacMaster.encrypt(~f))
    }

    // MARK: Load

    /// Load MAC1 over `oldBalance ‖ amount ‖ type ‖ terminalID`.
    public static func loadMAC1(
        sessionKey: DESKey, oldBalanceFen: UInt32, amountFen: UInt32, type: TransactionType, terminal: TerminalID
    ) -> UInt32 {
        var d: [UInt8] = []
        d.reserveCapacity(15)
        d.appendBigEndian(oldBalanceFen)
        d.appendBigEndian(amountFen)
        d.append(type.rawValue)
        d += terminal.bytes
        return ISO9797MAC.algorithm1(key: sessionKey, data: d)
    }

    /// Load MAC2 over `amount ‖ type ‖ terminalID ‖ date ‖ time`.
    public static func loadMAC2(
        sessionKey: DESKey, amountFen: UInt32, type: TransactionType, terminal: TerminalID, at: BCDDateTime
    ) -> UInt32 {
        ISO9797MAC.algorithm1(key: sessionKey, data: amountTypeTerminalTime(amountFen, type, terminal, at))
    }

    /// Load TAC over `newBalance ‖ onlineCounter (before the load) ‖ amount ‖ type ‖ terminalID ‖ date ‖ time`.
    public static func loadTAC(
        tacKey: DESKey, newBalanceFen: UInt32, onlineCounter: PurseCounter, amountFen: UInt32,
        type: TransactionType, terminal: TerminalID, at: BCDDateTime
    ) -> UInt32 {
        var d: [UInt8] = []
        d.reserveCapacity(24)
        d.appendBigEndian(newBalanceFen)
        d.appendBigEndian(onlineCounter.rawValue)
        d += amountTypeTerminalTime(amountFen, type, terminal, at)
        return ISO9797MAC.algorithm1(key: tacKey, data: d)
    }

    // MARK: Purchase

    /// Purchase MAC1 over `amount ‖ type ‖ terminalID ‖ date ‖ time`.
    public static func purchaseMAC1(
        sessionKey: DESKey, amountFen: UInt32, type: TransactionType, terminal: TerminalID, at: BCDDateTime
    ) -> UInt32 {
        ISO9797MAC.algorithm1(key: sessionKey, data: amountTypeTerminalTime(amountFen, type, terminal, at))
    }

    /// Purchase MAC2 over `amount`.
    public static func purchaseMAC2(sessionKey: DESKey, amountFen: UInt32) -> UInt32 {
        // 4 bytes of amount, then 80 00 00 00: one block.
        let block = UInt64(amountFen) << 32 | 0x8000_0000
        return UInt32(truncatingIfNeeded: sessionKey.encrypt(block) >> 32)
    }

    /// Purchase TAC over `amount ‖ type ‖ terminalID ‖ terminalSequence ‖ date ‖ time`
    /// (22 bytes, three blocks after padding). Allocation-free: the clearing hot path.
    @inline(__always)
    public static func purchaseTAC(
        tacKey: DESKey, amountFen: UInt32, type: TransactionType, terminal: TerminalID,
        terminalSequence: TerminalSequence, at: BCDDateTime
    ) -> UInt32 {
        let dt = Self.packedDateTime(at)
        return purchaseTAC(
            tacKey: tacKey, amountFen: amountFen, typeByte: type.rawValue, terminal: terminal.rawValue,
            terminalSequence: terminalSequence.rawValue, dateTimeBCD: dt
        )
    }

    /// Purchase TAC from raw fields; `dateTimeBCD` holds the 7 BCD bytes in its low 56 bits.
    @inline(__always)
    public static func purchaseTAC(
        tacKey: DESKey, amountFen: UInt32, typeByte: UInt8, terminal: UInt64, terminalSequence: UInt32,
        dateTimeBCD: UInt64
    ) -> UInt32 {
        // Bytes: amount(4) type(1) terminal(6) seq(4) datetime(7) 80 00 = 24.
        let b0 = UInt64(amountFen) << 32 | UInt64(typeByte) << 24 | (terminal >> 24)
        let b1 = (terminal & 0xFF_FFFF) << 40 | UInt64(terminalSequence) << 8 | (dateTimeBCD >> 48)
        let b2 = (dateTimeBCD & 0xFFFF_FFFF_FFFF) << 16 | 0x8000
        return UInt32(truncatingIfNeeded: tacKey.cbcMAC(b0, b1, b2) >> 32)
    }

    /// Load TAC from raw fields, allocation-free: the hot path of clearing and the load
    /// generator. `dateTimeBCD` holds the 7 BCD bytes in its low 56 bits; `onlineCounter` is
    /// the counter before the load. Same value as ``loadTAC(tacKey:newBalanceFen:onlineCounter:amountFen:type:terminal:at:)``.
    @inline(__always)
    public static func loadTAC(
        tacKey: DESKey, newBalanceFen: UInt32, onlineCounter: UInt16, amountFen: UInt32, typeByte: UInt8, terminal: UInt64,
        dateTimeBCD: UInt64
    ) -> UInt32 {
        // newBalance(4) counter(2) amount(4) type(1) terminal(6) date-time(7) = 24 bytes, then a
        // whole padding block.
        let b0 = UInt64(newBalanceFen) << 32 | UInt64(onlineCounter) << 16 | UInt64(amountFen >> 16)
        let b1 = UInt64(amountFen & 0xFFFF) << 48 | UInt64(typeByte) << 40 | (terminal >> 8)
        let b2 = (terminal & 0xFF) << 56 | (dateTimeBCD & 0xFF_FFFF_FFFF_FFFF)
        return UInt32(truncatingIfNeeded: tacKey.cbcMAC(b0, b1, b2, 0x8000_0000_0000_0000) >> 32)
    }

    /// The 7 BCD bytes of a date-time in the low 56 bits of an integer.
    public static func packedDateTime(_ at: BCDDateTime) -> UInt64 {
        var v: UInt64 = 0
        for b in at.bcd { v = v << 8 | UInt64(b) }
        return v
    }

    // MARK: Secure messaging

    /// The secure-messaging MAC of a command (spec §4): MAC algorithm 3 under the 16-byte
    /// maintenance key, IV = `challenge ‖ 00000000`, over the header (Lc counting the MAC)
    /// and the data.
    public static func secureMessagingMAC(
        damk: TripleDESKey, challenge: UInt32, cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8]
    ) -> UInt32 {
        var input: [UInt8] = [cla, ins, p1, p2, UInt8(truncatingIfNeeded: data.count + 4)]
        input += data
        return ISO9797MAC.algorithm3(key: damk, data: input, iv: UInt64(challenge) << 32)
    }

    // MARK: Helpers

    private static func amountTypeTerminalTime(
        _ amountFen: UInt32, _ type: TransactionType, _ terminal: TerminalID, _ at: BCDDateTime
    ) -> [UInt8] {
        var d: [UInt8] = []
        d.reserveCapacity(18)
        d.appendBigEndian(amountFen)
        d.append(type.rawValue)
        d += terminal.bytes
        d += at.bcd
        return d
    }
}
