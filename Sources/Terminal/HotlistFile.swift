import Foundation
public import OneCardCore

/// The hotlist file clearing exports and terminals load (docs/formats.md, "Hotlist file"):
/// JSON, `onecard-hotlist/1`, one entry per card with the time it is hotlisted from.
public struct HotlistFile: Codable, Sendable {
    /// One hotlisted card.
    public struct Entry: Codable, Sendable {
        /// The serial, 16 hex digits.
        public var card: String
        /// Hotlisted from this local time, `YYYY-MM-DDTHH:MM:SS`.
        public var since: String
    }

    /// The format name this code writes and reads.
    public static let formatName = "onecard-hotlist/1"

    /// Always ``formatName``.
    public var format = HotlistFile.formatName
    /// The cards.
    public var cards: [Entry]

    /// A file of cards with the time (seconds since 1970, local) each is hotlisted from.
    public init(_ list: [(serial: CardSerial, since: UInt32)]) {
        cards = list.map { Entry(card: $0.serial.description, since: BCDDateTime(secondsSinceEpoch: Int64($0.since)).description) }
    }

    /// Why a hotlist file was refused.
    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads and checks a hotlist file: every serial and time must parse.
    public static func entries(path: String) throws(FileError) -> [(serial: CardSerial, since: BCDDateTime)] {
        guard let data = FileManager.default.contents(atPath: path) else { throw FileError(description: "cannot read \(path)") }
        guard let file = try? JSONDecoder().decode(HotlistFile.self, from: data), file.format == formatName else {
            throw FileError(description: "\(path) is not a hotlist file (\(formatName))")
        }
        var out: [(serial: CardSerial, since: BCDDateTime)] = []
        out.reserveCapacity(file.cards.count)
        for e in file.cards {
            guard let s = CardSerial(hex: e.card) else { throw FileError(description: "\(path): bad card serial \"\(e.card)\"") }
            guard let t = BCDDateTime(iso: e.since) else { throw FileError(description: "\(path): bad time \"\(e.since)\" for card \(e.card)") }
            out.append((s, t))
        }
        return out
    }

    /// The serials of a hotlist file, sorted ascending without repeats (what a store holds).
    public static func sortedSerials(path: String) throws(FileError) -> [UInt64] {
        let serials = try entries(path: path).map(\.serial.rawValue).sorted()
        var out: [UInt64] = []
        out.reserveCapacity(serials.count)
        for s in serials where out.last != s { out.append(s) }
        return out
    }
}
