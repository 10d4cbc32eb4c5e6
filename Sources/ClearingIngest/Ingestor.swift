public import City
public import Clearing
import Dispatch
import Foundation
public import OneCardCore
public import Storage
import UploadBatch

/// Clears batch files into a clearing database in runs of bounded size: each run is read and
/// verified, posted and committed durably in one transaction; the next run's files are read and
/// their MACs checked on the other core while a run posts, and a run posts while the one before
/// it is written (its rows packed first, so the write does not read the engine).
///
/// Memory is the per-card state plus about two runs of records, whatever the size of the
/// day; the per-card checks (counters, duplicates, balances) carry across runs through the
/// engine's state, which is the stored state. A day cleared in many runs ends as it does in one
/// (docs/architecture.md, "Clearing streams").
public final class Ingestor {
    /// Records per run unless told otherwise: about 0.25 GB in flight (docs/performance.md,
    /// "Clearing in runs": as fast as one run for a 1M-tap day).
    public static let recordsPerRunDefault = 262_144
    /// The runs staged ahead of the one posting: two for runs of fewer than
    /// ``ClearingStore/appendingRunRecordsMin`` records, where with one the writer waited for
    /// the posting thread, which waited for the next run's staging (the 1M-tap day in one-file
    /// runs took 1.50–1.52 s instead of 1.75–1.77 s); otherwise one (two gained nothing for the
    /// 10M-tap day, in runs of 11,250 records or by default, and held a run more).
    static func runsAhead(_ recordsPerRun: Int) -> Int { recordsPerRun < ClearingStore.appendingRunRecordsMin ? 2 : 1 }

    /// The queue this ingestor's runs are written on: a thread of its own (one an ingestor, so
    /// that ingests into other files do not wait for each other's writes). On the global queue a
    /// write waited for a thread while staging the next run took both
    /// (`DispatchQueue.concurrentPerform` in ``Stager``), and the two stages ran one after the other.
    private let writing = DispatchQueue(label: "onecard.ingest.write")
    /// How often a run is redone when another writer committed first.
    public static let attemptsMax = 5

    /// What an ingest did.
    public struct Report: Sendable {
        /// Totals over the batches posted or replayed.
        public var summary: IngestSummary
        /// Files refused whole, in input order per run.
        public var rejected: [RejectedFile]
        /// Runs committed.
        public var runs: Int
    }

    let store: ClearingStore
    let config: ClearingConfig
    let keys: ClearingKeys
    /// The terminal registry as a run's files are checked against it.
    typealias Registry = [TerminalID: RegisteredTerminal]
    /// The engine, kept across calls; rebuilt from the store after a failed commit.
    var engine: ClearingEngine
    /// The highest batch sequence per terminal the engine holds, built on first use and kept up
    /// to date by ``clear(_:received:)`` (dropped when the engine is rebuilt).
    private var highestSequences: [UInt64: UInt32]?

    /// The hotlist stamp the engine's hotlist was read at.
    private var hotlistStamp: Int64
    /// Set when a commit failed and the engine, which posted that run in memory, could not be
    /// rebuilt from the store yet (the database was lost): no call runs on it until it is.
    private var needsRebuild = false

    /// Opens an ingestor on a store: loads its state once.
    public init(store: ClearingStore, city: City, keys: ClearingKeys, gapWindowDays: Int = 2) throws {
        self.store = store
        self.keys = keys
        self.config = ClearingConfig(city: city, tacMasters: keys.tac, gapWindowDays: gapWindowDays)
        // The stamp first: a change between the two reads is read again at the first run.
        hotlistStamp = try store.hotlistStamp()
        self.engine = ClearingEngine(config: config, state: try store.loadState())
    }

    /// Rebuilds the engine from the store, after a commit failed: its memory holds a run the
    /// store does not. Until this succeeds every call fails (``needsRebuild``) rather than
    /// answer from that memory (a batch never stored taken for a replay).
    private func rebuild() throws {
        needsRebuild = true
        engine = ClearingEngine(config: config, state: try store.loadState())
        highestSequences = nil
        needsRebuild = false
    }

    /// The engine, rebuilt first if a failed commit left it ahead of the store.
    private func readyEngine() throws {
        if needsRebuild { try rebuild() }
    }

    /// Reads the hotlist again when it was written since the engine read it (an officer's
    /// `clearing hotlist add` while the front-end runs): one row read per run otherwise.
    private func refreshHotlist() throws {
        guard try store.hotlistStamp() != hotlistStamp else { return }
        let (entries, stamp) = try store.hotlistEntries()
        engine.replaceHotlist(entries)
        hotlistStamp = stamp
    }

    /// The cards the engine holds a shadow for.
    public var cardCount: Int { engine.state.cards.count }

    /// Ingests `files`, received at `received` (the centre's clock: the upload window counts
    /// from it, its business day is the settlement day), in runs of at most `recordsPerRun`
    /// records (by file size; a file is never split). With no files, a run that only moves the
    /// receipt day on (closing the days before it) is committed.
    ///
    /// - Parameters:
    ///   - progress: called after each run with the records done and the total.
    ///   - phase: called with each phase and its duration in milliseconds (`--verbose`).
    /// - Throws: ``StorageError`` when a run cannot be committed (nothing of that run is
    ///   stored; the runs before it stay), or when the runs cannot be fsynced once they end
    ///   (small runs: ``ClearingStore/appendingRuns(recordsPerRun:_:)``).
    public func ingest(
        _ files: [String], received: BCDDateTime, recordsPerRun: Int = Ingestor.recordsPerRunDefault,
        progress: ((Int, Int) -> Void)? = nil, phase: ((String, Int) -> Void)? = nil
    ) throws -> Report {
        let seconds = ClearingTime.seconds(received)
        try readyEngine()
        try refreshHotlist()
        let businessDay = config.city.businessDay(of: received)
        highestSequences = nil
        let chunks = Self.chunks(files, recordsMax: max(1, recordsPerRun))
        let total = chunks.reduce(0) { $0 + $1.records }
        var report = Report(summary: IngestSummary([], exceptions: 0), rejected: [], runs: 0)
        var outcomes: [BatchOutcome] = []
        var exceptions = 0
        var done = 0
        var clock = DispatchTime.now()
        func lap(_ what: String) {
            guard let phase else { return }
            let now = DispatchTime.now()
            phase(what, Int((now.uptimeNanoseconds - clock.uptimeNanoseconds) / 1_000_000))
            clock = now
        }
        /// A run posted into the engine whose write is in flight.
        struct Staged: Sendable {
            var decoded: (batches: [IncomingBatch], rejected: [RejectedFile])
            var run: StagedRun
        }
        struct Posted {
            var decoded: (batches: [IncomingBatch], rejected: [RejectedFile])
            var result: RunResult
            var records: Int
            /// The write, then the registry read on the same thread when it succeeded (`nil` if
            /// that read failed: it is read again, and its error thrown, on this one).
            var writing: Background<Result<(generation: Int64, registry: Registry?), StorageError>>
        }
        func account(_ r: RunResult, _ decoded: (batches: [IncomingBatch], rejected: [RejectedFile]), records: Int) {
            outcomes += zip(r.outcomes, r.status).compactMap { o, s in s == .fresh || s == .replayed ? o : nil }
            report.rejected += decoded.rejected
            report.rejected += r.refusedWhole.map { RejectedFile(file: decoded.batches[$0.index].file, reason: $0.reason) }
            exceptions += r.exceptions.count
            report.runs += 1
            done += records
            progress?(done, total)
        }
        /// Runs and commits one run synchronously, redoing it when another writer committed first.
        func runAndCommit(_ decoded: (batches: [IncomingBatch], rejected: [RejectedFile]), records: Int) throws {
            var attempt = 1
            while true {
                let r = engine.run(decoded.batches, receivedAt: seconds)
                do {
                    try store.commit(r, files: decoded.batches.map(\.file), engine: engine, received: received, businessDay: businessDay)
                } catch StorageError.stale where attempt < Self.attemptsMax {
                    attempt += 1
                    try rebuild()
                    continue
                } catch {
                    try? rebuild()
                    throw error
                }
                account(r, decoded, records: records)
                return
            }
        }
        /// Waits for the write in flight and returns the registry read after it. `written` is
        /// `false` when the write failed and both it and the run posted after it (`then`, if any)
        /// were redone synchronously from the store.
        func settle(
            _ posted: Posted, then: (decoded: (batches: [IncomingBatch], rejected: [RejectedFile]), records: Int)?
        ) throws -> (written: Bool, registry: Registry) {
            switch posted.writing.wait() {
            case .success(let (generation, registry)):
                engine.generation = generation
                lap("wait for the commit of \(posted.result.transferCount) transfers")
                account(posted.result, posted.decoded, records: posted.records)
                return (true, try registry ?? store.terminals())
            case .failure(let error):
                // The engine moved on in memory (this run and the next); the store did not.
                guard case .stale = error else {
                    try? rebuild()
                    throw error
                }
                try rebuild()
                try runAndCommit(posted.decoded, records: posted.records)
                if let then { try runAndCommit(then.decoded, records: then.records) }
                return (false, try store.terminals())
            }
        }
        // Three stages on two cores: the next run's files are read, their MACs checked and their
        // records sorted and their TACs checked (staged) while this run posts, and this run posts
        // while the one before it is written. Small runs stage two ahead (``runsAhead(_:)``). The
        // registry is read between writes, on the writing thread right after each write (the
        // store is idle then, and this thread does not wait for it): a terminal suspended right
        // after run k committed is refused from run k+4 on, k+5 with small runs
        // (`IncrementalRunsTests.suspendedDuringIngest`).
        let (keys, stager) = (keys, engine.stager)
        // A run holds `recordsPerRun` records, or the whole input when that is less.
        let runRecords = min(max(1, recordsPerRun), total)
        let runsAhead = Self.runsAhead(runRecords)
        func read(_ chunk: Int, _ registry: Registry) -> Background<Staged>? {
            guard chunk < chunks.count else { return nil }
            let files = chunks[chunk].files
            return Background {
                let (batches, rejected) = BatchReader.read(files, keys: keys, registry: registry, received: seconds)
                return Staged(decoded: (batches, rejected), run: stager.stage(batches))
            }
        }
        // Large runs append tens of megabytes each: written once, not twice, when the store can
        // (a SQLite file this connection has alone; ``SQLiteEngine/appending(large:_:)``).
        try store.appendingRuns(recordsPerRun: runRecords) { journal in
            lap("take the file: \(journal)")
            var registry = try store.terminals()
            var ahead = (0..<runsAhead).compactMap { read($0, registry) }
            var since = try store.rowsSinceSnapshot()
            var inFlight: Posted?
            var index = 0
            repeat {
                let staged = ahead.isEmpty ? nil : ahead.removeFirst().wait()
                let decoded = staged?.decoded ?? (batches: [], rejected: [])
                lap("wait for \(chunks.isEmpty ? 0 : chunks[index].files.count) files read, verified and staged")
                if let later = read(index + runsAhead, registry) { ahead.append(later) }
                let records = chunks.isEmpty ? 0 : chunks[index].records
                let r = staged.map { engine.run($0.run, receivedAt: seconds) } ?? engine.run([], receivedAt: seconds)
                lap("post \(r.summary.records) records")
                var prepared = try store.prepare(
                    r, files: decoded.batches.map(\.file), engine: engine, received: received, businessDay: businessDay, rowsSinceSnapshot: since)
                lap("pack \(r.transferCount) transfers for the store")
                var written = true
                if let posted = inFlight {
                    inFlight = nil
                    (written, registry) = try settle(posted, then: (decoded, records))
                } else {
                    registry = try store.terminals()
                }
                guard written else {
                    since = try store.rowsSinceSnapshot()
                    index += 1
                    continue
                }
                prepared.generation = engine.generation
                since = prepared.hasSnapshot && since + prepared.touched >= store.snapshotRowsMin ? 0 : since + prepared.touched
                let (store, run) = (store, prepared)
                inFlight = Posted(decoded: decoded, result: r, records: records, writing: Background(on: self.writing) {
                    do throws(StorageError) {
                        let (_, generation) = try store.write(run)
                        // For the runs after the next.
                        return .success((generation, try? store.terminals()))
                    } catch { return .failure(error) }
                })
                index += 1
            } while index < chunks.count
            if let posted = inFlight { _ = try settle(posted, then: nil) }
        }
        report.summary = IngestSummary(outcomes, exceptions: exceptions)
        return report
    }

    /// An upload held in memory (the network front-end's request body).
    public struct Upload: Sendable {
        /// A name for messages and the store's file column (`terminal/sequence`).
        public var name: String
        public var bytes: [UInt8]

        public init(name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }
    }

    /// What became of one upload.
    public enum UploadResult: Sendable, Equatable {
        /// Posted now (`replayed` false) or earlier with the same bytes (`replayed` true, its
        /// original outcome): durable in the store either way.
        case cleared(BatchOutcome, replayed: Bool)
        /// Its (terminal, batch sequence) came before with other bytes: recorded as a conflict,
        /// nothing posted.
        case conflict(String)
        /// Refused whole before posting, nothing stored.
        case refused(BatchReader.Refusal)
    }

    /// Clears uploads held in memory in one run, committed durably before it returns: a group
    /// commit, so that every upload acknowledged after it is in the store. One result per
    /// upload, in order.
    public func clear(_ uploads: [Upload], received: BCDDateTime) throws -> [UploadResult] {
        let seconds = ClearingTime.seconds(received)
        try readyEngine()
        try refreshHotlist()
        let registry = try store.terminals()
        var results = [UploadResult?](repeating: nil, count: uploads.count)
        var incoming: [IncomingBatch] = []
        var positions: [Int] = []
        for (i, u) in uploads.enumerated() {
            switch BatchReader.verify(u.bytes, name: u.name, keys: keys, registry: registry) {
            case .success(let (batch, digest)):
                incoming.append(IncomingBatch(file: u.name, batch: batch, received: seconds, digest: digest))
                positions.append(i)
            case .failure(let refusal):
                results[i] = .refused(refusal)
            }
        }
        // Nothing verified: nothing to post, and no run to record.
        guard !incoming.isEmpty else { return results.map { $0! } }
        let businessDay = config.city.businessDay(of: received)
        var attempt = 1
        while true {
            let r = engine.run(incoming, receivedAt: seconds)
            do {
                try store.commit(r, files: incoming.map(\.file), engine: engine, received: received, businessDay: businessDay)
            } catch StorageError.stale where attempt < Self.attemptsMax {
                attempt += 1
                try rebuild()
                continue
            } catch {
                try? rebuild()
                throw error
            }
            if highestSequences != nil {
                for key in r.applied { highestSequences![key.terminal] = max(highestSequences![key.terminal] ?? 0, key.sequence) }
            }
            for (k, i) in positions.enumerated() {
                switch r.status[k] {
                case .fresh: results[i] = .cleared(r.outcomes[k], replayed: false)
                case .replayed: results[i] = .cleared(r.outcomes[k], replayed: true)
                case .conflict(let why): results[i] = .conflict(why)
                case .refused(let why): results[i] = .refused(BatchReader.Refusal(kind: .malformed, reason: why))
                }
            }
            return results.map { $0! }
        }
    }

    /// The batch sequence the centre expects next from a terminal: one past the highest it holds
    /// (1 for a terminal with none).
    public func nextSequence(terminal: TerminalID) -> UInt32 {
        if highestSequences == nil {
            var map: [UInt64: UInt32] = [:]
            for key in engine.state.batches.keys { map[key.terminal] = max(map[key.terminal] ?? 0, key.sequence) }
            highestSequences = map
        }
        return highestSequences?[terminal.rawValue].map { $0 &+ 1 } ?? 1
    }

    /// Groups files into runs of at most `recordsMax` records by file size (a file larger than
    /// that is a run of its own). When the files make more than one run, the first holds at most
    /// a quarter of that: nothing overlaps the reading and staging of the first run, so a short
    /// one starts the pipeline sooner. (The day ends the same however it is split.)
    static func chunks(_ files: [String], recordsMax: Int) -> [(files: [String], records: Int)] {
        chunks(files.map { f in
            (f, BatchReader.recordCount(fileBytes: FileBytes.size(f) ?? 0))
        }, recordsMax: recordsMax)
    }

    /// ``chunks(_:recordsMax:)`` of files with their record counts.
    ///
    /// Runs that taper off at the end of the day (each at most half of what is left) were
    /// measured slower on PostgreSQL, whose runs have a larger fixed cost: 2.39–2.49 s against
    /// 1.91–2.26 s for the 1M-tap day (docs/performance.md, "Clearing in runs").
    static func chunks(_ sized: [(String, Int)], recordsMax: Int) -> [(files: [String], records: Int)] {
        let firstMax = sized.reduce(0) { $0 + $1.1 } > recordsMax ? max(1, recordsMax / 4) : recordsMax
        var out: [(files: [String], records: Int)] = []
        for (f, n) in sized {
            if let last = out.last, last.records + n <= (out.count == 1 ? firstMax : recordsMax) {
                out[out.count - 1].files.append(f)
                out[out.count - 1].records += n
            } else {
                out.append(([f], n))
            }
        }
        return out
    }
}

/// Work running on a background queue, waited for once.
final class Background<Value>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value: Value?

    /// `work` on `queue`: by default the global queue, whose threads are as many as the cores.
    init(on queue: DispatchQueue = .global(), _ work: @escaping @Sendable () -> Value) {
        queue.async { [self] in
            value = work()
            done.signal()
        }
    }

    /// Waits for the work to finish and returns its value.
    func wait() -> Value {
        done.wait()
        return value!
    }
}
