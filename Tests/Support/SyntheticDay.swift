import City
import Clearing
import OneCardCore
import OneCardCrypto
import UploadBatch

/// A deterministic synthetic city day for crash tests and the settlement benchmark: every card
/// is loaded once at an agent terminal in the early morning, then taps on buses, metro gates,
/// taxis and gas counters (mix 60/30/8/2 %) at rush-hour-weighted times, with real TACs.
/// Generated in chunks of cards, so a day of any size is built and ingested run by run.
public struct SyntheticDay {
    /// Each card's load.
    public static let loadFen: UInt32 = 50_000
    public let city: City
    public let tacMaster: TripleDESKey
    public let date: BCDDate
    public let tapsPerCard: Int
    let agents: [TerminalID]
    let byKind: [[TerminalID]]
    /// Per terminal, the next batch sequence.
    var batchSequences: [TerminalID: UInt32] = [:]
    var recordSequences: [TerminalID: UInt32] = [:]
    /// Hour weights (0…23) of the tap profile.
    static let hourWeights = [0, 0, 0, 0, 0, 1, 4, 10, 12, 6, 4, 4, 5, 4, 4, 4, 5, 9, 11, 6, 4, 3, 2, 1]

    /// A day of `tapsPerCard` taps per card on `date`.
    public init(city: City, tacMaster: TripleDESKey, date: BCDDate, tapsPerCard: Int) {
        self.city = city
        self.tacMaster = tacMaster
        self.date = date
        self.tapsPerCard = tapsPerCard
        let terminals = city.terminals.values.sorted { $0.id < $1.id }
        agents = terminals.filter { $0.location.operatorKind == .issuer }.map(\.id)
        byKind = [OperatorKind.bus, .metro, .taxi, .gas].map { k in terminals.filter { $0.location.operatorKind == k }.map(\.id) }
    }

    /// The batches of cards `first..<first+count` (serials 0x3000…), one batch per terminal.
    public mutating func batches(cards first: Int, count: Int) -> [IncomingBatch] {
        var perTerminal: [TerminalID: [BatchRecord]] = [:]
        var rng = SplitMix64(seed: UInt64(first) &+ 0x5EED)
        let midnight = Int64(date.daysSinceEpoch) * 86_400
        let hourTable = Self.hourWeights.enumerated().flatMap { h, w in Array(repeating: h, count: w) }
        for c in first..<(first + count) {
            let serial = CardSerial(rawValue: 0x3000_0000_0000_0000 | UInt64(c))
            let key = TripleDESPurse.tacKey(tacMaster: tacMaster, serial: serial)
            let agent = agents[c % agents.count]
            let loadAt = BCDDateTime(secondsSinceEpoch: midnight + 5 * 3600 + Int64(c % 3600))
            let loadTAC = TripleDESPurse.loadTAC(tacKey: key, newBalanceFen: Self.loadFen, onlineCounter: PurseCounter(rawValue: 0),
                                                 amountFen: Self.loadFen, type: .epLoad, terminal: agent, at: loadAt)
            perTerminal[agent, default: []].append(BatchRecord(
                kind: .load, transactionType: 0x02, serial: serial, cardType: 1, counter: 0, amountFen: Self.loadFen,
                balanceBeforeFen: 0, balanceAfterFen: Self.loadFen, terminal: agent, sequence: next(agent),
                dateTimeBCD: TripleDESPurse.packedDateTime(loadAt), tac: loadTAC))
            var seconds = (0..<tapsPerCard).map { _ in
                Int64(hourTable[Int(rng.next() % UInt64(hourTable.count))]) * 3600 + Int64(rng.next() % 3600)
            }
            seconds.sort()
            // Strictly increasing: two taps of one card in the same second would have no order.
            for k in seconds.indices.dropFirst() where seconds[k] <= seconds[k - 1] { seconds[k] = seconds[k - 1] + 1 }
            var balance = Self.loadFen
            for (k, s) in seconds.enumerated() {
                let (terminal, amount) = pick(&rng)
                guard balance >= amount else { break }
                let dt = TripleDESPurse.packedDateTime(BCDDateTime(secondsSinceEpoch: midnight + max(s, 6 * 3600 + Int64(k))))
                let seq = next(terminal)
                let tac = TripleDESPurse.purchaseTAC(tacKey: key, amountFen: amount, typeByte: 0x06, terminal: terminal.rawValue,
                                                     terminalSequence: seq, dateTimeBCD: dt)
                perTerminal[terminal, default: []].append(BatchRecord(
                    kind: .purchase, transactionType: 0x06, serial: serial, cardType: 1, counter: UInt16(k), amountFen: amount,
                    balanceBeforeFen: balance, balanceAfterFen: balance - amount, terminal: terminal, sequence: seq, dateTimeBCD: dt, tac: tac))
                balance -= amount
            }
        }
        return perTerminal.keys.sorted().compactMap { t in
            guard let records = perTerminal[t] else { return nil }
            batchSequences[t, default: 0] += 1
            let op = city.terminals[t]?.operatorID.rawValue ?? 0
            let created = TripleDESPurse.packedDateTime(BCDDateTime(secondsSinceEpoch: midnight + 23 * 3600))
            return IncomingBatch(file: "\(t)-\(batchSequences[t] ?? 0)", batch: BatchFile(
                header: BatchHeader(terminal: t, operatorID: op, sequence: batchSequences[t] ?? 0, createdBCD: created), records: records),
                received: UInt32(midnight + 23 * 3600 + 1800))
        }
    }

    mutating func next(_ t: TerminalID) -> UInt32 {
        recordSequences[t, default: 0] += 1
        return recordSequences[t] ?? 0
    }

    func pick(_ rng: inout SplitMix64) -> (TerminalID, UInt32) {
        let r = rng.next() % 100
        let kind = r < 60 ? 0 : r < 90 ? 1 : r < 98 ? 2 : 3
        let list = byKind[kind]
        let terminal = list[Int(rng.next() % UInt64(list.count))]
        let amount: UInt32 = switch kind {
        case 0: 200
        case 1: 300 + UInt32(rng.next() % 5) * 100
        case 2: 1_000 + UInt32(rng.next() % 2_000)
        default: 2_000 + UInt32(rng.next() % 3_000)
        }
        return (terminal, amount)
    }
}
