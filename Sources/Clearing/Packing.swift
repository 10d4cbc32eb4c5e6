import OneCardCore
public import UploadBatch

/// Fixed-size binary encodings of ledger rows, so storage writes them as pages (one BLOB per
/// N rows) instead of one SQL row each: the ledger's group commit is then a handful of large
/// writes, whatever the number of transfers.
public enum Packing {
    /// Bytes per packed transfer.
    public static let transferBytes = 64
    /// Bytes per packed shadow (page kind `shadows2`).
    public static let shadowBytes = 64
    /// Bytes per packed shadow of the first format (page kind `shadows`), without the oldest
    /// transaction and the baseline.
    public static let shadowBytesV1 = 48
    /// Bytes per packed refusal: reference, code, the record itself, the field named.
    public static let refusalBytes = 144

    /// Appends a refusal.
    public static func append(_ f: Refusal, to out: inout [UInt8]) {
        out.appendBigEndian(f.ref.terminal.rawValue, byteCount: 6)
        out.appendBigEndian(f.ref.batch)
        out.appendBigEndian(f.ref.index)
        out.append(UInt8(f.code.rawValue) ?? 0)
        f.record.encode(into: &out)
        out.append(f.field.rawValue)
    }

    /// Decodes a page of refusals; `nil` if any row is corrupt.
    public static func refusals(_ page: [UInt8]) -> [Refusal]? {
        guard page.count % refusalBytes == 0 else { return nil }
        var out: [Refusal] = []
        var o = 0
        while o < page.count {
            guard let t = TerminalID(rawValue: page.bigEndianInteger(at: o, count: 6) ?? .max),
                  let code = RefusalCode(rawValue: String(format2: page[o + 14])),
                  let record = page.withUnsafeBytes({ BatchRecord.decode(UnsafeRawBufferPointer(rebasing: $0[(o + 15)..<(o + 143)])) }),
                  let field = RecordField(rawValue: page[o + 143])
            else { return nil }
            let ref = RecordRef(terminal: t, batch: UInt32(page.bigEndianInteger(at: o + 6, count: 4) ?? 0), index: UInt32(page.bigEndianInteger(at: o + 10, count: 4) ?? 0))
            out.append(Refusal(ref: ref, code: code, record: record, field: field))
            o += refusalBytes
        }
        return out
    }

    /// Appends a transfer: id, debit (kind, number), credit (kind, number), amount, reason,
    /// source (terminal, batch, index), date-time, zero padding.
    public static func append(_ t: Transfer, to out: inout [UInt8]) { append([t], to: &out) }

    /// Appends transfers, writing each 64-byte row in place.
    public static func append(_ transfers: [Transfer], to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: transfers.count * transferBytes))
        out.withUnsafeMutableBytes { raw in
            var o = start
            for t in transfers {
                store(t, in: raw, at: o)
                o += transferBytes
            }
        }
    }

    /// Writes a transfer's 64-byte row at byte offset `o` of `raw` (the padding is left as it
    /// is): the ledger's hot write path, used by posting straight into the run's rows.
    @inline(__always)
    public static func store(_ t: Transfer, in raw: UnsafeMutableRawBufferPointer, at o: Int) {
        raw.storeBytes(of: t.id.bigEndian, toByteOffset: o, as: UInt64.self)
        raw[o + 8] = t.debit.kind.rawValue
        raw.storeBytes(of: t.debit.number.bigEndian, toByteOffset: o + 9, as: UInt64.self)
        raw[o + 17] = t.credit.kind.rawValue
        raw.storeBytes(of: t.credit.number.bigEndian, toByteOffset: o + 18, as: UInt64.self)
        raw.storeBytes(of: UInt64(bitPattern: t.amountFen).bigEndian, toByteOffset: o + 26, as: UInt64.self)
        raw[o + 34] = t.reason.rawValue
        // terminal: 6 bytes at 35, batch at 41, index at 45, date-time: 7 bytes at 49.
        raw.storeBigEndian(t.source.terminal.rawValue, byteCount: 6, at: o + 35)
        raw.storeBytes(of: t.source.batch.bigEndian, toByteOffset: o + 41, as: UInt32.self)
        raw.storeBytes(of: t.source.index.bigEndian, toByteOffset: o + 45, as: UInt32.self)
        raw.storeBigEndian(t.dateTimeBCD, byteCount: 7, at: o + 49)
    }

    /// Decodes the transfers of a page; `nil` if any row is corrupt.
    public static func transfers(_ page: [UInt8]) -> [Transfer]? {
        guard page.count % transferBytes == 0 else { return nil }
        var out: [Transfer] = []
        out.reserveCapacity(page.count / transferBytes)
        var o = 0
        while o < page.count {
            func be(_ at: Int, _ n: Int) -> UInt64 { page.bigEndianInteger(at: o + at, count: n) ?? 0 }
            guard let dk = AccountKind(rawValue: page[o + 8]), let ck = AccountKind(rawValue: page[o + 17]),
                  let reason = TransferReason(rawValue: page[o + 34]), let terminal = TerminalID(rawValue: be(35, 6))
            else { return nil }
            let amount = Int64(bitPattern: be(26, 8))
            let debit = AccountID(kind: dk, number: be(9, 8)), credit = AccountID(kind: ck, number: be(18, 8))
            guard amount > 0, debit != credit else { return nil }
            out.append(Transfer(
                id: be(0, 8), debit: debit, credit: credit, amountFen: amount, reason: reason,
                source: RecordRef(terminal: terminal, batch: UInt32(be(41, 4)), index: UInt32(be(45, 4))),
                dateTimeBCD: be(49, 7)))
            o += transferBytes
        }
        return out
    }

    /// Appends a card shadow with its serial: one 64-byte row written in place.
    public static func append(serial: UInt64, _ s: CardShadow, to out: inout [UInt8]) {
        let o = out.count
        out.append(contentsOf: repeatElement(0, count: shadowBytes))
        out.withUnsafeMutableBytes { store(serial: serial, s, in: $0, at: o) }
    }

    /// Writes a card shadow's row at byte offset `o` of `raw` (byte 31 is left as it is: zero).
    @inline(__always)
    static func store(serial: UInt64, _ s: CardShadow, in raw: UnsafeMutableRawBufferPointer, at o: Int) {
        raw.storeBytes(of: serial.bigEndian, toByteOffset: o, as: UInt64.self)
        raw.storeBytes(of: s.balanceFen.bigEndian, toByteOffset: o + 8, as: UInt32.self)
        raw.storeBytes(of: s.arrearsFen.bigEndian, toByteOffset: o + 12, as: UInt32.self)
        raw.storeBytes(of: s.nextOffline.bigEndian, toByteOffset: o + 16, as: UInt16.self)
        raw.storeBytes(of: s.nextOnline.bigEndian, toByteOffset: o + 18, as: UInt16.self)
        raw.storeBytes(of: s.lastSeconds.bigEndian, toByteOffset: o + 20, as: UInt32.self)
        raw.storeBytes(of: s.lastBalanceAfterFen.bigEndian, toByteOffset: o + 24, as: UInt32.self)
        raw[o + 28] = s.flags
        raw.storeBytes(of: s.gapSinceDay.bigEndian, toByteOffset: o + 29, as: UInt16.self)
        // Byte 31 stays zero.
        raw.storeBytes(of: s.offlineSeen.bigEndian, toByteOffset: o + 32, as: UInt64.self)
        raw.storeBytes(of: s.onlineSeen.bigEndian, toByteOffset: o + 40, as: UInt64.self)
        raw.storeBytes(of: s.firstSeconds.bigEndian, toByteOffset: o + 48, as: UInt32.self)
        raw.storeBytes(of: s.firstBalanceBeforeFen.bigEndian, toByteOffset: o + 52, as: UInt32.self)
        raw.storeBytes(of: UInt64(bitPattern: s.baselineAdjustFen).bigEndian, toByteOffset: o + 56, as: UInt64.self)
    }

    /// Fixed-size rows written in place, one after the other, into zeroed memory grown ahead
    /// (appending a zeroed row at a time costs more than the row's own stores).
    struct Rows {
        let rowBytes: Int
        private var bytes: [UInt8]
        private var used = 0

        /// Room for `capacity` rows to begin with.
        init(rowBytes: Int, capacity: Int) {
            self.rowBytes = rowBytes
            bytes = [UInt8](repeating: 0, count: rowBytes * max(1, capacity))
        }

        /// Writes the next row (`write` gets the buffer and the row's offset).
        @inline(__always)
        mutating func append(_ write: (UnsafeMutableRawBufferPointer, Int) -> Void) {
            if used + rowBytes > bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(rowBytes, bytes.count))) }
            let o = used
            bytes.withUnsafeMutableBytes { write($0, o) }
            used += rowBytes
        }

        /// The rows written, the buffer given up.
        mutating func finish() -> [UInt8] {
            var out = bytes
            bytes = []
            out.removeLast(out.count - used)
            used = 0
            return out
        }
    }

    /// The packed shadow rows of `rows` whose serial is not in `except`.
    public static func shadowRows(_ rows: [UInt8], except: Set<UInt64>) -> [UInt8] {
        guard !except.isEmpty else { return rows }
        var out: [UInt8] = []
        out.reserveCapacity(rows.count + except.count * shadowBytes)
        rows.withUnsafeBytes { raw in
            for o in stride(from: 0, to: raw.count, by: shadowBytes)
            where !except.contains(UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self))) {
                out.append(contentsOf: raw[o..<o + shadowBytes])
            }
        }
        return out
    }

    /// Decodes a page of shadows of `rowBytes` (``shadowBytes``, or ``shadowBytesV1`` for
    /// pages of the first format) into `cards` (later rows overwrite earlier ones).
    public static func shadows(_ page: [UInt8], rowBytes: Int = shadowBytes, into cards: inout CardTable) -> Bool {
        guard rowBytes == shadowBytes || rowBytes == shadowBytesV1, page.count % rowBytes == 0 else { return false }
        page.withUnsafeBytes { raw in
            var o = 0
            // Fixed offsets, read as big-endian words in place (startup reads every card's row).
            func u64(_ at: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: o + at, as: UInt64.self)) }
            func u32(_ at: Int) -> UInt32 { UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: o + at, as: UInt32.self)) }
            func u16(_ at: Int) -> UInt16 { UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: o + at, as: UInt16.self)) }
            while o < raw.count {
                var s = CardShadow()
                s.balanceFen = u32(8)
                s.arrearsFen = u32(12)
                s.nextOffline = u16(16)
                s.nextOnline = u16(18)
                s.lastSeconds = u32(20)
                s.lastBalanceAfterFen = u32(24)
                s.flags = raw[o + 28] & ~CardShadow.Flags.unused5
                s.gapSinceDay = u16(29)
                s.offlineSeen = u64(32)
                s.onlineSeen = u64(40)
                if rowBytes == shadowBytes {
                    s.firstSeconds = u32(48)
                    s.firstBalanceBeforeFen = u32(52)
                    s.baselineAdjustFen = Int64(bitPattern: u64(56))
                } else if s.lastSeconds != 0 {
                    // The first format kept only the newest transaction: it becomes the baseline.
                    s.flags |= CardShadow.Flags.chained
                    s.firstSeconds = s.lastSeconds
                    s.firstBalanceBeforeFen = s.lastBalanceAfterFen
                    s.baselineAdjustFen = -s.ledgerFen
                }
                cards[u64(0)] = s
                o += rowBytes
            }
        }
        return true
    }

    /// The reference, kind and amount of every accepted record in a page of details
    /// (``AcceptedDetail``), for the ledger audit; `nil` if any row is corrupt.
    public static func acceptedRefs(_ page: [UInt8]) -> [(ref: RecordRef, kind: RecordKind, amountFen: UInt32)]? {
        details(page)?.map { ($0.ref, $0.kind, $0.amountFen) }
    }
}

extension String {
    /// Two decimal digits of a small number (`1` → `"01"`).
    init(format2 v: UInt8) { self = v < 10 ? "0\(v)" : "\(v)" }
}
