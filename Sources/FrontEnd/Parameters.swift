public import City
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
public import OneCardCore
public import OneCardCrypto
public import Storage
import Terminal

/// The signed parameters terminals download (docs/frontend.md, "Parameters"): the index of
/// versions, every city file version, and the hotlist as a full list or as a delta since a
/// version. Every body is signed with the centre's Ed25519 key over
/// `onecard-parameters/1 KIND VERSION SHA256HEX`, which binds the body to what it claims to be.
public enum Parameters {
    /// The first word of every signed message.
    public static let signatureContext = "onecard-parameters/1"

    /// What a signature covers: the kind (`index`, `city`, `hotlist`), the version, the body.
    public static func signedMessage(kind: String, version: UInt64, body: some Collection<UInt8>) -> [UInt8] {
        let digest = Hex.encode(SHA256Digest.hash(Array(body)))
        return Array("\(signatureContext) \(kind) \(version) \(digest)".utf8)
    }

    /// The `OneCard-Signature` header's value: `keyid=HEX16; ed25519=HEX128`.
    public static func signatureHeader(key: Ed25519.PrivateKey, kind: String, version: UInt64, body: [UInt8]) -> String {
        "keyid=\(key.publicKey.keyID); ed25519=\(Hex.encode(key.sign(signedMessage(kind: kind, version: version, body: body))))"
    }

    /// Checks a response: the `OneCard-Parameter` header (`KIND VERSION`) and the signature
    /// over the body under `key`. Returns the version.
    public static func verify(body: [UInt8], parameter: String?, signature: String?, kind: String, key: Ed25519.PublicKey) -> Result<UInt64, VerificationError> {
        guard let parameter else { return .failure(VerificationError(description: "no OneCard-Parameter header")) }
        let words = parameter.split(separator: " ")
        guard words.count == 2, words[0] == kind, let version = UInt64(words[1]) else {
            return .failure(VerificationError(description: "OneCard-Parameter is \"\(parameter.prefix(64))\", not \(kind) VERSION"))
        }
        guard let signature else { return .failure(VerificationError(description: "the \(kind) is not signed (no OneCard-Signature)")) }
        var keyID: Substring?, sig: [UInt8]?
        for part in signature.split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            if kv[0] == "keyid" { keyID = kv[1] }
            if kv[0] == "ed25519" { sig = Hex.decode(String(kv[1])) }
        }
        guard keyID.map(String.init) == key.keyID else {
            return .failure(VerificationError(description: "the \(kind) is signed with key \(keyID.map { String($0.prefix(16)) } ?? "?"), not the centre's key \(key.keyID)"))
        }
        guard let sig, key.verify(sig, over: signedMessage(kind: kind, version: version, body: body)) else {
            return .failure(VerificationError(description: "the \(kind) \(version)'s signature does not verify: refused"))
        }
        return .success(version)
    }

    /// Why a downloaded parameter was refused.
    public struct VerificationError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The index: `GET /v1/parameters`.
    public struct Index: Codable, Sendable, Equatable {
        public var format = "onecard-parameters/1"
        public var city: CityIndex
        public var hotlist: HotlistIndex
        /// The key id (``Ed25519/PublicKey/keyID``) every parameter is signed with.
        public var signingKey: String
    }

    /// The city part of the index.
    public struct CityIndex: Codable, Sendable, Equatable {
        /// The business day by the centre's clock.
        public var businessDay: String
        /// The version in force that day.
        public var inForce: Int64?
        /// Every version, oldest first.
        public var versions: [CityVersion]
    }

    /// The hotlist part of the index.
    public struct HotlistIndex: Codable, Sendable, Equatable {
        public var version: UInt64
        public var cards: Int
    }
}

/// Serves the parameters from the clearing store, caching what it built by the database's
/// version (a new city version or hotlist change is seen at the next request).
final class ParameterDesk: @unchecked Sendable {
    private let store: ClearingStore
    /// The city the server clears with: its cut-off makes today's business day.
    private let city: City
    private let key: Ed25519.PrivateKey
    private let clock: @Sendable () -> BCDDateTime
    private let queue = DispatchQueue(label: "onecard.frontend.parameters")
    /// Used on `queue` only.
    private var full: (version: UInt64, body: [UInt8])?
    private var deltas: [UInt64: [UInt8]] = [:]
    private var deltasVersion: UInt64 = 0

    init(store: ClearingStore, city: City, key: Ed25519.PrivateKey, clock: @escaping @Sendable () -> BCDDateTime) {
        self.store = store
        self.city = city
        self.key = key
        self.clock = clock
    }

    /// Runs blocking store work off the event loop.
    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in queue.async { c.resume(with: Result { try body() }) } }
    }

    /// A signed body with its ETag, or 304 when the client has it.
    private func signed(_ request: Request, kind: String, version: UInt64, body: [UInt8], type: String, tag: String) -> Response {
        let etag = "\"\(tag)\""
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag || $0 == "*" }) {
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        var headers: HTTPFields = [.contentType: type, .eTag: etag, .cacheControl: "no-cache"]
        headers[Parameters.parameterHeader] = "\(kind) \(version)"
        headers[Parameters.signatureHeaderName] = Parameters.signatureHeader(key: key, kind: kind, version: version, body: body)
        var buffer = ByteBuffer()
        buffer.writeBytes(body)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
    }

    func index(_ request: Request) async throws -> Response {
        let (store, city, clock, keyID) = (store, city, clock, key.publicKey.keyID)
        let body: [UInt8] = try await onQueue {
            let versions = try store.cityVersions()
            let day = city.businessDay(of: clock())
            let inForce = try store.city(forDay: day)?.version
            let (hotlistVersion, cards) = try store.hotlistSummary()
            let index = Parameters.Index(
                city: .init(businessDay: day.description, inForce: inForce, versions: versions),
                hotlist: .init(version: hotlistVersion, cards: cards), signingKey: keyID)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Array(try encoder.encode(index)) + [UInt8(ascii: "\n")]
        }
        let tag = String(Hex.encode(SHA256Digest.hash(body)).prefix(32))
        return signed(request, kind: "index", version: 0, body: body, type: "application/json", tag: "index-\(tag)")
    }

    func city(_ request: Request, version text: String?) async throws -> Response {
        guard let text, let version = Int64(text), version > 0 else {
            return try FrontEnd.json(.badRequest, ["error": "the city version must be a positive decimal number"])
        }
        let store = store
        guard let file = try await onQueue({ try store.cityFile(version: version) }) else {
            return try FrontEnd.json(.notFound, ["error": "there is no city version \(version): see GET /v1/parameters"])
        }
        let body = Array(file)
        let tag = "city-\(version)-" + Hex.encode(SHA256Digest.hash(body)).prefix(16)
        return signed(request, kind: "city", version: UInt64(version), body: body, type: "application/json", tag: tag)
    }

    func hotlist(_ request: Request) async throws -> Response {
        let since = request.uri.queryParameters.get("since")
        let base = since.flatMap { UInt64($0) }
        if since != nil, base == nil {
            return try FrontEnd.json(.badRequest, ["error": "since must be the decimal hotlist version the terminal holds"])
        }
        enum Answer: Sendable { case body(UInt64, [UInt8]), current(UInt64), ahead(UInt64), tooLarge(Int) }
        let answer: Answer = try await onQueue { [self] in
            if let base {
                let version = try store.hotlistVersion()
                if base == version { return .current(version) }
                if deltasVersion != version { deltas = [:]; deltasVersion = version }
                if let cached = deltas[base] { return .body(version, cached) }
                guard let changes = try store.hotlistChanges(since: base) else { return .ahead(version) }
                let n = changes.added.count + changes.removed.count
                guard n <= HotlistStore.entriesMax else { return .tooLarge(n) }
                let body = HotlistStore.encode(kind: .delta, version: changes.version, baseVersion: base, added: changes.added, removed: changes.removed)
                if deltas.count >= 64 { deltas.removeAll() }
                deltas[base] = body
                return .body(changes.version, body)
            }
            let version = try store.hotlistVersion()
            if let full, full.version == version { return .body(version, full.body) }
            let (v, serials) = try store.hotlistSerials()
            guard serials.count <= HotlistStore.entriesMax else { return .tooLarge(serials.count) }
            let body = HotlistStore.encode(kind: .full, version: v, baseVersion: 0, added: serials, removed: [])
            full = (v, body)
            return .body(v, body)
        }
        switch answer {
        case .current(let v):
            return Response(status: .notModified, headers: [.eTag: "\"hotlist-\(v)\""])
        case .ahead(let v):
            return try FrontEnd.json(.conflict, ["error": "the terminal's hotlist version \(base ?? 0) is newer than the centre's \(v): fetch the full list (no since)"])
        case .tooLarge(let n):
            return try FrontEnd.json(.serviceUnavailable, ["error": "the hotlist holds \(n) cards, more than a hotlist file carries (\(HotlistStore.entriesMax))"])
        case .body(let v, let body):
            let tag = base.map { "hotlist-\($0)-\(v)" } ?? "hotlist-\(v)"
            return signed(request, kind: "hotlist", version: v, body: body, type: "application/octet-stream", tag: tag)
        }
    }
}

extension Parameters {
    /// `OneCard-Parameter: KIND VERSION`.
    static let parameterHeader = HTTPField.Name("OneCard-Parameter")!
    /// `OneCard-Signature: keyid=…; ed25519=…`.
    static let signatureHeaderName = HTTPField.Name("OneCard-Signature")!
}
