import City
import LoadGen
import OneCardCore
import OneCardCrypto
import Testing
import UploadBatch

@Suite("Generated records are what cards and terminals make")
struct RecordTests {
    static let options = LoadGenOptions(cards: 400, taps: 3_000, days: 2, seed: 7, batchRecordsMax: 500)

    @Test("every file decodes and every TAC verifies with the card's diversified key")
    func tacsVerify() throws {
        let keys = try testKeyset()
        let run = try Run.make(Self.options)
        let tacMaster = try keys.masterKey(.tac)
        var checked = 0
        for (file, batch) in try run.decoded(keyset: keys) {
            for r in batch.records {
                #expect(r.terminal == batch.header.terminal, "\(file)")
                #expect(r.tac == expectedTAC(r, tacMaster: tacMaster), "\(file) \(r.serial) counter \(r.counter)")
                checked += 1
            }
        }
        #expect(checked == run.truth.records)
        #expect(run.truth.purchases.records == Self.options.taps)
        #expect(run.truth.loads.records > 0)
    }

    @Test("terminal sequence numbers increase per terminal in time order, batches split at the maximum")
    func terminalSequences() throws {
        let run = try Run.make(Self.options)
        var last: [TerminalID: (seq: UInt32, at: BCDDateTime, batch: UInt32)] = [:]
        for (_, batch) in try run.decoded(keyset: try testKeyset()) {
            #expect(batch.records.count <= Self.options.batchRecordsMax)
            for r in batch.records {
                guard let at = r.at else { Issue.record("bad date"); continue }
                if let prev = last[r.terminal] {
                    #expect(r.sequence > prev.seq)
                    #expect(at >= prev.at)
                    #expect(batch.header.sequence >= prev.batch)
                }
                last[r.terminal] = (r.sequence, at, batch.header.sequence)
            }
        }
        #expect(run.truth.batches > 33)
    }

    @Test("each card's balance and counters chain exactly, never negative or above the maximum")
    func balanceChains() throws {
        let city = try xian()
        let run = try Run.make(Self.options)
        let byCard = Dictionary(grouping: try run.decoded(keyset: try testKeyset()).flatMap(\.batch.records), by: \.serial)
        let max = UInt32(city.card.balanceFenMax)
        for (serial, records) in byCard {
            let sorted = records.sorted { ($0.at?.secondsSinceEpoch ?? 0) < ($1.at?.secondsSinceEpoch ?? 0) }
            var previous: BatchRecord?
            var offline: UInt16?, online: UInt16?
            for r in sorted {
                #expect(r.amountFen > 0 && r.amountFen <= max)
                #expect(r.balanceAfterFen <= max)
                let delta = r.kind == .load ? Int64(r.amountFen) : -Int64(r.amountFen)
                #expect(Int64(r.balanceBeforeFen) + delta == Int64(r.balanceAfterFen), "\(serial)")
                if let p = previous { #expect(r.balanceBeforeFen == p.balanceAfterFen, "\(serial) at \(String(describing: r.at))") }
                if r.kind == .purchase {
                    if let o = offline { #expect(r.counter == o &+ 1, "\(serial) offline") }
                    offline = r.counter
                } else {
                    if let o = online { #expect(r.counter == o &+ 1, "\(serial) online") }
                    online = r.counter
                }
                previous = r
            }
        }
    }

    @Test("fares are the fare engine's, concessions and transfers included, replayed card by card")
    func faresFromEngine() throws {
        let city = try xian()
        let run = try Run.make(Self.options)
        let all = try run.decoded(keyset: try testKeyset()).flatMap(\.batch.records).filter { $0.kind == .purchase }
        var transfers = 0
        for (_, records) in Dictionary(grouping: all, by: \.serial) {
            var previous: PreviousTrip?
            for r in records.sorted(by: { $0.counter < $1.counter }) {
                guard let at = r.at, let type = CardType(rawValue: r.cardType), let kind = city.operator(ofTerminal: r.terminal)?.kind
                else { Issue.record("unreadable record"); continue }
                let fare: Fare
                switch kind {
                case .bus: fare = try city.busFare(terminal: r.terminal, cardType: type, at: at, previous: previous)
                case .metro:
                    let entry = try #require(BCDDateTime(bcd: BatchCodec.bcd7(r.entryDateTimeBCD)))
                    fare = try city.metroExitFare(terminal: r.terminal, cardType: type, at: at,
                                                  entry: OpenEntry(station: StationID(rawValue: r.entryStation), at: entry), previous: previous)
                default: fare = try city.enteredAmountFare(terminal: r.terminal, amountFen: Int64(r.baseFareFen), cardType: type)
                }
                #expect(Int64(r.amountFen) == fare.payableFen && Int64(r.concessionFen) == fare.concessionFen
                        && Int64(r.transferDiscountFen) == fare.transferDiscountFen, "\(r.serial) counter \(r.counter)")
                #expect(r.flags.contains(.transfer) == (fare.transferDiscountFen > 0))
                if fare.transferDiscountFen > 0 { transfers += 1 }
                previous = PreviousTrip(kind: kind, at: at, wasTransfer: fare.transferDiscountFen > 0)
            }
        }
        #expect(transfers > 0)
        #expect(Set(all.map(\.cardType)).count == 4)
    }

    @Test("taps follow the rush hours: more in 07–10 and 17–20 than in the rest of the day")
    func rushHours() throws {
        let run = try Run.make(Self.options)
        let hours = try run.decoded(keyset: try testKeyset()).flatMap(\.batch.records).compactMap { $0.at?.time.hour }
        let peak = hours.filter { (7..<10).contains($0) || (17..<20).contains($0) }.count
        #expect(peak * 2 > hours.count)
        #expect(hours.allSatisfy { (5...23).contains($0) })
    }
}
