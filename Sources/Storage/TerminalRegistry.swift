
import Foundation
public import OneCardCore

/// A terminal as clearing knows it: which operator it belongs to, the version of the upload
/// key its PSAM signs with, and whether its batches are accepted.
public struct RegisteredTerminal: Sendable, Codable, Equatable {
    /// What clearing does with the terminal's batches.
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// Accepted.
        case active
        /// Refused whole until reactivated (a terminal reported stolen, under investigation).
        case suspended
        /// Refused whole for good (decommissioned).
        case retired
    }

    /// The terminal (12 hex).
    public var terminal: String
    /// Its operator.
    public var operatorID: UInt16
    /// The upload key version its batches must be signed with.
    public var keyVersion: UInt8
    /// Its status.
    public var status: Status
    /// When it last changed (ISO 8601 UTC).
    public var changed: String
}

extension ClearingStore {
    /// The terminal registry, by terminal.
    ///
    /// Read again only when the registry may have changed since (``SQLEngine/registryStamp(_:)``:
    /// an officer suspending a terminal from another process, say) or this store changed the
    /// registry: a front-end clearing a run every few milliseconds does not re-read thousands
    /// of rows each time.
    public func terminals() throws(StorageError) -> [TerminalID: RegisteredTerminal] {
        try reading("reading the terminal registry") { db in
            let version = try engine.registryStamp(db)
            if let cached = registryCache.get(version: version) { return cached }
            var out: [TerminalID: RegisteredTerminal] = [:]
            try db.forEach("SELECT terminal, status, operator, key_version, changed FROM clearing_terminal ORDER BY terminal") { row in
                guard let t = TerminalID(rawValue: UInt64(bitPattern: try row.int(0))),
                      let status = RegisteredTerminal.Status(rawValue: try row.text(1))
                else { throw StorageError.notAJournal(path: path, reason: "a corrupt terminal registry row") }
                out[t] = RegisteredTerminal(
                    terminal: t.description, operatorID: UInt16(clamping: try row.int(2)),
                    keyVersion: UInt8(clamping: try row.int(3)), status: status, changed: try row.text(4))
            }
            registryCache.set(out, version: version)
            return out
        }
    }

    /// Registers a terminal as active, or updates its operator and key version (a terminal
    /// re-personalised with a new upload key). A retired terminal cannot come back.
    ///
    /// - Throws: ``StorageError/decisionRefused(path:reason:)`` for a retired terminal.
    public func registerTerminal(_ terminal: TerminalID, operatorID: UInt16, keyVersion: UInt8, at: String) throws(StorageError) {
        defer { registryCache.clear() }
        try writing("registering terminal \(terminal)") { db in
            if try db.text("SELECT status FROM clearing_terminal WHERE terminal = ?", Int64(terminal.rawValue)) == "retired" {
                throw StorageError.decisionRefused(path: path, reason: "terminal \(terminal) is retired: a retired terminal's number is not reused")
            }
            try db.execute("""
                INSERT INTO clearing_terminal (terminal, operator, key_version, status, changed) VALUES (?, ?, ?, 'active', ?)
                ON CONFLICT(terminal) DO UPDATE SET operator = excluded.operator, key_version = excluded.key_version,
                    status = 'active', changed = excluded.changed
                """, Int64(terminal.rawValue), Int64(operatorID), Int64(keyVersion), at)
        }
    }

    /// Suspends, reactivates or retires a registered terminal.
    ///
    /// - Throws: ``StorageError/decisionRefused(path:reason:)`` for an unknown or retired terminal.
    public func setTerminalStatus(_ terminal: TerminalID, _ status: RegisteredTerminal.Status, at: String) throws(StorageError) {
        defer { registryCache.clear() }
        try writing("changing terminal \(terminal)") { db in
            guard let current = try db.text("SELECT status FROM clearing_terminal WHERE terminal = ?", Int64(terminal.rawValue)) else {
                throw StorageError.decisionRefused(path: path, reason: "terminal \(terminal) is not registered: onecard clearing terminals add")
            }
            guard current != "retired" else { throw StorageError.decisionRefused(path: path, reason: "terminal \(terminal) is retired for good") }
            try db.execute("UPDATE clearing_terminal SET status = ?, changed = ? WHERE terminal = ?", status.rawValue, at, Int64(terminal.rawValue))
        }
    }
}

extension RegisteredTerminal {
    /// Why a batch from `header`'s terminal is refused whole, if it is: unknown, suspended,
    /// retired, another operator's, or signed with another upload key version.
    public static func refusal(_ registered: RegisteredTerminal?, terminal: TerminalID, operatorID: UInt16, keyVersion: UInt8) -> String? {
        guard let r = registered else {
            return "terminal \(terminal) is not registered with clearing (onecard clearing terminals add): its batches are refused"
        }
        switch r.status {
        case .active: break
        case .suspended: return "terminal \(terminal) is suspended: its batches are refused until it is reactivated"
        case .retired: return "terminal \(terminal) is retired: its batches are refused for good"
        }
        guard r.operatorID == operatorID else {
            return "terminal \(terminal) belongs to operator \(r.operatorID) in the registry, the batch claims operator \(operatorID)"
        }
        guard r.keyVersion == keyVersion else {
            return "terminal \(terminal) signs with upload key version \(r.keyVersion) in the registry, the batch names version \(keyVersion)"
        }
        return nil
    }
}

/// The registry as last read (``ClearingStore/terminals()``), valid while the database version
/// it was read at holds.
final class RegistryCache: @unchecked Sendable {
    private let lock = NSLock()
    private var version: Int64?
    private var terminals: [TerminalID: RegisteredTerminal] = [:]

    func get(version v: Int64) -> [TerminalID: RegisteredTerminal]? { lock.withLock { version == v ? terminals : nil } }
    func set(_ t: [TerminalID: RegisteredTerminal], version v: Int64) { lock.withLock { (terminals, version) = (t, v) } }
    func clear() { lock.withLock { version = nil } }
}
