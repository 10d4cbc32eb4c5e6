public import Foundation
public import OneCardCore

/// The role a master key plays (spec §4). Each OneCard role loads only the keys it needs
/// (docs/architecture.md, "Who holds which key"): a fare terminal's PSAM `purchase` (and
/// `maintenance` for blocking), the issuer host `load` and `maintenance`, the clearing centre
/// `tac` and `batch`.
public enum KeyRole: String, CaseIterable, Sendable, Codable {
    /// Purchase master key (MPK): diversifies to the card's DPK.
    case purchase
    /// Load master key (MLK): diversifies to the card's DLK.
    case load
    /// TAC master key (MTK): diversifies to the card's DTK.
    case tac
    /// Application maintenance master key (MAMK): diversifies to the card's DAMK.
    case maintenance
    /// Batch master key: diversifies to each terminal's upload key (in its PSAM), which signs
    /// its upload batches. Held by clearing and personalisation only — never by a terminal, so
    /// that one terminal's keys cannot sign for another.
    case batch
}

/// Why a keyset file could not be used. Messages name the file and the field, never a key.
public enum KeysetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The file is not a keyset document.
    case malformed(path: String, reason: String)
    /// The keyset lacks a key the caller's role needs.
    case missingKey(path: String, role: KeyRole)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): "cannot read keyset \(p): \(r)"
        case .malformed(let p, let r): "keyset \(p) is malformed: \(r)"
        case .missingKey(let p, let role): "keyset \(p) has no \(role.rawValue) master key (masterKeys.\(role.rawValue))"
        }
    }
}

/// A keyset file, `onecard-keyset/1` (documented in docs/formats.md):
///
/// ```json
/// {"format": "onecard-keyset/1", "algorithm": "3DES", "keyVersion": 1,
///  "masterKeys": {"purchase": "<32 hex>", "load": "<32 hex>", "tac": "<32 hex>", "maintenance": "<32 hex>"}}
/// ```
///
/// Any subset of `masterKeys` may be present.
public struct Keyset: Sendable, CustomStringConvertible {
    /// The format tag this version reads and writes.
    public static let format = "onecard-keyset/1"
    /// The largest keyset file accepted.
    public static let fileBytesMax = 64 * 1024

    /// The key version cards report in INITIALIZE responses.
    public var keyVersion: KeyVersion
    /// The master keys present, by role.
    public private(set) var masterKeys: [KeyRole: TripleDESKey]
    /// Where the keyset was read from, for error messages.
    public var source: String

    /// Builds a keyset in memory.
    public init(keyVersion: KeyVersion, masterKeys: [KeyRole: TripleDESKey], source: String = "<memory>") {
        self.keyVersion = keyVersion
        self.masterKeys = masterKeys
        self.source = source
    }

    /// The master key of `role`.
    ///
    /// - Throws: ``KeysetError/missingKey(path:role:)`` when the keyset does not hold it.
    public func masterKey(_ role: KeyRole) throws(KeysetError) -> TripleDESKey {
        guard let k = masterKeys[role] else { throw .missingKey(path: source, role: role) }
        return k
    }

    /// The same keyset holding only `roles` (to hand a terminal only its purchase key).
    public func restricted(to roles: Set<KeyRole>) -> Keyset {
        Keyset(keyVersion: keyVersion, masterKeys: masterKeys.filter { roles.contains($0.key) }, source: source)
    }

    /// Lists roles, withholds keys.
    public var description: String {
        let roles = KeyRole.allCases.filter { masterKeys[$0] != nil }.map(\.rawValue).joined(separator: ",")
        return "Keyset(\(source), version \(keyVersion.rawValue), roles: \(roles))"
    }

    private struct Document: Codable {
        var format: String
        var algorithm: String
        var keyVersion: Int
        var masterKeys: [String: String]
    }

    /// Reads and validates a keyset file.
    ///
    /// - Throws: ``KeysetError`` naming the file and what is wrong.
    public static func load(path: String) throws(KeysetError) -> Keyset {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "no such file or not readable")
        }
        return try parse(data, source: path)
    }

    /// Parses keyset JSON.
    ///
    /// - Throws: ``KeysetError/malformed(path:reason:)``.
    public static func parse(_ data: Data, source: String) throws(KeysetError) -> Keyset {
        guard data.count <= fileBytesMax else { throw .malformed(path: source, reason: "larger than \(fileBytesMax) bytes") }
        let doc: Document
        do {
            doc = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            // The decoder's own message may quote the document; keep only its kind.
            throw .malformed(path: source, reason: "not a keyset JSON document")
        }
        guard doc.format == format else {
            throw .malformed(path: source, reason: "format must be \"\(format)\"")
        }
        guard doc.algorithm == "3DES" else {
            throw .malformed(path: source, reason: "algorithm must be \"3DES\" (SM4 rules are not implemented)")
        }
        guard (0...255).contains(doc.keyVersion) else { throw .malformed(path: source, reason: "keyVersion must be 0...255") }
        var keys: [KeyRole: TripleDESKey] = [:]
        for (name, hex) in doc.masterKeys {
            guard let role = KeyRole(rawValue: name) else {
                throw .malformed(path: source, reason: "unknown master key role \"\(name)\"")
            }
            do {
                keys[role] = try TripleDESKey(hex: hex)
            } catch {
                throw .malformed(path: source, reason: "masterKeys.\(name) must be 32 hex digits")
            }
        }
        return Keyset(keyVersion: KeyVersion(rawValue: UInt8(doc.keyVersion)), masterKeys: keys, source: source)
    }

    /// The keyset as JSON (key material included: this is the key file itself).
    public func exportJSON() -> Data {
        var keys: [String: String] = [:]
        for (role, key) in masterKeys { keys[role.rawValue] = key.exportKeyMaterial().hex }
        let doc = Document(format: Self.format, algorithm: "3DES", keyVersion: Int(keyVersion.rawValue), masterKeys: keys)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return (try? encoder.encode(doc)) ?? Data()
    }

    /// The four diversified keys of one card (spec §4), for personalising it.
    ///
    /// - Throws: ``KeysetError/missingKey(path:role:)`` unless all four master keys are present.
    public func cardKeys(serial: CardSerial) throws(KeysetError) -> CardKeys {
        CardKeys(
            dpk: TripleDESPurse.diversify(master: try masterKey(.purchase), serial: serial),
            dlk: TripleDESPurse.diversify(master: try masterKey(.load), serial: serial),
            dtk: TripleDESPurse.diversify(master: try masterKey(.tac), serial: serial),
            damk: TripleDESPurse.diversify(master: try masterKey(.maintenance), serial: serial)
        )
    }
}

/// A card's own diversified keys.
public struct CardKeys: Sendable, Equatable {
    /// Purchase key.
    public var dpk: TripleDESKey
    /// Load key.
    public var dlk: TripleDESKey
    /// TAC key (the TAC uses its two halves XORed).
    public var dtk: TripleDESKey
    /// Application maintenance key (secure messaging, block/unblock).
    public var damk: TripleDESKey

    /// Groups four card keys.
    public init(dpk: TripleDESKey, dlk: TripleDESKey, dtk: TripleDESKey, damk: TripleDESKey) {
        self.dpk = dpk
        self.dlk = dlk
        self.dtk = dtk
        self.damk = damk
    }
}
