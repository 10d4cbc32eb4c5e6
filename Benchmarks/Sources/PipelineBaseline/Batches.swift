import Foundation
import OneCardCore
import OneCardCrypto
import UploadBatch

/// One record that passed the application's checks, ready to be written as a transfer.
/// Fields are the SQL column values (Int64 everywhere: SQLite and PostgreSQL `bigint`).
struct Row: Sendable {
    /// Card serial (bit pattern of the 64-bit serial).
    var serial: Int64
    /// 0 = offline counter (purchases), 1 = online counter (loads): the duplicate key's kind.
    var counterKind: Int64
    /// The purse counter before the transaction.
    var counter: Int64
    /// 1 purchase, 2 load (``RecordKind`` raw value).
    var kind: Int64
    /// Amount, fen.
    var amountFen: Int64
    /// The batch's operator: the account the money goes to.
    var operatorID: Int64
    /// Terminal and terminal sequence, date-time BCD and TAC: the proof, kept with the transfer.
    var terminal: Int64
    var sequence: Int64
    var atBCD: Int64
    var tac: Int64

    /// What the card's balance moves by: −amount for a purchase, +amount for a load.
    var cardDeltaFen: Int64 { kind == Int64(RecordKind.purchase.rawValue) ? -amountFen : amountFen }
}

/// Refusals found in the application before anything reaches the database.
struct AppRefusals: Sendable {
    var grey = 0, tac = 0, otherKind = 0, badFiles = 0
}

/// Reads and checks upload batches the way clearing does for the checks the baselines share:
/// the batch MAC and structure (`BatchFile.decode`), grey records, and every TAC re-computed
/// from the card's diversified TAC key. Keys stay in memory; nothing here prints them.
struct BatchSource {
    private let batchMaster: TripleDESKey
    private let tacMaster: TripleDESKey
    /// Per-card TAC keys (a diversification is two 3DES blocks; cards tap ~5 times a day).
    private var tacKeys: [UInt64: DESKey] = [:]
    /// Refusals so far.
    private(set) var refusals = AppRefusals()

    /// Loads the batch (the terminals' upload keys, for the files' MACs) and TAC master keys
    /// from a keyset file.
    init(keysPath: String) throws {
        let keyset = try Keyset.load(path: keysPath)
        batchMaster = try keyset.masterKey(.batch)
        tacMaster = try keyset.masterKey(.tac)
    }

    /// The `.ocub` files of `DIR/batches`, sorted by name (terminal, then batch sequence).
    static func files(in dir: String) throws -> [String] {
        let batches = (dir as NSString).appendingPathComponent("batches")
        return try FileManager.default.contentsOfDirectory(atPath: batches)
            .filter { $0.hasSuffix(".ocub") }.sorted().map { (batches as NSString).appendingPathComponent($0) }
    }

    /// Decodes one file and returns its operator and the records that pass among its first
    /// `maxRecords`; `nil` if the file is refused whole (bad MAC, truncated…).
    mutating func read(_ path: String, maxRecords: Int = .max) throws -> (operatorID: Int64, rows: [Row], records: Int)? {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard let header = try? BatchFile.peekHeader(bytes, file: path) else { refusals.badFiles += 1; return nil }
        let key = BatchFile.uploadKey(batchMaster: batchMaster, terminal: header.terminal)
        guard let batch = try? BatchFile.decode(bytes, file: path, key: key) else { refusals.badFiles += 1; return nil }
        let op = Int64(batch.header.operatorID)
        var rows: [Row] = []
        rows.reserveCapacity(batch.records.count)
        let records = batch.records.prefix(maxRecords)
        for r in records {
            if let row = check(r, operatorID: op) { rows.append(row) }
        }
        return (op, rows, records.count)
    }

    /// The row for `r` if it is a purchase or load whose TAC verifies; counts the refusal otherwise.
    private mutating func check(_ r: BatchRecord, operatorID: Int64) -> Row? {
        let counterKind: Int64
        switch r.kind {
        case .purchase:
            let tac = TripleDESPurse.purchaseTAC(
                tacKey: tacKey(r.serial), amountFen: r.amountFen, typeByte: r.transactionType,
                terminal: r.terminal.rawValue, terminalSequence: r.sequence, dateTimeBCD: r.dateTimeBCD)
            guard tac == r.tac else { refusals.tac += 1; return nil }
            counterKind = 0
        case .load:
            guard Self.loadTAC(r, tacKey(r.serial)) == r.tac else { refusals.tac += 1; return nil }
            counterKind = 1
        case .grey:
            refusals.grey += 1
            return nil
        default:
            refusals.otherKind += 1
            return nil
        }
        return Row(
            serial: Int64(bitPattern: r.serial.rawValue), counterKind: counterKind, counter: Int64(r.counter),
            kind: Int64(r.kind.rawValue), amountFen: Int64(r.amountFen), operatorID: operatorID,
            terminal: Int64(r.terminal.rawValue), sequence: Int64(r.sequence), atBCD: Int64(r.dateTimeBCD),
            tac: Int64(r.tac))
    }

    /// The card's TAC key, derived once per card.
    private mutating func tacKey(_ serial: CardSerial) -> DESKey {
        if let k = tacKeys[serial.rawValue] { return k }
        let k = TripleDESPurse.tacKey(tacMaster: tacMaster, serial: serial)
        tacKeys[serial.rawValue] = k
        return k
    }

    /// The load TAC exactly as `Clearing.RecordVerifier` computes it: ISO 9797-1 MAC
    /// algorithm 1 over newBalance(4) counter(2) amount(4) type(1) terminal(6) datetime(7)
    /// and a whole padding block.
    static func loadTAC(_ r: BatchRecord, _ key: DESKey) -> UInt32 {
        TripleDESPurse.loadTAC(
            tacKey: key, newBalanceFen: r.balanceAfterFen, onlineCounter: r.counter, amountFen: r.amountFen,
            typeByte: r.transactionType, terminal: r.terminal.rawValue, dateTimeBCD: r.dateTimeBCD)
    }
}

/// What the database must hold at the end, computed independently in memory: the first
/// record of each (card, counter kind, counter) is accepted, later ones are duplicates.
struct Expectation {
    private var seen = Set<DupKey>()
    private(set) var accepted = 0
    private(set) var amountFen: Int64 = 0
    private(set) var cardDeltaFen: Int64 = 0
    private(set) var duplicates = 0

    private struct DupKey: Hashable { let serial: Int64, kind: Int64, counter: Int64 }

    /// Counts `rows` in order.
    mutating func add(_ rows: [Row]) {
        for r in rows {
            if seen.insert(DupKey(serial: r.serial, kind: r.counterKind, counter: r.counter)).inserted {
                accepted += 1
                amountFen += r.amountFen
                cardDeltaFen += r.cardDeltaFen
            } else {
                duplicates += 1
            }
        }
    }
}

/// The totals a baseline reads back from its own database after the run.
struct DatabaseTotals: Codable {
    /// Rows in `transfers`, and their amount.
    var transfers: Int
    var transfersAmountFen: Int64
    /// Sum of the operator accounts' balances (every accepted amount lands on one).
    var accountsFen: Int64
    /// Sum of the card balances' net movements (loads − purchases).
    var cardsFen: Int64
}

/// The subset of `DIR/ground-truth.json` the baselines check against.
struct Truth: Decodable {
    struct KindTotals: Decodable { var accepted: Int; var acceptedAmountFen: Int64 }
    var accepted: Int
    var acceptedAmountFen: Int64
    var purchases: KindTotals
    var loads: KindTotals

    /// Reads `DIR/ground-truth.json`.
    static func load(dir: String) throws -> Truth {
        let url = URL(fileURLWithPath: dir).appendingPathComponent("ground-truth.json")
        return try JSONDecoder().decode(Truth.self, from: Data(contentsOf: url))
    }
}
