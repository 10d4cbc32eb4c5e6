import Foundation
public import OneCardCore

/// One terminal's line of an operator's statement: what its own terminals counted for the day.
public struct StatementLine: Sendable, Equatable {
    /// The terminal.
    public var terminal: TerminalID
    /// Transactions it counted.
    public var count: Int
    /// Their sum.
    public var amountFen: Int64
}

/// Why a statement cannot be read.
public struct StatementError: Error, Equatable, CustomStringConvertible {
    /// The message, naming the file and line.
    public let description: String

    /// Wraps a message.
    public init(description: String) { self.description = description }
}

/// The result of comparing a statement with what clearing settled (`reconcile --json`).
public struct Reconciliation: Sendable, Codable, Equatable {
    /// One terminal's figures on both sides.
    public struct Line: Sendable, Codable, Equatable {
        /// The terminal (12 hex).
        public var terminal: String
        /// The statement's count (nil: not in the statement).
        public var statementCount: Int?
        /// The statement's amount.
        public var statementAmountFen: Int64?
        /// Clearing's count (nil: nothing cleared).
        public var clearedCount: Int?
        /// Clearing's amount.
        public var clearedAmountFen: Int64?
    }

    /// The business day.
    public var day: String
    /// Both sides agree.
    public var matched: [Line]
    /// Both sides have the terminal but count or amount differ.
    public var mismatched: [Line]
    /// In the statement, nothing cleared.
    public var missingInClearing: [Line]
    /// Cleared, not in the statement (terminals of the statement's operators only).
    public var missingInStatement: [Line]

    /// Whether everything matched.
    public var agrees: Bool { mismatched.isEmpty && missingInClearing.isEmpty && missingInStatement.isEmpty }
}

/// Reading statements and comparing them.
public enum Reconciler {
    /// The statement's header line (docs/formats.md).
    public static let header = "terminal,count,amount_fen"
    /// The most lines a statement may have.
    public static let linesMax = 1_000_000

    /// Parses a statement: the header, then `TERMINAL12HEX,COUNT,AMOUNT_FEN` per line.
    ///
    /// - Throws: ``StatementError`` naming the line.
    public static func parse(_ text: String, file: String) throws(StatementError) -> [StatementLine] {
        var lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.first == header else {
            throw StatementError(description: "\(file): the first line must be the header \(header)")
        }
        lines.removeFirst()
        guard lines.count <= linesMax else { throw StatementError(description: "\(file): more than \(linesMax) lines") }
        var out: [StatementLine] = []
        var seen = Set<TerminalID>()
        for (i, line) in lines.enumerated() where !line.isEmpty {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == 3, let t = TerminalID(hex: f[0]), let n = Int(f[1]), n >= 0, let fen = Int64(f[2]), fen >= 0 else {
                throw StatementError(description: "\(file) line \(i + 2): expected TERMINAL(12 hex),COUNT,AMOUNT_FEN, got \"\(line)\"")
            }
            guard seen.insert(t).inserted else { throw StatementError(description: "\(file) line \(i + 2): terminal \(t) appears twice") }
            out.append(StatementLine(terminal: t, count: n, amountFen: fen))
        }
        return out
    }

    /// Compares a statement with the cleared purchases per terminal. Cleared terminals absent
    /// from the statement count as missing when `operatorOf` gives them the same operator as a
    /// terminal of the statement.
    public static func compare(
        day: String, statement: [StatementLine], cleared: [TerminalID: (count: Int, amountFen: Int64)], operatorOf: (TerminalID) -> UInt16?
    ) -> Reconciliation {
        var r = Reconciliation(day: day, matched: [], mismatched: [], missingInClearing: [], missingInStatement: [])
        let operators = Set(statement.compactMap { operatorOf($0.terminal) })
        for s in statement.sorted(by: { $0.terminal < $1.terminal }) {
            let c = cleared[s.terminal]
            let line = Reconciliation.Line(terminal: s.terminal.description, statementCount: s.count, statementAmountFen: s.amountFen,
                                           clearedCount: c?.count, clearedAmountFen: c?.amountFen)
            if let c {
                if c.count == s.count && c.amountFen == s.amountFen { r.matched.append(line) } else { r.mismatched.append(line) }
            } else {
                r.missingInClearing.append(line)
            }
        }
        let listed = Set(statement.map(\.terminal))
        for t in cleared.keys.sorted() where !listed.contains(t) {
            guard let op = operatorOf(t), operators.contains(op), let c = cleared[t] else { continue }
            r.missingInStatement.append(Reconciliation.Line(terminal: t.description, statementCount: nil, statementAmountFen: nil,
                                                            clearedCount: c.count, clearedAmountFen: c.amountFen))
        }
        return r
    }
}
