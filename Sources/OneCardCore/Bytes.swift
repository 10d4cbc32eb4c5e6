/// Hexadecimal text and big-endian integers: the two encodings every card, file and wire
/// format in OneCard uses.
///
/// Parsing never traps: malformed input yields `nil`.
public enum Hex {
    /// Encodes bytes as upper-case hex without separators (`"0A1B"`).
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex text; spaces, tabs, newlines and `:` between bytes are ignored.
    ///
    /// - Returns: `nil` for an odd number of digits or any other character.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8? = nil
        for c in text.utf8 {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: ":"):
                if high != nil { return nil }
                continue
            default:
                return nil
            }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return high == nil ? out : nil
    }
}

extension Collection where Element == UInt8 {
    /// Upper-case hex of the bytes.
    public var hex: String { Hex.encode(self) }
}

extension Array where Element == UInt8 {
    /// Appends `value` as `byteCount` big-endian bytes (the low bytes of `value`).
    @inlinable
    public mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T, byteCount: Int = MemoryLayout<T>.size) {
        precondition(byteCount >= 1 && byteCount <= MemoryLayout<T>.size, "byteCount \(byteCount) out of range")
        var shift = (byteCount - 1) * 8
        while shift >= 0 {
            append(UInt8(truncatingIfNeeded: value >> shift))
            shift -= 8
        }
    }
}

extension Collection where Element == UInt8 {
    /// Reads a big-endian unsigned integer from the first `count` bytes (at most 8).
    ///
    /// - Returns: `nil` if the collection is shorter than `count`.
    @inlinable
    public func bigEndianInteger(at offset: Int = 0, count: Int) -> UInt64? {
        precondition(count >= 1 && count <= 8, "count \(count) out of range")
        guard offset >= 0, self.count >= offset + count else { return nil }
        var value: UInt64 = 0
        var i = index(startIndex, offsetBy: offset)
        for _ in 0..<count {
            value = value << 8 | UInt64(self[i])
            i = index(after: i)
        }
        return value
    }
}

extension UnsafeMutableRawBufferPointer {
    /// Stores the low `byteCount` bytes of `value` big-endian at `offset`: for fixed-size rows
    /// written in place (ledger pages), where appending byte by byte is too slow.
    @inlinable
    public func storeBigEndian(_ value: UInt64, byteCount: Int, at offset: Int) {
        precondition(byteCount >= 1 && byteCount <= 8 && offset >= 0 && offset + byteCount <= count, "store of \(byteCount) bytes at \(offset)")
        // The wanted bytes first in memory, then one copy of them.
        var word = (value << UInt64(8 * (8 - byteCount))).bigEndian
        Swift.withUnsafeBytes(of: &word) { (baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: byteCount) }
    }
}

/// A cursor over untrusted bytes. Every read is bounds-checked and returns `nil` past the end.
public struct ByteReader: Sendable {
    @usableFromInline let bytes: [UInt8]
    /// The offset of the next byte to read.
    public private(set) var offset: Int

    /// Starts reading `bytes` at offset 0.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    /// How many bytes are left.
    public var remaining: Int { bytes.count - offset }

    /// Reads `count` bytes, or returns `nil` if fewer remain.
    public mutating func read(_ count: Int) -> [UInt8]? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Reads one byte.
    public mutating func readUInt8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a big-endian unsigned integer of `count` bytes (1...8).
    public mutating func readBigEndian(_ count: Int) -> UInt64? {
        guard let v = bytes.bigEndianInteger(at: offset, count: count) else { return nil }
        offset += count
        return v
    }

    /// Reads everything that is left.
    public mutating func readRest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}
