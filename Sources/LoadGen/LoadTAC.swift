import OneCardCrypto

/// The load TAC without allocation (the generator's hot path; ``TripleDESPurse/loadTAC``
/// builds a byte array). Same input: `newBalance ‖ onlineCounter (before) ‖ amount ‖ type ‖
/// terminal ‖ date-time`, 24 bytes + `80 00…`, four DES-CBC blocks, left 4 bytes. The tests
/// check it against ``TripleDESPurse/loadTAC``.
enum LoadTAC {
    @inline(__always)
    static func compute(tacKey: DESKey, newBalanceFen: UInt32, onlineCounter: UInt16, amountFen: UInt32,
                        typeByte: UInt8, terminal: UInt64, dateTimeBCD: UInt64) -> UInt32 {
        let b0 = UInt64(newBalanceFen) << 32 | UInt64(onlineCounter) << 16 | UInt64(amountFen >> 16)
        let b1 = UInt64(amountFen & 0xFFFF) << 48 | UInt64(typeByte) << 40 | (terminal >> 8)
        let b2 = (terminal & 0xFF) << 56 | (dateTimeBCD & 0xFF_FFFF_FFFF_FFFF)
        var s = tacKey.encrypt(b0)
        s = tacKey.encrypt(s ^ b1)
        s = tacKey.encrypt(s ^ b2)
        s = tacKey.encrypt(s ^ 0x8000_0000_0000_0000)
        return UInt32(truncatingIfNeeded: s >> 32)
    }
}
