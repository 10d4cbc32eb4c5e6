import OneCardCore

/// Turns a decoded city file into a ``City``, checking every value and reference. Each check
/// names the JSON path of the value it rejects.
struct CityValidator {
    /// Limits on the file's contents; a file beyond them is refused, not trusted.
    static let operatorsMax = 1_000
    static let terminalsMax = 200_000
    static let busLinesMax = 5_000
    static let metroLinesMax = 64
    static let metroStationsMax = 300
    static let fareBandsMax = 64
    static let lineMetresMax: Int64 = 1_000_000
    static let staleEntryMinutesMax: Int64 = 3 * 24 * 60
    static let transferWindowMinutesMax: Int64 = 24 * 60
    static let validityYearsMax: Int64 = 50
    static let uploadWindowDaysMax: Int64 = 366
    static let textCharactersMax = 200

    let source: String

    func fail(_ path: String, _ problem: CityFileError.Problem) -> CityFileError {
        CityFileError(source: source, path: path, problem: problem)
    }

    func city(_ f: CityFileDTO) throws(CityFileError) -> City {
        let code = try recordCode(f.city.code, "$.city.code")
        let name = try text(f.city.name, "$.city.name")
        let timeZone = try text(f.city.timeZone, "$.city.timeZone")
        let card = try cardRules(f.card)
        let ops = try operators(f.operators, card)
        let conc = try concessions(f.concessions ?? [])
        let bus = try busLines(f.busLines ?? [], ops, card)
        let metro = try f.metro.map { (m) throws(CityFileError) in try metroNetwork(m, ops, card, busLineIDs: Set(bus.keys)) }
        let transfer = try f.transfer.map { (t) throws(CityFileError) in try transferRule(t, card) }
        let terms = try terminals(f.terminals, ops, bus, metro)
        let settle = try settlement(f.settlement)
        return City(code: code, name: name, timeZone: timeZone, card: card, concessions: conc, operators: ops,
                    terminals: terms, busLines: bus, metro: metro, transfer: transfer, settlement: settle)
    }

    // MARK: Sections

    func cardRules(_ c: CityFileDTO.Card) throws(CityFileError) -> CardRules {
        let max = try amount(c.balanceFenMax?.value ?? 100_000, "$.card.balanceFenMax", 1...Int64(UInt32.max))
        return CardRules(
            balanceFenMax: max,
            depositFen: try amount(c.depositFen, "$.card.depositFen", 0...max),
            validityYears: Int(try number(c.validityYears, "$.card.validityYears", 1...Self.validityYearsMax))
        )
    }

    func operators(_ list: [CityFileDTO.OperatorDTO], _ card: CardRules) throws(CityFileError) -> [OperatorID: Operator] {
        _ = try number(Int64(list.count), "$.operators", 1...Int64(Self.operatorsMax))
        var out: [OperatorID: Operator] = [:]
        for (i, o) in list.enumerated() {
            let p = "$.operators[\(i)]"
            let id = OperatorID(rawValue: UInt16(try number(o.id, p + ".id", 0...Int64(UInt16.max))))
            guard out[id] == nil else { throw fail(p + ".id", .duplicateOperator(id)) }
            let kind = try operatorKind(o.kind, p + ".kind")
            let (lo, hi) = try amountLimits(o, kind, p, card)
            out[id] = Operator(
                id: id, name: try text(o.name, p + ".name"), kind: kind,
                recordCode: try recordCode(o.recordCode, p + ".recordCode"),
                commission: try basisPoints(o.commissionBasisPoints, p + ".commissionBasisPoints"),
                amountFenMin: lo, amountFenMax: hi
            )
        }
        return out
    }

    /// Taxi and gas terminals take an entered amount within limits; other kinds have none.
    func amountLimits(_ o: CityFileDTO.OperatorDTO, _ kind: OperatorKind, _ p: String, _ card: CardRules) throws(CityFileError) -> (Int64, Int64) {
        guard kind == .taxi || kind == .gas else {
            if o.amountFenMin != nil { throw fail(p + ".amountFenMin", .invalidValue("amount limits are for taxi and gas operators only")) }
            if o.amountFenMax != nil { throw fail(p + ".amountFenMax", .invalidValue("amount limits are for taxi and gas operators only")) }
            return (1, card.balanceFenMax)
        }
        let lo = try amount(o.amountFenMin?.value ?? 1, p + ".amountFenMin", 1...card.balanceFenMax)
        let hi = try amount(o.amountFenMax?.value ?? card.balanceFenMax, p + ".amountFenMax", lo...card.balanceFenMax)
        return (lo, hi)
    }

    func concessions(_ list: [CityFileDTO.ConcessionDTO]) throws(CityFileError) -> [Concession] {
        var seen: Set<String> = []
        var out: [Concession] = []
        for (i, c) in list.enumerated() {
            let p = "$.concessions[\(i)]"
            let type = try cardType(c.cardType, p + ".cardType")
            var kinds: Set<OperatorKind> = []
            for (j, k) in c.operatorKinds.enumerated() {
                let kind = try operatorKind(k, p + ".operatorKinds[\(j)]")
                guard seen.insert("\(type)/\(kind)").inserted else {
                    throw fail(p + ".operatorKinds[\(j)]", .duplicateConcession(type, kind))
                }
                kinds.insert(kind)
            }
            out.append(Concession(cardType: type, operatorKinds: kinds,
                                  discount: try basisPoints(c.discountBasisPoints, p + ".discountBasisPoints")))
        }
        return out
    }

    func busLines(_ list: [CityFileDTO.BusLineDTO], _ ops: [OperatorID: Operator], _ card: CardRules) throws(CityFileError) -> [LineID: BusLine] {
        _ = try number(Int64(list.count), "$.busLines", 0...Int64(Self.busLinesMax))
        var out: [LineID: BusLine] = [:]
        for (i, l) in list.enumerated() {
            let p = "$.busLines[\(i)]"
            let id = try recordCode(l.line, p + ".line")
            guard out[id] == nil else { throw fail(p + ".line", .duplicateLine(id)) }
            let op = try operatorRef(l.operator, p + ".operator", ops, kind: .bus)
            out[id] = BusLine(id: id, operatorID: op.id, name: try text(l.name, p + ".name"),
                              fareFen: try amount(l.fareFen, p + ".fareFen", 0...card.balanceFenMax))
        }
        return out
    }

    func transferRule(_ t: CityFileDTO.TransferDTO, _ card: CardRules) throws(CityFileError) -> TransferRule {
        var pairs: Set<TransferRule.Pair> = []
        for (i, pair) in t.pairs.enumerated() {
            pairs.insert(TransferRule.Pair(from: try operatorKind(pair.from, "$.transfer.pairs[\(i)].from"),
                                           to: try operatorKind(pair.to, "$.transfer.pairs[\(i)].to")))
        }
        return TransferRule(
            windowMinutes: Int(try number(t.windowMinutes, "$.transfer.windowMinutes", 1...Self.transferWindowMinutesMax)),
            discountFen: try amount(t.discountFen, "$.transfer.discountFen", 0...card.balanceFenMax),
            pairs: pairs
        )
    }

    func settlement(_ s: CityFileDTO.SettlementDTO) throws(CityFileError) -> SettlementRules {
        let parts = s.cutoff.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ $0 != nil }),
              let t = BCDTime(hour: parts[0] ?? -1, minute: parts[1] ?? -1, second: parts.count == 3 ? parts[2] ?? -1 : 0)
        else { throw fail("$.settlement.cutoff", .invalidValue("\"\(s.cutoff)\" is not a time HH:MM or HH:MM:SS")) }
        let days = try number(s.uploadWindowDays, "$.settlement.uploadWindowDays", 1...Self.uploadWindowDaysMax)
        return SettlementRules(cutoff: t, uploadWindowDays: Int(days))
    }

    // MARK: Values

    func number(_ v: Int64, _ path: String, _ range: ClosedRange<Int64>) throws(CityFileError) -> Int64 {
        guard range.contains(v) else {
            throw fail(path, .numberOutOfRange(value: v, min: range.lowerBound, max: range.upperBound))
        }
        return v
    }

    func number(_ v: JSONInteger, _ path: String, _ range: ClosedRange<Int64>) throws(CityFileError) -> Int64 {
        try number(v.value, path, range)
    }

    func amount(_ v: JSONInteger, _ path: String, _ range: ClosedRange<Int64>) throws(CityFileError) -> Int64 {
        try amount(v.value, path, range)
    }

    func amount(_ v: Int64, _ path: String, _ range: ClosedRange<Int64>) throws(CityFileError) -> Int64 {
        guard range.contains(v) else {
            throw fail(path, .amountOutOfRange(valueFen: v, minFen: range.lowerBound, maxFen: range.upperBound))
        }
        return v
    }

    func basisPoints(_ v: JSONInteger, _ path: String) throws(CityFileError) -> BasisPoints {
        guard let i = Int(exactly: v.value), let bp = BasisPoints(rawValue: i) else {
            throw fail(path, .basisPointsOutOfRange(Int(clamping: v.value)))
        }
        return bp
    }

    func text(_ s: String, _ path: String) throws(CityFileError) -> String {
        guard !s.isEmpty, s.count <= Self.textCharactersMax else {
            throw fail(path, .invalidValue("text must have 1...\(Self.textCharactersMax) characters"))
        }
        return s
    }

    func recordCode(_ s: String, _ path: String) throws(CityFileError) -> RecordCode {
        guard let c = RecordCode(hex: s) else { throw fail(path, .invalidValue("\"\(s)\" is not 4 hex digits")) }
        return c
    }

    func operatorKind(_ s: String, _ path: String) throws(CityFileError) -> OperatorKind {
        guard let k = OperatorKind(rawValue: s) else {
            throw fail(path, .invalidValue("\"\(s)\" is not an operator kind (issuer, bus, metro, taxi, gas)"))
        }
        return k
    }

    func cardType(_ s: String, _ path: String) throws(CityFileError) -> CardType {
        guard let t = CardType(name: s) else {
            throw fail(path, .invalidValue("\"\(s)\" is not a card type (adult, student, senior, staff)"))
        }
        return t
    }

    func policy(_ s: String, _ path: String) throws(CityFileError) -> IncompletePolicy {
        guard let p = IncompletePolicy(rawValue: s) else {
            throw fail(path, .invalidValue("\"\(s)\" is not a policy (maxFare, refuse)"))
        }
        return p
    }

    func operatorRef(_ raw: JSONInteger, _ path: String, _ ops: [OperatorID: Operator], kind: OperatorKind?) throws(CityFileError) -> Operator {
        let n = try number(raw.value, path, 0...Int64(UInt16.max))
        let id = OperatorID(rawValue: UInt16(n))
        guard let op = ops[id] else { throw fail(path, .unknownOperator(id)) }
        if let kind, op.kind != kind { throw fail(path, .operatorKindMismatch(id, expected: kind, found: op.kind)) }
        return op
    }
}
