import EPurse
import Foundation
import GRDB
public import OneCardCore
import OneCardCrypto
import UploadBatch

/// What one ``SQLiteJournal/export(to:key:createdAt:includeGrey:)`` did.
public struct ExportResult: Sendable, Equatable {
    /// Which of the three things an export can do it did.
    public enum Outcome: String, Sendable, Equatable {
        /// A new batch was assigned and written.
        case wrote
        /// A batch assigned by an earlier export that died before writing it was written again,
        /// byte-identical; records journaled since wait for the next export.
        case rewrotePending
        /// Nothing new to export; no file was written and no batch sequence was used.
        case nothingNew
    }

    /// What happened.
    public let outcome: Outcome
    /// The batch sequence number written, `nil` for ``Outcome/nothingNew``.
    public let batchSequence: UInt32?
    /// Records in the batch.
    public let recordCount: Int
    /// Sum of the records' amounts, fen (the trailer's amount total).
    public let amountFen: UInt64
    /// Sum of the records' deposits, fen (the trailer's deposit total).
    public let depositFen: UInt64
    /// Grey (unfinished) records in the batch; clearing refuses them with code 04.
    public let greyCount: Int
    /// Where the batch was written, `nil` for ``Outcome/nothingNew``.
    public let path: String?
}

extension SQLiteJournal {
    /// Writes the not-yet-exported completed records as one upload batch (docs/formats.md).
    ///
    /// Two steps make a re-export lose and duplicate nothing: (1) one transaction assigns the
    /// next batch sequence to the records and stores the batch's creation time; (2) the file,
    /// built from those rows only, is written atomically (write, fsync, rename) and the batch is
    /// marked written. If the process dies between the two, the next export writes that same
    /// batch again, byte-identical, before any new one. Clearing is idempotent by (terminal,
    /// batch sequence), so writing a batch twice is harmless too.
    ///
    /// - Parameters:
    ///   - sign: makes the file MAC of the file's SHA-256: the terminal's PSAM (SIGN BATCH
    ///     DIGEST), or in tests ``BatchFile/mac(key:digest:)`` with an upload key.
    ///   - uploadKeyVersion: the version of the upload key that signs, written in the header.
    ///   - createdAt: the header's creation time (used only when a new batch is assigned).
    ///   - includeGrey: also export unresolved grey records, once each, as kind `grey` (clearing
    ///     refuses them with code 04 and keeps them as exceptions). The grey stays in the journal
    ///     and is still completed or voided when the card comes back.
    /// - Throws: ``StorageError/batchUnwritable(path:reason:)`` (nothing lost: run again), or a
    ///   database error.
    public func export(
        to out: String, sign: @escaping ([UInt8]) throws -> [UInt8], uploadKeyVersion: UInt8 = 1, createdAt: BCDDateTime, includeGrey: Bool = false
    ) throws(StorageError) -> ExportResult {
        let signer = Signer(sign: sign, version: uploadKeyVersion)
        if let pending = try pendingBatch() {
            return try writeBatch(pending, to: out, signer, outcome: .rewrotePending)
        }
        guard let sequence = try assignBatch(createdAt: createdAt, includeGrey: includeGrey) else {
            return ExportResult(outcome: .nothingNew, batchSequence: nil, recordCount: 0, amountFen: 0, depositFen: 0, greyCount: 0, path: nil)
        }
        return try writeBatch(sequence, to: out, signer, outcome: .wrote)
    }

    /// ``export(to:sign:uploadKeyVersion:createdAt:includeGrey:)`` signing in software with an
    /// upload key (tests, tools).
    public func export(to out: String, key: [UInt8], createdAt: BCDDateTime, includeGrey: Bool = false) throws(StorageError) -> ExportResult {
        try export(to: out, sign: { BatchFile.mac(key: key, digest: $0) }, createdAt: createdAt, includeGrey: includeGrey)
    }

    private struct Signer {
        let sign: ([UInt8]) throws -> [UInt8]
        let version: UInt8
    }

    /// The batch assigned but not yet written, if an earlier export died in between.
    func pendingBatch() throws(StorageError) -> UInt32? {
        try read("looking for an unwritten batch") { db in
            try Int64.fetchOne(db, sql: "SELECT sequence FROM journal_batch WHERE written = 0 ORDER BY sequence LIMIT 1")
                .map { UInt32(truncatingIfNeeded: $0) }
        }
    }

    /// Step 1: assigns the next batch sequence to up to ``exportRecordsMax`` unexported records,
    /// in one transaction. Returns `nil` (and uses no sequence) when there is nothing to export.
    func assignBatch(createdAt: BCDDateTime, includeGrey: Bool) throws(StorageError) -> UInt32? {
        try write("assigning a batch") { db -> UInt32? in
            let unexported = try Int.fetchOne(db, sql: "SELECT count(*) FROM journal_record WHERE batch IS NULL") ?? 0
            let greys = includeGrey ? try Int.fetchOne(db, sql: "SELECT count(*) FROM journal_grey WHERE exported = 0") ?? 0 : 0
            guard unexported + greys > 0 else { return nil }
            if includeGrey { try self.snapshotGreys(db) }
            let chosen = try Row.fetchOne(
                db,
                sql: """
                    SELECT count(*) AS n, coalesce(sum(amount_fen), 0) AS amount, max(id) AS last FROM
                        (SELECT id, amount_fen FROM journal_record WHERE batch IS NULL ORDER BY id LIMIT ?)
                    """,
                arguments: [Self.exportRecordsMax])
            guard let chosen, let last = chosen["last"] as Int64? else { return nil }
            let sequence = try Self.bump(db, "batch_sequence", path: self.path)
            try db.execute(
                sql: "INSERT INTO journal_batch (sequence, created_bcd, record_count, amount_fen) VALUES (?, ?, ?, ?)",
                arguments: [Int64(sequence), Int64(bitPattern: TripleDESPurse.packedDateTime(createdAt)),
                            chosen["n"] as Int64, chosen["amount"] as Int64])
            try db.execute(
                sql: "UPDATE journal_record SET batch = ? WHERE batch IS NULL AND id <= ?",
                arguments: [Int64(sequence), last])
            return sequence
        }
    }

    /// Copies unexported grey records into the journal as kind `grey`, marking them exported.
    private func snapshotGreys(_ db: Database) throws {
        let rows = try Row.fetchAll(
            db, sql: "SELECT id, record FROM journal_grey WHERE exported = 0 ORDER BY id LIMIT ?",
            arguments: [Self.exportRecordsMax])
        for row in rows {
            let data: Data = row["record"]
            try Self.insert(db, try Self.decode(data, path: path), path: path)
            try db.execute(sql: "UPDATE journal_grey SET exported = 1 WHERE id = ?", arguments: [row["id"] as Int64])
        }
    }

    /// Step 2: builds the batch's file from its rows alone and writes it atomically, then marks
    /// the batch written. Building from stored rows is what makes a rewrite byte-identical.
    private func writeBatch(_ sequence: UInt32, to out: String, _ signer: Signer, outcome: ExportResult.Outcome) throws(StorageError) -> ExportResult {
        let (file, bytes) = try signedBatch(sequence, signer, path: out)
        do {
            try AtomicFile.write(Data(bytes), to: out)
        } catch {
            throw .batchUnwritable(path: out, reason: Self.reason(error))
        }
        try write("marking batch \(sequence) written") { db in
            try db.execute(sql: "UPDATE journal_batch SET written = 1 WHERE sequence = ?", arguments: [Int64(sequence)])
        }
        return ExportResult(
            outcome: outcome, batchSequence: sequence, recordCount: file.records.count,
            amountFen: file.records.reduce(0) { $0 + UInt64($1.amountFen) },
            depositFen: file.records.reduce(0) { $0 + UInt64($1.depositFen) },
            greyCount: file.records.count { $0.kind == .grey }, path: out)
    }

    /// A batch's file and its signed bytes, built from its rows alone (so byte-identical each
    /// time).
    private func signedBatch(_ sequence: UInt32, _ signer: Signer, path: String) throws(StorageError) -> (BatchFile, [UInt8]) {
        var file = try batchFile(sequence)
        file.header.uploadKeyVersion = signer.version
        do {
            return (file, try file.encode(sign: signer.sign))
        } catch {
            throw .batchUnwritable(path: path, reason: "the batch could not be signed (\(error)); check the terminal's PSAM")
        }
    }

    // MARK: Uploading to the front-end (`onecard terminal sync`)

    /// The oldest batch the front-end has not acknowledged, signed, assigning a new batch of the
    /// unexported records when every batch was acknowledged; `nil` when nothing is left. A batch
    /// exported to a file but never acknowledged comes back here too, byte-identical.
    public func nextUpload(
        sign: @escaping ([UInt8]) throws -> [UInt8], uploadKeyVersion: UInt8 = 1, createdAt: BCDDateTime, includeGrey: Bool = false
    ) throws(StorageError) -> (sequence: UInt32, records: Int, bytes: [UInt8])? {
        let signer = Signer(sign: sign, version: uploadKeyVersion)
        let oldest = try read("looking for an unacknowledged batch") { db in
            try Int64.fetchOne(db, sql: "SELECT sequence FROM journal_batch WHERE acknowledged IS NULL ORDER BY sequence LIMIT 1")
                .map { UInt32(truncatingIfNeeded: $0) }
        }
        let assigned: UInt32? = if let oldest { oldest } else { try assignBatch(createdAt: createdAt, includeGrey: includeGrey) }
        guard let sequence = assigned else { return nil }
        let (file, bytes) = try signedBatch(sequence, signer, path: "\(path) batch \(sequence)")
        try write("marking batch \(sequence) written") { db in
            try db.execute(sql: "UPDATE journal_batch SET written = 1 WHERE sequence = ?", arguments: [Int64(sequence)])
        }
        return (sequence, file.records.count, bytes)
    }

    /// Records the front-end's acknowledgement of a batch (its JSON as received): its records
    /// are uploaded. Idempotent for the same acknowledgement.
    public func markAcknowledged(_ sequence: UInt32, acknowledgement: String) throws(StorageError) {
        try write("marking batch \(sequence) acknowledged") { db in
            try db.execute(
                sql: "UPDATE journal_batch SET acknowledged = coalesce(acknowledged, ?) WHERE sequence = ?",
                arguments: [acknowledgement, Int64(sequence)])
            guard db.changesCount == 1 else { throw StorageError.notAJournal(path: self.path, reason: "batch \(sequence) is not recorded") }
        }
    }

    /// Batches not yet acknowledged by the front-end, and the records in them.
    public func unacknowledged() throws(StorageError) -> (batches: Int, records: Int) {
        try read("counting unacknowledged batches") { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*) AS b, coalesce(sum(record_count), 0) AS r FROM journal_batch WHERE acknowledged IS NULL")
            return (row?["b"] ?? 0, row?["r"] ?? 0)
        }
    }

    /// The batch as stored: its header and records in journal order. The stored count and
    /// amount must match the rows (they guard money: a mismatch stops the process).
    func batchFile(_ sequence: UInt32) throws(StorageError) -> BatchFile {
        try read("reading batch \(sequence)") { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT created_bcd, record_count, amount_fen FROM journal_batch WHERE sequence = ?",
                arguments: [Int64(sequence)])
            else { throw StorageError.notAJournal(path: self.path, reason: "batch \(sequence) is not recorded") }
            let blobs = try Data.fetchAll(
                db, sql: "SELECT record FROM journal_record WHERE batch = ? ORDER BY id", arguments: [Int64(sequence)])
            let records = try blobs.map { try Self.decode($0, path: self.path) }
            let count: Int64 = row["record_count"]
            let amount: Int64 = row["amount_fen"]
            let sum = records.reduce(Int64(0)) { $0 + Int64($1.amountFen) }
            precondition(count == records.count && amount == sum,
                         "batch \(sequence) of \(self.path): stored \(count) records / \(amount) fen, rows hold \(records.count) / \(sum)")
            let createdBits: Int64 = row["created_bcd"]
            let header = BatchHeader(
                terminal: self.terminal, operatorID: self.operatorID, sequence: sequence, createdBCD: UInt64(bitPattern: createdBits))
            return BatchFile(header: header, records: records)
        }
    }

    private static func reason(_ error: CardFileError) -> String {
        switch error {
        case .unwritable(_, let r), .unreadable(_, let r), .malformed(_, let r): r
        }
    }
}
