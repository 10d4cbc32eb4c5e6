internal import COneCardCrypto

/// HMAC-SHA-256 from libcrypto: the MAC over whole upload batch files, where a DES-CBC MAC
/// would cost more per record than the TAC check itself.
public enum HMACSHA256 {
    /// The tag length in bytes.
    public static let byteCount = 32

    /// Authenticates `data` under `key` (OpenSSL `HMAC` with `EVP_sha256`).
    public static func authenticate(key: [UInt8], data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        let ok = key.withUnsafeBufferPointer { k in
            out.withUnsafeMutableBufferPointer { o in
                onecard_hmac_sha256(
                    k.baseAddress, k.count, data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, o.baseAddress!)
            }
        }
        // HMAC with SHA-256 fails only if libcrypto cannot allocate: not an input error.
        precondition(ok == 1, "libcrypto HMAC-SHA-256 failed")
        return out
    }

    /// Compares two tags in constant time (``ConstantTime/equal(_:_:)``).
    public static func equal(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool { ConstantTime.equal(a, b) }
}

/// SHA-256 from libcrypto: the content hash of an upload batch file, which tells an
/// idempotent replay (the same bytes) from a conflict (other bytes under the same batch key).
public enum SHA256Digest {
    /// The digest length in bytes.
    public static let byteCount = 32

    /// The digest of `data`.
    public static func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        let ok = out.withUnsafeMutableBufferPointer { o in
            onecard_sha256(data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, o.baseAddress!)
        }
        precondition(ok == 1, "libcrypto SHA-256 failed")
        return out
    }

    /// The digest of a byte array.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { hash($0) } }
}

/// Comparison of secrets (MACs, PINs) whose time does not depend on where they differ.
public enum ConstantTime {
    /// Whether `a` and `b` hold the same bytes; the length is not secret.
    public static func equal(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}
