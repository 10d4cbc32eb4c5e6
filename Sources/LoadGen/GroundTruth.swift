/// What clearing must accept and refuse for one generated run: `DIR/ground-truth.json`
/// (docs/formats.md, "Load generator output"). Counts are exact; lists are sorted.
public struct GroundTruth: Codable, Sendable, Hashable {
    /// `onecard-loadgen-truth/1`.
    public static let format = "onecard-loadgen-truth/1"

    /// Accepted records and amount for one operator (purchases for transport operators, loads
    /// for the issuer).
    public struct OperatorTotals: Codable, Sendable, Hashable {
        /// The operator kind (`issuer`, `bus`, `metro`, `taxi`, `gas`).
        public var kind: String
        /// Accepted records.
        public var accepted: Int
        /// Their amount, fen.
        public var acceptedAmountFen: Int64
    }

    /// Records of one kind: how many are in the complete files and how many clearing accepts.
    public struct KindTotals: Codable, Sendable, Hashable {
        /// Records in complete batch files (duplicate copies included).
        public var records: Int
        /// Their amount, fen.
        public var amountFen: Int64
        /// Accepted records.
        public var accepted: Int
        /// Their amount, fen.
        public var acceptedAmountFen: Int64
    }

    /// A purchase dropped from the uploads: the card's offline counter has a hole here.
    public struct Gap: Codable, Sendable, Hashable, Comparable {
        /// Card serial, 16 hex digits.
        public var serial: String
        /// `offline` (purchases) — loads are never dropped.
        public var counterKind: String
        /// The missing counter value (the purchase's counter before the transaction).
        public var counter: Int
        /// The terminal that made it, 12 hex digits.
        public var terminal: String
        /// Its terminal sequence number (also missing from that terminal's uploads).
        public var terminalSequence: Int
        /// When, `YYYY-MM-DDTHH:MM:SS`.
        public var at: String
        /// The amount the card paid, fen (the card's balance is that much lower than clearing's
        /// shadow from then on).
        public var amountFen: Int64

        public static func < (a: Gap, b: Gap) -> Bool { (a.serial, a.counter) < (b.serial, b.counter) }
    }

    /// An upload attempt cut short. Clearing refuses it whole; the complete file with the same
    /// (terminal, batch sequence) sits beside it, so nothing is lost.
    public struct TruncatedFile: Codable, Sendable, Hashable, Comparable {
        /// Path relative to the output directory.
        public var file: String
        /// Its length in bytes.
        public var byteCount: Int
        /// The complete file it is a prefix of, relative to the output directory.
        public var completeFile: String
        /// The complete file's length in bytes.
        public var completeByteCount: Int

        public static func < (a: TruncatedFile, b: TruncatedFile) -> Bool { a.file < b.file }
    }

    /// How many faults were injected, by kind.
    public struct Injected: Codable, Sendable, Hashable {
        /// Purchases with an altered TAC.
        public var forgedTAC: Int
        /// Purchases uploaded twice.
        public var duplicates: Int
        /// Purchases dropped.
        public var gaps: Int
        /// Grey records.
        public var grey: Int
        /// Cards hotlisted (entries in `hotlist.json`).
        public var hotlistedCards: Int
        /// Truncated upload attempts.
        public var truncatedFiles: Int
        /// Records past the upload window.
        public var expired: Int
    }

    /// `onecard-loadgen-truth/1`.
    public var format: String
    /// The city code, 4 hex digits.
    public var city: String
    /// The run's seed.
    public var seed: UInt64
    /// Cards simulated.
    public var cards: Int
    /// Purchase taps the cards made (dropped ones included; grey records and duplicate copies not).
    public var taps: Int
    /// Days simulated.
    public var days: Int
    /// First day, `YYYY-MM-DD`.
    public var startDate: String
    /// The upload date every batch header carries (the last day): `05` is judged against it.
    /// With daily uploads, the date of the last upload (each day's headers carry their own day).
    public var uploadDate: String
    /// `end` (every batch uploaded at the end of the last day) or `daily` (each day's batches
    /// in `batches/<YYYY-MM-DD>/`, uploaded that day).
    public var uploads: String
    /// The city's upload window, days.
    public var uploadWindowDays: Int
    /// Complete batch files.
    public var batches: Int
    /// Records in the complete batch files.
    public var records: Int
    /// Records clearing accepts.
    public var accepted: Int
    /// Their amount (purchases and loads), fen.
    public var acceptedAmountFen: Int64
    /// Refused records by code (`01`…`07`, every code present, zeros included).
    public var refused: [String: Int]
    /// Accepted totals by operator id (decimal).
    public var perOperator: [String: OperatorTotals]
    /// Purchase records (grey records not included).
    public var purchases: KindTotals
    /// Load records.
    public var loads: KindTotals
    /// Grey records (all refused `04`).
    public var greyRecords: Int
    /// Counter gaps clearing should open exceptions for.
    public var gaps: [Gap]
    /// Upload attempts cut short; clearing refuses each whole.
    public var truncatedFiles: [TruncatedFile]
    /// The hotlist file, relative to the output directory.
    public var hotlistFile: String
    /// What was injected.
    public var injected: Injected
}

/// `DIR/hotlist.json`: the cards hotlisted during the run and when.
public struct GeneratedHotlist: Codable, Sendable, Hashable {
    /// `onecard-hotlist/1`: the same file `onecard clearing hotlist export` writes and
    /// `onecard clearing hotlist import` reads.
    public static let format = "onecard-hotlist/1"

    /// One hotlisted card.
    public struct Entry: Codable, Sendable, Hashable, Comparable {
        /// Card serial, 16 hex digits.
        public var card: String
        /// When it was hotlisted, local time `YYYY-MM-DDTHH:MM:SS`: records made before are
        /// accepted, records made after are refused `07`.
        public var since: String

        public static func < (a: Entry, b: Entry) -> Bool { a.card < b.card }
    }

    /// `onecard-hotlist/1`.
    public var format: String
    /// Entries sorted by serial.
    public var cards: [Entry]
}
