public import Clearing
import Dispatch
import Foundation
import OneCardCore
public import OneCardCrypto
public import Storage
import UploadBatch

/// Why an ingest cannot start (a message for the officer, never a key).
public struct IngestError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var description: String

    /// Wraps a message.
    public init(_ description: String) { self.description = description }
}

/// The clearing centre's master keys by key version, from one keyset per version.
public struct ClearingKeys: Sendable {
    /// TAC master keys by key version.
    public var tac: [UInt8: TripleDESKey] = [:]
    /// Batch (upload) master keys by key version.
    public var batch: [UInt8: TripleDESKey] = [:]

    /// Reads keysets holding `masterKeys.tac` and `masterKeys.batch`, one per key version.
    ///
    /// - Throws: ``IngestError`` when none is given or two share a version; the keyset's own
    ///   error when one cannot be read.
    public init(paths: [String]) throws {
        guard !paths.isEmpty else { throw IngestError("--keys: give the clearing keyset (masterKeys.tac and masterKeys.batch)") }
        try self.init(keysets: try paths.map { try Keyset.load(path: $0) })
    }

    /// The TAC and batch master keys of keysets, one per key version.
    public init(keysets: [Keyset]) throws {
        for k in keysets {
            let v = k.keyVersion.rawValue
            guard tac[v] == nil else { throw IngestError("--keys: two keysets of key version \(v)") }
            tac[v] = try k.masterKey(.tac)
            batch[v] = try k.masterKey(.batch)
        }
    }
}

/// A batch file refused whole, with its reason.
public struct RejectedFile: Codable, Sendable, Equatable {
    /// The file.
    public var file: String
    /// Why, naming the file.
    public var reason: String

    /// Names a refused file.
    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }
}

/// Reads and verifies batch files on both cores: size, registry, key version, MAC.
public enum BatchReader {
    /// The most bytes one batch file may have.
    public static let fileBytesMax = BatchHeader.byteCount + BatchFile.recordsMax * BatchRecord.byteCount + BatchFile.trailerBytes

    /// Reads `files`; each is either a verified batch (received at `received`, seconds since
    /// 1970 by the centre's clock) or a refusal with its reason, in input order.
    public static func read(
        _ files: [String], keys: ClearingKeys, registry: [TerminalID: RegisteredTerminal], received: UInt32
    ) -> (batches: [IncomingBatch], rejected: [RejectedFile]) {
        var slots = [Result<(BatchFile, [UInt8]), RejectedFileError>?](repeating: nil, count: files.count)
        slots.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            DispatchQueue.concurrentPerform(iterations: files.count) { i in
                out[i] = readOne(files[i], keys: keys, registry: registry)
            }
        }
        var batches: [IncomingBatch] = []
        var rejected: [RejectedFile] = []
        for (i, slot) in slots.enumerated() {
            switch slot {
            case .success(let (b, digest))?: batches.append(IncomingBatch(file: files[i], batch: b, received: received, digest: digest))
            case .failure(let e)?: rejected.append(RejectedFile(file: files[i], reason: e.reason))
            case nil: rejected.append(RejectedFile(file: files[i], reason: "\(files[i]): not read"))
            }
        }
        return (batches, rejected)
    }

    struct RejectedFileError: Error { var reason: String }

    /// The number of records a batch file of `bytes` holds, by its size (0 if it is too small).
    public static func recordCount(fileBytes bytes: Int) -> Int {
        max(0, (bytes - BatchHeader.byteCount - BatchFile.trailerBytes) / BatchRecord.byteCount)
    }

    /// A verified batch and the SHA-256 of its bytes.
    static func readOne(_ file: String, keys: ClearingKeys, registry: [TerminalID: RegisteredTerminal]) -> Result<(BatchFile, [UInt8]), RejectedFileError> {
        switch FileBytes.read(file, maxBytes: fileBytesMax) {
        case .success(let bytes):
            return verify(bytes, name: file, keys: keys, registry: registry).mapError { RejectedFileError(reason: $0.reason) }
        case .failure(.tooLarge(let size)):
            return .failure(RejectedFileError(reason: "\(file): \(size) bytes, larger than any batch"))
        case .failure:
            return .failure(RejectedFileError(reason: "\(file): cannot read the file"))
        }
    }

    /// Why a batch's bytes were refused whole: what is wrong with the file itself, or that it
    /// is not the registered terminal's own (unknown or suspended terminal, unknown key version,
    /// a MAC that does not verify under the terminal's upload key).
    public struct Refusal: Error, Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case malformed
            case notTheTerminals
        }
        public var kind: Kind
        /// Why, naming the upload.
        public var reason: String
    }

    /// Verifies a batch's bytes (an upload named `name`): registry, key version, MAC, then the
    /// whole decode. Returns the batch and the SHA-256 its MAC signs.
    public static func verify(
        _ bytes: [UInt8], name: String, keys: ClearingKeys, registry: [TerminalID: RegisteredTerminal]
    ) -> Result<(BatchFile, [UInt8]), Refusal> {
        guard bytes.count <= fileBytesMax else { return .failure(Refusal(kind: .malformed, reason: "\(name): \(bytes.count) bytes, larger than any batch")) }
        let header: BatchHeader
        do {
            header = try BatchFile.peekHeader(bytes, file: name)
        } catch {
            return .failure(Refusal(kind: .malformed, reason: error.description))
        }
        if let why = RegisteredTerminal.refusal(
            registry[header.terminal], terminal: header.terminal, operatorID: header.operatorID, keyVersion: header.uploadKeyVersion) {
            return .failure(Refusal(kind: .notTheTerminals, reason: "\(name): \(why)"))
        }
        guard let master = keys.batch[header.uploadKeyVersion] else {
            return .failure(Refusal(kind: .notTheTerminals, reason: "\(name): clearing holds no batch master key of version \(header.uploadKeyVersion): pass its keyset with --keys"))
        }
        let key = BatchFile.uploadKey(batchMaster: master, terminal: header.terminal)
        do {
            return .success(try BatchFile.decodeWithDigest(bytes, file: name, key: key))
        } catch .macInvalid {
            return .failure(Refusal(kind: .notTheTerminals, reason: BatchError.macInvalid(file: name).description))
        } catch {
            return .failure(Refusal(kind: .malformed, reason: error.description))
        }
    }
}
