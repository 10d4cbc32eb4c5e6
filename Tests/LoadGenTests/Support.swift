import City
import Foundation
import LoadGen
import OneCardCore
import OneCardCrypto
import UploadBatch

let repositoryRoot = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")

/// The example city.
func xian() throws -> City { try City.load(path: repositoryRoot + "/config/city-xian.json") }

/// A fixed test keyset (batch and tac are all the generator needs).
func testKeyset() throws -> Keyset {
    Keyset(keyVersion: KeyVersion(rawValue: 1), masterKeys: [
        .purchase: try TripleDESKey(hex: "0123456789ABCDEFFEDCBA9876543210"),
        .tac: try TripleDESKey(hex: "00112233445566778899AABBCCDDEEFF"),
        .load: try TripleDESKey(hex: "FFEEDDCCBBAA99887766554433221100"),
        .batch: try TripleDESKey(hex: "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"),
    ])
}

/// A fresh empty directory.
func temporaryDirectory() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loadgen-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A generated run, read back from disk; its directory is removed with it unless the caller
/// chose the directory.
final class Run {
    let dir: String
    let truth: GroundTruth
    let hotlist: GeneratedHotlist
    private let ownsDirectory: Bool

    private init(dir: String, truth: GroundTruth, hotlist: GeneratedHotlist, ownsDirectory: Bool) {
        (self.dir, self.truth, self.hotlist, self.ownsDirectory) = (dir, truth, hotlist, ownsDirectory)
    }

    deinit {
        if ownsDirectory { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Batch file names (relative to `dir`), sorted.
    func batchFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir + "/batches").sorted().map { "batches/" + $0 }
    }

    func bytes(_ file: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))) }

    /// Every complete file decoded, in file-name order.
    func decoded(keyset: Keyset) throws -> [(file: String, batch: BatchFile)] {
        let batchMaster = try keyset.masterKey(.batch)
        return try batchFiles().filter { !$0.contains("-truncated") }.map { file in
            let bytes = try bytes(file)
            let header = try BatchFile.peekHeader(bytes, file: file)
            let key = BatchFile.uploadKey(batchMaster: batchMaster, terminal: header.terminal)
            return (file, try BatchFile.decode(bytes, file: file, key: key))
        }
    }

    static func make(_ options: LoadGenOptions, dir chosen: String? = nil) throws -> Run {
        let dir = chosen ?? temporaryDirectory()
        var done = false
        defer { if !done && chosen == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let truth = try LoadGenerator.generate(city: try xian(), keyset: try testKeyset(), options: options, outputDirectory: dir)
        let hotlist = try JSONDecoder().decode(GeneratedHotlist.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/hotlist.json")))
        let onDisk = try JSONDecoder().decode(GroundTruth.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/ground-truth.json")))
        precondition(onDisk == truth, "ground-truth.json differs from the returned truth")
        done = true
        return Run(dir: dir, truth: truth, hotlist: hotlist, ownsDirectory: chosen == nil)
    }
}

/// The TAC a card computes, recomputed from the record with the library's own functions.
func expectedTAC(_ r: BatchRecord, tacMaster: TripleDESKey) -> UInt32? {
    let key = TripleDESPurse.tacKey(dtk: TripleDESPurse.diversify(master: tacMaster, serial: r.serial))
    guard let type = TransactionType(rawValue: r.transactionType), let at = r.at else { return nil }
    switch r.kind {
    case .purchase:
        return TripleDESPurse.purchaseTAC(tacKey: key, amountFen: r.amountFen, type: type, terminal: r.terminal,
                                          terminalSequence: TerminalSequence(rawValue: r.sequence), at: at)
    case .load:
        return TripleDESPurse.loadTAC(tacKey: key, newBalanceFen: r.balanceAfterFen, onlineCounter: PurseCounter(rawValue: r.counter),
                                      amountFen: r.amountFen, type: type, terminal: r.terminal, at: at)
    default:
        return nil
    }
}
