import Foundation
import OneCardCore
import OneCardCrypto
import Testing

@Suite("Ed25519 (RFC 8032 §7.1 test vectors) for signed parameters")
struct Ed25519Tests {
    struct Vector: Sendable {
        let secret, publicKey, message, signature: String
    }

    static let vectors = [
        Vector(
            secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", message: "",
            signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        Vector(
            secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", message: "72",
            signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ]

    @Test("sign and verify reproduce the RFC's vectors", arguments: vectors)
    func rfcVectors(_ v: Vector) throws {
        let key = try Ed25519.PrivateKey(raw: try #require(Hex.decode(v.secret)))
        #expect(Hex.encode(key.publicKey.raw) == v.publicKey.uppercased())
        let message = try #require(Hex.decode(v.message))
        let signature = key.sign(message)
        #expect(Hex.encode(signature) == v.signature.uppercased())
        #expect(key.publicKey.verify(signature, over: message))
    }

    @Test("a changed message, signature or key does not verify")
    func tamper() throws {
        let v = Self.vectors[1]
        let pub = try Ed25519.PublicKey(raw: try #require(Hex.decode(v.publicKey)))
        let sig = try #require(Hex.decode(v.signature))
        #expect(pub.verify(sig, over: [0x72]))
        #expect(!pub.verify(sig, over: [0x73]))
        var bad = sig
        bad[10] ^= 1
        #expect(!pub.verify(bad, over: [0x72]))
        #expect(!pub.verify(Array(sig.prefix(63)), over: [0x72]))
        let other = try Ed25519.PublicKey(raw: try #require(Hex.decode(Self.vectors[0].publicKey)))
        #expect(!other.verify(sig, over: [0x72]))
        #expect(throws: Ed25519.KeyError.self) { try Ed25519.PrivateKey(raw: [1, 2, 3]) }
    }

    @Test("PEM keys written by openssl genpkey read back to the same key; other PEM is refused without its bytes")
    func pem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ed25519-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func openssl(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["openssl"] + args
            try p.run()
            p.waitUntilExit()
            try #require(p.terminationStatus == 0, "openssl \(args) failed: install openssl (scripts/install-deps.sh)")
        }
        try openssl(["genpkey", "-algorithm", "ed25519", "-out", dir + "/k.pem"])
        try openssl(["pkey", "-in", dir + "/k.pem", "-pubout", "-out", dir + "/pub.pem"])
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir + "/ec.pem"])
        let priv = try Ed25519.PrivateKey(pem: Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/k.pem"))), source: "k.pem")
        let pub = try Ed25519.PublicKey(pem: Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/pub.pem"))), source: "pub.pem")
        #expect(priv.publicKey == pub)
        #expect(pub.verify(priv.sign([1, 2, 3]), over: [1, 2, 3]))
        let ec = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/ec.pem")))
        let error = try #require(throws: Ed25519.KeyError.self) { try Ed25519.PrivateKey(pem: ec, source: "ec.pem") }
        #expect(error.description.contains("ec.pem") && !error.description.contains("BEGIN"))
        #expect(throws: Ed25519.KeyError.self) { try Ed25519.PublicKey(pem: Array("garbage".utf8), source: "g") }
    }
}
