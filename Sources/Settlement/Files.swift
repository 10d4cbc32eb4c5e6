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

    /// Appends one settled purchase to an operator's clearing file.
    public static func appendClearingRow(_ d: AcceptedDetail, to out: inout [UInt8]) {
        // Hot loop (one call per fare): bytes appended directly, no String per row.
        appendRef(d.ref, to: &out)
        out.append(contentsOf: ",purchase,".utf8)
        appendHex(d.serial.rawValue, digits: 16, to: &out)
        out.append(UInt8(ascii: ","))
        BCDClock.appendISO(d.dateTimeBCD, to: &out)
        out.append(UInt8(ascii: ","))
        appendHex(d.ref.terminal.rawValue, digits: 12, to: &out)
        out.append(UInt8(ascii: ","))
        appendDecimal(UInt64(d.counter), to: &out)
        out.append(UInt8(ascii: ","))
        appendDecimal(UInt64(d.amountFen), to: &out)
        out.append(UInt8(ascii: ","))
        appendHex(UInt64(d.tac), digits: 8, to: &out)
        out.append(UInt8(ascii: "\n"))
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
        out.append(contentsOf: "\(f.ref),\(f.code.rawValue),\(f.code.description.dropFirst(3)),\(f.record.kind),".utf8)
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

    /// `TERMINAL/BATCH#INDEX`, as ``RecordRef/description``.
    static func appendRef(_ r: RecordRef, to out: inout [UInt8]) {
        appendHex(r.terminal.rawValue, digits: 12, to: &out)
        out.append(UInt8(ascii: "/"))
        appendDecimal(UInt64(r.batch), to: &out)
        out.append(UInt8(ascii: "#"))
        appendDecimal(UInt64(r.index), to: &out)
    }

    static func appendDecimal(_ v: UInt64, to out: inout [UInt8]) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var x = v
        withUnsafeMutableBytes(of: &digits) { buf in
            repeat {
                buf[n] = 0x30 &+ UInt8(x % 10)
                x /= 10
                n += 1
            } while x > 0
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(buf[i]) }
        }
    }

    static func appendHex(_ v: UInt64, digits: Int, to out: inout [UInt8]) {
        for i in stride(from: digits - 1, through: 0, by: -1) {
            let nibble = UInt8(truncatingIfNeeded: v >> (4 * UInt64(i))) & 0xF
            out.append(nibble < 10 ? 0x30 &+ nibble : 0x37 &+ nibble)
        }
    }
}
