import Foundation
public import OneCardCore
import OneCardCrypto

/// One stored version of the city file (docs/frontend.md, "Parameters").
public struct CityVersion: Sendable, Equatable, Codable {
    /// 1, 2, …: the order the versions were stored in.
    public var version: Int64
    /// The first business day it is in force; `nil`: from the beginning.
    public var effective: BCDDate?
    /// The file's SHA-256, hex.
    public var sha256: String
    /// The file's length in bytes.
    public var bytes: Int
    /// When it was stored (ISO 8601 UTC).
    public var stored: String

    enum CodingKeys: String, CodingKey { case version, effective, sha256, bytes, stored }

    public init(version: Int64, effective: BCDDate?, sha256: String, bytes: Int, stored: String) {
        self.version = version
        self.effective = effective
        self.sha256 = sha256
        self.bytes = bytes
        self.stored = stored
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(effective?.description, forKey: .effective)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(stored, forKey: .stored)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int64.self, forKey: .version)
        if let text = try c.decodeIfPresent(String.self, forKey: .effective) {
            guard let d = BCDDate(text) else {
                throw DecodingError.dataCorruptedError(forKey: .effective, in: c, debugDescription: "not a YYYY-MM-DD date")
            }
            effective = d
        } else {
            effective = nil
        }
        sha256 = try c.decode(String.self, forKey: .sha256)
        bytes = try c.decode(Int.self, forKey: .bytes)
        stored = try c.decode(String.self, forKey: .stored)
    }
}

/// What a terminal at one hotlist version needs to reach the newest: the serials added and
/// removed since (each ascending as unsigned 64-bit numbers, as the `OCHL` delta holds them).
public struct HotlistChanges: Sendable, Equatable {
    /// The version the terminal has.
    public var base: UInt64
    /// The newest version.
    public var version: UInt64
    public var added: [UInt64]
    public var removed: [UInt64]
}

/// The parameters clearing keeps for terminals and for settlement: every version of the city
/// file with the day it takes effect, and the hotlist's history of changes.
extension ClearingStore {
    // MARK: City versions

    /// Every stored city version, oldest first (without the files).
    public func cityVersions() throws(StorageError) -> [CityVersion] {
        try reading("reading the city versions") { db in
            try db.rows("SELECT version, effective, body, stored FROM clearing_city ORDER BY version").map { row in
                let body = try row.blob(2)
                return CityVersion(
                    version: try row.int(0), effective: try row.textOrNil(1).flatMap(BCDDate.init),
                    sha256: Hex.encode(body.withUnsafeBytes { SHA256Digest.hash($0) }), bytes: body.count, stored: try row.text(3))
            }
        }
    }

    /// The file of one city version, `nil` if there is none.
    public func cityFile(version: Int64) throws(StorageError) -> Data? {
        try reading("reading city version \(version)") { db in
            try db.row("SELECT body FROM clearing_city WHERE version = ?", version).map { Data(try $0.blob(0)) }
        }
    }

    /// The city version in force on a business day, and its file: the newest-stored among those
    /// whose effective day is on or before it (or that hold from the beginning). `nil` when the
    /// database has no city, or none in force yet that day.
    public func city(forDay day: BCDDate) throws(StorageError) -> (version: Int64, file: Data)? {
        try reading("reading the city in force on \(day)") { db in
            try db.row("""
                SELECT version, body FROM clearing_city WHERE effective IS NULL OR effective <= ?
                ORDER BY coalesce(effective, '') DESC, version DESC LIMIT 1
                """, day.description).map { (try $0.int(0), Data(try $0.blob(1))) }
        }
    }

    /// The newest-stored city version and its file, `nil` when none was stored.
    public func newestCity() throws(StorageError) -> (version: Int64, file: Data)? {
        try reading("reading the city") { db in
            try db.row("SELECT version, body FROM clearing_city ORDER BY version DESC LIMIT 1").map { (try $0.int(0), Data(try $0.blob(1))) }
        }
    }

    /// Stores a city file as a new version in force from `effective` (`nil`: the first day not
    /// yet closed, so every open day uses it and no closed day changes). The same bytes as the
    /// newest version store nothing. Returns the version the file is stored under.
    ///
    /// - Throws: ``StorageError/dayClosed(path:day:)`` when `effective` is a closed day or
    ///   before one: a closed day's settlement never changes.
    @discardableResult
    public func addCity(_ file: Data, effective: BCDDate? = nil, storedAt: String = AuditTime.now()) throws(StorageError) -> Int64 {
        try writing("storing the city") { db in
            let newestClosed = try db.text("SELECT max(day) FROM settlement_day WHERE closed IS NOT NULL")
            if let effective, let newestClosed, effective.description <= newestClosed {
                throw StorageError.dayClosed(path: path, day: effective.description)
            }
            if effective == nil, let newest = try db.row("SELECT version, body FROM clearing_city ORDER BY version DESC LIMIT 1"),
               try newest.blob(1) == [UInt8](file) {
                return try newest.int(0)
            }
            let from = effective?.description ?? newestClosed.flatMap(BCDDate.init).map { $0.adding(days: 1).description }
            let version = (try db.int("SELECT max(version) FROM clearing_city") ?? 0) + 1
            try db.execute("INSERT INTO clearing_city (version, effective, body, stored) VALUES (?, ?, ?, ?)", version, from, file, storedAt)
            return version
        }
    }

    // MARK: Hotlist versions

    static func logHotlistChange(_ db: any SQLSession, _ serial: Int64, listed: Bool, at: String) throws {
        try db.execute("INSERT INTO clearing_hotlist_change (serial, listed, changed) VALUES (?, ?, ?)", serial, listed ? 1 : 0, at)
    }

    /// The hotlist's version: 1 for the list nobody changed yet, then one more for each change
    /// to its membership (a card added or removed; a new reason or time changes nothing a
    /// terminal holds).
    public func hotlistVersion() throws(StorageError) -> UInt64 {
        try reading("reading the hotlist version") { db in try Self.hotlistVersion(db) }
    }

    static func hotlistVersion(_ db: any SQLSession) throws -> UInt64 {
        UInt64(try db.int("SELECT max(version) FROM clearing_hotlist_change") ?? 0) + 1
    }

    /// The hotlist's version and how many cards are on it.
    public func hotlistSummary() throws(StorageError) -> (version: UInt64, cards: Int) {
        try reading("reading the hotlist version") { db in
            (try Self.hotlistVersion(db), Int(try db.int("SELECT count(*) FROM clearing_hotlist") ?? 0))
        }
    }

    /// The hotlisted serials, ascending as unsigned numbers, and the version they are at (read
    /// in one transaction).
    public func hotlistSerials() throws(StorageError) -> (version: UInt64, serials: [UInt64]) {
        try reading("reading the hotlist") { db in
            let version = try Self.hotlistVersion(db)
            let serials = try db.ints("SELECT serial FROM clearing_hotlist").map { UInt64(bitPattern: $0) }.sorted()
            return (version, serials)
        }
    }

    /// The changes that bring a list at version `base` to the newest, `nil` when `base` is
    /// newer than the newest (a terminal that must fetch the full list). Base 0 is the empty
    /// list before every change.
    public func hotlistChanges(since base: UInt64) throws(StorageError) -> HotlistChanges? {
        try reading("reading the hotlist changes since \(base)") { db -> HotlistChanges? in
            let version = try Self.hotlistVersion(db)
            // Version V holds the changes numbered below V.
            guard base <= version, let b = Int64(exactly: base).map({ $0 - 1 }) else { return nil }
            // For each card changed since `base`: listed then (its last change before it) and now.
            let rows = try db.rows("""
                SELECT c.serial,
                    coalesce((SELECT listed FROM clearing_hotlist_change p WHERE p.serial = c.serial AND p.version <= ?1
                              ORDER BY p.version DESC LIMIT 1), 0),
                    (SELECT COUNT(*) FROM clearing_hotlist h WHERE h.serial = c.serial)
                FROM (SELECT DISTINCT serial FROM clearing_hotlist_change WHERE version > ?1) c
                """, b)
            var added: [UInt64] = [], removed: [UInt64] = []
            for row in rows {
                let serial = UInt64(bitPattern: try row.int(0))
                switch (try row.bool(1), try row.bool(2)) {
                case (false, true): added.append(serial)
                case (true, false): removed.append(serial)
                default: break
                }
            }
            return HotlistChanges(base: base, version: version, added: added.sorted(), removed: removed.sorted())
        }
    }
}
