import OneCardCore

/// A city file that cannot be used: where (file and JSON path) and what is wrong.
///
/// Thrown by ``City/load(path:)`` and ``City/parse(data:source:)``. The description reads like
/// `city-xian.json: $.terminals[3].operator: unknown operator 9`.
public struct CityFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public enum Problem: Hashable, Sendable {
        /// The file could not be read (missing, unreadable, too large).
        case unreadable(String)
        /// The bytes are not JSON.
        case malformedJSON(String)
        /// `format` is not `onecard-city/1`.
        case unsupportedFormat(String)
        /// A required key is absent.
        case missingKey(String)
        /// A value has the wrong JSON type or does not fit its integer type.
        case wrongType(String)
        /// A value that must be one of a fixed set (kind, card type, policy, hex code…) is not.
        case invalidValue(String)
        /// An amount in fen outside its allowed range.
        case amountOutOfRange(valueFen: Int64, minFen: Int64, maxFen: Int64)
        /// A count, distance or duration outside its allowed range.
        case numberOutOfRange(value: Int64, min: Int64, max: Int64)
        /// A rate above 10000 basis points or below 0.
        case basisPointsOutOfRange(Int)
        /// A reference to an operator that is not in `operators`.
        case unknownOperator(OperatorID)
        /// A reference to an operator of the wrong kind (e.g. a bus line run by the metro).
        case operatorKindMismatch(OperatorID, expected: OperatorKind, found: OperatorKind)
        /// A reference to a line that is not defined.
        case unknownLine(LineID)
        /// A reference to a station that is not on the named line.
        case unknownStation(StationID, line: LineID)
        /// Two operators with the same id.
        case duplicateOperator(OperatorID)
        /// Two terminals with the same id.
        case duplicateTerminal(TerminalID)
        /// Two lines (bus or metro) with the same code.
        case duplicateLine(LineID)
        /// A station listed twice on one line.
        case duplicateStation(StationID)
        /// Two concession rules for the same card type and operator kind.
        case duplicateConcession(CardType, OperatorKind)
        /// A terminal with no location or more than one.
        case terminalLocationCount(Int)
        /// Fare bands whose `metresMax` does not strictly increase or whose fare decreases.
        case unsortedFareBands
        /// Stations whose `metres` does not strictly increase along the line.
        case unsortedStations
        /// The metro lines do not form one connected network.
        case disconnectedMetro(StationID, StationID)
    }

    /// The file name or other label of the input.
    public let source: String
    /// The JSON path of the offending value, e.g. `$.terminals[3].operator`.
    public let path: String
    /// What is wrong.
    public let problem: Problem

    /// Builds an error.
    public init(source: String, path: String, problem: Problem) {
        self.source = source
        self.path = path
        self.problem = problem
    }

    /// `source: path: problem`, for a person to act on.
    public var description: String { "\(source): \(path): \(problemText)" }

    private var problemText: String {
        switch problem {
        case .unreadable(let s): "cannot read the file (\(s))"
        case .malformedJSON(let s): "not valid JSON (\(s))"
        case .unsupportedFormat(let s): "format \"\(s)\" is not supported; expected \"\(City.format)\""
        case .missingKey(let k): "required key \"\(k)\" is missing"
        case .wrongType(let s): "wrong type: \(s)"
        case .invalidValue(let s): s
        case .amountOutOfRange(let v, let lo, let hi): "amount \(v) fen is outside \(lo)...\(hi) fen"
        case .numberOutOfRange(let v, let lo, let hi): "\(v) is outside \(lo)...\(hi)"
        case .basisPointsOutOfRange(let v): "\(v) basis points is outside 0...10000"
        case .unknownOperator(let id): "unknown operator \(id)"
        case .operatorKindMismatch(let id, let want, let got): "operator \(id) is \(got), expected \(want)"
        case .unknownLine(let l): "unknown line \(l)"
        case .unknownStation(let s, let l): "station \(s) is not on line \(l)"
        case .duplicateOperator(let id): "operator \(id) is defined twice"
        case .duplicateTerminal(let t): "terminal \(t) is defined twice"
        case .duplicateLine(let l): "line \(l) is defined twice"
        case .duplicateStation(let s): "station \(s) is listed twice on the line"
        case .duplicateConcession(let t, let k): "two concessions for \(t) cards on \(k)"
        case .terminalLocationCount(let n): "a terminal needs exactly one location, found \(n)"
        case .unsortedFareBands: "fare bands must have increasing metresMax and non-decreasing fareFen"
        case .unsortedStations: "station metres must strictly increase along the line"
        case .disconnectedMetro(let a, let b): "no route between stations \(a) and \(b)"
        }
    }
}
