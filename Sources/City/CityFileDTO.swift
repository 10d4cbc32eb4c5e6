// The city file as JSON decodes it, before validation. Field names are the file's keys
// (docs/formats.md). Enumerations and hex codes are plain strings here so that the validator can
// name the exact path of a bad one.

struct CityFileDTO: Decodable {
    struct Header: Decodable { let code: String; let name: String; let timeZone: String }
    struct Card: Decodable { let balanceFenMax: JSONInteger?; let depositFen: JSONInteger; let validityYears: JSONInteger }
    struct ConcessionDTO: Decodable { let cardType: String; let operatorKinds: [String]; let discountBasisPoints: JSONInteger }
    struct OperatorDTO: Decodable {
        let id: JSONInteger, name: String, kind: String, recordCode: String, commissionBasisPoints: JSONInteger
        let amountFenMin: JSONInteger?, amountFenMax: JSONInteger?
    }
    struct BusLineDTO: Decodable { let line: String; let `operator`: JSONInteger; let name: String; let fareFen: JSONInteger }
    struct StationDTO: Decodable { let station: String; let name: String; let metres: JSONInteger }
    struct MetroLineDTO: Decodable { let line: String; let name: String; let stations: [StationDTO] }
    struct BandDTO: Decodable { let metresMax: JSONInteger; let fareFen: JSONInteger }
    struct BeyondDTO: Decodable { let everyMetres: JSONInteger; let addFen: JSONInteger }
    struct MetroDTO: Decodable {
        let `operator`: JSONInteger, lines: [MetroLineDTO], fareBands: [BandDTO], beyondLastBand: BeyondDTO?
        let staleEntryMinutesMax: JSONInteger, incompleteJourney: String, entryTwice: String
    }
    struct PairDTO: Decodable { let from: String; let to: String }
    struct TransferDTO: Decodable { let windowMinutes: JSONInteger; let discountFen: JSONInteger; let pairs: [PairDTO] }
    struct BusAt: Decodable { let line: String; let vehicle: String }
    struct GateAt: Decodable { let line: String; let station: String }
    struct VehicleAt: Decodable { let vehicle: String }
    struct CounterAt: Decodable { let counter: String }
    struct NamedAt: Decodable { let name: String }
    struct TerminalDTO: Decodable {
        let id: String, `operator`: JSONInteger
        let bus: BusAt?, metroGate: GateAt?, taxi: VehicleAt?, gasCounter: CounterAt?
        let serviceCounter: NamedAt?, topUpAgent: NamedAt?
    }
    struct SettlementDTO: Decodable { let cutoff: String; let uploadWindowDays: JSONInteger }

    let format: String
    let city: Header
    let card: Card
    let concessions: [ConcessionDTO]?
    let operators: [OperatorDTO]
    let busLines: [BusLineDTO]?
    let metro: MetroDTO?
    let transfer: TransferDTO?
    let terminals: [TerminalDTO]
    let settlement: SettlementDTO
}

/// Only the format tag, decoded first so a file of another version is named as such rather than
/// reported by its first missing key.
struct FormatProbe: Decodable { let format: String? }

/// An integer in the city file. JSONDecoder reports a number that does not fit `Int64` (or has
/// a fraction) without a coding path; decoding through this wrapper puts the path back so the
/// error names the offending key.
struct JSONInteger: Decodable, ExpressibleByIntegerLiteral {
    let value: Int64

    init(integerLiteral value: Int64) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do {
            value = try container.decode(Int64.self)
        } catch let error as DecodingError {
            guard case .dataCorrupted = error else { throw error }
            throw Self.outOfRange(decoder)
        } catch {
            // The decoder's internal number error, converted to a path-less DecodingError later.
            throw Self.outOfRange(decoder)
        }
    }

    private static func outOfRange(_ decoder: any Decoder) -> DecodingError {
        DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath,
            debugDescription: "not an integer in \(Int64.min)...\(Int64.max)"
        ))
    }
}
