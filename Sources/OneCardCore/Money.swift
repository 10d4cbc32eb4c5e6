/// Money in OneCard is an integer number of fen (1 yuan = 100 fen), never a floating-point
/// value. Card-side amounts are `UInt32` (the card's 4-byte fields); ledger-side amounts are
/// `Int64`. These helpers do the arithmetic that input reaches with overflow reported, not
/// trapped.
public enum Fen {
    /// 1 yuan in fen.
    public static let perYuan: Int64 = 100

    /// Adds two card-side amounts, or returns `nil` on overflow.
    @inlinable
    public static func add(_ a: UInt32, _ b: UInt32) -> UInt32? {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : r
    }

    /// Subtracts `b` from `a`, or returns `nil` when `b > a`.
    @inlinable
    public static func subtract(_ a: UInt32, _ b: UInt32) -> UInt32? {
        let (r, o) = a.subtractingReportingOverflow(b)
        return o ? nil : r
    }

    /// Adds two ledger amounts, or returns `nil` on overflow.
    @inlinable
    public static func add(_ a: Int64, _ b: Int64) -> Int64? {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : r
    }

    /// Formats fen as yuan with two decimals (`12345` → `"123.45"`, `-5` → `"-0.05"`).
    public static func yuan(_ fen: Int64) -> String {
        let sign = fen < 0 ? "-" : ""
        let magnitude = fen.magnitude
        let cents = magnitude % 100
        return "\(sign)\(magnitude / 100).\(cents < 10 ? "0" : "")\(cents)"
    }

    /// Parses a decimal yuan amount with at most two decimals (`"12.5"` → 1250).
    ///
    /// - Returns: `nil` for anything else, including negative amounts and more than two decimals.
    public static func parseYuan(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let whole = parts.first, !whole.isEmpty,
              whole.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), whole.count <= 15,
              let yuan = Int64(whole)
        else { return nil }
        var cents: Int64 = 0
        if parts.count == 2 {
            let frac = parts[1]
            guard (1...2).contains(frac.count), frac.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  let f = Int64(frac)
            else { return nil }
            cents = frac.count == 1 ? f * 10 : f
        }
        return yuan * 100 + cents
    }
}
