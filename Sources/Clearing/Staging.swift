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
    /// ``Posting/Item/ordinal`` is the index into ``records`` and ``places``.
    var items: [Posting.Item] = []
    /// The records in the order of ``items``, and where each came from with its verdict.
    var records: [BatchRecord] = []
    var places: [Place] = []
    /// What the checks need of each staged batch.
    var batches: [Posting.BatchInfo] = []
    /// Where each staged batch's records start in upload order (one more entry than batches).
    var starts: [Int] = [0]
    /// The number of cards among the items.
    var cards = 0
    /// Every staged record's detail row (``AcceptedDetail``, packed), in upload order: the
    /// posting keeps those of the records it accepts.
    var details: [UInt8] = []

    /// Where a staged record came from, and what the checks of the record on its own said.
    struct Place: Sendable {
        /// The batch (index into ``StagedRun/batches``).
        var batch: UInt32
        /// The record's index in its batch.
        var index: UInt32
        /// 0 passed, else the packed ``Verdict``.
        var code: UInt16
    }
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
        // The items were made in upload order: stably by time, then stably by card, orders them
        // by card, time and upload order (radix passes over the bits that differ, about a
        // third of the comparison sort's time; docs/performance.md).
        RadixSort.sort(&items) { $0.order >> 32 }
        RadixSort.sort(&items) { $0.serial }
        postReplacementTargetsLast(&items, s)
        gatherAndVerify(&items, &s)
        s.items = items
        return s
    }

    /// Gathers the records into the order of `items` straight from the input batches (one copy
    /// of each record) and checks each on its own, its card's TAC key from the engine's cache —
    /// on both cores, each a half of the items split at a card boundary, so that each card's
    /// key is derived on one core only — then renumbers each item's ordinal to its place.
    private func gatherAndVerify(_ items: inout [Posting.Item], _ s: inout StagedRun) {
        (s.records, s.places) = gatherAndVerify(items, s)
        for n in items.indices {
            items[n].order = items[n].order & ~0xFFFF_FFFF | UInt64(n)
            if n == 0 || items[n].serial != items[n - 1].serial { s.cards += 1 }
        }
    }

    private func gatherAndVerify(_ items: [Posting.Item], _ s: StagedRun) -> ([BatchRecord], [StagedRun.Place]) {
        let count = items.count
        var split = count / 2
        while split > 0, split < count, items[split].serial == items[split - 1].serial { split += 1 }
        let ranges = [0..<split, split..<count]
        precondition(ranges.count <= TACKeyCache.lanes, "a verifying thread without a key cache lane")
        var places: [StagedRun.Place] = []
        // Every slot of both arrays is written exactly once, by the half it belongs to.
        let records = [BatchRecord](unsafeUninitializedCapacity: count) { records, recordsDone in
            places = [StagedRun.Place](unsafeUninitializedCapacity: count) { places, placesDone in
                nonisolated(unsafe) let out = (records, places)
                tacKeys.inTurn {
                    DispatchQueue.concurrentPerform(iterations: ranges.count) { lane in
                        let (records, places) = out
                        for n in ranges[lane] {
                            let (b, i) = locate(items[n].ordinal, s.starts)
                            (records.baseAddress! + n).initialize(to: s.input[s.batches[b].input].batch.records[i])
                            (places.baseAddress! + n).initialize(to: StagedRun.Place(batch: UInt32(b), index: UInt32(i), code: 0))
                        }
                        verify(ranges[lane], lane: lane, items: items, records: UnsafeBufferPointer(records), into: places, batches: s.batches)
                    }
                }
                placesDone = count
            }
            recordsDone = count
        }
        return (records, places)
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
        _ range: Range<Int>, lane: Int, items: [Posting.Item], records: UnsafeBufferPointer<BatchRecord>,
        into places: UnsafeMutableBufferPointer<StagedRun.Place>, batches: [Posting.BatchInfo]
    ) {
        var keySerial: UInt64? = nil
        var keyVersion: UInt8 = 0
        var key: DESKey? = nil
        // The key cache entries of the cards ahead are on their way while these are checked.
        var cardsAhead = CardsAhead(range)
        for n in range {
            let item = items[n]
            if n == range.lowerBound || item.serial != items[n - 1].serial {
                cardsAhead.newCard(items) { tacKeys.prefetch(lane: lane, serial: $0) }
            }
            let b = batches[Int(places[n].batch)]
            let r = records[n]
            if keySerial != item.serial || keyVersion != r.keyVersion {
                key = tacKeys.key(lane: lane, serial: item.serial, version: r.keyVersion)
                keySerial = item.serial
                keyVersion = r.keyVersion
            }
            let verdict = verifier.check(
                r, seconds: item.seconds, receivedDay: b.receivedDay, terminalOK: b.terminalKnown && r.terminal == b.terminal,
                operatorKind: b.kind, tacKey: key)
            places[n].code = verdict?.packed ?? 0
        }
    }
}
