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

    /// Pairs a file name and its batch.
    public init(file: String, batch: BatchFile) {
        self.file = file
        self.batch = batch
    }
}

/// What one ingest run did: per-batch outcomes and everything to persist.
public struct RunResult: Sendable {
    /// One outcome per input batch, in input order.
    public var outcomes: [BatchOutcome] = []
    /// For each input batch, whether it had been ingested before (nothing applied now).
    public var replayed: [Bool] = []
    /// The keys of the batches applied now.
    public var applied: [BatchKey] = []
    /// New transfers, in posting order.
    public var transfers: [Transfer] = []
    /// Refused records.
    public var refusals: [Refusal] = []
    /// Exceptions opened.
    public var exceptions: [ClearingException] = []
    /// Accepted records' details, packed (``Packing/append(_:to:)-AcceptedDetail``), for
    /// settlement's clearing files.
    public var details: [UInt8] = []
    /// Cards whose shadow changed.
    public var touchedCards: Set<UInt64> = []

    /// The totals over all input batches, in the shape of `clearing ingest --json`.
    public var summary: IngestSummary { IngestSummary(outcomes, exceptions: exceptions.count) }
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
    /// The most counter gaps tracked per card; a larger jump opens an exception at once.
    public static let gapsPerCardMax = 64

    /// Settings.
    public let config: ClearingConfig
    /// The state.
    public internal(set) var state: ClearingState
    let verifier: RecordVerifier
    let terminals: [UInt64: (operatorID: UInt16, kind: OperatorKind)]

    /// Wraps a state (empty, or rebuilt from storage).
    public init(config: ClearingConfig, state: ClearingState = ClearingState()) {
        self.config = config
        self.state = state
        self.verifier = RecordVerifier(city: config.city, tacMaster: config.tacMaster)
        var t: [UInt64: (UInt16, OperatorKind)] = [:]
        for (id, terminal) in config.city.terminals {
            t[id.rawValue] = (terminal.operatorID.rawValue, terminal.location.operatorKind)
        }
        self.terminals = t
    }

    /// Puts a card on the hotlist from `seconds` (since 1970, local time): its transactions
    /// from then on are refused `07`.
    public func hotlist(_ serial: CardSerial, from seconds: UInt32) { state.hotlist[serial.rawValue] = seconds }

    /// Takes a card off the hotlist.
    public func unhotlist(_ serial: CardSerial) { state.hotlist[serial.rawValue] = nil }

    /// Ingests batches: replays return their stored outcome and apply nothing; new batches are
    /// verified and posted.
    public func run(_ input: [IncomingBatch]) -> RunResult {
        var result = RunResult()
        var fresh: [Int] = []
        var seen = Set<BatchKey>()
        for (i, b) in input.enumerated() {
            let key = BatchKey(terminal: b.batch.header.terminal.rawValue, sequence: b.batch.header.sequence)
            if let earlier = state.batches[key] {
                result.outcomes.append(earlier)
                result.replayed.append(true)
            } else if seen.contains(key) {
                result.outcomes.append(BatchOutcome(terminal: b.batch.header.terminal.description, sequence: key.sequence, records: 0))
                result.replayed.append(true)
            } else {
                seen.insert(key)
                fresh.append(i)
                result.outcomes.append(BatchOutcome(terminal: b.batch.header.terminal.description, sequence: key.sequence, records: b.batch.records.count))
                result.replayed.append(false)
                result.applied.append(key)
            }
        }
        var posting = Posting(engine: self, input: input, result: result)
        posting.run(fresh)
        result = posting.result
        for (i, key) in zip(fresh, result.applied) { state.batches[key] = result.outcomes[i] }
        openGapExceptions(&result)
        return result
    }

    private func openGapExceptions(_ result: inout RunResult) {
        for (serial, gaps) in state.gaps {
            var updated = gaps
            for j in updated.indices where !updated[j].reported && state.newestDay - updated[j].seenDay > config.gapWindowDays {
                updated[j].reported = true
                let g = updated[j]
                result.exceptions.append(ClearingException(
                    id: TransferID.make(serial: serial, kind: 0xE1, counter: UInt32(g.counter), leg: g.offline ? 1 : 0),
                    kind: .counterGap, card: CardSerial(rawValue: serial).description,
                    detail: "\(g.offline ? "offline" : "online") counter \(g.counter) never uploaded (seen missing on \(BCDDate(daysSinceEpoch: g.seenDay)))",
                    record: nil, opened: BCDDate(daysSinceEpoch: state.newestDay).description))
                result.touchedCards.insert(serial)
            }
            state.gaps[serial] = updated
        }
    }
}
