// The city file as JSON decodes it, before validation. Field names are the file's keys
// (docs/formats.md). Enumerations and hex codes are plain strings here so that the validator can
// name the exact path of a bad one.

struct CityFileDTO: Decodable {
    struct Header: Decodable { let code: String; let name: String; let timeZone: String }
    struct Card: Decodable { let balanceFenMax: Int64?; let depositFen: Int64; let validityYears: Int64 }
    struct ConcessionDTO: Decodable { let cardType: String; let operatorKinds: [String]; let discountBasisPoints: Int64 }
    struct OperatorDTO: Decodable {
        let id: Int64, name: String, kind: String, recordCode: String, commissionBasisPoints: Int64
        let amountFenMin: Int64?, amountFenMax: Int64?
    }
    struct BusLineDTO: Decodable { let line: String; let `operator`: Int64; let name: String; let fareFen: Int64 }
    struct StationDTO: Decodable { let station: String; let name: String; let metres: Int64 }
    struct MetroLineDTO: Decodable { let line: String; let name: String; let stations: [StationDTO] }
    struct BandDTO: Decodable { let metresMax: Int64; let fareFen: Int64 }
    struct BeyondDTO: Decodable { let everyMetres: Int64; let addFen: Int64 }
    struct MetroDTO: Decodable {
        let `operator`: Int64, lines: [MetroLineDTO], fareBands: [BandDTO], beyondLastBand: BeyondDTO?
        let staleEntryMinutesMax: Int64, incompleteJourney: String, entryTwice: String
    }
    struct PairDTO: Decodable { let from: String; let to: String }
    struct TransferDTO: Decodable { let windowMinutes: Int64; let discountFen: Int64; let pairs: [PairDTO] }
    struct BusAt: Decodable { let line: String; let vehicle: String }
    struct GateAt: Decodable { let line: String; let station: String }
    struct VehicleAt: Decodable { let vehicle: String }
    struct CounterAt: Decodable { let counter: String }
    struct NamedAt: Decodable { let name: String }
    struct TerminalDTO: Decodable {
        let id: String, `operator`: Int64
        let bus: BusAt?, metroGate: GateAt?, taxi: VehicleAt?, gasCounter: CounterAt?
        let serviceCounter: NamedAt?, topUpAgent: NamedAt?
    }
    struct SettlementDTO: Decodable { let cutoff: String; let uploadWindowDays: Int64 }

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
