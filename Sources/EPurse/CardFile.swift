public import Foundation
import OneCardCore
import OneCardCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a card file could not be read or written. Messages never include key material.
public enum CardFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The file is not a valid `onecard-card/1` document.
    case malformed(path: String, reason: String)
    /// Writing or renaming failed.
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): "cannot read card file \(p): \(r)"
        case .malformed(let p, let r): "card file \(p) is malformed: \(r)"
        case .unwritable(let p, let r): "cannot write card file \(p): \(r)"
        }
    }
}

/// The card file, `onecard-card/1` (docs/formats.md): a card's whole non-volatile memory as
/// JSON, so an emulated card outlives the process that emulates it.
public enum CardFile {
    /// The format tag.
    public static let format = "onecard-card/1"
    /// The largest card file accepted.
    public static let fileBytesMax = 256 * 1024

    struct Document: Codable {
        var format: String
        var serial: String
        var algorithm: String
        var files: [String: String]
        var balanceFen: UInt32
        var balanceMaxFen: UInt32
        var onlineCounter: UInt16
        var offlineCounter: UInt16
        var keyIndex: UInt8
        var keyVersion: UInt8
        var keys: [String: String]
        var pin: String
        var pinTriesRemaining: Int
        var loadRequiresPIN: Bool
        var blocked: BlockState
        var transactionLog: [String]
        var tripLog: [String]
        var compoundCache: String?
        var lastPurchase: Proof?
        var lastLoad: Proof?

        struct Proof: Codable {
            var type: UInt8
            var counterAfter: UInt16
            var mac2: String
            var tac: String
        }
    }

    /// Encodes a card state as pretty-printed, key-sorted JSON.
    public static func encode(_ s: CardState) -> Data {
        let doc = Document(
            format: format, serial: s.info?.serial.description ?? "", algorithm: "3DES",
            files: ["15": s.issuerInfo.hex, "16": s.holderFile.hex, "17": s.managementFile.hex],
            balanceFen: s.balanceFen, balanceMaxFen: s.balanceMaxFen, onlineCounter: s.onlineCounter.rawValue,
            offlineCounter: s.offlineCounter.rawValue, keyIndex: s.keyIndex.rawValue, keyVersion: s.keyVersion.rawValue,
            keys: [
                "dpk": s.keys.dpk.exportKeyMaterial().hex, "dlk": s.keys.dlk.exportKeyMaterial().hex,
                "dtk": s.keys.dtk.exportKeyMaterial().hex, "damk": s.keys.damk.exportKeyMaterial().hex,
            ],
            pin: s.pin.hex, pinTriesRemaining: s.pinTriesRemaining, loadRequiresPIN: s.loadRequiresPIN, blocked: s.blocked,
            transactionLog: s.transactionLog.map(\.bytes.hex), tripLog: s.tripLog.map(\.hex),
            compoundCache: s.compoundCache?.hex,
            lastPurchase: s.lastPurchase.map {
                Document.Proof(type: $0.type.rawValue, counterAfter: $0.counterAfter.rawValue, mac2: hex32($0.mac2), tac: hex32($0.tac))
            },
            lastLoad: s.lastLoad.map {
                Document.Proof(type: $0.type.rawValue, counterAfter: $0.counterAfter.rawValue, mac2: hex32($0.mac2), tac: hex32($0.tac))
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Plain strings, integers and arrays always encode.
        return (try? encoder.encode(doc)) ?? Data()
    }

    /// Decodes and validates a card file's bytes.
    ///
    /// - Throws: ``CardFileError/malformed(path:reason:)`` naming the field at fault.
    public static func decode(_ data: Data, source: String) throws(CardFileError) -> CardState {
        guard data.count <= fileBytesMax else { throw .malformed(path: source, reason: "larger than \(fileBytesMax) bytes") }
        let doc: Document
        do {
            doc = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw .malformed(path: source, reason: "not a card JSON document (\(fieldPath(error)))")
        }
        func bad(_ reason: String) -> CardFileError { .malformed(path: source, reason: reason) }
        guard doc.format == format else { throw bad("format must be \"\(format)\"") }
        guard doc.algorithm == "3DES" else { throw bad("algorithm must be \"3DES\"") }
        guard let f15 = bytes(doc.files["15"], count: 30), let info = IssuerInfo(bytes: f15) else { throw bad("files.15 must be a valid 30-byte issuer file") }
        guard info.serial.description == doc.serial.uppercased() else { throw bad("serial does not match files.15") }
        guard let f16 = bytes(doc.files["16"], count: 55) else { throw bad("files.16 must be 55 bytes of hex") }
        guard let f17 = bytes(doc.files["17"], count: 60) else { throw bad("files.17 must be 60 bytes of hex") }
        guard doc.balanceFen <= doc.balanceMaxFen else { throw bad("balanceFen above balanceMaxFen") }
        guard let pin = Hex.decode(doc.pin), (2...6).contains(pin.count) else { throw bad("pin must be 2–6 BCD bytes") }
        guard (0...CardState.pinTriesMaxDefault).contains(doc.pinTriesRemaining) else { throw bad("pinTriesRemaining out of range") }
        let keys = try cardKeys(doc.keys, bad)
        let log = try doc.transactionLog.map { (hex: String) throws(CardFileError) -> TransactionLogRecord in
            guard let b = Hex.decode(hex), let r = TransactionLogRecord(bytes: b) else { throw bad("transactionLog holds a malformed record") }
            return r
        }
        let trips = try doc.tripLog.map { (hex: String) throws(CardFileError) -> [UInt8] in
            guard let b = bytes(hex, count: TripRecord.byteCount) else { throw bad("tripLog holds a record that is not 48 bytes") }
            return b
        }
        guard log.count <= 10, trips.count <= 30 else { throw bad("too many log records") }
        var cache: [UInt8]? = nil
        if let c = doc.compoundCache {
            guard let b = bytes(c, count: 128) else { throw bad("compoundCache must be 128 bytes of hex") }
            cache = b
        }
        var state = CardState(
            issuerInfo: f15, holderFile: f16, managementFile: f17, balanceFen: doc.balanceFen, balanceMaxFen: doc.balanceMaxFen,
            onlineCounter: PurseCounter(rawValue: doc.onlineCounter), offlineCounter: PurseCounter(rawValue: doc.offlineCounter),
            keys: keys, keyIndex: KeyIndex(rawValue: doc.keyIndex), keyVersion: KeyVersion(rawValue: doc.keyVersion), pin: pin,
            pinTriesRemaining: doc.pinTriesRemaining, loadRequiresPIN: doc.loadRequiresPIN, blocked: doc.blocked,
            transactionLog: log, tripLog: trips, compoundCache: cache, lastPurchase: try proof(doc.lastPurchase, load: false, bad))
        state.lastLoad = try proof(doc.lastLoad, load: true, bad)
        return state
    }

    private static func cardKeys(_ keys: [String: String], _ bad: (String) -> CardFileError) throws(CardFileError) -> CardKeys {
        func key(_ name: String) throws(CardFileError) -> TripleDESKey {
            guard let hex = keys[name], let k = try? TripleDESKey(hex: hex) else { throw bad("keys.\(name) must be 32 hex digits") }
            return k
        }
        return CardKeys(dpk: try key("dpk"), dlk: try key("dlk"), dtk: try key("dtk"), damk: try key("damk"))
    }

    private static func proof(_ p: Document.Proof?, load: Bool, _ bad: (String) -> CardFileError) throws(CardFileError) -> PurchaseProof? {
        guard let p else { return nil }
        guard let type = TransactionType(rawValue: p.type), type.isLoad == load,
              let mac2 = bytes(p.mac2, count: 4)?.bigEndianInteger(count: 4),
              let tac = bytes(p.tac, count: 4)?.bigEndianInteger(count: 4)
        else { throw bad("\(load ? "lastLoad" : "lastPurchase") is malformed") }
        return PurchaseProof(type: type, counterAfter: PurseCounter(rawValue: p.counterAfter), mac2: UInt32(mac2), tac: UInt32(tac))
    }

    /// Reads a card file.
    ///
    /// - Throws: ``CardFileError``.
    public static func load(path: String) throws(CardFileError) -> CardState {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "no such file or not readable")
        }
        return try decode(data, source: path)
    }

    /// Writes a card file atomically: a temporary file in the same directory is written and
    /// fsynced, then renamed over `path`, and the directory fsynced. A process killed at any
    /// moment leaves either the old or the new file, never a mix.
    ///
    /// - Throws: ``CardFileError/unwritable(path:reason:)``.
    public static func save(_ state: CardState, path: String) throws(CardFileError) {
        try AtomicFile.write(encode(state), to: path)
    }

    private static func bytes(_ hex: String?, count: Int) -> [UInt8]? {
        guard let hex, let b = Hex.decode(hex), b.count == count else { return nil }
        return b
    }

    private static func hex32(_ v: UInt32) -> String {
        var b: [UInt8] = []
        b.appendBigEndian(v)
        return b.hex
    }

    private static func fieldPath(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let ctx)?: return "missing \((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case .typeMismatch(_, let ctx)?, .valueNotFound(_, let ctx)?, .dataCorrupted(let ctx)?:
            return "bad value at \(ctx.codingPath.map(\.stringValue).joined(separator: ".").nilIfEmpty ?? "top level")"
        default: return "unparseable"
        }
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// Write-then-rename with fsync of the file and its directory. The files it writes hold
/// secrets (card keys, keysets) or full card numbers and TACs (batches): each is created
/// readable by its owner only, in the same `open(2)` that creates it (`O_CREAT | O_EXCL`, mode
/// 0600), never widened and narrowed afterwards.
public enum AtomicFile {
    /// Replaces `path` with `data` atomically and durably.
    ///
    /// - Throws: ``CardFileError/unwritable(path:reason:)`` with the failing step and errno text.
    public static func write(_ data: Data, to path: String) throws(CardFileError) {
        try write(data, to: path, replacing: true)
    }

    /// Creates `path` with `data`, atomically and durably, refusing if it exists — decided by
    /// the file system in one step (`link(2)`), so two writers can never both succeed or
    /// overwrite each other (a keyset must never be replaced).
    ///
    /// - Throws: ``CardFileError/unwritable(path:reason:)``; "exists" if `path` exists.
    public static func create(_ data: Data, at path: String) throws(CardFileError) {
        try write(data, to: path, replacing: false)
    }

    private static func write(_ data: Data, to path: String, replacing: Bool) throws(CardFileError) {
        let tmp = "\(path).tmp-\(getpid())"
        // A temporary left by a killed process of the same pid is removed, never reused: its
        // mode could be anyone's.
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(path, "create temporary file") }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok else {
            unlink(tmp)
            throw failure(path, "write temporary file")
        }
        if replacing {
            guard rename(tmp, path) == 0 else {
                unlink(tmp)
                throw failure(path, "rename")
            }
        } else {
            let linked = link(tmp, path) == 0
            let reason = linked ? nil : (errno == EEXIST ? "it exists; refusing to overwrite it" : String(cString: strerror(errno)))
            unlink(tmp)
            if let reason { throw CardFileError.unwritable(path: path, reason: reason) }
        }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    private static func failure(_ path: String, _ step: String) -> CardFileError {
        .unwritable(path: path, reason: "\(step): \(String(cString: strerror(errno)))")
    }
}
