import City
import OneCardCore
import OneCardCrypto
import UploadBatch

/// Everything the writers share, read-only.
struct WriteInput: Sendable {
    let plan: CityPlan
    let options: LoadGenOptions
    /// Every record grouped by bucket `terminal * days + day`, each bucket in time order.
    let events: [TapEvent]
    /// `bucketStarts[b]..<bucketStarts[b + 1]` is bucket `b` in `events`.
    let bucketStarts: [Int]
    let serialBase: UInt64
    /// Batch key per terminal index.
    let batchKeys: [[UInt8]]
    /// `dateBCD[day]`: the 4 BCD date bytes of each day.
    let dateBCD: [UInt64]
    let outputDirectory: String
}

/// Writes the batch files of some terminals: sequence numbers, TACs, faults, one file per
/// terminal per day (split at `batchRecordsMax`).
struct BatchWriter {
    /// Upload directory under the output directory.
    static let batchDirectory = "batches"

    let input: WriteInput
    var tally: Tally
    private var pending: [BatchRecord] = []
    private var copies: [BatchRecord] = []
    private var terminalSequence: UInt32 = 0
    private var batchIndex: UInt32 = 0
    /// The day (from the first) whose records are being written.
    private var day = 0

    init(input: WriteInput) {
        self.input = input
        tally = Tally(terminals: input.plan.terminalIDs.count)
        pending.reserveCapacity(input.options.batchRecordsMax)
    }

    /// Writes every batch of terminal `t`, day by day.
    mutating func writeTerminal(_ t: Int) throws(LoadGenError) {
        terminalSequence = input.options.terminalSequenceBase
        batchIndex = 0
        let days = input.options.days
        for day in 0..<days {
            self.day = day
            let b = t * days + day
            let range = input.bucketStarts[b]..<input.bucketStarts[b + 1]
            guard !range.isEmpty else { continue }
            copies.removeAll(keepingCapacity: true)
            for k in range { try add(input.events[k], terminal: t) }
            // A terminal re-sending records at the end of its upload (after a lost
            // acknowledgement): the copies are duplicates of records already in this upload.
            for r in copies {
                try append(r, terminal: t)
                tally.count(kind: r.kind.rawValue, amountFen: r.amountFen, terminal: t, refusal: 3)
            }
            try flush(terminal: t)
        }
    }

    private mutating func add(_ e: TapEvent, terminal t: Int) throws(LoadGenError) {
        let seq = terminalSequence
        terminalSequence += 1
        if e.fault == .gap {
            tally.gaps.append(gap(e, sequence: seq, terminal: t))
            return
        }
        let r = record(e, sequence: seq, terminal: t)
        try append(r, terminal: t)
        tally.count(kind: e.kind, amountFen: e.amountFen, terminal: t, refusal: refusal(e.fault))
        switch e.fault {
        case .forgedTAC: tally.forged += 1
        case .expired: tally.expired += 1
        case .duplicate:
            tally.duplicates += 1
            copies.append(r)
        default: break
        }
    }

    private func refusal(_ f: Fault) -> Int? {
        switch f {
        case .none, .duplicate, .gap: nil
        case .forgedTAC: 1
        case .grey: 4
        case .expired: 5
        case .hotlisted: 7
        }
    }

    private mutating func append(_ r: BatchRecord, terminal t: Int) throws(LoadGenError) {
        if pending.count == input.options.batchRecordsMax { try flush(terminal: t) }
        pending.append(r)
    }

    /// The 7 BCD date-time bytes of a run time (seconds since the start date's midnight).
    @inline(__always)
    func bcd(_ time: UInt32) -> UInt64 {
        let day = Int(time / 86_400), s = Int(time % 86_400)
        @inline(__always) func two(_ v: Int) -> UInt64 { UInt64((v / 10) << 4 | v % 10) }
        return input.dateBCD[day] << 24 | two(s / 3600) << 16 | two(s / 60 % 60) << 8 | two(s % 60)
    }
}

extension BatchWriter {
    /// The record a card and terminal make for event `e`, with the TAC computed as the card does.
    func record(_ e: TapEvent, sequence: UInt32, terminal t: Int) -> BatchRecord {
        let plan = input.plan
        let kind = RecordKind(rawValue: e.kind) ?? .purchase
        let isLoad = kind == .load
        let opKind = plan.kinds[t]
        let type: UInt8 = isLoad ? 0x02 : (opKind == .taxi || opKind == .gas ? 0x06 : 0x09)
        let terminalRaw = plan.terminalIDs[t].rawValue
        let dt = bcd(e.time)
        let after = isLoad ? e.balanceBeforeFen + e.amountFen : e.balanceBeforeFen - e.amountFen
        var tac: UInt32 = 0
        if kind != .grey {
            let key = DESKey(rawValue: e.tacKey)
            tac = isLoad
                ? TripleDESPurse.loadTAC(tacKey: key, newBalanceFen: after, onlineCounter: e.counter, amountFen: e.amountFen,
                                  typeByte: type, terminal: terminalRaw, dateTimeBCD: dt)
                : TripleDESPurse.purchaseTAC(tacKey: key, amountFen: e.amountFen, typeByte: type, terminal: terminalRaw,
                                             terminalSequence: sequence, dateTimeBCD: dt)
        }
        // A forger cannot compute the TAC: any other value (never the right one) is refused 01.
        if e.fault == .forgedTAC { tac ^= 1 << (sequence % 32) }
        let isMetro = e.flags & FareFlags.metroExit.rawValue != 0
        return BatchRecord(
            kind: kind, transactionType: type, serial: CardSerial(rawValue: input.serialBase | UInt64(e.card)),
            cardType: e.cardType, counter: e.counter, amountFen: e.amountFen,
            balanceBeforeFen: e.balanceBeforeFen, balanceAfterFen: after, terminal: plan.terminalIDs[t], sequence: sequence,
            dateTimeBCD: dt, tac: tac, industry: opKind.industryCode ?? 0, line: plan.lines[t], station: plan.stationCodes[t],
            entryStation: isMetro ? plan.stations[Int(e.entryStation)].rawValue : 0,
            entryDateTimeBCD: isMetro ? bcd(e.time - UInt32(e.entryAgeSeconds)) : 0,
            baseFareFen: isLoad ? 0 : e.amountFen + e.concessionFen + UInt32(e.transferFen), concessionFen: e.concessionFen,
            transferDiscountFen: UInt32(e.transferFen), flags: FareFlags(rawValue: e.flags))
    }

    func gap(_ e: TapEvent, sequence: UInt32, terminal t: Int) -> GroundTruth.Gap {
        let at = BCDDateTime(secondsSinceEpoch: Int64(input.options.startDate.daysSinceEpoch) * 86_400 + Int64(e.time))
        return GroundTruth.Gap(
            serial: CardSerial(rawValue: input.serialBase | UInt64(e.card)).description, counterKind: "offline",
            counter: Int(e.counter), terminal: input.plan.terminalIDs[t].description, terminalSequence: Int(sequence),
            at: at.description, amountFen: Int64(e.amountFen))
    }

    /// Writes the pending records as one batch file (and maybe a truncated attempt of it).
    mutating func flush(terminal t: Int) throws(LoadGenError) {
        guard !pending.isEmpty else { return }
        let plan = input.plan
        let sequence = input.options.batchSequenceBase + batchIndex
        batchIndex += 1
        let daily = input.options.uploads == .daily
        let uploadDay = UInt32(daily ? day : input.options.days - 1)
        let header = BatchHeader(terminal: plan.terminalIDs[t], operatorID: plan.operatorIDs[t], sequence: sequence,
                                 createdBCD: bcd(uploadDay * 86_400 + 86_399))
        let folder = daily ? Self.dayFolder(input.options, day: day) : nil
        let bytes = BatchFile(header: header, records: pending).encode(key: input.batchKeys[t])
        pending.removeAll(keepingCapacity: true)
        let name = Self.fileName(terminal: plan.terminalIDs[t], sequence: sequence, folder: folder)
        try FileOutput.write(bytes, count: bytes.count, to: input.outputDirectory + "/" + name)
        tally.batches += 1
        var rng = SplitMix64(seed: input.options.seed, plan.terminalIDs[t].rawValue, UInt64(sequence))
        let rate = input.options.faults.truncatedFiles
        guard rate > 0, rng.chance(rate) else { return }
        // Cut anywhere after the header, never at the full length: the file cannot decode.
        let cut = BatchHeader.byteCount + rng.below(bytes.count - BatchHeader.byteCount)
        let cutName = Self.fileName(terminal: plan.terminalIDs[t], sequence: sequence, truncated: true, folder: folder)
        try FileOutput.write(bytes, count: cut, to: input.outputDirectory + "/" + cutName)
        tally.truncated.append(GroundTruth.TruncatedFile(file: cutName, byteCount: cut, completeFile: name, completeByteCount: bytes.count))
    }

    /// `batches/<terminal>-<sequence>.ocub`, or `batches/<folder>/…` for daily uploads; a
    /// truncated attempt adds `-truncated` and sorts before its complete file.
    static func fileName(terminal: TerminalID, sequence: UInt32, truncated: Bool = false, folder: String? = nil) -> String {
        let digits = String(sequence)
        let padded = String(repeating: "0", count: max(0, 10 - digits.count)) + digits
        let dir = folder.map { "\(batchDirectory)/\($0)" } ?? batchDirectory
        return "\(dir)/\(terminal)-\(padded)\(truncated ? "-truncated" : "").ocub"
    }

    /// The folder of a day's uploads under `batches/` (daily uploads): `YYYY-MM-DD`.
    static func dayFolder(_ options: LoadGenOptions, day: Int) -> String { options.startDate.adding(days: day).description }
}
