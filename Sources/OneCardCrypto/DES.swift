internal import COneCardCrypto
internal import OneCardCore

/// A single-DES key with its key schedule prepared once (OpenSSL `DES_set_key_unchecked`).
///
/// Blocks are `UInt64` in big-endian convention: the first byte on the wire is the most
/// significant byte. Working in registers keeps the MAC loops free of allocation.
/// The key's bytes never appear in `description`, `debugDescription` or a mirror.
public struct DESKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The length of a DES key in bytes.
    public static let byteCount = 8

    fileprivate var schedule = onecard_des_schedule()
    /// The key as a big-endian integer, kept to export a key into a card file.
    let rawValue: UInt64

    /// Prepares a key from 8 bytes.
    ///
    /// - Throws: ``CryptoError/keyLength(expected:actual:)`` for any other length.
    public init(bytes: some Collection<UInt8>) throws(CryptoError) {
        guard bytes.count == Self.byteCount else { throw .keyLength(expected: 8, actual: bytes.count) }
        var v: UInt64 = 0
        for b in bytes { v = v << 8 | UInt64(b) }
        self.init(rawValue: v)
    }

    /// Prepares a key from its big-endian integer value.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
        withUnsafeBytes(of: rawValue.bigEndian) { key in
            onecard_des_set_key(key.baseAddress!.assumingMemoryBound(to: UInt8.self), &schedule)
        }
    }

    /// The key as a big-endian integer, for a cache of derived keys that rebuilds the key with
    /// ``init(rawValue:)``. Key material: never log it.
    public func exportKeyBits() -> UInt64 { rawValue }

    /// Encrypts one block (`DES_ecb_encrypt`).
    @inline(__always)
    public func encrypt(_ block: UInt64) -> UInt64 { crypt(block, encrypt: true) }

    /// Decrypts one block (`DES_ecb_encrypt` with `DES_DECRYPT`).
    @inline(__always)
    public func decrypt(_ block: UInt64) -> UInt64 { crypt(block, encrypt: false) }

    /// The DES-CBC-MAC of whole blocks under this key from IV 0 (ISO 9797-1 algorithm 1,
    /// padded by the caller): the last cipher block. One call into libcrypto for all of them.
    @inline(__always)
    public func cbcMAC(_ b0: UInt64, _ b1: UInt64, _ b2: UInt64, _ b3: UInt64? = nil) -> UInt64 {
        let blocks = (b0, b1, b2, b3 ?? 0)
        return withUnsafePointer(to: schedule) { ks in
            withUnsafeBytes(of: blocks) { raw in
                onecard_des_cbc_mac(raw.baseAddress!.assumingMemoryBound(to: UInt64.self), b3 == nil ? 3 : 4, ks, 0)
            }
        }
    }

    @inline(__always)
    private func crypt(_ block: UInt64, encrypt: Bool) -> UInt64 {
        var input = block.bigEndian
        var output: UInt64 = 0
        withUnsafePointer(to: schedule) { ks in
            withUnsafeBytes(of: &input) { i in
                withUnsafeMutableBytes(of: &output) { o in
                    onecard_des_block(
                        i.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        o.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        ks, encrypt ? 1 : 0
                    )
                }
            }
        }
        return UInt64(bigEndian: output)
    }

    /// Withholds the key.
    public var description: String { "DESKey(redacted)" }
    /// Withholds the key.
    public var debugDescription: String { description }
    /// Withholds the key from `dump` and reflection.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// A two-key triple-DES key K1‖K2 (16 bytes), used as DES-EDE3 with K3 = K1
/// (OpenSSL `DES_ecb3_encrypt`). The key's bytes never appear in descriptions.
public struct TripleDESKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The length of a two-key 3DES key in bytes.
    public static let byteCount = 16

    /// K1, the left half.
    public let left: DESKey
    /// K2, the right half.
    public let right: DESKey

    /// Prepares a key from 16 bytes.
    ///
    /// - Throws: ``CryptoError/keyLength(expected:actual:)`` for any other length.
    public init(bytes: some Collection<UInt8>) throws(CryptoError) {
        let a = Array(bytes)
        guard a.count == Self.byteCount else { throw .keyLength(expected: 16, actual: a.count) }
        try self.init(left: DESKey(bytes: a[0..<8]), right: DESKey(bytes: a[8..<16]))
    }

    /// Parses 32 hex digits.
    ///
    /// - Throws: ``CryptoError/keyLength(expected:actual:)`` when the text is not 16 bytes of hex.
    public init(hex: String) throws(CryptoError) {
        guard hex.utf8.count == 32, let bytes = Hex.decode(hex) else { throw .keyLength(expected: 16, actual: hex.utf8.count / 2) }
        try self.init(bytes: bytes)
    }

    /// Joins two DES keys.
    public init(left: DESKey, right: DESKey) {
        self.left = left
        self.right = right
    }

    /// Encrypts one block with EDE under K1, K2, K1.
    @inline(__always)
    public func encrypt(_ block: UInt64) -> UInt64 { crypt(block, encrypt: true) }

    /// Decrypts one block.
    @inline(__always)
    public func decrypt(_ block: UInt64) -> UInt64 { crypt(block, encrypt: false) }

    @inline(__always)
    private func crypt(_ block: UInt64, encrypt: Bool) -> UInt64 {
        var input = block.bigEndian
        var output: UInt64 = 0
        withUnsafePointer(to: left.schedule) { k1 in
            withUnsafePointer(to: right.schedule) { k2 in
                withUnsafeBytes(of: &input) { i in
                    withUnsafeMutableBytes(of: &output) { o in
                        onecard_des3_block(
                            i.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            o.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            k1, k2, k1, encrypt ? 1 : 0
                        )
                    }
                }
            }
        }
        return UInt64(bigEndian: output)
    }

    /// The 16 key bytes. Only for writing a card's own keys into its card file; never log them.
    public func exportKeyMaterial() -> [UInt8] {
        var out: [UInt8] = []
        for half in [left.rawValue, right.rawValue] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: half >> shift)) }
        }
        return out
    }

    /// Compares key material in constant time.
    public static func == (a: TripleDESKey, b: TripleDESKey) -> Bool {
        ((a.left.rawValue ^ b.left.rawValue) | (a.right.rawValue ^ b.right.rawValue)) == 0
    }

    /// Withholds the key.
    public var description: String { "TripleDESKey(redacted)" }
    /// Withholds the key.
    public var debugDescription: String { description }
    /// Withholds the key from `dump` and reflection.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

extension DESKey: Equatable {
    /// Compares key material in constant time.
    public static func == (a: DESKey, b: DESKey) -> Bool { (a.rawValue ^ b.rawValue) == 0 }
}

