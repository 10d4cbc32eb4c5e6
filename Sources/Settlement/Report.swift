import OneCardCore

/// `report.html`: one self-contained page (inline CSS and SVG, no scripts, no external
/// assets) for clearing staff. Amounts are shown in yuan from integer fen; only the chart's
/// pixel geometry uses floating point.
public enum SettlementReport {
    /// The chart's drawing area, pixels.
    static let chartWidthPx = 720.0, chartHeightPx = 200.0

    /// Renders the page.
    public static func html(_ s: SettlementSummary) -> [UInt8] {
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Settlement \(s.day)</title>
            <style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}\
            td,th{border:1px solid #bbb;padding:4px 8px}td.n{text-align:right;font-variant-numeric:tabular-nums}\
            th{background:#eee}.closed{color:#060}.open{color:#a60}</style></head><body>
            <h1>Settlement of business day \(s.day)</h1>
            <p>Cut-off \(s.cutoff): records of the ingest runs received from \(s.day) \(s.cutoff) to the next day \(s.cutoff) \
            (runs \(s.runs.map(String.init).joined(separator: ", "))). Status: \
            <b class="\(s.closed ? "closed" : "open")">\(s.closed ? "closed" : "open (provisional)")</b>.</p>

            """
        h += totals(s) + operators(s) + agents(s) + positions(s) + chart(s.tapsByHour) + refusals(s) + exceptions(s)
        h += "</body></html>\n"
        return Array(h.utf8)
    }

    static func yuan(_ fen: Int64) -> String { Fen.yuan(fen) }

    static func esc(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    static func table(_ head: [String], _ rows: [[String]], numeric: Set<Int>) -> String {
        var t = "<table><tr>" + head.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
        for r in rows {
            t += "<tr>" + r.enumerated().map { i, v in numeric.contains(i) ? "<td class=\"n\">\(esc(v))</td>" : "<td>\(esc(v))</td>" }.joined() + "</tr>\n"
        }
        return t + "</table>\n"
    }

    static func totals(_ s: SettlementSummary) -> String {
        let t = s.totals
        return "<h2>Totals</h2>\n" + table(["", "value"], [
            ["accepted records", String(t.acceptedRecords)], ["refused records", String(t.refusedRecords)],
            ["fares (transactions)", String(t.transactions)], ["gross fares, yuan", yuan(t.grossFen)],
            ["commission, yuan", yuan(t.commissionFen)], ["paid to operators, yuan", yuan(t.netPayableFen)],
            ["owed by agents, yuan", yuan(t.owedByAgentsFen)], ["issuer float change, yuan", yuan(s.issuer.floatChangeFen)],
            ["adjustments", String(t.adjustments)],
        ], numeric: [1])
    }

    static func operators(_ s: SettlementSummary) -> String {
        "<h2>Operators</h2>\n" + table(
            ["operator", "kind", "transactions", "gross, yuan", "adjustments, yuan", "rate", "commission, yuan", "net payable, yuan"],
            s.operators.map {
                ["\($0.operatorID) \($0.name)", $0.kind, String($0.transactions), yuan($0.grossFen), yuan($0.adjustmentFen),
                 "\($0.commissionBasisPoints) bp", yuan($0.commissionFen), yuan($0.netPayableFen)]
            }, numeric: [2, 3, 4, 5, 6, 7])
    }

    static func agents(_ s: SettlementSummary) -> String {
        "<h2>Service counters and top-up agents</h2>\n" + table(
            ["terminal", "name", "loads", "loads, yuan", "deposits taken, yuan", "refunds", "deposits refunded, yuan", "balances refunded, yuan", "owed to issuer, yuan"],
            s.agents.map {
                [$0.terminal, $0.name, String($0.loads), yuan($0.loadsFen + $0.adjustmentFen), yuan($0.depositsTakenFen), String($0.refunds),
                 yuan($0.depositsRefundedFen), yuan($0.balancesRefundedFen), yuan($0.owedToIssuerFen)]
            }, numeric: [2, 3, 4, 5, 6, 7, 8])
    }

    static func positions(_ s: SettlementSummary) -> String {
        let sum = s.positions.reduce(Int64(0)) { $0 + $1.positionFen }
        return "<h2>Net positions (received + / paid −)</h2>\n"
            + table(["participant", "name", "position, yuan"], s.positions.map { [$0.participant, $0.name, yuan($0.positionFen)] } + [["sum", "", yuan(sum)]], numeric: [2])
    }

    /// The hourly tap chart: 24 bars, inline SVG.
    static func chart(_ hours: [Int]) -> String {
        let peak = max(1, hours.max() ?? 1)
        let barPx = chartWidthPx / 24
        var svg = "<h2>Taps by hour</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(chartWidthPx))\" height=\"\(Int(chartHeightPx) + 20)\" role=\"img\" aria-label=\"taps by hour\">\n"
        for (hour, n) in hours.enumerated() {
            let hPx = (Double(n) / Double(peak) * chartHeightPx).rounded()
            let x = Double(hour) * barPx
            svg += "<rect x=\"\(Int(x) + 2)\" y=\"\(Int(chartHeightPx - hPx))\" width=\"\(Int(barPx) - 4)\" height=\"\(Int(hPx))\" fill=\"#3a7\"><title>\(hour):00 \(n) taps</title></rect>"
            svg += "<text x=\"\(Int(x + barPx / 2))\" y=\"\(Int(chartHeightPx) + 14)\" font-size=\"10\" text-anchor=\"middle\">\(hour)</text>\n"
        }
        return svg + "</svg>\n<p>Peak hour: \(peak) taps.</p>\n"
    }

    static func refusals(_ s: SettlementSummary) -> String {
        "<h2>Refusals by reason</h2>\n" + table(["code", "refused"], s.refusalsByCode.keys.sorted().map { [$0, String(s.refusalsByCode[$0] ?? 0)] }, numeric: [1])
    }

    static func exceptions(_ s: SettlementSummary) -> String {
        "<h2>Exceptions and decisions</h2>\n" + (s.exceptions.isEmpty ? "<p>None.</p>\n" : table(
            ["id", "kind", "card", "detail", "status", "officer", "reason", "decided"],
            s.exceptions.map { [$0.id, $0.kind, $0.card, $0.detail, $0.status, $0.officer ?? "", $0.reason ?? "", $0.decided ?? ""] },
            numeric: []))
    }
}
