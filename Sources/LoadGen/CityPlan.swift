import City
import OneCardCore
import OneCardCrypto
import UploadBatch

/// Why a run cannot be made. Messages say what to change; none reveals a key.
public enum LoadGenError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An option is out of range.
    case invalidOption(String)
    /// The city cannot carry the traffic (e.g. no terminal to load cards at).
    case unsuitableCity(String)
    /// The keyset lacks a master key the generator needs.
    case missingKey(String)
    /// Writing the output failed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidOption(let s): "invalid option: \(s)"
        case .unsuitableCity(let s): "the city file cannot carry this traffic: \(s)"
        case .missingKey(let s): s
        case .io(let p, let r): "\(p): \(r)"
        }
    }
}

/// A priced fare's parts as the card and the record carry them.
struct FareParts {
    /// What the card pays, fen.
    var payableFen: UInt32
    /// Taken off for the card type, fen.
    var concessionFen: UInt32
}

/// The city flattened into arrays for the hot loops: terminals by index (sorted by id), fares
/// precomputed by the city's fare engine for every (terminal or station pair, card type).
struct CityPlan: Sendable {
    let city: City
    /// Terminal ids, sorted.
    let terminalIDs: [TerminalID]
    let operatorIDs: [UInt16]
    let kinds: [OperatorKind]
    let lines: [UInt16]
    let stationCodes: [UInt16]
    /// Terminal indices by kind.
    let bus: [UInt32], gates: [UInt32], taxi: [UInt32], gas: [UInt32], issuer: [UInt32]
    /// Metro stations (sorted by code); gate terminals store their station's index here.
    let stations: [StationID]
    let gateStation: [UInt32: Int]
    /// `metroFare[((entry * S) + exit) * 4 + type]`, `metroMetres[entry * S + exit]`.
    let metroFare: [FareParts]
    let metroMetres: [Int64]
    /// `busFare[terminal * 4 + type]` (only bus terminals are filled).
    let busFare: [FareParts]
    /// Kinds on which each card type (index `type - 1`) pays something.
    let payableKinds: [[OperatorKind]]

    init(city: City) throws(LoadGenError) {
        self.city = city
        let sorted = city.terminals.values.sorted { $0.id < $1.id }
        terminalIDs = sorted.map(\.id)
        operatorIDs = sorted.map(\.operatorID.rawValue)
        let kindList = sorted.map(\.location.operatorKind)
        kinds = kindList
        lines = sorted.map(\.location.line.rawValue)
        stationCodes = sorted.map(\.location.station.rawValue)
        let indices = { (k: OperatorKind) -> [UInt32] in kindList.indices.filter { kindList[$0] == k }.map { UInt32($0) } }
        let (bus, gates) = (indices(.bus), indices(.metro))
        (self.bus, self.gates, taxi, gas, issuer) = (bus, gates, indices(.taxi), indices(.gas), indices(.issuer))
        guard !issuer.isEmpty else { throw .unsuitableCity("no issuer service counter or top-up agent to load cards at") }
        let stationList = Set(city.metro?.lines.flatMap { $0.stations.map(\.id) } ?? []).sorted()
        stations = stationList
        var gs: [UInt32: Int] = [:]
        for g in gates { gs[g] = stationList.firstIndex(of: sorted[Int(g)].location.station) }
        gateStation = gs
        let (metro, metres) = try Self.metroTables(city, stationList, sorted, gates)
        (metroFare, metroMetres) = (metro, metres)
        let busTable = try Self.busTable(city, sorted, bus)
        busFare = busTable
        payableKinds = Self.payable(city, bus: busTable, busTerminals: bus, metro: metro, hasMetro: !gates.isEmpty,
                                    taxi: !indices(.taxi).isEmpty, gas: !indices(.gas).isEmpty)
        guard !payableKinds[0].isEmpty else { throw .unsuitableCity("no bus, metro gate, taxi or gas terminal where adults pay") }
    }

    private static func busTable(_ city: City, _ terminals: [Terminal], _ bus: [UInt32]) throws(LoadGenError) -> [FareParts] {
        var table = [FareParts](repeating: FareParts(payableFen: 0, concessionFen: 0), count: terminals.count * 4)
        let at = BCDDateTime(secondsSinceEpoch: 0)
        for t in bus {
            for type in CardType.allCases {
                do {
                    let f = try city.busFare(terminal: terminals[Int(t)].id, cardType: type, at: at, previous: nil)
                    table[Int(t) * 4 + Int(type.rawValue) - 1] = FareParts(payableFen: f.payableCardFen, concessionFen: UInt32(clamping: f.concessionFen))
                } catch {
                    throw .unsuitableCity("bus terminal \(terminals[Int(t)].id): \(error)")
                }
            }
        }
        return table
    }

    private static func metroTables(_ city: City, _ stations: [StationID], _ terminals: [Terminal],
                                    _ gates: [UInt32]) throws(LoadGenError) -> ([FareParts], [Int64]) {
        let s = stations.count
        var fares = [FareParts](repeating: FareParts(payableFen: 0, concessionFen: 0), count: s * s * 4)
        var metres = [Int64](repeating: 0, count: s * s)
        guard let net = city.metro else { return (fares, metres) }
        var gateOf: [StationID: TerminalID] = [:]
        for g in gates { gateOf[terminals[Int(g)].location.station] = terminals[Int(g)].id }
        let entryAt = BCDDateTime(secondsSinceEpoch: 0), exitAt = BCDDateTime(secondsSinceEpoch: 60)
        for (j, exit) in stations.enumerated() {
            guard let gate = gateOf[exit] else { continue }
            for (i, entry) in stations.enumerated() {
                metres[i * s + j] = net.metres(from: entry, to: exit) ?? 0
                for type in CardType.allCases {
                    do {
                        let f = try city.metroExitFare(terminal: gate, cardType: type, at: exitAt,
                                                       entry: OpenEntry(station: entry, at: entryAt), previous: nil)
                        fares[(i * s + j) * 4 + Int(type.rawValue) - 1] =
                            FareParts(payableFen: f.payableCardFen, concessionFen: UInt32(clamping: f.concessionFen))
                    } catch {
                        throw .unsuitableCity("metro gate \(gate): \(error)")
                    }
                }
            }
        }
        return (fares, metres)
    }

    /// A kind is payable for a card type when some terminal of it charges that type more than 0
    /// (a free ride moves no money and would be refused `02` as amount 0, so none is generated).
    private static func payable(_ city: City, bus: [FareParts], busTerminals: [UInt32], metro: [FareParts],
                                hasMetro: Bool, taxi: Bool, gas: Bool) -> [[OperatorKind]] {
        CardType.allCases.map { type in
            let i = Int(type.rawValue) - 1
            var kinds: [OperatorKind] = []
            if busTerminals.contains(where: { bus[Int($0) * 4 + i].payableFen > 0 }) { kinds.append(.bus) }
            if hasMetro, stride(from: i, to: metro.count, by: 4).contains(where: { metro[$0].payableFen > 0 }) { kinds.append(.metro) }
            let full = BasisPoints(rawValue: BasisPoints.rawValueMax)
            if taxi, city.concession(for: type, on: .taxi) != full { kinds.append(.taxi) }
            if gas, city.concession(for: type, on: .gas) != full { kinds.append(.gas) }
            return kinds
        }
    }

    /// The terminal list of a kind.
    func terminals(of kind: OperatorKind) -> [UInt32] {
        switch kind {
        case .bus: bus
        case .metro: gates
        case .taxi: taxi
        case .gas: gas
        case .issuer: issuer
        }
    }
}
