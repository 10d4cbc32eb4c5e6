public import City
import Clearing
import OneCardCore
public import OneCardCrypto
import UploadBatch

/// A seeded mutation fuzzer over clearing's whole input path: batch decode → verify → post
/// (docs/performance.md, "Fuzzing clearing").
///
/// It builds a small genuine city day (issues, loads, fares on every kind of fare terminal,
/// refunds, replacements, all with real TACs), then writes upload files from it that a
/// hostile terminal could write: records mutated field by field (boundary values, random
/// values, neighbours), bytes of the header, records and trailer changed, records
/// duplicated or moved between terminals, batch keys reused with other bytes, exact
/// replays, header times invalid or ahead. Every file carries a valid MAC, made after the
/// mutation, so it reaches the decoder and the engine as a real terminal's upload would.
///
/// After every run it checks what must always hold, with its own books:
/// - every transfer moves a positive amount between two different accounts;
/// - the nets of all accounts, recomputed from the transfers, equal the engine's, purses
///   included (a purse's net is its shadow balance), and sum to zero;
/// - no fare identity (terminal, terminal sequence) is accepted twice;
/// - each batch's accepted and refused records add up to its records.
///
/// A trap anywhere (an overflow, a bad conversion) ends the process: the same seed and count
/// replay it exactly.
public struct BatchFuzzer {
    /// What a run did.
    public struct Report: Sendable, Equatable, Codable {
        /// Files written (each MAC-valid).
        public var files = 0
        /// Records in them.
        public var records = 0
        /// Files the decoder refused whole (count, sums, unknown kind, …).
        public var decodeRefused = 0
        /// Files the engine refused whole (header time, conflicts).
        public var engineRefused = 0
        /// Of those, conflicts.
        public var conflicts = 0
        /// Replayed files.
        public var replays = 0
        /// Records accepted.
        public var accepted = 0
        /// Records refused, by code.
        public var refused: [String: Int] = [:]
        /// Engine runs.
        public var runs = 0
    }

    /// A broken invariant: the seed and file replay it.
    public struct Failure: Error, CustomStringConvertible {
        /// The seed.
        public var seed: UInt64
        /// The file at which it broke (0-based).
        public var file: Int
        /// What broke.
        public var what: String

        public var description: String { "fuzz seed \(seed), file \(file): \(what)" }
    }

    let seed: UInt64
    let city: City
    let batchMaster: TripleDESKey
    let tacMaster: TripleDESKey
    var rng: SplitMix64
    var engine: ClearingEngine
    var report = Report()
    /// The independent books: every account's net from the transfers alone.
    var books: [AccountID: Int64] = [:]
    /// Fare identities accepted so far.
    var paid = Set<FareKey>()
    /// Genuine records by terminal (the corpus of the current epoch).
    var corpus: [TerminalID: [BatchRecord]] = [:]
    var terminals: [TerminalID] = []
    var operators: [TerminalID: UInt16] = [:]
    /// Files written, kept for replays and key reuse (the newest few).
    var written: [(key: BatchKey, bytes: [UInt8])] = []
    var epoch = 0
    var dayOffset = 0
    var received: UInt32 = 0
    var batchSequences: [TerminalID: UInt32] = [:]
    /// Where each terminal's next upload starts in its corpus.
    var cursors: [TerminalID: Int] = [:]

    struct FareKey: Hashable {
        var terminal: UInt64
        var sequence: UInt32
    }

    /// A fuzzer for `city` under the two master keys, starting from an empty clearing centre.
    public init(seed: UInt64, city: City, batchMaster: TripleDESKey, tacMaster: TripleDESKey) {
        self.seed = seed
        self.city = city
        self.batchMaster = batchMaster
        self.tacMaster = tacMaster
        rng = SplitMix64(seed: seed)
        engine = ClearingEngine(config: ClearingConfig(city: city, tacMaster: tacMaster))
        for (id, t) in city.terminals { operators[id] = t.operatorID.rawValue }
        terminals = operators.keys.sorted { $0.rawValue < $1.rawValue }
    }

    /// Runs between two checks of every account (the accounts a run moved are checked after it).
    static let fullCheckEvery = 256

    /// Files per epoch: then a new genuine day is built, later by a day or more.
    static let filesPerEpoch = 120

    /// Runs until at least `records` mutated records have gone through, and reports.
    ///
    /// - Throws: ``Failure`` for a broken invariant.
    public mutating func run(records: Int) throws(Failure) -> Report {
        while report.records < records {
            if report.files % Self.filesPerEpoch == 0 { newEpoch() }
            var batch: [IncomingBatch] = []
            for _ in 0..<(1 + rng.below(3)) {
                let bytes = nextFile()
                report.files += 1
                report.records += max(0, (bytes.count - BatchHeader.byteCount - BatchFile.trailerBytes) / BatchRecord.byteCount)
                do {
                    let header = try BatchFile.peekHeader(bytes, file: "fuzz")
                    let key = BatchFile.uploadKey(batchMaster: batchMaster, terminal: header.terminal)
                    let (decoded, digest) = try BatchFile.decodeWithDigest(bytes, file: "fuzz-\(report.files)", key: key)
                    batch.append(IncomingBatch(file: "fuzz-\(report.files)", batch: decoded, received: received, digest: digest))
                } catch {
                    report.decodeRefused += 1
                }
            }
            received &+= UInt32(rng.below(120))
            guard !batch.isEmpty else { continue }
            let r = engine.run(batch)
            report.runs += 1
            try check(r, batch)
        }
        try checkBooks(Set(books.keys))
        return report
    }

    // MARK: The genuine day

    /// Builds a new genuine day: cards issued, loaded, riding, some refunded or replaced.
    mutating func newEpoch() {
        epoch += 1
        dayOffset += 1 + rng.below(3)
        let day = BCDDate(year: 2026, month: 1, day: 1)!.adding(days: dayOffset)
        let midnight = UInt32(day.daysSinceEpoch * 86_400)
        // Received the next morning, before the cut-off: within the upload window.
        received = max(received, midnight + 86_400 + 3_600)
        corpus = [:]
        cursors = [:]
        var sequences: [TerminalID: UInt32] = [:]
        func next(_ t: TerminalID) -> UInt32 {
            let s = (sequences[t] ?? UInt32(epoch) << 20) + 1
            sequences[t] = s
            return s
        }
        let issuers = terminals.filter { city.terminals[$0]?.location.operatorKind == .issuer }
        let fares = terminals.filter { city.terminals[$0]?.location.operatorKind != .issuer }
        guard let counter = issuers.first, !fares.isEmpty else { return }
        let deposit = UInt32(clamping: city.card.depositFen)
        for c in 0..<24 {
            let serial = CardSerial(rawValue: 0x2000_0000_0000_0000 | UInt64(epoch) << 16 | UInt64(c))
            let key = TripleDESPurse.tacKey(tacMaster: tacMaster, serial: serial)
            var t = midnight + 6 * 3600 + UInt32(c * 60)
            func bcd(_ s: UInt32) -> UInt64 { TripleDESPurse.packedDateTime(ClearingTime.dateTime(s)) }
            corpus[counter, default: []].append(BatchRecord(
                kind: .issue, transactionType: 0, serial: serial, cardType: 1 + UInt8(c % 4), counter: 0, amountFen: 0,
                balanceBeforeFen: 0, balanceAfterFen: 0, terminal: counter, sequence: next(counter), dateTimeBCD: bcd(t), tac: 0,
                depositFen: deposit))
            var balance: UInt32 = 0, offline: UInt16 = 0, online: UInt16 = 0
            func load(_ amount: UInt32) {
                t += 30
                let after = balance + amount
                let tac = TripleDESPurse.loadTAC(
                    tacKey: key, newBalanceFen: after, onlineCounter: online, amountFen: amount, typeByte: 0x02,
                    terminal: counter.rawValue, dateTimeBCD: bcd(t))
                corpus[counter, default: []].append(BatchRecord(
                    kind: .load, transactionType: 0x02, serial: serial, cardType: 1, counter: online, amountFen: amount,
                    balanceBeforeFen: balance, balanceAfterFen: after, terminal: counter, sequence: next(counter), dateTimeBCD: bcd(t), tac: tac))
                balance = after
                online += 1
            }
            load(UInt32(1_000 + rng.below(9_000)))
            for _ in 0..<(4 + rng.below(10)) {
                let terminal = fares[rng.below(fares.count)]
                let amount = UInt32(rng.below(4) == 0 ? 0 : 100 + rng.below(900))
                let type: UInt8 = amount == 0 ? 0x09 : (rng.below(2) == 0 ? 0x06 : 0x09)
                if balance < amount { load(5_000) }
                t += UInt32(300 + rng.below(3_000))
                let seq = next(terminal)
                let tac = TripleDESPurse.purchaseTAC(
                    tacKey: key, amountFen: amount, typeByte: type, terminal: terminal.rawValue, terminalSequence: seq, dateTimeBCD: bcd(t))
                corpus[terminal, default: []].append(BatchRecord(
                    kind: .purchase, transactionType: type, serial: serial, cardType: 1, counter: offline, amountFen: amount,
                    balanceBeforeFen: balance, balanceAfterFen: balance - amount, terminal: terminal, sequence: seq, dateTimeBCD: bcd(t), tac: tac))
                balance -= amount
                offline += 1
            }
            t += 600
            // One card a day is hotlisted mid-day: its later fares are refused 07.
            if c == 5 { engine.hotlist(serial, from: midnight + 12 * 3600) }
            switch c % 6 {
            case 0:
                corpus[counter, default: []].append(BatchRecord(
                    kind: .refund, transactionType: 0, serial: serial, cardType: 1, counter: 0, amountFen: balance, balanceBeforeFen: balance,
                    balanceAfterFen: 0, terminal: counter, sequence: next(counter), dateTimeBCD: bcd(t), tac: 0, depositFen: deposit))
            case 1:
                let newCard = CardSerial(rawValue: serial.rawValue | 0x8000)
                let newKey = TripleDESPurse.tacKey(tacMaster: tacMaster, serial: newCard)
                let tac = TripleDESPurse.loadTAC(
                    tacKey: newKey, newBalanceFen: balance, onlineCounter: 0, amountFen: balance, typeByte: 0x02,
                    terminal: counter.rawValue, dateTimeBCD: bcd(t))
                corpus[counter, default: []].append(BatchRecord(
                    kind: .replacement, transactionType: balance > 0 ? 0x02 : 0, serial: serial, cardType: 1, counter: 0, amountFen: balance,
                    balanceBeforeFen: 0, balanceAfterFen: balance, terminal: counter, sequence: next(counter), dateTimeBCD: bcd(t),
                    tac: balance > 0 ? tac : 0, relatedSerial: newCard))
            default:
                break
            }
        }
    }

    // MARK: Hostile files

    /// The next upload file, MAC-valid, as a hostile terminal could write it.
    mutating func nextFile() -> [UInt8] {
        // Now and then the same bytes again (a replay), or another file for a key taken before.
        if !written.isEmpty, rng.below(20) == 0 { return written[rng.below(written.count)].bytes }
        let owners = Array(corpus.keys).sorted { $0.rawValue < $1.rawValue }
        guard !owners.isEmpty else { return [] }
        let terminal = rng.below(10) == 0 ? terminals[rng.below(terminals.count)] : owners[rng.below(owners.count)]
        var sequence: UInt32
        if !written.isEmpty, rng.below(15) == 0 {
            sequence = written[rng.below(written.count)].key.sequence
        } else {
            sequence = (batchSequences[terminal] ?? 0) &+ 1
            batchSequences[terminal] = sequence
        }
        var records: [BatchRecord] = []
        let source = corpus[terminal] ?? corpus[owners[rng.below(owners.count)]] ?? []
        if !source.isEmpty {
            // Mostly the terminal's next records, as a real terminal uploads them; now and then
            // from anywhere in its day (late, out of order, or again).
            var start = cursors[terminal] ?? 0
            if rng.below(5) == 0 { start = rng.below(source.count) }
            let n = min(source.count, rng.below(48))
            for k in 0..<n { records.append(source[(start + k) % source.count]) }
            cursors[terminal] = (start + n) % source.count
        }
        // A record of another terminal's (iteration order of a dictionary is not stable across
        // processes: pick through the sorted terminals, so the same seed gives the same files).
        if rng.below(8) == 0, let other = corpus[owners[rng.below(owners.count)]], !other.isEmpty { records.append(other[rng.below(other.count)]) }
        if rng.below(6) == 0, !records.isEmpty { records.append(records[rng.below(records.count)]) }
        for i in records.indices where rng.below(4) == 0 {
            for _ in 0..<(1 + rng.below(2)) { mutate(&records[i]) }
        }
        var created = TripleDESPurse.packedDateTime(ClearingTime.dateTime(received &- UInt32(rng.below(7_200))))
        switch rng.below(40) {
        case 0: created = rng.next() & 0x00FF_FFFF_FFFF_FFFF
        case 1: created = TripleDESPurse.packedDateTime(ClearingTime.dateTime(received &+ UInt32(rng.below(200_000))))
        default: break
        }
        let op = rng.below(30) == 0 ? UInt16(truncatingIfNeeded: rng.next()) : operators[terminal] ?? 0
        let file = BatchFile(header: BatchHeader(terminal: terminal, operatorID: op, sequence: sequence, createdBCD: created), records: records)
        let key = BatchFile.uploadKey(batchMaster: batchMaster, terminal: terminal)
        var bytes = file.encode(key: key)
        if rng.below(12) == 0 { mutateBytes(&bytes, key: key) }
        written.append((BatchKey(terminal: terminal.rawValue, sequence: sequence), bytes))
        if written.count > 64 { written.removeFirst() }
        return bytes
    }

    /// Changes one field of a record: a boundary value, a neighbour, or anything.
    mutating func mutate(_ r: inout BatchRecord) {
        func u32(_ v: UInt32) -> UInt32 {
            switch rng.below(6) {
            case 0: 0
            case 1: .max
            case 2: v &+ 1
            case 3: v &- 1
            case 4: UInt32(clamping: city.card.balanceFenMax) &+ UInt32(rng.below(3)) &- 1
            default: UInt32(truncatingIfNeeded: rng.next())
            }
        }
        switch rng.below(16) {
        case 0: r.kind = RecordKind.allCases[rng.below(RecordKind.allCases.count)]
        case 1: r.transactionType = [0, 0x02, 0x06, 0x09, 0xFF][rng.below(5)]
        case 2: r.serial = CardSerial(rawValue: rng.below(2) == 0 ? r.serial.rawValue ^ 1 : rng.next())
        case 3: r.cardType = UInt8(truncatingIfNeeded: rng.below(7))
        case 4: r.counter = [0, 1, 0xFFFE, 0xFFFF, r.counter &+ 1, r.counter &- 1, r.counter &+ 64][rng.below(7)]
        case 5: r.amountFen = u32(r.amountFen)
        case 6: r.balanceBeforeFen = u32(r.balanceBeforeFen)
        case 7: r.balanceAfterFen = u32(r.balanceAfterFen)
        case 8: r.terminal = terminals[rng.below(terminals.count)]
        case 9: r.sequence = u32(r.sequence)
        case 10: r.dateTimeBCD = rng.below(2) == 0 ? rng.next() & 0x00FF_FFFF_FFFF_FFFF : r.dateTimeBCD ^ UInt64(1 << rng.below(56))
        case 11: r.tac ^= UInt32(1) << UInt32(rng.below(32))
        case 12: r.relatedSerial = CardSerial(rawValue: [0, r.serial.rawValue, rng.next(), r.relatedSerial.rawValue ^ 1][rng.below(4)])
        case 13: r.depositFen = u32(r.depositFen)
        case 14:
            // A consistent lie: the next counter and a balance chain that fits.
            r.counter &+= 1
            r.balanceBeforeFen = r.balanceAfterFen
            r.balanceAfterFen = r.balanceAfterFen &- r.amountFen
        default: r.flags = FareFlags(rawValue: UInt8(truncatingIfNeeded: rng.next()))
        }
    }

    /// Changes bytes of the header, records or trailer totals, then makes the MAC valid again.
    mutating func mutateBytes(_ bytes: inout [UInt8], key: [UInt8]) {
        let t = bytes.count - BatchFile.trailerBytes
        for _ in 0..<(1 + rng.below(4)) {
            let at = rng.below(t + 24)
            bytes[at] = rng.below(3) == 0 ? bytes[at] ^ UInt8(1 << rng.below(8)) : UInt8(truncatingIfNeeded: rng.next())
        }
        let mac = bytes.withUnsafeBytes { HMACSHA256.authenticate(key: key, data: UnsafeRawBufferPointer(rebasing: $0[0..<(t + 24)])) }
        bytes.replaceSubrange((t + 24)..<(t + 56), with: mac)
    }

    // MARK: The checker

    /// The engine's nets of `accounts` against the books; with every account, their sum too.
    func checkBooks(_ accounts: Set<AccountID>) throws(Failure) {
        for account in accounts where engine.state.netFen(account) != books[account] ?? 0 {
            throw Failure(seed: seed, file: report.files - 1, what: "\(account): the transfers net \(books[account] ?? 0) fen, the engine holds \(engine.state.netFen(account)) fen")
        }
        if accounts.count == books.count, engine.state.totalNetFen != 0 {
            throw Failure(seed: seed, file: report.files - 1, what: "the accounts sum to \(engine.state.totalNetFen) fen, not zero")
        }
    }

    mutating func check(_ r: RunResult, _ input: [IncomingBatch]) throws(Failure) {
        func fail(_ what: String) -> Failure { Failure(seed: seed, file: report.files - 1, what: what) }
        var touched = Set<AccountID>()
        for t in r.transfers {
            guard t.amountFen > 0, t.debit != t.credit else { throw fail("transfer \(t.id) moves \(t.amountFen) fen from \(t.debit) to \(t.credit)") }
            books[t.debit, default: 0] -= t.amountFen
            books[t.credit, default: 0] += t.amountFen
            touched.insert(t.debit)
            touched.insert(t.credit)
        }
        // The accounts this run moved, every time; all of them every so often, and at the end.
        try checkBooks(report.runs % Self.fullCheckEvery == 0 ? Set(books.keys) : touched)
        let refused = Set(r.refusals.map(\.ref))
        for (i, b) in input.enumerated() {
            switch r.status[i] {
            case .fresh:
                let o = r.outcomes[i]
                guard o.accepted + o.refused.values.reduce(0, +) == b.batch.records.count else {
                    throw fail("batch \(b.file): \(o.accepted) accepted + \(o.refused) refused of \(b.batch.records.count) records")
                }
                for (n, record) in b.batch.records.enumerated() where record.kind == .purchase {
                    let ref = RecordRef(terminal: b.batch.header.terminal, batch: b.batch.header.sequence, index: UInt32(n))
                    guard !refused.contains(ref) else { continue }
                    guard paid.insert(FareKey(terminal: record.terminal.rawValue, sequence: record.sequence)).inserted else {
                        throw fail("fare \(record.terminal)/\(record.sequence) accepted twice (record \(ref))")
                    }
                }
                report.accepted += o.accepted
                for (code, n) in o.refused { report.refused[code, default: 0] += n }
            case .replayed:
                report.replays += 1
            case .refused:
                report.engineRefused += 1
            case .conflict:
                report.engineRefused += 1
                report.conflicts += 1
            }
        }
    }
}
