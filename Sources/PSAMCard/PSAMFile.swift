public import Foundation
import OneCardCore
public import OneCardCrypto

/// Why a PSAM file could not be read. Messages never include key material.
public enum PSAMFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not a valid `onecard-psam/1` document.
    case malformed(source: String, reason: String)

    public var description: String {
        switch self {
        case .malformed(let s, let r): "PSAM file \(s) is malformed: \(r)"
        }
    }
}

/// The PSAM file, `onecard-psam/1` (docs/formats.md): an emulated PSAM's non-volatile memory
/// as JSON, keys included — it is the PSAM's silicon, created mode 0600 and never read by a
/// terminal: the terminal talks to the PSAM through a reader.
public enum PSAMFile {
    /// The format tag.
    public static let format = "onecard-psam/1"

    struct Document: Codable {
        var format: String
        var serial: String
        var terminal: String
        var keyIndex: UInt8
        var applicationIssuer: String
        var applicationUser: String
        var start: String
        var expiry: String
        var sequence: UInt32
        var purchaseKeys: [String: String]
        var maintenanceKeys: [String: String]
        var uploadKey: String?
        var uploadKeyVersion: UInt8?
    }

    /// Encodes a PSAM state as pretty-printed, key-sorted JSON.
    public static func encode(_ s: PSAMState) -> Data {
        func keys(_ k: [UInt8: TripleDESKey]) -> [String: String] {
            Dictionary(uniqueKeysWithValues: k.map { ([$0.key].hex, $0.value.exportKeyMaterial().hex) })
        }
        let doc = Document(
            format: format, serial: s.serial.hex, terminal: s.terminal.description, keyIndex: s.keyIndex,
            applicationIssuer: s.applicationIssuer.hex, applicationUser: s.applicationUser.hex, start: s.start.description,
            expiry: s.expiry.description, sequence: s.sequence, purchaseKeys: keys(s.purchaseKeys), maintenanceKeys: keys(s.maintenanceKeys),
            uploadKey: s.uploadKey?.hex, uploadKeyVersion: s.uploadKey == nil ? nil : s.uploadKeyVersion)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(doc)) ?? Data()
    }

    /// Decodes a PSAM file.
    ///
    /// - Throws: ``PSAMFileError`` naming the field, never a key.
    public static func decode(_ data: Data, source: String) throws(PSAMFileError) -> PSAMState {
        func bad(_ reason: String) -> PSAMFileError { .malformed(source: source, reason: reason) }
        guard let doc = try? JSONDecoder().decode(Document.self, from: data) else { throw bad("not an onecard-psam/1 JSON document") }
        guard doc.format == format else { throw bad("format \(doc.format), expected \(format)") }
        guard let serial = Hex.decode(doc.serial), serial.count == 10 else { throw bad("serial must be 20 hex digits") }
        guard let terminal = TerminalID(hex: doc.terminal) else { throw bad("terminal must be 12 hex digits") }
        guard let issuer = Hex.decode(doc.applicationIssuer), issuer.count == 8,
              let user = Hex.decode(doc.applicationUser), user.count == 8
        else { throw bad("applicationIssuer and applicationUser must be 16 hex digits") }
        guard let start = BCDDate(doc.start), let expiry = BCDDate(doc.expiry) else { throw bad("start and expiry must be YYYY-MM-DD") }
        func keys(_ k: [String: String], _ name: String) throws(PSAMFileError) -> [UInt8: TripleDESKey] {
            var out: [UInt8: TripleDESKey] = [:]
            for (version, hex) in k {
                guard let v = Hex.decode(version), v.count == 1, let key = try? TripleDESKey(hex: hex) else {
                    throw bad("\(name) must map a 2-hex-digit version to a 32-hex-digit key")
                }
                out[v[0]] = key
            }
            return out
        }
        let purchase = try keys(doc.purchaseKeys, "purchaseKeys")
        var upload: [UInt8]? = nil
        if let hex = doc.uploadKey {
            guard let k = Hex.decode(hex), k.count == 16 else { throw bad("uploadKey must be 32 hex digits") }
            upload = k
        }
        guard !purchase.isEmpty else { throw bad("purchaseKeys is empty: a PSAM without a purchase key cannot authorise a fare") }
        return PSAMState(
            serial: serial, terminal: terminal, purchaseKeys: purchase, maintenanceKeys: try keys(doc.maintenanceKeys, "maintenanceKeys"),
            keyIndex: doc.keyIndex, applicationIssuer: issuer, applicationUser: user, start: start, expiry: expiry, sequence: doc.sequence,
            uploadKey: upload, uploadKeyVersion: doc.uploadKeyVersion ?? 0x01)
    }
}
