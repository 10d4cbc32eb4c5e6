public import OneCardCore
public import OneCardCrypto

/// The header of an upload batch.
public struct BatchHeader: Sendable, Hashable {
    /// Header size in bytes.
    public static let byteCount = 64
    /// `OCUB`.
    public static let magic: [UInt8] = Array("OCUB".utf8)
    /// The format version this code writes and reads (2: the MAC is over the SHA-256 of the
    /// file, under the terminal's own upload key).
    public static let version: UInt16 = 2

    /// The terminal that wrote the batch (its key signs the file).
    public var terminal: TerminalID
    /// The operator the terminal belongs to (the city file's operator id).
    public var operatorID: UInt16
    /// The terminal's batch sequence number: (terminal, sequence) identifies a batch.
    public var sequence: UInt32
    /// When the batch was made, BCD in the low 56 bits.
    public var createdBCD: UInt64
    /// The version of the batch master key the terminal's upload key was derived from.
    public var uploadKeyVersion: UInt8

    /// Builds a header.
    public init(terminal: TerminalID, operatorID: UInt16, sequence: UInt32, createdBCD: UInt64, uploadKeyVersion: UInt8 = 1) {
        self.terminal = terminal
        self.operatorID = operatorID
        self.sequence = sequence
        self.createdBCD = createdBCD
        self.uploadKeyVersion = uploadKeyVersion
    }
}

/// Why a batch file was refused whole. Every case names the file; none applies anything.
public enum BatchError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Shorter than a header and trailer, or not a whole number of records.
    case truncated(file: String, byteCount: Int)
    /// Not an upload batch.
    case badMagic(file: String)
    /// A version this build does not read.
    case unknownVersion(file: String, version: UInt16)
    /// The header's record size is not 128.
    case badRecordSize(file: String, size: Int)
    /// The trailer's count disagrees with the records present.
    case countMismatch(file: String, trailer: UInt32, records: Int)
    /// The trailer's amount or deposit sum disagrees with the records.
    case sumMismatch(file: String, field: String, trailer: UInt64, records: UInt64)
    /// The file MAC does not verify under the terminal's upload key.
    case macInvalid(file: String)
    /// A record of a kind this version does not know, or an invalid terminal ID.
    case malformedRecord(file: String, index: Int)
    /// More records than one batch may hold.
    case tooLarge(file: String, records: Int)

    public var description: String {
        switch self {
        case .truncated(let f, let n): "\(f): truncated batch file (\(n) bytes)"
        case .badMagic(let f): "\(f): not an upload batch (bad magic)"
        case .unknownVersion(let f, let v): "\(f): unknown batch format version \(v) (this build reads \(BatchHeader.version))"
        case .badRecordSize(let f, let s): "\(f): record size \(s), expected \(BatchRecord.byteCount)"
        case .countMismatch(let f, let t, let r): "\(f): trailer counts \(t) records, file holds \(r) (truncated or tampered)"
        case .sumMismatch(let f, let field, let t, let r): "\(f): trailer \(field) total \(t) fen, records sum to \(r) fen (tampered)"
        case .macInvalid(let f): "\(f): batch MAC does not verify under the terminal's upload key (tampered, or signed by another terminal's key)"
        case .malformedRecord(let f, let i): "\(f): record \(i) is malformed"
        case .tooLarge(let f, let n): "\(f): \(n) records, more than \(BatchFile.recordsMax) per batch"
        }
    }
}

/// An upload batch file (docs/formats.md, "Upload batch (`OCUB` version 2)"):
/// 64-byte header ‖ n × 128-byte records ‖ 64-byte trailer. The trailer carries the record
/// count, the amount and deposit totals, and HMAC-SHA-256 of the SHA-256 of everything before
/// the MAC, under the terminal's upload key — so the terminal's PSAM signs 32 bytes, however
/// long the file.
public struct BatchFile: Sendable, Hashable {
    /// Trailer size in bytes.
    public static let trailerBytes = 64
    /// `OCUE`.
    public static let trailerMagic: [UInt8] = Array("OCUE".utf8)
    /// The most records one batch may carry.
    public static let recordsMax = 2_000_000

    /// The header.
    public var header: BatchHeader
    /// The records in terminal order.
    public var records: [BatchRecord]

    /// Groups a header and its records.
    public init(header: BatchHeader, records: [BatchRecord]) {
        precondition(records.count <= Self.recordsMax, "batch of \(records.count) records")
        self.header = header
        self.records = records
    }

    /// A terminal's upload key: the batch master key diversified with `B0 00 ‖ terminal ID`.
    /// Personalisation puts it into the terminal's PSAM; clearing derives it to check uploads.
    /// No terminal holds the batch master, so no terminal can sign for another.
    public static func uploadKey(batchMaster: TripleDESKey, terminal: TerminalID) -> [UInt8] {
        let f = 0xB000 << 48 | terminal.rawValue
        return TripleDESPurse.diversify(master: batchMaster, serial: CardSerial(rawValue: f)).exportKeyMaterial()
    }

    /// The file MAC of a digest under an upload key: HMAC-SHA-256(key, digest).
    public static func mac(key: [UInt8], digest: [UInt8]) -> [UInt8] {
        digest.withUnsafeBytes { HMACSHA256.authenticate(key: key, data: $0) }
    }

    /// The complete file, MAC included, signed with the terminal's upload key in software.
    public func encode(key: [UInt8]) -> [UInt8] {
        encode { Self.mac(key: key, digest: $0) }
    }

    /// The complete file, with the MAC `sign` makes of the SHA-256 of the bytes before it (a
    /// terminal's PSAM: SIGN BATCH DIGEST, docs/psam.md).
    public func encode(sign: ([UInt8]) throws -> [UInt8]) rethrows -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(BatchHeader.byteCount + records.count * BatchRecord.byteCount + Self.trailerBytes)
        out += BatchHeader.magic
        out.appendBigEndian(BatchHeader.version)
        out.appendBigEndian(UInt16(BatchRecord.byteCount))
        out.appendBigEndian(header.terminal.rawValue, byteCount: 6)
        out.appendBigEndian(header.operatorID)
        out.appendBigEndian(header.sequence)
        out.appendBigEndian(header.createdBCD, byteCount: 7)
        out.append(header.uploadKeyVersion)
        out.append(contentsOf: repeatElement(0, count: BatchHeader.byteCount - out.count))
        for r in records { r.encode(into: &out) }
        out += Self.trailerMagic
        out.appendBigEndian(UInt32(records.count))
        out.appendBigEndian(records.reduce(UInt64(0)) { $0 + UInt64($1.amountFen) })
        out.appendBigEndian(records.reduce(UInt64(0)) { $0 + UInt64($1.depositFen) })
        let mac = try sign(SHA256Digest.hash(out))
        precondition(mac.count == HMACSHA256.byteCount, "a batch MAC of \(mac.count) bytes")
        out += mac
        out.append(contentsOf: repeatElement(0, count: 8))
        return out
    }

    /// Reads the header only (to find the terminal, hence the key), checking size and magic.
    ///
    /// - Throws: ``BatchError``.
    public static func peekHeader(_ bytes: [UInt8], file: String) throws(BatchError) -> BatchHeader {
        guard bytes.count >= BatchHeader.byteCount + trailerBytes else { throw .truncated(file: file, byteCount: bytes.count) }
        guard Array(bytes[0..<4]) == BatchHeader.magic else { throw .badMagic(file: file) }
        let version = UInt16(bytes.bigEndianInteger(at: 4, count: 2) ?? 0)
        guard version == BatchHeader.version else { throw .unknownVersion(file: file, version: version) }
        let size = Int(bytes.bigEndianInteger(at: 6, count: 2) ?? 0)
        guard size == BatchRecord.byteCount else { throw .badRecordSize(file: file, size: size) }
        guard let terminal = TerminalID(rawValue: bytes.bigEndianInteger(at: 8, count: 6) ?? .max) else { throw .badMagic(file: file) }
        return BatchHeader(
            terminal: terminal, operatorID: UInt16(bytes.bigEndianInteger(at: 14, count: 2) ?? 0),
            sequence: UInt32(bytes.bigEndianInteger(at: 16, count: 4) ?? 0), createdBCD: bytes.bigEndianInteger(at: 20, count: 7) ?? 0,
            uploadKeyVersion: bytes[27])
    }

    /// Verifies and decodes a whole file.
    ///
    /// - Parameter key: the upload key of the header's terminal (``uploadKey(batchMaster:terminal:)``).
    /// - Throws: ``BatchError``: a file that fails any check is refused whole.
    public static func decode(_ bytes: [UInt8], file: String, key: [UInt8]) throws(BatchError) -> BatchFile {
        try decodeWithDigest(bytes, file: file, key: key).batch
    }

    /// Verifies and decodes a whole file, with the SHA-256 its MAC signs (every byte before the
    /// MAC): the file's content digest, which tells a replay from a conflict. Two files with the
    /// same digest and a valid MAC under one key are the same file.
    ///
    /// - Throws: ``BatchError``.
    public static func decodeWithDigest(_ bytes: [UInt8], file: String, key: [UInt8]) throws(BatchError) -> (batch: BatchFile, digest: [UInt8]) {
        let header = try peekHeader(bytes, file: file)
        let body = bytes.count - BatchHeader.byteCount - trailerBytes
        guard body % BatchRecord.byteCount == 0 else { throw .truncated(file: file, byteCount: bytes.count) }
        let n = body / BatchRecord.byteCount
        guard n <= recordsMax else { throw .tooLarge(file: file, records: n) }
        let t = bytes.count - trailerBytes
        guard Array(bytes[t..<t + 4]) == trailerMagic else { throw .truncated(file: file, byteCount: bytes.count) }
        let macEnd = t + 24
        let digest = bytes.withUnsafeBytes { SHA256Digest.hash(UnsafeRawBufferPointer(rebasing: $0[0..<macEnd])) }
        let mac = Self.mac(key: key, digest: digest)
        guard HMACSHA256.equal(mac, bytes[macEnd..<macEnd + 32]) else { throw .macInvalid(file: file) }
        let count = UInt32(bytes.bigEndianInteger(at: t + 4, count: 4) ?? 0)
        guard count == n else { throw .countMismatch(file: file, trailer: count, records: n) }
        let records = try decodeRecords(bytes, count: n, file: file)
        try checkSums(bytes, trailer: t, records, file: file)
        return (BatchFile(header: header, records: records), digest)
    }

    private static func decodeRecords(_ bytes: [UInt8], count n: Int, file: String) throws(BatchError) -> [BatchRecord] {
        var records: [BatchRecord] = []
        records.reserveCapacity(n)
        var bad: Int? = nil
        bytes.withUnsafeBytes { raw in
            for i in 0..<n {
                let o = BatchHeader.byteCount + i * BatchRecord.byteCount
                guard let r = BatchRecord.decode(UnsafeRawBufferPointer(rebasing: raw[o..<o + BatchRecord.byteCount])) else {
                    bad = i
                    return
                }
                records.append(r)
            }
        }
        if let bad { throw .malformedRecord(file: file, index: bad) }
        return records
    }

    private static func checkSums(_ bytes: [UInt8], trailer t: Int, _ records: [BatchRecord], file: String) throws(BatchError) {
        let amount = records.reduce(UInt64(0)) { $0 + UInt64($1.amountFen) }
        let deposit = records.reduce(UInt64(0)) { $0 + UInt64($1.depositFen) }
        let tAmount = bytes.bigEndianInteger(at: t + 8, count: 8) ?? 0
        let tDeposit = bytes.bigEndianInteger(at: t + 16, count: 8) ?? 0
        guard tAmount == amount else { throw .sumMismatch(file: file, field: "amount", trailer: tAmount, records: amount) }
        guard tDeposit == deposit else { throw .sumMismatch(file: file, field: "deposit", trailer: tDeposit, records: deposit) }
    }
}

/// Small BCD helpers shared by the codec.
public enum BatchCodec {
    /// The 7 BCD bytes held in the low 56 bits of `v`.
    public static func bcd7(_ v: UInt64) -> [UInt8] {
        (0..<7).map { UInt8(truncatingIfNeeded: v >> (8 * (6 - $0))) }
    }
}
