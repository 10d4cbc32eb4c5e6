public import Clearing
import Foundation
import OneCardCore
public import UploadBatch

/// The settlement's output files, rendered as bytes (the CLI writes them). Every rendering is
/// a pure function of the data: re-settling an open day gives byte-identical files.
public enum SettlementFiles {
    /// The header of an operator's clearing file (`clearing-operator-N.csv`).
    public static let clearingHeader = "record,kind,card,time,terminal,counter,amount_fen,tac\n"
    /// The header of `refusals.csv`.
    public static let refusalHeader = "record,code,reason,kind,card,time,terminal,counter,amount_fen\n"
    /// The header of `positions.csv`.
    public static let positionsHeader = "participant,role,name,transactions,gross_fen,commission_fen,loads_fen,deposits_fen,refunds_fen,position_fen\n"

    /// The clearing file's name for an operator.
    public static func clearingFileName(_ operatorID: UInt16) -> String { "clearing-operator-\(operatorID).csv" }

    /// The longest clearing-file row: ref(12+1+10+1+10) + kind + card(16) + time(19) +
    /// terminal(12) + counter(5) + amount(10) + TAC(8) + separators, rounded up.
    static let clearingRowBytesMax = 160

    /// Appends one settled purchase to an operator's clearing file.
    public static func appendClearingRow(_ d: AcceptedDetail, to out: inout [UInt8]) {
        // Hot loop (one call per fare): the row is built in a stack buffer and appended once.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: clearingRowBytesMax) { buffer in
            var w = RowWriter(buffer: buffer)
            w.hex(d.ref.terminal.rawValue, digits: 12)
            w.byte(UInt8(ascii: "/"))
            w.decimal(UInt64(d.ref.batch))
            w.byte(UInt8(ascii: "#"))
            w.decimal(UInt64(d.ref.index))
            w.text(",purchase,")
            w.hex(d.serial.rawValue, digits: 16)
            w.byte(UInt8(ascii: ","))
            w.iso(d.dateTimeBCD)
            w.byte(UInt8(ascii: ","))
            w.hex(d.ref.terminal.rawValue, digits: 12)
            w.byte(UInt8(ascii: ","))
            w.decimal(UInt64(d.counter))
            w.byte(UInt8(ascii: ","))
            w.decimal(UInt64(d.amountFen))
            w.byte(UInt8(ascii: ","))
            w.hex(UInt64(d.tac), digits: 8)
            w.byte(UInt8(ascii: "\n"))
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<w.count]))
        }
    }

    /// Appends an officer's fare adjustment (the accepted refused record) to a clearing file.
    public static func appendAdjustmentRow(_ t: Transfer, record r: BatchRecord?, to out: inout [UInt8]) {
        out.append(contentsOf: "\(t.source),adjustment,".utf8)
        if let r { appendHex(r.serial.rawValue, digits: 16, to: &out) }
        out.append(UInt8(ascii: ","))
        BCDClock.appendISO(t.dateTimeBCD, to: &out)
        out.append(contentsOf: ",\(t.source.terminal),\(r.map { String($0.counter) } ?? ""),\(t.amountFen),".utf8)
        if let r { appendHex(UInt64(r.tac), digits: 8, to: &out) }
        out.append(UInt8(ascii: "\n"))
    }

    /// Appends one refused record to `refusals.csv`.
    public static func appendRefusalRow(_ f: Refusal, to out: inout [UInt8]) {
        out.append(contentsOf: "\(f.ref),\(f.code.rawValue),\(f.reason),\(f.record.kind),".utf8)
        appendHex(f.record.serial.rawValue, digits: 16, to: &out)
        out.append(UInt8(ascii: ","))
        BCDClock.appendISO(f.record.dateTimeBCD, to: &out)
        out.append(contentsOf: ",\(f.record.terminal),\(f.record.counter),\(f.record.amountFen)\n".utf8)
    }

    /// `positions.csv`: one row per participant, operators then agents then the issuer.
    public static func positions(_ s: SettlementSummary) -> [UInt8] {
        var out = positionsHeader
        for o in s.operators {
            out += "operator:\(o.operatorID),operator,\(csv(o.name)),\(o.transactions),\(o.grossFen + o.adjustmentFen),\(o.commissionFen),0,0,0,\(o.netPayableFen)\n"
        }
        for a in s.agents {
            let refunds = a.balancesRefundedFen + a.depositsRefundedFen
            out += "agent:\(a.terminal),agent,\(csv(a.name)),\(a.loads),0,0,\(a.loadsFen + a.adjustmentFen),\(a.depositsTakenFen),\(refunds),\(-a.owedToIssuerFen)\n"
        }
        out += "issuer,issuer,\(csv("issuer (float and commission)")),0,0,\(s.issuer.commissionFen),0,0,0,\(s.issuer.positionFen)\n"
        return Array(out.utf8)
    }

    /// `summary.json`: pretty, keys sorted, trailing newline.
    public static func summaryJSON(_ s: SettlementSummary) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Encoding plain structs of strings and integers cannot fail.
        guard let data = try? encoder.encode(s) else { preconditionFailure("summary of \(s.day) does not encode") }
        return [UInt8](data) + [UInt8(ascii: "\n")]
    }

    /// A CSV field: quoted when it holds a comma, quote or newline.
    static func csv(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func appendHex(_ v: UInt64, digits: Int, to out: inout [UInt8]) {
        for i in stride(from: digits - 1, through: 0, by: -1) {
            let nibble = UInt8(truncatingIfNeeded: v >> (4 * UInt64(i))) & 0xF
            out.append(nibble < 10 ? 0x30 &+ nibble : 0x37 &+ nibble)
        }
    }
}

/// Writes ASCII into a fixed buffer of ``SettlementFiles/clearingRowBytesMax`` bytes. The
/// bound is checked once, by the row's caller (every field of a clearing row has a fixed
/// longest width, and their sum is below the bound), so the writes themselves are unchecked:
/// this is one call per fare of the day.
struct RowWriter {
    let base: UnsafeMutablePointer<UInt8>
    var count = 0

    init(buffer: UnsafeMutableBufferPointer<UInt8>) {
        precondition(buffer.count >= SettlementFiles.clearingRowBytesMax, "a clearing row buffer of \(buffer.count) bytes")
        base = buffer.baseAddress!
    }

    @inline(__always) mutating func byte(_ b: UInt8) {
        base[count] = b
        count &+= 1
    }

    @inline(__always) mutating func text(_ s: StaticString) {
        s.withUTF8Buffer { t in
            (base + count).update(from: t.baseAddress!, count: t.count)
            count &+= t.count
        }
    }

    /// Upper-case hex, exactly `digits` digits (at most 16).
    @inline(__always) mutating func hex(_ v: UInt64, digits: Int) {
        var i = digits
        var x = v
        while i > 0 {
            i &-= 1
            let nibble = UInt8(truncatingIfNeeded: x) & 0xF
            base[count &+ i] = nibble < 10 ? 0x30 &+ nibble : 0x37 &+ nibble
            x >>= 4
        }
        count &+= digits
    }

    /// Decimal without leading zeros (at most 20 digits), two digits per division.
    @inline(__always) mutating func decimal(_ v: UInt64) {
        var digits = 1
        var limit: UInt64 = 10
        while digits < 20, v >= limit {
            digits &+= 1
            limit = limit &* 10
        }
        var i = count &+ digits
        var x = v
        Self.pairs.withUTF8Buffer { pairs in
            while x >= 100 {
                let pair = Int(x % 100) &* 2
                x /= 100
                i &-= 2
                base[i] = pairs[pair]
                base[i &+ 1] = pairs[pair &+ 1]
            }
            if x >= 10 {
                i &-= 2
                base[i] = pairs[Int(x) &* 2]
                base[i &+ 1] = pairs[Int(x) &* 2 &+ 1]
            } else {
                base[i &- 1] = 0x30 &+ UInt8(x)
            }
        }
        count &+= digits
    }

    /// "00" "01" … "99": a literal, so reading it costs no initialisation check.
    private static var pairs: StaticString {
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
    }

    /// `YYYY-MM-DDThh:mm:ss` straight from a packed BCD date-time's nibbles.
    mutating func iso(_ v: UInt64) {
        for i in 0..<7 {
            let b = UInt8(truncatingIfNeeded: v >> (8 * (6 - i)))
            byte(0x30 &+ (b >> 4))
            byte(0x30 &+ (b & 0xF))
            switch i {
            case 1, 2: byte(UInt8(ascii: "-"))
            case 3: byte(UInt8(ascii: "T"))
            case 4, 5: byte(UInt8(ascii: ":"))
            default: break
            }
        }
    }
}

