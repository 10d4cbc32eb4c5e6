import OneCardCore
import OneCardCrypto
public import UploadBatch
import City

/// A decoded batch handed to the engine.
public struct IncomingBatch: Sendable {
    /// The file it came from (for messages).
    public var file: String
    /// The verified, decoded batch.
    public var batch: BatchFile
    /// When the clearing centre received it: seconds since 1970, local time, by the centre's
    /// clock. The upload window is counted from here, never from the terminal's header time.
    public var received: UInt32
    /// The SHA-256 of the file's bytes: the same (terminal, batch sequence) with another digest
    /// is a conflict, with the same digest a replay.
    public var digest: [UInt8]

    /// Pairs a file name, its batch, its receipt time and the digest of its bytes.
    public init(file: String, batch: BatchFile, received: UInt32, digest: [UInt8]) {
        self.file = file
        self.batch = batch
        self.received = received
        self.digest = digest
    }

    /// A batch built in memory (tests, the simulator): its digest is that of its encoding
    /// under an empty key, which changes with any byte of its header or records.
    public init(file: String, batch: BatchFile, received: UInt32) {
        self.init(file: file, batch: batch, received: received, digest: SHA256Digest.hash(batch.encode(key: [])))
    }
}

/// What became of one input batch in a run.
public enum BatchStatus: Hashable, Sendable {
    /// Verified and posted now.
    case fresh
    /// Ingested before with the same bytes: its original outcome is reported, nothing applied.
    case replayed
    /// Refused whole, nothing applied: the reason names the file.
    case refused(String)
    /// Its (terminal, batch sequence) was ingested before with other bytes: refused whole and
    /// recorded for an officer (``BatchConflict``); never counted as a replay.
    case conflict(String)
}

/// A batch that claimed the (terminal, batch sequence) of another one with different bytes.
public struct BatchConflict: Hashable, Sendable, Codable {
    /// The terminal (12 hex).
    public var terminal: String
    /// The batch sequence.
    public var sequence: UInt32
    /// The file it came from.
    public var file: String
    /// Its SHA-256, hex.
    public var digest: String
    /// The SHA-256 of the batch ingested under that key, hex, if known.
    public var ingestedDigest: String?
    /// When the centre received it (seconds since 1970, local time).
    public var received: UInt32
    /// Records it held.
    public var records: Int
}

/// What one ingest run did: per-batch outcomes and everything to persist.
public struct RunResult: Sendable {
    /// One outcome per input batch, in input order.
    public var outcomes: [BatchOutcome] = []
    /// What became of each input batch, in input order.
    public var status: [BatchStatus] = []
    /// Batches that came again with other bytes, for the officer's conflict list.
    public var conflicts: [BatchConflict] = []
    /// Pages of accepted fare identities that changed or were dropped (to persist).
    public var touchedFarePages: Set<FareIdentities.PageKey> = []
    /// The keys of the batches applied now.
    public var applied: [BatchKey] = []
    /// New transfers in posting order, packed as the store keeps them
    /// (``Packing/store(_:in:at:)-(Transfer,_,_)``, ``Packing/transferBytes`` each).
    public var packedTransfers: [UInt8] = []
    /// The number of new transfers.
    public var transferCount: Int { packedTransfers.count / Packing.transferBytes }
    /// New transfers, in posting order, decoded (for tests and tools; the store takes
    /// ``packedTransfers``).
    public var transfers: [Transfer] { Packing.transfers(packedTransfers) ?? [] }
    /// Refused records.
    public var refusals: [Refusal] = []
    /// Exceptions opened.
    public var exceptions: [ClearingException] = []
    /// Accepted records' details, packed (``Packing/append(_:to:)-AcceptedDetail``), for
    /// settlement's clearing files.
    public var details: [UInt8] = []
    /// The shadows of the cards whose records changed them, packed for storage
    /// (``Packing/append(serial:_:to:)``) as the run left them, each card once; except a card
    /// also in ``touchedCards``, whose shadow is the state's.
    public var postedShadows: [UInt8] = []
    /// The other cards whose shadow changed (days closed, a replacement's new card, shadows to
    /// save again): their shadows are the state's after the run.
    public var touchedCards: Set<UInt64> = []
    /// Accounts whose net changed (to persist).
    public var touchedAccounts: [AccountID] = []

    /// For each input batch, whether it had been ingested before with the same bytes (nothing
    /// applied now).
    public var replayed: [Bool] { status.map { $0 == .replayed } }

    /// The batches refused whole (conflicts included): input index and reason.
    public var refusedWhole: [(index: Int, reason: String)] {
        status.enumerated().compactMap { i, s in
            switch s {
            case .refused(let why), .conflict(let why): (i, why)
            case .fresh, .replayed: nil
            }
        }
    }

    /// The totals over the input batches that were posted or replayed, in the shape of
    /// `clearing ingest --json` (batches refused whole are listed apart).
    public var summary: IngestSummary {
        IngestSummary(zip(outcomes, status).compactMap { o, s in s == .fresh || s == .replayed ? o : nil }, exceptions: exceptions.count)
    }
}

/// The `clearing ingest --json` document.
public struct IngestSummary: Sendable, Codable, Equatable {
    /// Batches given.
    public var batches: Int
    /// Records in them.
    public var records: Int
    /// Records accepted.
    public var accepted: Int
    /// Sum of accepted amounts.
    public var acceptedAmountFen: Int64
    /// Refusals by code (every code present, zeros included).
    public var refused: [String: Int]
    /// Exceptions opened.
    public var exceptions: Int

    /// Adds up outcomes.
    public init(_ outcomes: [BatchOutcome], exceptions: Int) {
        batches = outcomes.count
        records = outcomes.reduce(0) { $0 + $1.records }
        accepted = outcomes.reduce(0) { $0 + $1.accepted }
        acceptedAmountFen = outcomes.reduce(0) { $0 + $1.acceptedAmountFen }
        var r: [String: Int] = Dictionary(uniqueKeysWithValues: RefusalCode.allCases.map { ($0.rawValue, 0) })
        for o in outcomes { for (k, v) in o.refused { r[k, default: 0] += v } }
        refused = r
        self.exceptions = exceptions
    }
}

/// The clearing centre's hot path: a single-threaded, batch-at-a-time state machine over
/// compact per-card shadows. A run sorts the records of its batches per card by time, checks
/// each record (``RecordVerifier``), then posts the accepted ones in that order: counters
/// (duplicates, gaps), the balance chain (possible clones), and double-entry transfers.
///
/// The engine mutates its state as it runs; the caller persists the ``RunResult`` in one
/// transaction, and on a failed commit discards the engine and rebuilds it from storage.
public final class ClearingEngine {
    /// Settings.
    public let config: ClearingConfig
    /// The state.
    public internal(set) var state: ClearingState
    /// What staging needs: the settings and the cards' derived TAC keys, kept from run to run.
    public let stager: Stager

    /// A city terminal's operator and the kind of operator.
    typealias TerminalInfo = (operatorID: UInt16, kind: OperatorKind)

    /// Wraps a state (empty, or rebuilt from storage).
    public init(config: ClearingConfig, state: ClearingState = ClearingState()) {
        self.config = config
        self.state = state
        var t: [UInt64: TerminalInfo] = [:]
        for (id, terminal) in config.city.terminals {
            t[id.rawValue] = (terminal.operatorID.rawValue, terminal.location.operatorKind)
        }
        self.stager = Stager(
            verifier: RecordVerifier(city: config.city, tacMasters: config.tacMasters), tacKeys: TACKeyCache(masters: config.tacMasters, cards: state.cards.count),
            terminals: t, headerSkewSecondsMax: config.headerSkewSecondsMax)
    }

    /// The store's write generation the state was loaded at (``ClearingState/generation``);
    /// storage moves it on when it commits the engine's run.
    public var generation: Int64 {
        get { state.generation }
        set { state.generation = newValue }
    }

    /// Puts a card on the hotlist from `seconds` (since 1970, local time): its transactions
    /// from then on are refused `07`.
    public func hotlist(_ serial: CardSerial, from seconds: UInt32) { state.hotlist[serial.rawValue] = seconds }

    /// Takes a card off the hotlist.
    public func unhotlist(_ serial: CardSerial) { state.hotlist[serial.rawValue] = nil }

    /// Replaces the whole hotlist (since, seconds, by serial): the list as stored now.
    public func replaceHotlist(_ entries: [UInt64: UInt32]) { state.hotlist = entries }

    /// Ingests batches: replays return their stored outcome and apply nothing; a batch whose
    /// key was taken by other bytes, or whose header time is invalid or ahead of the centre's
    /// clock, is refused whole; new batches are verified and posted.
    ///
    /// The first run received on a newer day first closes the days before it (``closeDays(_:)``),
    /// on the state as those days left it, so that a day cleared in many runs and in one gives
    /// the same result. `receivedAt` (seconds since 1970, the centre's clock) moves the day on
    /// even when no batch came.
    public func run(_ input: [IncomingBatch], receivedAt: UInt32? = nil) -> RunResult {
        run(input, staged: nil, receivedAt: receivedAt)
    }

    /// Posts a run staged ahead (``Stager/stage(_:)``, on another thread while this engine
    /// posted the run before), as ``run(_:receivedAt:)-([IncomingBatch],_)`` would post its
    /// input. When the batches staged are not exactly the fresh ones (some came before), the
    /// fresh ones are staged again here.
    public func run(_ staged: StagedRun, receivedAt: UInt32? = nil) -> RunResult {
        run(staged.input, staged: staged, receivedAt: receivedAt)
    }

    private func run(_ input: [IncomingBatch], staged: StagedRun?, receivedAt: UInt32?) -> RunResult {
        var result = RunResult()
        let netsBefore = state.accountNetFen
        result.touchedCards = state.unsavedCards
        state.unsavedCards = []
        var fresh: [Int] = []
        var seen: [BatchKey: Int] = [:]
        for (i, b) in input.enumerated() {
            let header = b.batch.header
            let key = BatchKey(terminal: header.terminal.rawValue, sequence: header.sequence)
            var outcome = BatchOutcome(terminal: header.terminal.description, sequence: key.sequence, records: b.batch.records.count)
            let status: BatchStatus
            if let earlier = state.batches[key] {
                let digest = state.batchDigests[key]
                if digest == nil || digest == b.digest {
                    outcome = earlier
                    status = .replayed
                } else {
                    status = conflict(b, key, ingested: digest, &result)
                }
            } else if let first = seen[key] {
                status = input[first].digest == b.digest ? .replayed : conflict(b, key, ingested: input[first].digest, &result)
            } else if let why = Self.headerProblem(b, skewSecondsMax: config.headerSkewSecondsMax) {
                status = .refused(why)
            } else {
                seen[key] = i
                fresh.append(i)
                result.applied.append(key)
                status = .fresh
            }
            result.outcomes.append(outcome)
            result.status.append(status)
        }
        let day = fresh.map { ClearingTime.day(input[$0].received) }.max().map { max($0, receivedAt.map(ClearingTime.day) ?? 0) }
            ?? receivedAt.map(ClearingTime.day) ?? 0
        if day > state.newestDay {
            state.newestDay = day
            closeDays(&result)
        }
        let stage = staged.flatMap { $0.staged == fresh ? $0 : nil } ?? stager.stage(input, batches: fresh)
        // The state moves into the posting and back, never copied: the engine holds no
        // reference to it meanwhile.
        var posting = Posting(state: state, staged: stage, result: result)
        state = ClearingState()
        posting.run()
        state = posting.state
        result = posting.result
        stager.tacKeys.noteCards(state.cards.count)
        for (i, key) in zip(fresh, result.applied) {
            state.batches[key] = result.outcomes[i]
            state.batchDigests[key] = input[i].digest
        }
        // A replay of a batch first seen in this run reports that batch's outcome.
        for (i, b) in input.enumerated() where result.status[i] == .replayed {
            let key = BatchKey(terminal: b.batch.header.terminal.rawValue, sequence: b.batch.header.sequence)
            if let first = seen[key], first != i { result.outcomes[i] = result.outcomes[first] }
        }
        result.touchedFarePages.formUnion(state.fares.prune(before: state.newestDay - config.fareRetentionDays))
        result.touchedAccounts = state.accountNetFen.compactMap { netsBefore[$0.key] == $0.value ? nil : $0.key }
        return result
    }

    /// Why a fresh batch's header cannot be believed, if it cannot: its time is the terminal's
    /// claim, checked against the centre's clock.
    static func headerProblem(_ b: IncomingBatch, skewSecondsMax: UInt32) -> String? {
        let created = ClearingTime.seconds(bcd: b.batch.header.createdBCD)
        guard created != 0 else {
            return "\(b.file): header time \(String(b.batch.header.createdBCD, radix: 16)) is not a valid date-time"
        }
        guard UInt64(created) <= UInt64(b.received) + UInt64(skewSecondsMax) else {
            return "\(b.file): header time \(ClearingTime.dateTime(created)) is ahead of the clearing centre's clock (\(ClearingTime.dateTime(b.received)))"
        }
        return nil
    }

    private func conflict(_ b: IncomingBatch, _ key: BatchKey, ingested: [UInt8]?, _ result: inout RunResult) -> BatchStatus {
        let c = BatchConflict(
            terminal: b.batch.header.terminal.description, sequence: key.sequence, file: b.file, digest: b.digest.hex,
            ingestedDigest: ingested?.hex, received: b.received, records: b.batch.records.count)
        result.conflicts.append(c)
        return .conflict("\(b.file): batch \(c.terminal)/\(c.sequence) was already ingested with other bytes (SHA-256 \(c.ingestedDigest.map { String($0.prefix(16)) } ?? "unknown"), this file \(c.digest.prefix(16))): a conflict, kept for an officer (onecard clearing conflicts)")
    }

    /// Closes the receipt days before ``ClearingState/newestDay``, once, when it moves on: a
    /// counter gap can only pass the window then, and by then the days' records have arrived,
    /// whatever the runs they came in. Opens an exception for each counter of a card whose gaps
    /// stayed open past the window (once while they stay open), and for every card without open
    /// gaps whose own balances do not add up to its cleared records (``CardShadow/driftFen``);
    /// a card's difference is reported once, then counts as explained.
    private func closeDays(_ result: inout RunResult) {
        let day = BCDDate(daysSinceEpoch: state.newestDay).description
        var judged: [UInt64] = []
        for (serial, s) in state.cards where isDue(s) { judged.append(serial) }
        for serial in judged.sorted() {
            guard var s = state.cards[serial] else { continue }
            let card = CardSerial(rawValue: serial).description
            if s.hasOpenGaps {
                s.flags |= CardShadow.Flags.gapsReported
                for offline in [true, false] {
                    let missing = s.missingCounters(offline: offline)
                    guard let first = missing.first else { continue }
                    result.exceptions.append(ClearingException(
                        id: TransferID.make(serial: serial, kind: 0xE1, counter: UInt32(first), leg: offline ? 1 : 0),
                        kind: .counterGap, card: card,
                        detail: "\(offline ? "offline" : "online") counter\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) never uploaded (missing since \(BCDDate(daysSinceEpoch: Int(s.gapSinceDay))))",
                        record: nil, opened: day))
                }
            } else {
                let drift = s.driftFen
                let explained = Int64(s.lastBalanceAfterFen) - Int64(s.firstBalanceBeforeFen) - drift
                result.exceptions.append(ClearingException(
                    id: TransferID.make(serial: serial, kind: 0xE2, counter: UInt32(truncatingIfNeeded: state.newestDay), leg: 0),
                    kind: .balanceMismatch, card: card,
                    detail: "the card held \(Fen.yuan(Int64(s.firstBalanceBeforeFen))) yuan before its oldest cleared transaction (\(ClearingTime.dateTime(s.firstSeconds))) and its cleared records since move \(Fen.yuan(explained)) yuan, but its newest (\(ClearingTime.dateTime(s.lastSeconds))) left \(Fen.yuan(Int64(s.lastBalanceAfterFen))) yuan: \(Fen.yuan(drift)) yuan unexplained",
                    record: nil, opened: day))
                s.baselineAdjustFen += drift
            }
            state.cards[serial] = s
            result.touchedCards.insert(serial)
        }
    }

    /// Whether closing the days reports something of a card: open gaps past the window not yet
    /// reported, or (with no open gap) balances its cleared records do not explain.
    private func isDue(_ s: CardShadow) -> Bool {
        if s.hasOpenGaps {
            return s.flags & CardShadow.Flags.gapsReported == 0 && state.newestDay - Int(s.gapSinceDay) > config.gapWindowDays
        }
        return s.flags & CardShadow.Flags.chained != 0 && s.flags & Posting.paidOut == 0 && s.driftFen != 0
    }
}
