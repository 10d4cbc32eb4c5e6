public import OneCardCore

/// Fault rates, each a fraction in `0...1` (0.001 = one in a thousand).
///
/// Per-purchase faults (`duplicates`, `forgedTAC`, `gaps`, `grey`) are drawn once per purchase
/// from one uniform number, so a purchase carries at most one of them and their sum must not
/// exceed 1. `hotlisted` is a fraction of cards, `truncatedFiles` a fraction of batch files.
public struct FaultRates: Sendable, Hashable {
    /// Purchases uploaded twice (the copy is refused `03`).
    public var duplicates: Double
    /// Purchases whose TAC is altered (refused `01`).
    public var forgedTAC: Double
    /// Purchases dropped from the uploads (a hole in the card's offline counter).
    public var gaps: Double
    /// Cards hotlisted part-way through the run (later records refused `07`).
    public var hotlisted: Double
    /// Purchases preceded by a grey (torn, unfinished) record (refused `04`).
    public var grey: Double
    /// Batch files that also get an upload attempt cut short (refused whole).
    public var truncatedFiles: Double

    /// Rates; all default to 0 (no faults).
    public init(duplicates: Double = 0, forgedTAC: Double = 0, gaps: Double = 0, hotlisted: Double = 0,
                grey: Double = 0, truncatedFiles: Double = 0) {
        self.duplicates = duplicates
        self.forgedTAC = forgedTAC
        self.gaps = gaps
        self.hotlisted = hotlisted
        self.grey = grey
        self.truncatedFiles = truncatedFiles
    }

    /// No faults at all: every record is expected to be accepted (unless `--days` reaches past
    /// the upload window).
    public static let noFaults = FaultRates()

    /// The sum of the per-purchase rates.
    var perPurchaseSum: Double { duplicates + forgedTAC + gaps + grey }
}

/// What to generate.
public struct LoadGenOptions: Sendable, Hashable {
    /// The most cards one run simulates (card indices are 32-bit; memory is ~16 bytes per card).
    public static let cardsMax = 50_000_000
    /// The most purchase taps one run makes (events take ~40 bytes each in memory).
    public static let tapsMax = 100_000_000
    /// The most days one run covers.
    public static let daysMax = 366
    /// The most purchase taps one card makes in one day.
    public static let tapsPerCardDayMax = 24
    /// The most worker threads.
    public static let threadsMax = 64
    /// The most batch files one terminal writes for one day (the batch sequence leaves room
    /// for this many per day).
    public static let batchesPerTerminalDayMax = 1_000

    /// Number of cards.
    public var cards: Int
    /// Number of purchase taps that debit a card (the records clearing pays operators for),
    /// including those dropped as counter gaps; loads, grey records and duplicate copies are extra.
    public var taps: Int
    /// Number of days, starting at `startDate`.
    public var days: Int
    /// The seed: the same options give byte-identical output.
    public var seed: UInt64
    /// The first day.
    public var startDate: BCDDate
    /// Fault injection.
    public var faults: FaultRates
    /// Worker threads (output does not depend on it).
    public var threads: Int
    /// The most records in one batch file (≤ `BatchFile.recordsMax`).
    public var batchRecordsMax: Int
    /// The first batch sequence number of every terminal; high by default so generated batches
    /// never collide with a real terminal's exports, which count from 1.
    public var batchSequenceBase: UInt32
    /// When terminals upload: all at the end of the last day (one folder, every header stamped
    /// with the last day), or each day's records at the end of that day (a folder a day).
    public var uploads: UploadSchedule
    /// The first terminal transaction sequence of every terminal; high by default so that a
    /// generated transaction never has the identity (terminal, terminal sequence) of a real
    /// terminal's, whose journal counts from 1: clearing would rightly refuse it `03`.
    public var terminalSequenceBase: UInt32

    /// The default first day: fixed, so runs are deterministic.
    public static let defaultStartDate = BCDDate(year: 2026, month: 3, day: 2) ?? BCDDate(daysSinceEpoch: 20_514)

    /// Options with defaults for everything but the size and the seed.
    public init(cards: Int, taps: Int, days: Int = 1, seed: UInt64, startDate: BCDDate = Self.defaultStartDate,
                faults: FaultRates = .noFaults, threads: Int = 2, batchRecordsMax: Int = 100_000,
                batchSequenceBase: UInt32 = 100_000, terminalSequenceBase: UInt32 = 1_000_000_000, uploads: UploadSchedule = .atEnd) {
        self.cards = cards
        self.taps = taps
        self.days = days
        self.seed = seed
        self.startDate = startDate
        self.faults = faults
        self.threads = threads
        self.batchRecordsMax = batchRecordsMax
        self.batchSequenceBase = batchSequenceBase
        self.terminalSequenceBase = terminalSequenceBase
        self.uploads = uploads
    }
}

/// When the generated terminals upload (`--uploads`).
public enum UploadSchedule: String, Sendable, CaseIterable {
    /// Every batch at the end of the last day: `batches/<terminal>-<sequence>.ocub`, every header
    /// created on the last day at 23:59:59; days older than the upload window are refused `05`.
    case atEnd = "end"
    /// Each day's batches at the end of that day: `batches/<YYYY-MM-DD>/<terminal>-<sequence>.ocub`,
    /// headers created that day at 23:59:59, so each day is received on its own day and no
    /// record is out of the upload window.
    case daily
}
