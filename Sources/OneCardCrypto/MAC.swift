/// ISO/IEC 9797-1 MACs with padding method 2 (`80 00…` to a multiple of 8 bytes), the
/// MAC rule of PBOC and T-Union purses. All variants keep the left 4 bytes of the result.
public enum ISO9797MAC {
    /// MAC algorithm 1: DES-CBC under an 8-byte key, last block as the MAC.
    ///
    /// - Parameters:
    ///   - key: the 8-byte session or TAC key.
    ///   - data: the MAC input, any length.
    ///   - iv: the initial vector, 0 for every purse MAC.
    /// - Returns: the left 4 bytes of the last cipher block, big-endian.
    public static func algorithm1(key: DESKey, data: some Collection<UInt8>, iv: UInt64 = 0) -> UInt32 {
        UInt32(truncatingIfNeeded: cbc(key: key, data: data, iv: iv) >> 32)
    }

    /// MAC algorithm 3 (retail MAC): DES-CBC under K1, then the last block decrypted under
    /// K2 and encrypted under K1. Used by secure messaging with the 16-byte maintenance key.
    ///
    /// - Returns: the left 4 bytes of the result, big-endian.
    public static func algorithm3(key: TripleDESKey, data: some Collection<UInt8>, iv: UInt64 = 0) -> UInt32 {
        let last = cbc(key: key.left, data: data, iv: iv)
        return UInt32(truncatingIfNeeded: key.left.encrypt(key.right.decrypt(last)) >> 32)
    }

    /// DES-CBC over the padded data; returns the last cipher block.
    @inline(__always)
    static func cbc(key: DESKey, data: some Collection<UInt8>, iv: UInt64) -> UInt64 {
        var state = iv
        var block: UInt64 = 0
        var filled = 0
        for byte in data {
            block = block << 8 | UInt64(byte)
            filled += 1
            if filled == 8 {
                state = key.encrypt(state ^ block)
                block = 0
                filled = 0
            }
        }
        // Padding method 2: a mandatory 0x80, then zeros to the block boundary.
        block = (block << 8 | 0x80) << (UInt64(7 - filled) * 8)
        return key.encrypt(state ^ block)
    }
}
