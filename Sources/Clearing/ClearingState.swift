public import OneCardCore
public import UploadBatch

/// The clearing centre's compact view of one card, kept in memory for every card and rebuilt
/// from storage at startup: 56 bytes.
///
/// Everything here is a function of the set of the card's records posted so far, not of the
/// order they arrived in (within the 64-counter window), so that a day cleared in many small
/// runs ends in the same shadow as the day cleared in one.
public struct CardShadow: Hashable, Sendable {
    /// The card's purse in the ledger when it is not negative (``ledgerFen``).
    public var balanceFen: UInt32 = 0
    /// How far the card's purse in the ledger is below zero: fares cleared before the load that
    /// funded them (``ledgerFen``).
    public var arrearsFen: UInt32 = 0
    /// The next offline (purchase) counter expected.
    public var nextOffline: UInt16 = 0
    /// The next online (load) counter expected.
    public var nextOnline: UInt16 = 0
    /// ``Flags``.
    public var flags: UInt8 = 0
    /// The day (since 1970) the card's open gaps opened, if it has any (0 if not).
    public var gapSinceDay: UInt16 = 0
    /// Which of the 64 offline counters below `nextOffline` were seen: bit i is counter
    /// `nextOffline - 1 - i`. Records arrive out of order across terminals; this tells a late
    /// record (accepted) from a duplicate (refused `03`).
    public var offlineSeen: UInt64 = 0
    /// The same for the online counter.
    public var onlineSeen: UInt64 = 0
    /// The time of the newest posted card transaction (seconds since 1970; ties: the one
    /// uploaded last).
    public var lastSeconds: UInt32 = 0
    /// The card's own balance after that transaction.
    public var lastBalanceAfterFen: UInt32 = 0
    /// The time of the oldest posted card transaction (ties: the one uploaded first).
    public var firstSeconds: UInt32 = 0
    /// The card's own balance before that transaction.
    public var firstBalanceBeforeFen: UInt32 = 0
    /// What the ledger held before the card's first posted transaction (negated), plus every
    /// unexplained difference already reported.
    public var baselineAdjustFen: Int64 = 0

    /// How far the card's own newest balance is from what its cleared records explain: the
    /// balance before its oldest posted transaction plus the ledger's movements since
    /// (``baselineAdjustFen``) should be the balance after its newest. Zero while conserved;
    /// checked once per receipt day (``ClearingEngine``).
    public var driftFen: Int64 {
        Int64(lastBalanceAfterFen) - (Int64(firstBalanceBeforeFen) + baselineAdjustFen + ledgerFen)
    }

    /// The card's purse in the ledger: credits minus debits of its purse account. Negative
    /// while fares cleared before the load that funded them.
    public var ledgerFen: Int64 { Int64(balanceFen) - Int64(arrearsFen) }

    /// The unseen counters between the oldest and the newest seen in a window (bit i is counter
    /// `next - 1 - i`): records the card made that nobody uploaded yet.
    public static func missing(_ seen: UInt64) -> UInt64 {
        guard seen != 0 else { return 0 }
        let oldest = UInt64.bitWidth - 1 - seen.leadingZeroBitCount
        let span: UInt64 = oldest == 63 ? .max : (1 << UInt64(oldest + 1)) - 1
        return ~seen & span
    }

    /// Whether the card has open counter gaps, of either counter.
    public var hasOpenGaps: Bool { Self.missing(offlineSeen) | Self.missing(onlineSeen) != 0 }

    /// The missing counters of one kind, oldest first.
    public func missingCounters(offline: Bool) -> [UInt16] {
        let (seen, next) = offline ? (offlineSeen, nextOffline) : (onlineSeen, nextOnline)
        let m = Self.missing(seen)
        return (0..<UInt64.bitWidth).reversed().filter { m & (1 << UInt64($0)) != 0 }.map { next &- 1 &- UInt16($0) }
    }

    /// Sets the ledger purse (``balanceFen`` and ``arrearsFen``).
    mutating func setLedger(_ fen: Int64) {
        balanceFen = UInt32(clamping: max(0, fen))
        arrearsFen = UInt32(clamping: max(0, -fen))
    }

    /// One-time events of a card.
    public enum Flags {
        /// Any purchase seen.
        public static let seenOffline: UInt8 = 1 << 0
        /// Any load seen.
        public static let seenOnline: UInt8 = 1 << 1
        /// Issued (deposit taken).
        public static let issued: UInt8 = 1 << 2
        /// Refunded.
        public static let refunded: UInt8 = 1 << 3
        /// Replaced.
        public static let replaced: UInt8 = 1 << 4
        /// Unused (open gaps were flagged here before they were read off the windows); cleared
        /// when a shadow is read.
        public static let unused5: UInt8 = 1 << 5
        /// A card transaction with balances was posted: ``CardShadow/firstSeconds``,
        /// ``CardShadow/lastSeconds`` and ``CardShadow/baselineFen`` are set.
        public static let chained: UInt8 = 1 << 6
        /// The card's open gaps were reported (``ClearingException/Kind/counterGap``).
        public static let gapsReported: UInt8 = 1 << 7
    }

    /// An empty shadow.
    public init() {}

    /// Whether clearing saw the card's record with `counter` (offline: purchases; else loads):
    /// `false` if not, `nil` if it cannot tell any more (older than the 64-counter window).
    public func hasSeen(counter: UInt16, offline: Bool) -> Bool? {
        guard flags & (offline ? Flags.seenOffline : Flags.seenOnline) != 0 else { return false }
        let age = Int(offline ? nextOffline : nextOnline) - 1 - Int(counter)
        guard age >= 0 else { return false }
        guard age < Posting.counterWindow else { return nil }
        return (offline ? offlineSeen : onlineSeen) & (1 << UInt64(age)) != 0
    }
}

/// Something a clearing officer must look at (a possible cloned card).
public struct ClearingException: Hashable, Sendable, Codable {
    /// What was seen.
    public enum Kind: String, Sendable, Codable {
        /// A counter gap unfilled past the window.
        case counterGap = "counter-gap"
        /// The card's own balances do not add up to its cleared records: the newest
        /// balance-after is not what the card held before its first cleared transaction plus
        /// the cleared loads and fares since (a cloned or altered card, or records nobody
        /// uploaded).
        case balanceMismatch = "balance-mismatch"
        /// A one-time event (issue, refund, replacement) seen twice with different content.
        case conflict = "conflict"
    }

    /// Deterministic id.
    public var id: UInt64
    /// What was seen.
    public var kind: Kind
    /// The card (16 hex).
    public var card: String
    /// Plain-words detail with the figures.
    public var detail: String
    /// The record that showed it, `terminal/batch#index`, if any.
    public var record: String?
    /// The day it was opened, `YYYY-MM-DD`.
    public var opened: String

    /// Describes an exception.
    public init(id: UInt64, kind: Kind, card: String, detail: String, record: String?, opened: String) {
        self.id = id
        self.kind = kind
        self.card = card
        self.detail = detail
        self.record = record
        self.opened = opened
    }
}

/// The outcome of one batch; stored so a re-ingest returns it unchanged.
public struct BatchOutcome: Hashable, Sendable, Codable {
    /// The uploading terminal (12 hex).
    public var terminal: String
    /// Its batch sequence.
    public var sequence: UInt32
    /// Records in the batch.
    public var records: Int
    /// Records accepted.
    public var accepted: Int
    /// Sum of accepted amounts.
    public var acceptedAmountFen: Int64
    /// Refused records by code.
    public var refused: [String: Int]
    /// Exceptions opened while posting this batch.
    public var exceptions: Int

    /// An empty outcome for a batch.
    public init(terminal: String, sequence: UInt32, records: Int) {
        self.terminal = terminal
        self.sequence = sequence
        self.records = records
        self.accepted = 0
        self.acceptedAmountFen = 0
        self.refused = [:]
        self.exceptions = 0
    }
}

/// A refused record, for the refusal file and the exception queue.
public struct Refusal: Hashable, Sendable {
    /// Which record.
    public var ref: RecordRef
    /// Why.
    public var code: RefusalCode
    /// The record itself.
    public var record: BatchRecord
    /// The field the refusal is about (``RecordField/none`` when the code says it all).
    public var field: RecordField

    /// Describes a refusal.
    public init(ref: RecordRef, code: RefusalCode, record: BatchRecord, field: RecordField = .none) {
        self.ref = ref
        self.code = code
        self.record = record
        self.field = field
    }

    /// The code's words with the field, if one is named: `illegal data: counter`.
    public var reason: String {
        let words = code.description.dropFirst(3)
        return field == .none ? String(words) : "\(words): \(field)"
    }
}

/// The in-memory state of the clearing centre. Everything here is derived from storage, which
/// rebuilds it at startup.
public struct ClearingState: Sendable {
    /// Per-card shadows, keyed by serial.
    public var cards = CardTable()
    /// Cards whose shadow storage changed at startup (gaps of an older version moved into the
    /// shadow): the next run writes them.
    public var unsavedCards: Set<UInt64> = []
    /// Ingested batches: (terminal, sequence) → outcome.
    public var batches: [BatchKey: BatchOutcome] = [:]
    /// The SHA-256 of each ingested batch's file, where known (batches ingested before the
    /// digest was kept have none): the same key with other bytes is a conflict.
    public var batchDigests: [BatchKey: [UInt8]] = [:]
    /// The accepted fares by identity (terminal, terminal sequence).
    public var fares = FareIdentities()
    /// Loads an officer accepted as adjustments, by identity (card serial, online counter): the
    /// same load uploaded later is a duplicate (the adjustment paid it).
    public var acceptedLoads: Set<LoadIdentity> = []
    /// Hotlisted cards: serial → seconds since 1970 of the hotlist entry.
    public var hotlist: [UInt64: UInt32] = [:]
    /// The net (credits − debits) of every account but the purses, whose nets are their
    /// shadows' balances. All nets together sum to zero (``netFen(_:)``).
    public var accountNetFen: [AccountID: Int64] = [:]
    /// The newest day (since 1970) the centre received batches on: the reference for the gap
    /// window and the fare retention. The first run of a newer day closes the days before it
    /// (gap window, balance conservation) before it posts anything.
    public var newestDay: Int = 0
    /// The store's write generation this state was loaded at: a commit from a state loaded
    /// before another writer's commit (another ingest, an officer's decision) is refused, so
    /// two writers can never post from the same state.
    public var generation: Int64 = 0

    /// An empty state.
    public init() {}

    /// The net (credits − debits) of any account.
    public func netFen(_ account: AccountID) -> Int64 {
        account.kind == .purse ? cards[account.number]?.ledgerFen ?? 0 : accountNetFen[account] ?? 0
    }

    /// The sum of all accounts' nets: zero while the ledger balances.
    public var totalNetFen: Int64 {
        accountNetFen.values.reduce(0, +) + cards.reduce(Int64(0)) { $0 + $1.value.ledgerFen }
    }
}

/// (card, online counter before the load): what a load's TAC signs beside the amount.
public struct LoadIdentity: Hashable, Sendable {
    /// The card.
    public var serial: UInt64
    /// The online counter before the load.
    public var counter: UInt16

    /// Names a load.
    public init(serial: UInt64, counter: UInt16) {
        self.serial = serial
        self.counter = counter
    }
}

/// (terminal, batch sequence): the identity of an upload batch.
public struct BatchKey: Hashable, Sendable {
    /// The terminal.
    public var terminal: UInt64
    /// Its batch sequence.
    public var sequence: UInt32

    /// Names a batch.
    public init(terminal: UInt64, sequence: UInt32) {
        self.terminal = terminal
        self.sequence = sequence
    }
}
