import Foundation
import OneCardTestSupport
import Testing
import OneCardCore
import Storage
import UploadBatch
import Clearing
import ClearingIngest
import City
import OneCardCrypto

/// A fresh directory for one test's SQLite files, removed afterwards.
@discardableResult
func withTempDir<T>(_ body: (String) throws -> T) throws -> T {
    let dir = NSTemporaryDirectory() + "onecard-storage-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer {
        chmod(dir, 0o755)
        try? FileManager.default.removeItem(atPath: dir)
    }
    return try body(dir)
}

let busTerminal = TerminalID(rawValue: 0x0102_0304_0506)!
let otherTerminal = TerminalID(rawValue: 0x0A0B_0C0D_0E0F)!
let counterTerminal = TerminalID(rawValue: 0x0000_0000_0001)!
let batchKey: [UInt8] = Array(repeating: 0x5A, count: 16)
let noon = BCDDateTime(date: BCDDate(year: 2026, month: 11, day: 29)!, time: BCDTime(hour: 12, minute: 0, second: 0)!)

/// A grey purchase record as a terminal journals it before DEBIT.
func greyRecord(_ serial: UInt64, counter: UInt16, sequence: TerminalSequence, amountFen: UInt32 = 200,
                terminal: TerminalID = busTerminal) -> BatchRecord {
    BatchRecord(
        kind: .grey, transactionType: 0x06, serial: CardSerial(rawValue: serial), cardType: 1, counter: counter,
        amountFen: amountFen, balanceBeforeFen: 5_000, balanceAfterFen: 5_000 - amountFen, terminal: terminal,
        sequence: sequence.rawValue, dateTimeBCD: 0x2026_1129_1200_00, tac: 0, industry: 2, line: 0x0600)
}

/// The same record completed with a TAC.
func completed(_ grey: BatchRecord, tac: UInt32 = 0xDEAD_BEEF) -> BatchRecord {
    var r = grey
    r.kind = .purchase
    r.tac = tac
    return r
}

/// Journals one complete purchase (sequence, grey, complete) and returns it.
@discardableResult
func purchase(_ j: SQLiteJournal, serial: UInt64, counter: UInt16, amountFen: UInt32 = 200) throws -> BatchRecord {
    let seq = try j.nextSequence()
    let g = greyRecord(serial, counter: counter, sequence: seq, amountFen: amountFen)
    try j.recordGrey(g)
    let c = completed(g)
    try j.complete(c)
    return c
}

/// Reads and verifies a batch file.
func decodeBatch(_ path: String) throws -> BatchFile {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    return try BatchFile.decode(bytes, file: path, key: batchKey)
}

/// The debug `onecard` binary the crash and CLI tests run; `nil` (recorded as an issue that
/// says how to build it) when it is missing.
func onecardBinary() -> String? {
    let binary = TestPaths.onecard
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        Issue.record("\(binary) is missing: run `swift build` (this test runs the real onecard binary)")
        return nil
    }
    return binary
}

/// Runs the real onecard binary (or any program) to the end: its exit status and standard output.
func runOnecardStatus(_ binary: String, _ arguments: [String]) throws -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs the real onecard binary to the end and returns its standard output; a non-zero exit
/// status is recorded as an issue naming the command.
@discardableResult
func runOnecard(_ binary: String, _ arguments: [String]) throws -> String {
    let (status, out) = try runOnecardStatus(binary, arguments)
    #expect(status == 0, "onecard \(arguments.prefix(2).joined(separator: " ")) exited \(status)")
    return out
}

/// A store made ready for an ingestor: the test city stored, every terminal registered
/// with upload key version 1, and the keyset the uploads are signed with.
enum UploadFixture {
    static let keyset = Keyset(keyVersion: KeyVersion(rawValue: 1), masterKeys: [.tac: Day.tacMaster, .batch: try! TripleDESKey(hex: "77777777777777778888888888888888")])

    /// Stores the city and registers the city's terminals in `store`.
    static func prepare(_ store: ClearingStore) throws {
        try store.addCity(Data(contentsOf: URL(fileURLWithPath: TestPaths.city)))
        for t in Day.city.terminals.values { try store.registerTerminal(t.id, operatorID: t.operatorID.rawValue, keyVersion: 1, at: "2026-11-29T00:00:00Z") }
    }

    /// An ingestor over `store` with the fixture's keys.
    static func ingestor(_ store: ClearingStore) throws -> Ingestor {
        try Ingestor(store: store, city: Day.city, keys: try ClearingKeys(keysets: [keyset]))
    }

    /// `b` as a terminal uploads it: the batch file signed with its terminal's upload key.
    static func upload(_ b: IncomingBatch, name: String? = nil) -> Ingestor.Upload {
        let key = BatchFile.uploadKey(batchMaster: try! keyset.masterKey(.batch), terminal: b.batch.header.terminal)
        return Ingestor.Upload(name: name ?? b.file, bytes: b.batch.encode(key: key))
    }
}

/// A new keyset in `dir` and a day loadgen makes with it in `dir/day` (`options`: its size,
/// seed and faults): the keyset's path and the batch files in order.
func generatedDay(_ binary: String, _ dir: String, _ options: [String]) throws -> (keys: String, files: [String]) {
    let keys = dir + "/keys.json"
    try runOnecard(binary, ["keys", "new", "--out", keys])
    try runOnecard(binary, ["loadgen", "--city", TestPaths.city, "--keys", keys, "--out", dir + "/day"] + options)
    let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/day/batches").sorted().map { dir + "/day/batches/" + $0 }
    return (keys, files)
}

/// Stores the example city in `store` and registers each of its terminals, active, with upload
/// key version 1, as `clearing terminals add --from-city` does.
func registerCity(_ store: ClearingStore, _ city: City) throws {
    try store.addCity(Data(contentsOf: URL(fileURLWithPath: TestPaths.city)))
    for (id, t) in city.terminals { try store.registerTerminal(id, operatorID: t.operatorID.rawValue, keyVersion: 1, at: "2026-03-01T00:00:00Z") }
}
