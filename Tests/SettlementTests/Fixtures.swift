import City
import Clearing
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Settlement
import Storage
import UploadBatch
import StoreTestSupport

let taxi = TerminalID(hex: "710004000001")!
let taxi2 = TerminalID(hex: "710004000002")!
let gas = TerminalID(hex: "710005000001")!
let bus2 = TerminalID(hex: "710002000502")!
let settleDay = BCDDate("2026-11-29")!
let receivedAt = BCDDateTime(iso: "2026-11-29T23:30:00")!

/// A batch with the operator its terminal belongs to in the city file.
func batch(_ terminal: TerminalID, _ seq: UInt32, _ records: [BatchRecord]) -> IncomingBatch {
    let op = Day.city.terminals[terminal]?.operatorID.rawValue ?? 0
    let header = BatchHeader(terminal: terminal, operatorID: op, sequence: seq, createdBCD: Day.bcd("2026-11-29T23:00:00"))
    return IncomingBatch(file: "\(terminal)-\(seq)", batch: BatchFile(header: header, records: records), received: ClearingTime.seconds(receivedAt))
}

/// The hand-computed day (docs/settlement.md, "A worked day"):
///
/// | operator | rate | fares | gross | commission (half-up, once) | net |
/// |---|---|---|---|---|---|
/// | 2 bus | 150 bp | 1000 + 234 | 1234 | 18.51 → 19 | 1215 |
/// | 3 metro | 100 bp | 250 + 300 | 550 | 5.5 → 6 | 544 |
/// | 4 taxi | 200 bp | 1325 | 1325 | 26.5 → 27 | 1298 |
/// | 5 gas | 50 bp | 899 | 899 | 4.495 → 4 | 895 |
///
/// Loads at the Bell Tower counter: A 5000 + B 3000 = 8000 owed to the issuer. One forged bus
/// tap of 150 fen by B is refused `01`.
struct HandDay {
    var batches: [IncomingBatch] = []
    /// The forged tap's reference.
    var forgedRef = RecordRef(terminal: Day.bus, batch: 1, index: 2)

    init() {
        var d = Day()
        let loads = [d.load(cardA, 5000, at: "2026-11-29T07:00:00"), d.load(cardB, 3000, at: "2026-11-29T07:05:00")]
        let busTaps = [d.tap(cardA, 1000, on: Day.bus, at: "2026-11-29T08:00:00"), d.tap(cardB, 234, on: Day.bus, at: "2026-11-29T08:10:00")]
        var forged = d.tap(cardB, 150, on: Day.bus, at: "2026-11-29T08:20:00")
        forged.tac ^= 0xFF
        // The forged tap used B's counter; the card's next real tap follows it.
        let metroTaps = [d.tap(cardA, 250, on: Day.metro, at: "2026-11-29T09:00:00"), d.tap(cardB, 300, on: Day.metro, at: "2026-11-29T17:30:00")]
        let taxiTaps = [d.tap(cardA, 1325, on: taxi, at: "2026-11-29T18:00:00")]
        let gasTaps = [d.tap(cardB, 899, on: gas, at: "2026-11-29T19:00:00")]
        batches = [batch(Day.counter, 1, loads), batch(Day.bus, 1, busTaps + [forged]), batch(Day.metro, 1, metroTaps),
                   batch(taxi, 1, taxiTaps), batch(gas, 1, gasTaps)]
    }

    /// Runs clearing in memory and settles the result.
    func settleInMemory() -> (Settlement, RunResult) {
        let engine = Day.engine()
        let r = engine.run(batches)
        var b = SettlementBuilder(day: settleDay, city: Day.city)
        for d in Packing.details(r.details) ?? [] { b.add(d) }
        for t in r.transfers { b.addUpload(t) }
        for f in r.refusals { b.add(f) }
        return (b.finish(runs: [1], closed: false, exceptions: []), r)
    }

    /// Ingests the day into a new clearing database (with the city stored, as the CLI needs).
    func store(at path: String) throws -> ClearingStore {
        let store = try TestBackend.open(path)
        try store.addCity(Data(contentsOf: URL(fileURLWithPath: Self.cityPath)))
        let engine = Day.engine()
        try store.commit(engine.run(batches), files: batches.map(\.file), engine: engine, received: receivedAt, businessDay: settleDay)
        return store
    }

    static let cityPath = TestPaths.city
}

/// A fresh keyset made by the binary in `dir`, and a writer of upload files signed as a
/// terminal's PSAM would (with `signer`'s upload key: another terminal's, to forge).
struct SignedBatches {
    let keys: String
    let keyset: Keyset
    let dir: String

    init(dir: String) throws {
        self.dir = dir
        keys = dir + "/keys.json"
        guard try onecard(["keys", "new", "--out", keys]).status == 0 else { throw MissingBinary(description: "onecard keys new failed") }
        keyset = try Keyset.load(path: keys)
    }

    /// Writes `records` as batch `seq` of `terminal` into `dir/name`; returns the path.
    func write(_ name: String, terminal: TerminalID, op: UInt16, seq: UInt32, _ records: [BatchRecord], signer: TerminalID? = nil) throws -> String {
        let header = BatchHeader(terminal: terminal, operatorID: op, sequence: seq, createdBCD: Day.bcd("2026-11-29T23:00:00"))
        let key = BatchFile.uploadKey(batchMaster: try keyset.masterKey(.batch), terminal: signer ?? terminal)
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(BatchFile(header: header, records: records).encode(key: key)))
        return path
    }
}

/// The built `onecard` binary (package root → `.build/debug`).
let onecardPath = TestPaths.onecard

/// What a run of the binary printed and returned.
struct CLIRun {
    var status: Int32
    var out: String
    var err: String
}

/// Runs the real `onecard` binary; throws a clear error if it was not built.
func onecard(_ args: [String]) throws -> CLIRun {
    guard FileManager.default.isExecutableFile(atPath: onecardPath) else {
        throw MissingBinary(description: "\(onecardPath) is missing: run `swift build` first (these tests run the real onecard binary)")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: onecardPath)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CLIRun(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
}

struct MissingBinary: Error, CustomStringConvertible { let description: String }

/// A fresh directory, removed afterwards.
func withTempDir<T>(_ body: (String) throws -> T) throws -> T {
    let dir = NSTemporaryDirectory() + "onecard-settle-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

/// Every file of a directory, by name.
func contents(of dir: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
        out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
    }
    return out
}
