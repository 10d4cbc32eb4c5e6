import Foundation
import GRDB
public import OneCardCore

/// Why a journal or issuer database operation failed. Every message names the file and says
/// what to do; none carries bound values, keys, MACs or TACs, and card serials are masked.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file or its directory cannot be written (permissions, read-only, not a directory).
    case unwritable(path: String, reason: String)
    /// The journal does not exist (opening an existing journal, e.g. to export it).
    case missing(path: String)
    /// The file is not a OneCard journal (another SQLite file, or not SQLite at all).
    case notAJournal(path: String, reason: String)
    /// The journal was created for another terminal.
    case wrongTerminal(path: String, journal: TerminalID, requested: TerminalID)
    /// The journal's terminal was registered under another operator.
    case wrongOperator(path: String, journal: UInt16, requested: UInt16)
    /// Another process holds the file locked.
    case busy(path: String)
    /// A record for another terminal was handed to this journal (a programming error upstream).
    case foreignRecord(path: String, journal: TerminalID, record: TerminalID)
    /// The card already has an unresolved grey record for this counter.
    case greyPending(path: String, card: String, counter: UInt16)
    /// No grey record to complete for this card and counter.
    case noGreyRecord(path: String, card: String, counter: UInt16)
    /// A record carries a terminal sequence this journal never handed out, or one already used.
    case sequenceInvalid(path: String, sequence: UInt32, reason: String)
    /// The terminal sequence (or batch sequence) reached 2³²−1.
    case sequenceExhausted(path: String, counter: String)
    /// The batch file could not be written.
    case batchUnwritable(path: String, reason: String)
    /// Issuer: no such card in the registry.
    case cardUnknown(path: String, card: String)
    /// Issuer: the card is already registered.
    case cardAlreadyIssued(path: String, card: String)
    /// Issuer: the card is not in a state that allows the operation (refunded, replaced, blocked).
    case cardNotAllowed(path: String, card: String, status: String, operation: String)
    /// Issuer: a replacement names the same card twice, or a new card already used.
    case replacementInvalid(path: String, reason: String)
    /// Clearing: the business day is closed (settled with `--close`); nothing may change it.
    case dayClosed(path: String, day: String)
    /// Clearing: no such exception or refused record, or it cannot be decided as asked.
    case decisionRefused(path: String, reason: String)
    /// Clearing: another writer (an ingest, an officer's decision, a settlement) committed since
    /// this work read the database; nothing was recorded, and the work must be redone from the
    /// database as it is now.
    case stale(path: String, what: String)
    /// Any other SQLite failure.
    case database(path: String, operation: String, code: Int32, reason: String)
    /// The database server refused a statement (PostgreSQL: its SQLSTATE and message).
    case server(path: String, operation: String, state: String, reason: String)
    /// The database server could not be reached, or the connection was lost before the
    /// transaction's commit was answered.
    case unreachable(path: String, operation: String, reason: String)
    /// A `--db` that names no database this build can open (a malformed PostgreSQL URL).
    case invalidLocation(option: String, reason: String)

    public var description: String {
        switch self {
        case .unwritable(let p, let r):
            "journal \(p) is not writable (\(r)): give the terminal a writable directory and file, or point --journal elsewhere"
        case .missing(let p): "journal \(p) does not exist: check the path (a journal is created by the terminal that writes it)"
        case .notAJournal(let p, let r): "\(p) is not a OneCard journal (\(r)): check the path"
        case .wrongTerminal(let p, let j, let r):
            "journal \(p) belongs to terminal \(j), not \(r): use that terminal's journal, or a new file for this terminal"
        case .wrongOperator(let p, let j, let r):
            "journal \(p) was opened for operator \(j), not \(r): check the city file's terminal entry before exporting"
        case .busy(let p): "journal \(p) is locked by another process: only one terminal process may use a journal; stop the other"
        case .foreignRecord(let p, let j, let r): "journal \(p) is terminal \(j)'s; refusing a record stamped with terminal \(r)"
        case .greyPending(let p, let c, let n):
            "journal \(p): card \(c) already has an unresolved grey record for counter \(n): complete or void it first"
        case .noGreyRecord(let p, let c, let n):
            "journal \(p): card \(c) has no grey record for counter \(n) to complete (already completed or voided?)"
        case .sequenceInvalid(let p, let s, let r): "journal \(p): terminal sequence \(s) \(r): take sequences with nextSequence()"
        case .sequenceExhausted(let p, let c): "journal \(p): the \(c) reached its maximum: start a new journal with a new terminal ID"
        case .batchUnwritable(let p, let r):
            "cannot write batch \(p) (\(r)): nothing was lost; fix the output directory and run the export again"
        case .cardUnknown(let p, let c): "issuer database \(p): card \(c) is not registered: issue it first"
        case .cardAlreadyIssued(let p, let c): "issuer database \(p): card \(c) is already registered"
        case .cardNotAllowed(let p, let c, let s, let o):
            "issuer database \(p): card \(c) is \(s); \(o) refused (a card is refunded or replaced once only)"
        case .replacementInvalid(let p, let r): "issuer database \(p): replacement refused: \(r)"
        case .dayClosed(let p, let d):
            "\(p): business day \(d) is closed and immutable: post corrections into a later day as adjustments (onecard exceptions accept)"
        case .decisionRefused(let p, let r): "\(p): \(r)"
        case .stale(let p, let w): "\(p): \(w) changed while this run was working; nothing was recorded: run it again"
        case .server(let p, let o, let c, let r):
            "\(p): PostgreSQL error \(c) (\(r)) while \(o); the transaction was rolled back, nothing of it was recorded"
        case .unreachable(let p, let o, let r):
            "\(p): the database server cannot be reached (\(r)) while \(o): anything not acknowledged was rolled back; "
                + "start the server or fail over to the standby (docs/operations.md, PostgreSQL), then run again: a replay is recognised"
        case .invalidLocation(let o, let r): "\(o): \(r)"
        case .database(let p, let o, let c, let r):
            "\(p): SQLite error \(c) (\(r)) while \(o); nothing was recorded: check disk space and permissions, then retry"
        }
    }
}

/// Turns GRDB and SQLite failures into ``StorageError``, keeping the SQLite code and SQLite's
/// own message but never the SQL text's arguments.
enum StorageFailure {
    /// Runs `body`, mapping any thrown error to a ``StorageError``.
    static func run<T>(_ path: String, _ operation: String, _ body: () throws -> T) throws(StorageError) -> T {
        do {
            return try body()
        } catch let e as StorageError {
            throw e
        } catch let e as DatabaseError {
            throw map(e, path: path, operation: operation)
        } catch {
            throw .database(path: path, operation: operation, code: -1, reason: String(describing: type(of: error)))
        }
    }

    /// The storage error for a SQLite failure.
    /// As ``run(_:_:_:)``, with `engine`'s own errors mapped by the engine.
    static func run<T>(_ path: String, _ operation: String, engine: any SQLEngine, _ body: () throws -> T) throws(StorageError) -> T {
        do {
            return try body()
        } catch let e as StorageError {
            throw e
        } catch let e as SQLFailure {
            throw .notAJournal(path: path, reason: "\(e) while \(operation)")
        } catch {
            throw engine.storageError(error, operation: operation)
                ?? .database(path: path, operation: operation, code: -1, reason: String(describing: type(of: error)))
        }
    }

    static func map(_ e: DatabaseError, path: String, operation: String) -> StorageError {
        switch e.resultCode {
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            return .unwritable(path: path, reason: e.message ?? "\(e.resultCode)")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return .busy(path: path)
        case .SQLITE_NOTADB:
            return .notAJournal(path: path, reason: "not a SQLite database")
        default:
            return .database(path: path, operation: operation, code: e.extendedResultCode.rawValue, reason: e.message ?? "\(e.resultCode)")
        }
    }
}
