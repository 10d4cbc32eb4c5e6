import FoundationEssentials
import OneCardCore

/// A city as its `onecard-city/1` file describes it: operators, terminals, lines, fares,
/// concessions and the rules clearing and settlement read. Immutable once loaded and validated;
/// the fare functions (``busFare(terminal:cardType:at:previous:)`` and friends) are pure.
public struct City: Hashable, Sendable {
    /// The `format` value this version reads.
    public static let format = "onecard-city/1"
    /// The largest city file accepted, in bytes.
    public static let fileBytesMax = 16 << 20

    /// The city code written in trip records (bytes [32..33]).
    public let code: CityCode
    /// The city's name.
    public let name: String
    /// The time zone label of terminal clocks (e.g. `Asia/Shanghai`); informational, all times
    /// in OneCard are the city's local time.
    public let timeZone: String
    /// Card maximum balance, deposit and validity.
    public let card: CardRules
    /// Concession discounts by card type and operator kind.
    public let concessions: [Concession]
    /// Operators by id.
    public let operators: [OperatorID: Operator]
    /// Terminals by id.
    public let terminals: [TerminalID: Terminal]
    /// Bus lines by code.
    public let busLines: [LineID: BusLine]
    /// The metro, if the city has one.
    public let metro: MetroNetwork?
    /// The transfer discount, if the city grants one.
    public let transfer: TransferRule?
    /// Business-day cut-off and upload window.
    public let settlement: SettlementRules

    /// Reads and validates a city file.
    ///
    /// - Throws: ``CityFileError`` naming `path` and, for content errors, the JSON path.
    public static func load(path: String) throws(CityFileError) -> City {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CityFileError(source: name, path: "$", problem: .unreadable(String(describing: error)))
        }
        return try parse(data: data, source: name)
    }

    /// Validates city file bytes.
    ///
    /// - Parameter source: the file name or label used in errors.
    /// - Throws: ``CityFileError`` with the JSON path of the first problem found.
    public static func parse(data: Data, source: String) throws(CityFileError) -> City {
        guard data.count <= fileBytesMax else {
            throw CityFileError(source: source, path: "$", problem: .unreadable("larger than \(fileBytesMax) bytes"))
        }
        let probe = try decode(FormatProbe.self, data, source)
        guard let format = probe.format else {
            throw CityFileError(source: source, path: "$.format", problem: .missingKey("format"))
        }
        guard format == Self.format else {
            throw CityFileError(source: source, path: "$.format", problem: .unsupportedFormat(format))
        }
        let dto = try decode(CityFileDTO.self, data, source)
        return try CityValidator(source: source).city(dto)
    }

    init(code: CityCode, name: String, timeZone: String, card: CardRules, concessions: [Concession],
         operators: [OperatorID: Operator], terminals: [TerminalID: Terminal], busLines: [LineID: BusLine],
         metro: MetroNetwork?, transfer: TransferRule?, settlement: SettlementRules) {
        self.code = code
        self.name = name
        self.timeZone = timeZone
        self.card = card
        self.concessions = concessions
        self.operators = operators
        self.terminals = terminals
        self.busLines = busLines
        self.metro = metro
        self.transfer = transfer
        self.settlement = settlement
    }

    // MARK: Lookups

    /// The terminal with this id, or `nil` if the city does not know it.
    public func terminal(_ id: TerminalID) -> Terminal? { terminals[id] }

    /// The operator with this id.
    public func `operator`(_ id: OperatorID) -> Operator? { operators[id] }

    /// The operator that owns a terminal (and is paid for its transactions).
    public func `operator`(ofTerminal id: TerminalID) -> Operator? {
        terminals[id].flatMap { operators[$0.operatorID] }
    }

    /// The issuer's commission on an operator's fares, or `nil` for an unknown operator.
    public func commission(of id: OperatorID) -> BasisPoints? { operators[id]?.commission }

    /// The discount a card type gets on an operator kind (zero if no concession applies).
    public func concession(for cardType: CardType, on kind: OperatorKind) -> BasisPoints {
        concessions.first { $0.cardType == cardType && $0.operatorKinds.contains(kind) }?.discount ?? .zero
    }

    /// The business day a local date-time belongs to: a time before the cut-off counts for the
    /// previous calendar day (with a 02:00 cut-off, 2026-03-02 01:59:59 is in 2026-03-01).
    public func businessDay(of at: BCDDateTime) -> BCDDate {
        at.time < settlement.cutoff ? at.date.adding(days: -1) : at.date
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ source: String) throws(CityFileError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw CityFileError(source: source, decoding: error)
        } catch {
            throw CityFileError(source: source, path: "$", problem: .malformedJSON(String(describing: error)))
        }
    }
}

extension CityFileError {
    /// Turns a decoder error into a path and a problem.
    init(source: String, decoding error: DecodingError) {
        switch error {
        case .keyNotFound(let key, let ctx):
            self.init(source: source, path: Self.jsonPath(ctx.codingPath + [key]), problem: .missingKey(key.stringValue))
        case .typeMismatch(let type, let ctx), .valueNotFound(let type, let ctx):
            self.init(source: source, path: Self.jsonPath(ctx.codingPath), problem: .wrongType("expected \(Self.jsonTypeName(type))"))
        case .dataCorrupted(let ctx) where ctx.codingPath.isEmpty:
            self.init(source: source, path: "$", problem: .malformedJSON(ctx.debugDescription))
        case .dataCorrupted(let ctx):
            self.init(source: source, path: Self.jsonPath(ctx.codingPath), problem: .wrongType(ctx.debugDescription))
        @unknown default:
            self.init(source: source, path: "$", problem: .malformedJSON(String(describing: error)))
        }
    }

    static func jsonPath(_ keys: [any CodingKey]) -> String {
        keys.reduce("$") { path, key in
            if let i = key.intValue { return path + "[\(i)]" }
            return path + "." + key.stringValue
        }
    }

    static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int64.Type, is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        default: type is any Collection.Type ? "an array" : "an object"
        }
    }
}
