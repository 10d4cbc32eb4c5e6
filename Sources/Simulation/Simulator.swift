public import City
import Clearing
import ClearingIngest
import ClearingService
import EPurse
import Foundation
public import OneCardCore
import OneCardCrypto
import PSAMCard
import Storage
import Terminal
import UploadBatch

/// A seeded simulation of a city day (docs/simulation.md): cards, fare terminals with their
/// PSAMs, a service counter, the front-end's clearing runs and the day's settlement, driven
/// through the real modules; only the clock, the disk's crash points and the network are
/// simulated. A checker runs after every step. The same seed gives the same trace, byte for byte.
public final class Simulator {
    /// What to simulate.
    public struct Options: Sendable {
        public var seed: UInt64
        public var steps: Int
        /// The city file.
        public var cityPath: String
        /// Where the run's databases go (a fresh folder is made inside and removed after).
        public var workDirectory: String

        public init(seed: UInt64, steps: Int = 300, cityPath: String = "config/city-xian.json", workDirectory: String = Simulator.defaultWorkDirectory) {
            self.seed = seed
            self.steps = steps
            self.cityPath = cityPath
            self.workDirectory = workDirectory
        }
    }

    /// tmpfs when there is one: SQLite's fsyncs cost nothing there, and the crash points are
    /// simulated anyway.
    public static var defaultWorkDirectory: String {
        FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    }

    /// What a run found.
    public struct Report: Sendable {
        public var seed: UInt64
        public var steps: Int
        /// One line per event, in order.
        public var trace: [String]
        /// Every invariant that did not hold, with the step it was found at.
        public var violations: [String]
        /// Counts of what happened (taps, tears, crashes, lost messages …).
        public var counts: [String: Int]
        /// The command that replays this run.
        public var replay: String
        /// SHA-256 of the trace (one line each, `\n`-terminated), hex.
        public var traceDigest: String
    }

    let options: Options
    var rng: SplitMix64
    let city: City
    let keyset: Keyset
    let dir: String
    let day: BCDDate
    /// The simulated local clock, seconds since 1970.
    var now: Int64
    var step = 0
    var trace: [String] = []
    var violations: [String] = []
    var reported: Set<String> = []
    var counts: [String: Int] = [:]

    var cards: [SimCard] = []
    var counter: SimCounter!
    var terminals: [SimTerminal] = []
    var hostile: SimTerminal!
    var network = Network()
    let store: ClearingStore
    var ingestor: Ingestor
    let clearingKeys: ClearingKeys
    /// Uploads that reached the front-end and wait for the next clearing run.
    var arrived: [(terminal: TerminalID, sequence: UInt32, bytes: [UInt8])] = []
    /// Every (terminal, sequence) the front-end acknowledged.
    var acknowledged: Set<BatchKey> = []
    /// Honest uploads seen on the wire (what a hostile terminal can replay).
    var sniffed: [(TerminalID, UInt32, [UInt8])] = []
    /// Hotlisted cards: from when (seconds), and the last clearing run before the hotlisting.
    var hotlisted: [CardSerial: (seconds: Int64, afterRun: Int64)] = [:]

    public init(_ options: Options) throws {
        self.options = options
        rng = SplitMix64(seed: options.seed, 0x51_4D_55_4C)
        city = try City.load(path: options.cityPath)
        // Master keys drawn from the seed: real 3DES, fresh per run.
        var keyRng = SplitMix64(seed: options.seed, 0x4B_45_59)
        func key() -> TripleDESKey {
            var bytes: [UInt8] = []
            for _ in 0..<2 { let w = keyRng.next(); bytes += (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
            return try! TripleDESKey(bytes: bytes)
        }
        keyset = Keyset(keyVersion: KeyVersion(rawValue: 1), masterKeys: [.purchase: key(), .load: key(), .tac: key(), .maintenance: key(), .batch: key()])
        dir = options.workDirectory + "/onecard-sim-\(getpid())-\(options.seed)"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        day = BCDDate("2026-11-29")!
        now = BCDDateTime(iso: "2026-11-29T06:00:00")!.secondsSinceEpoch
        store = try ClearingStore(path: dir + "/clearing.sqlite")
        try store.addCity(try Data(contentsOf: URL(fileURLWithPath: options.cityPath)))
        clearingKeys = try ClearingKeys(keysets: [keyset])
        for t in city.terminals.values.sorted(by: { $0.id < $1.id }) {
            try store.registerTerminal(t.id, operatorID: t.operatorID.rawValue, keyVersion: 1, at: "2026-11-29T00:00:00Z")
        }
        ingestor = try Ingestor(store: store, city: city, keys: clearingKeys)
        try buildWorld()
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    var clock: BCDDateTime { BCDDateTime(secondsSinceEpoch: now) }

    func log(_ line: String) { trace.append("\(step) \(clock) \(line)") }
    func count(_ what: String) { counts[what, default: 0] += 1 }
    /// Each violation once, at the step it was first found.
    func violation(_ what: String) {
        guard reported.insert(what).inserted else { return }
        violations.append("step \(step): \(what)")
        log("VIOLATION \(what)")
    }

    // MARK: The world

    func buildWorld() throws {
        let cardCount = 3 + rng.below(6)
        for i in 0..<cardCount {
            let serial = CardSerial(rawValue: 0x7100_0000_0000_0000 | (options.seed & 0xFFFF) << 16 | UInt64(i + 1))
            let info = IssuerInfo(
                issuer: IssuerID(rawValue: 0x7100_0000_0000_0001), serialPrefix: 0x7100, serial: serial,
                startDate: BCDDate("2026-01-01")!, expiryDate: BCDDate("2035-12-31")!, cardType: .adult, depositFlag: 0)
            cards.append(SimCard(card: EPurseCard(state: try CardState.personalise(keyset: keyset, info: info)), serial: serial))
        }
        counter = try SimCounter(world: self, terminal: TerminalID(hex: "710001000001")!)
        // The counter sells every card, most with a first load.
        for card in cards {
            try counter.issue(card, firstLoadFen: UInt32(rng.int(in: 0...30) * 100), at: now)
        }
        let fares: [(String, GateDirection)] = [
            ("710002000501", .entry), ("710002021501", .entry), ("710003010101", .entry), ("710003010501", .exit),
            ("710004000001", .entry), ("710005000001", .entry),
        ]
        for (hex, direction) in fares {
            let t = try SimTerminal(world: self, terminal: TerminalID(hex: hex)!, direction: direction)
            // Clock skew: most terminals within ±90 s; now and then one 10 minutes fast.
            t.skew = Int64(rng.int(in: -90...90))
            if rng.chance(0.05) { t.skew = 600 }
            terminals.append(t)
        }
        hostile = try SimTerminal(world: self, terminal: TerminalID(hex: "710002000502")!, direction: .entry)
        log("world: \(cardCount) cards, \(terminals.count) fare terminals (skews \(terminals.map(\.skew))), counter, hostile \(hostile.id)")
    }

    // MARK: Running

    /// Runs the steps, the day's end and the checks.
    public func run() -> Report {
        do {
            for s in 0..<options.steps {
                step = s
                try oneStep()
                try checkEveryStep()
            }
            try endOfDay()
        } catch {
            violation("the simulation stopped: \(error)")
        }
        let text = trace.map { $0 + "\n" }.joined()
        return Report(
            seed: options.seed, steps: options.steps, trace: trace, violations: violations, counts: counts,
            replay: "onecard simulate --seed \(options.seed) --steps \(options.steps)",
            traceDigest: Hex.encode(SHA256Digest.hash(Array(text.utf8))))
    }

    func oneStep() throws {
        now += Int64(rng.int(in: 20...120))
        network.lossRate = 0.1
        network.duplicateRate = 0.1
        network.delayStepsMax = 6
        let roll = rng.below(100)
        switch roll {
        case 0..<45: try tap()
        case 45..<55: try load()
        case 55..<78: try sync(any: true)
        case 78..<81: try crashTerminal()
        case 81..<86: try hostileAction()
        case 86..<88: try hotlistCard()
        default: break
        }
        try deliver()
    }

    // MARK: Events

    func tap() throws {
        let card = cards[rng.below(cards.count)]
        let t = terminals[rng.below(terminals.count)]
        let tear = rng.chance(0.08) ? rng.int(in: 1...12) : nil
        let lost = rng.chance(0.5)
        let amount: Int64? = t.entersAmount ? Int64(rng.int(in: 100...3000)) : nil
        let result = try t.tap(card, at: now, amountFen: amount, tearAt: tear, responseLost: lost)
        count(tear == nil ? "taps" : "torn taps")
        log("tap \(card.serial) at \(t.id)\(tear.map { " torn at APDU \($0)\(lost ? " after it" : "")" } ?? ""): \(result)")
        // A rider whose tap failed mostly taps again at once.
        if tear != nil, rng.chance(0.7) {
            let again = try t.tap(card, at: now + 2, amountFen: amount, tearAt: nil, responseLost: false)
            log("tap again \(card.serial) at \(t.id): \(again)")
        }
    }

    func load() throws {
        let card = cards[rng.below(cards.count)]
        let amount = UInt32(rng.int(in: 1...40) * 100)
        let tear = rng.chance(0.05) ? rng.int(in: 1...10) : nil
        let result = try counter.load(card, amountFen: amount, at: now, tearAt: tear, responseLost: rng.chance(0.5))
        count("loads")
        log("load \(amount) fen on \(card.serial)\(tear.map { " torn at APDU \($0)" } ?? ""): \(result)")
        if tear != nil {
            // The clerk presents the card again until the load is made or refused.
            let again = try counter.load(card, amountFen: amount, at: now + 5, tearAt: nil, responseLost: false)
            log("load again on \(card.serial): \(again)")
        }
    }

    /// One terminal (any: a random one, of the honest ones and the counter) uploads what it has.
    func sync(any: Bool, includeGrey: Bool = false) throws {
        let all: [any Uploading] = terminals + [counter]
        let chosen = any ? [all[rng.below(all.count)]] : all
        for t in chosen {
            guard let upload = try t.nextUpload(at: now, includeGrey: includeGrey) else { continue }
            count("uploads sent")
            sniffed.append((t.id, upload.sequence, upload.bytes))
            log("send \(t.id)/\(upload.sequence) (\(upload.records) records)")
            network.send(.upload(terminal: t.id, sequence: upload.sequence, bytes: upload.bytes), step: step, rng: &rng)
        }
    }

    func crashTerminal() throws {
        let t = terminals[rng.below(terminals.count)]
        try t.crash()
        count("terminal crashes")
        log("terminal \(t.id) crashed and restarted")
    }

    func hotlistCard() throws {
        let card = cards[rng.below(cards.count)]
        guard hotlisted[card.serial] == nil else { return }
        hotlisted[card.serial] = (now, try store.runNumbers().last ?? 0)
        try store.hotlistAdd(card.serial, since: UInt32(now), reason: "simulated loss")
        count("hotlisted")
        log("centre hotlists \(card.serial) from \(clock)")
    }

    // MARK: The front-end

    /// Delivers what the network has due: uploads reach the front-end and are cleared in one
    /// run; answers reach their terminals. With `crashes`, clearing may die before its commit
    /// (the run is lost, no answer) or after it (the answers are lost); it then restarts from
    /// the store.
    func deliver(crashes: Bool = true) throws {
        for payload in network.due(at: step) {
            switch payload {
            case .upload(let terminal, let sequence, let bytes):
                arrived.append((terminal, sequence, bytes))
            case .answer(let terminal, let sequence, let ok, let json):
                guard let t = ([counter] + terminals + [hostile] as [any Uploading]).first(where: { $0.id == terminal }) else { continue }
                // The hostile terminal keeps no journal of what it sends: it ignores answers.
                if t !== hostile { try t.answered(sequence: sequence, acknowledged: ok, json: json) }
                log("answer to \(terminal)/\(sequence): \(ok ? "acknowledged" : json)")
            }
        }
        guard !arrived.isEmpty else { return }
        let crash = crashes ? rng.below(100) : 100
        if crash < 3 {
            log("clearing killed before committing \(arrived.count) upload(s): the run is lost")
            count("clearing crashes")
            arrived.removeAll()
            try restartClearing()
            return
        }
        let uploads = arrived.map { Ingestor.Upload(name: "\($0.terminal)/\($0.sequence)", bytes: $0.bytes) }
        let results = try ingestor.clear(uploads, received: clock)
        count("clearing runs")
        var answers: [Network.Payload] = []
        for (k, item) in arrived.enumerated() {
            let key = BatchKey(terminal: item.terminal.rawValue, sequence: item.sequence)
            switch results[k] {
            case .cleared(let outcome, let replayed):
                acknowledged.insert(key)
                log("cleared \(item.terminal)/\(item.sequence)\(replayed ? " (replay)" : ""): \(outcome.accepted)/\(outcome.records) accepted, refused \(outcome.refused.filter { $0.value > 0 }.sorted { $0.key < $1.key })")
                answers.append(.answer(terminal: item.terminal, sequence: item.sequence, acknowledged: true, json: "{\"accepted\":\(outcome.accepted)}"))
            case .conflict(let why):
                log("conflict \(item.terminal)/\(item.sequence): \(why)")
                answers.append(.answer(terminal: item.terminal, sequence: item.sequence, acknowledged: false, json: "409"))
            case .refused(let refusal):
                log("refused \(item.terminal)/\(item.sequence): \(refusal.reason)")
                answers.append(.answer(terminal: item.terminal, sequence: item.sequence, acknowledged: false, json: "4xx"))
            }
        }
        arrived.removeAll()
        if crash < 6 {
            log("clearing killed after its commit, before answering: the answers are lost")
            count("clearing crashes")
            try restartClearing()
            return
        }
        for a in answers { network.send(a, step: step, rng: &rng) }
    }

    func restartClearing() throws {
        ingestor = try Ingestor(store: store, city: city, keys: clearingKeys)
    }
}
