public import OneCardCore
public import UploadBatch

/// What settlement needs of one accepted upload record: who, when, where, how much, and the
/// TAC that proves it. Stored at ingest as packed rows (``Packing/detailBytes``), one per
/// accepted record, so a day's clearing files can list every settled transaction without the
/// original batch files.
public struct AcceptedDetail: Hashable, Sendable {
    /// Which record.
    public var ref: RecordRef
    /// Its kind.
    public var kind: RecordKind
    /// The card.
    public var serial: CardSerial
    /// The card's counter of this kind (offline for purchases, online for loads).
    public var counter: UInt16
    /// The amount (fare, load, refunded balance, moved balance).
    public var amountFen: UInt32
    /// The deposit taken (issue) or paid back (refund); 0 otherwise.
    public var depositFen: UInt32
    /// When, packed 7-byte BCD `YYYYMMDDhhmmss`.
    public var dateTimeBCD: UInt64
    /// The record's TAC (0 for records without card crypto).
    public var tac: UInt32
    /// The operator of the uploading batch.
    public var operatorID: UInt16

    /// Describes an accepted record.
    public init(ref: RecordRef, kind: RecordKind, serial: CardSerial, counter: UInt16, amountFen: UInt32, depositFen: UInt32,
                dateTimeBCD: UInt64, tac: UInt32, operatorID: UInt16) {
        self.ref = ref
        self.kind = kind
        self.serial = serial
        self.counter = counter
        self.amountFen = amountFen
        self.depositFen = depositFen
        self.dateTimeBCD = dateTimeBCD
        self.tac = tac
        self.operatorID = operatorID
    }

    /// The detail of an accepted batch record.
    public init(ref: RecordRef, record r: BatchRecord, operatorID: UInt16) {
        self.init(ref: ref, kind: r.kind, serial: r.serial, counter: r.counter, amountFen: r.amountFen, depositFen: r.depositFen,
                  dateTimeBCD: r.dateTimeBCD, tac: r.tac, operatorID: operatorID)
    }
}

extension Packing {
    /// Bytes per packed accepted-record detail.
    public static let detailBytes = 48

    /// Appends a detail: terminal(6) batch(4) index(4) kind(1) serial(8) counter(2) amount(4)
    /// deposit(4) date-time(7) TAC(4) operator(2), zero padding.
    public static func append(_ d: AcceptedDetail, to out: inout [UInt8]) {
        let o = out.count
        out.append(contentsOf: repeatElement(0, count: detailBytes))
        out.withUnsafeMutableBytes { store(d, in: $0, at: o) }
    }

    /// Writes a detail's row at byte offset `o` of `raw` (the padding is left as it is).
    public static func store(_ d: AcceptedDetail, in raw: UnsafeMutableRawBufferPointer, at o: Int) {
        raw.storeBigEndian(d.ref.terminal.rawValue, byteCount: 6, at: o)
        raw.storeBytes(of: d.ref.batch.bigEndian, toByteOffset: o + 6, as: UInt32.self)
        raw.storeBytes(of: d.ref.index.bigEndian, toByteOffset: o + 10, as: UInt32.self)
        raw[o + 14] = d.kind.rawValue
        raw.storeBytes(of: d.serial.rawValue.bigEndian, toByteOffset: o + 15, as: UInt64.self)
        raw.storeBytes(of: d.counter.bigEndian, toByteOffset: o + 23, as: UInt16.self)
        raw.storeBytes(of: d.amountFen.bigEndian, toByteOffset: o + 25, as: UInt32.self)
        raw.storeBytes(of: d.depositFen.bigEndian, toByteOffset: o + 29, as: UInt32.self)
        raw.storeBigEndian(d.dateTimeBCD, byteCount: 7, at: o + 33)
        raw.storeBytes(of: d.tac.bigEndian, toByteOffset: o + 40, as: UInt32.self)
        raw.storeBytes(of: d.operatorID.bigEndian, toByteOffset: o + 44, as: UInt16.self)
    }

    /// Decodes a page of details; `nil` if any row is corrupt.
    public static func details(_ page: [UInt8]) -> [AcceptedDetail]? {
        guard page.count % detailBytes == 0 else { return nil }
        var out: [AcceptedDetail] = []
        out.reserveCapacity(page.count / detailBytes)
        var o = 0
        while o < page.count {
            func be(_ at: Int, _ n: Int) -> UInt64 { page.bigEndianInteger(at: o + at, count: n) ?? 0 }
            guard let t = TerminalID(rawValue: be(0, 6)), let kind = RecordKind(rawValue: page[o + 14]) else { return nil }
            out.append(AcceptedDetail(
                ref: RecordRef(terminal: t, batch: UInt32(be(6, 4)), index: UInt32(be(10, 4))), kind: kind,
                serial: CardSerial(rawValue: be(15, 8)), counter: UInt16(be(23, 2)), amountFen: UInt32(be(25, 4)),
                depositFen: UInt32(be(29, 4)), dateTimeBCD: be(33, 7), tac: UInt32(be(40, 4)), operatorID: UInt16(be(44, 2))))
            o += detailBytes
        }
        return out
    }
}
