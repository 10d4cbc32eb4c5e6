import City
import Dispatch
import OneCardCore
import OneCardCrypto
import Synchronization
import UploadBatch

/// The half of a run that needs no ledger state: the records of its batches sorted per card by
/// time and gathered into that order, and the stateless checks of each (``RecordVerifier``,
/// TACs on both cores). A pipeline stages the next run on another thread while the engine posts
/// this one (``Stager``); ``ClearingEngine/run(_:receivedAt:)-(StagedRun,_)`` then posts it.
///
/// A staged run depends only on its input and the engine's settings (the city, the TAC
/// masters), never on what was posted before, so it is valid for any engine of those settings.
public struct StagedRun: Sendable {
    /// The input, as given.
    public let input: [IncomingBatch]
    /// The input batches staged, in input order: those that would be fresh if none had been
    /// ingested before. The engine posts the stage only if these are exactly the fresh ones.
    let staged: [Int]
    /// Every staged record's place, in card-then-time order (ties in upload order);
    /// ``Posting/Item/ordinal`` is the index into ``records``.
    var items: [Posting.Item] = []
    /// The records in the order of ``items``, and the batch (index into ``batches``) and
    /// record index each came from.
    var records: [BatchRecord] = []
    var recordBatch: [UInt32] = []
    var recordIndex: [UInt32] = []
    /// What the checks need of each staged batch.
    var batches: [Posting.BatchInfo] = []
    /// Where each staged batch's records start in upload order (one more entry than batches).
    var starts: [Int] = [0]
    /// The stateless verdict of each item: 0 passed, else ``Verdict/packed``.
    var codes: [UInt16] = []
    /// The number of cards among the items.
    var cards = 0
    /// Every staged record's detail row (``AcceptedDetail``, packed), in upload order: the
    /// posting keeps those of the records it accepts.
    var details: [UInt8] = []
}

/// What staging needs of an engine, taken from it once: its settings and its TAC key cache.
/// Sendable, so that a pipeline can stage on another thread while the engine posts; stages
/// take turns on the key cache (one at a time, each on both cores).
public struct Stager: Sendable {
    let verifier: RecordVerifier
    let tacKeys: TACKeyCache
    let terminals: [UInt64: ClearingEngine.TerminalInfo]
    let headerSkewSecondsMax: UInt32

    /// Stages the batches of `input` that would be fresh if none had been ingested before: a
    /// believable header, and the first of the input with its (terminal, batch sequence).
    public func stage(_ input: [IncomingBatch]) -> StagedRun {
        var keys = Set<BatchKey>()
        var candidates: [Int] = []
        for (i, b) in input.enumerated() {
            let header = b.batch.header
            guard ClearingEngine.headerProblem(b, skewSecondsMax: headerSkewSecondsMax) == nil,
                  keys.insert(BatchKey(terminal: header.terminal.rawValue, sequence: header.sequence)).inserted
            else { continue }
            candidates.append(i)
        }
        return stage(input, batches: candidates)
    }

    /// Stages the given input batches (indexes into `input`, in input order).
    func stage(_ input: [IncomingBatch], batches fresh: [Int]) -> StagedRun {
        var s = StagedRun(input: input, staged: fresh)
        for b in fresh {
            let header = input[b].batch.header
            let t = terminals[header.terminal.rawValue]
            s.batches.append(Posting.BatchInfo(
                input: b, terminal: header.terminal, sequence: header.sequence, operatorID: header.operatorID,
                receivedDay: ClearingTime.day(input[b].received), terminalKnown: t?.operatorID == header.operatorID, kind: t?.kind))
            s.starts.append(s.starts[s.starts.count - 1] + input[b].batch.records.count)
        }
        let total = s.starts.last ?? 0
        var items: [Posting.Item] = []
        items.reserveCapacity(total)
        s.details = [UInt8](repeating: 0, count: total * Packing.detailBytes)
        var ordinal: UInt64 = 0
        s.details.withUnsafeMutableBytes { details in
            for b in s.batches {
                let operatorID = input[b.input].batch.header.operatorID
                for (index, r) in input[b.input].batch.records.enumerated() {
                    items.append(Posting.Item(serial: r.serial.rawValue, order: UInt64(ClearingTime.seconds(bcd: r.dateTimeBCD)) << 32 | ordinal))
                    let ref = RecordRef(terminal: b.terminal, batch: b.sequence, index: UInt32(index))
                    Packing.store(AcceptedDetail(ref: ref, record: r, operatorID: operatorID), in: details, at: Int(ordinal) * Packing.detailBytes)
                    ordinal += 1
                }
            }
        }
        // Per card, in time order (ties in upload order): the card's own history. The records
        // are then gathered into that order once, so that checking and posting read them
        // sequentially instead of jumping around memory twice.
        items.sort { $0.serial != $1.serial ? $0.serial < $1.serial : $0.order < $1.order }
        postReplacementTargetsLast(&items, s)
        gatherAndVerify(&items, &s)
        s.items = items
        return s
    }

    /// Gathers the records, their batches and indexes into the order of `items` straight from
    /// the input batches (one copy of each record), renumbers each item's ordinal to its place,
    /// and checks every record on its own, each card's TAC key from the engine's cache: code 0
    /// passed, else the packed ``Verdict``. On both cores, each a half of the items split at a
    /// card boundary, so that each card's key is derived on one core only.
    private func gatherAndVerify(_ items: inout [Posting.Item], _ s: inout StagedRun) {
        let count = items.count
        var split = count / 2
        while split > 0, split < count, items[split].serial == items[split - 1].serial { split += 1 }
        let ranges = [0..<split, split..<count]
        precondition(ranges.count <= TACKeyCache.lanes, "a verifying thread without a key cache lane")
        var cards = [0, 0]
        let (input, batches, starts) = (s.input, s.batches, s.starts)
        // Every slot is written exactly once, by the half it belongs to.
        func filled<T>(_ fill: (UnsafeMutableBufferPointer<T>) -> Void) -> [T] {
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                fill(buffer)
                initialized = count
            }
        }
        var recordBatch: [UInt32] = []
        var recordIndex: [UInt32] = []
        var codes: [UInt16] = []
        s.records = filled { (records: UnsafeMutableBufferPointer<BatchRecord>) in
            recordBatch = filled { (recordBatch: UnsafeMutableBufferPointer<UInt32>) in
                recordIndex = filled { (recordIndex: UnsafeMutableBufferPointer<UInt32>) in
                    codes = filled { (codes: UnsafeMutableBufferPointer<UInt16>) in
                        items.withUnsafeMutableBufferPointer { items in
                            cards.withUnsafeMutableBufferPointer { cards in
                                nonisolated(unsafe) let out = (records, recordBatch, recordIndex, codes, items, cards)
                                tacKeys.inTurn {
                                    DispatchQueue.concurrentPerform(iterations: ranges.count) { lane in
                                        let (records, recordBatch, recordIndex, codes, items, cards) = out
                                        for n in ranges[lane] {
                                            let (b, i) = locate(items[n].ordinal, starts)
                                            (records.baseAddress! + n).initialize(to: input[batches[b].input].batch.records[i])
                                            (recordBatch.baseAddress! + n).initialize(to: UInt32(b))
                                            (recordIndex.baseAddress! + n).initialize(to: UInt32(i))
                                            items[n].order = items[n].order & ~0xFFFF_FFFF | UInt64(n)
                                            if n == ranges[lane].lowerBound || items[n].serial != items[n - 1].serial { cards[lane] += 1 }
                                        }
                                        verify(ranges[lane], lane: lane, items: UnsafeBufferPointer(items), records: UnsafeBufferPointer(records),
                                               recordBatch: UnsafeBufferPointer(recordBatch), batches: batches, into: codes)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        s.recordBatch = recordBatch
        s.recordIndex = recordIndex
        s.codes = codes
        s.cards = cards[0] + cards[1]
    }

    /// Moves the cards that receive a replaced card's balance in this run behind the cards they
    /// replace (a chain A → B → C: A, then B, then C), so that a new card's records — its
    /// refund, say — see the balance moved onto it, whatever the serials' order.
    private func postReplacementTargetsLast(_ items: inout [Posting.Item], _ s: StagedRun) {
        var from: [UInt64: UInt64] = [:]
        for b in s.batches {
            for r in s.input[b.input].batch.records where r.kind == .replacement { from[r.relatedSerial.rawValue] = r.serial.rawValue }
        }
        guard !from.isEmpty else { return }
        func depth(_ serial: UInt64) -> Int {
            var d = 0, s = serial
            // Bounded: a cycle of forged replacements must not loop.
            while let old = from[s], d < Posting.replacementChainMax {
                d += 1
                s = old
            }
            return d
        }
        let depths = from.keys.reduce(into: [UInt64: Int]()) { $0[$1] = depth($1) }
        var moved = items.filter { depths[$0.serial] != nil }
        items.removeAll { depths[$0.serial] != nil }
        // Stable: each card's records stay in time order.
        moved = moved.enumerated().sorted { a, b in
            let (da, db) = (depths[a.element.serial] ?? 0, depths[b.element.serial] ?? 0)
            return da != db ? da < db : a.offset < b.offset
        }.map(\.element)
        items += moved
    }

    /// The batch (index into the staged batches) and record index of an upload ordinal.
    private func locate(_ ordinal: Int, _ starts: [Int]) -> (Int, Int) {
        var lo = 0, hi = starts.count - 2
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= ordinal { lo = mid } else { hi = mid - 1 }
        }
        return (lo, ordinal - starts[lo])
    }

    private func verify(
        _ range: Range<Int>, lane: Int, items: UnsafeBufferPointer<Posting.Item>, records: UnsafeBufferPointer<BatchRecord>,
        recordBatch: UnsafeBufferPointer<UInt32>, batches: [Posting.BatchInfo], into codes: UnsafeMutableBufferPointer<UInt16>
    ) {
        var keySerial: UInt64? = nil
        var keyVersion: UInt8 = 0
        var key: DESKey? = nil
        for n in range {
            let item = items[n]
            let b = batches[Int(recordBatch[n])]
            let r = records[n]
            if keySerial != item.serial || keyVersion != r.keyVersion {
                key = tacKeys.key(lane: lane, serial: item.serial, version: r.keyVersion)
                keySerial = item.serial
                keyVersion = r.keyVersion
            }
            let verdict = verifier.check(
                r, seconds: item.seconds, receivedDay: b.receivedDay, terminalOK: b.terminalKnown && r.terminal == b.terminal,
                operatorKind: b.kind, tacKey: key)
            (codes.baseAddress! + n).initialize(to: verdict?.packed ?? 0)
        }
    }
}
