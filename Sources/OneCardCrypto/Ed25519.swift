internal import COneCardCrypto
import Foundation
import OneCardCore

/// Ed25519 signatures (RFC 8032) from libcrypto: the clearing centre signs the parameters it
/// serves (city file, hotlist) with a private key only it holds; a terminal checks them with
/// the public key. A shared MAC key would let any terminal forge parameters for every other.
public enum Ed25519 {
    /// Key lengths and the signature length in bytes.
    public static let keyBytes = 32, signatureBytes = 64

    /// Why a key could not be used. Never carries key material.
    public struct KeyError: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// A private signing key.
    public struct PrivateKey: Sendable {
        let raw: [UInt8]
        /// Its public key.
        public let publicKey: PublicKey

        /// A key from its raw 32 bytes (RFC 8032's private key).
        public init(raw: [UInt8]) throws(KeyError) {
            guard raw.count == keyBytes else { throw KeyError(description: "an Ed25519 private key is \(keyBytes) bytes, got \(raw.count)") }
            var pub = [UInt8](repeating: 0, count: keyBytes)
            guard onecard_ed25519_public(raw, &pub) == 1 else { throw KeyError(description: "libcrypto refused the Ed25519 private key") }
            self.raw = raw
            publicKey = PublicKey(checkedRaw: pub)
        }

        /// A key from a PEM file's bytes (PKCS #8, as `openssl genpkey -algorithm ed25519` writes).
        public init(pem: [UInt8], source: String) throws(KeyError) {
            var raw = [UInt8](repeating: 0, count: keyBytes)
            guard onecard_ed25519_read_pem(pem, pem.count, 1, &raw) == 1 else {
                throw KeyError(description: "\(source) is not an unencrypted PEM Ed25519 private key (openssl genpkey -algorithm ed25519)")
            }
            try self.init(raw: raw)
        }

        /// The signature over `data`.
        public func sign(_ data: UnsafeRawBufferPointer) -> [UInt8] {
            var signature = [UInt8](repeating: 0, count: signatureBytes)
            let ok = onecard_ed25519_sign(raw, data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, &signature)
            // A checked key signs anything; a failure is an allocation failure, not an input error.
            precondition(ok == 1, "libcrypto Ed25519 signing failed")
            return signature
        }

        /// The signature over a byte array.
        public func sign(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { sign($0) } }
    }

    /// A public key that checks signatures.
    public struct PublicKey: Sendable, Equatable {
        /// Its raw 32 bytes (RFC 8032's encoding).
        public let raw: [UInt8]

        init(checkedRaw: [UInt8]) { raw = checkedRaw }

        /// A key from its raw 32 bytes.
        public init(raw: [UInt8]) throws(KeyError) {
            guard raw.count == keyBytes else { throw KeyError(description: "an Ed25519 public key is \(keyBytes) bytes, got \(raw.count)") }
            self.raw = raw
        }

        /// A key from a PEM file's bytes (SubjectPublicKeyInfo, as `openssl pkey -pubout` writes).
        public init(pem: [UInt8], source: String) throws(KeyError) {
            var raw = [UInt8](repeating: 0, count: keyBytes)
            guard onecard_ed25519_read_pem(pem, pem.count, 0, &raw) == 1 else {
                throw KeyError(description: "\(source) is not a PEM Ed25519 public key (openssl pkey -pubout)")
            }
            self.raw = raw
        }

        /// Whether `signature` is this key's over `data`.
        public func verify(_ signature: [UInt8], over data: UnsafeRawBufferPointer) -> Bool {
            guard signature.count == signatureBytes else { return false }
            return onecard_ed25519_verify(raw, data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, signature) == 1
        }

        /// Whether `signature` is this key's over a byte array.
        public func verify(_ signature: [UInt8], over bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { verify(signature, over: $0) } }

        /// Its identifier: the first 8 bytes of the SHA-256 of the raw key, hex (names the key
        /// in a response without being the key).
        public var keyID: String { String(Hex.encode(SHA256Digest.hash(raw)).prefix(16)) }
    }
}
