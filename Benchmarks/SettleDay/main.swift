// onecard-benchday: builds a clearing database holding one synthetic city day (real TACs,
// verified and posted by the clearing engine, committed run by run) for the settlement
// benchmark in docs/performance.md.
//
//   onecard-benchday DB CARDS TAPS_PER_CARD [YYYY-MM-DD] [CARDS_PER_RUN]
import Clearing
import Foundation
import OneCardCore
import OneCardTestSupport
import Storage

let args = CommandLine.arguments
guard args.count >= 4, let cards = Int(args[2]), let perCard = Int(args[3]), cards > 0, perCard > 0 else {
    FileHandle.standardError.write(Data("usage: onecard-benchday DB CARDS TAPS_PER_CARD [YYYY-MM-DD] [CARDS_PER_RUN]\n".utf8))
    exit(2)
}
let date = args.count > 4 ? BCDDate(args[4]) ?? BCDDate("2026-11-29")! : BCDDate("2026-11-29")!
let perRun = args.count > 5 ? Int(args[5]) ?? 100_000 : 100_000
do {
    let store = try ClearingStore(path: args[1])
    try store.setCityJSON(Data(contentsOf: URL(fileURLWithPath: HandDayPaths.city)))
    var day = SyntheticDay(city: Day.city, tacMaster: Day.tacMaster, date: date, tapsPerCard: perCard)
    let engine = ClearingEngine(config: ClearingConfig(city: Day.city, tacMaster: Day.tacMaster), state: try store.loadState())
    let received = BCDDateTime(date: date, time: BCDTime(hour: 23, minute: 30, second: 0)!)
    var first = 0
    var accepted = 0
    let start = Date()
    while first < cards {
        let n = min(perRun, cards - first)
        let r = engine.run(day.batches(cards: first, count: n))
        try store.commit(r, files: r.outcomes.map { "\($0.terminal)-\($0.sequence)" }, state: engine.state, received: received, businessDay: date)
        accepted += r.summary.accepted
        first += n
        print("cards \(first)/\(cards)  accepted \(accepted)  \(Int(Date().timeIntervalSince(start))) s")
    }
} catch {
    FileHandle.standardError.write(Data("onecard-benchday: \(error)\n".utf8))
    exit(1)
}
