import City
import Clearing
import Foundation
import OneCardCore
import OneCardCrypto
import UploadBatch

/// A tiny scripted city day with real TACs, built record by record as cards would.
public struct Day {
    public static let city = try! City.load(path: TestPaths.city)
    public static let tacMaster = try! TripleDESKey(hex: "33333333333333334444444444444444")
    public static let counter = TerminalID(hex: "710001000001")!   // issuer service counter, operator 1
    public static let bus = TerminalID(hex: "710002000501")!       // bus, operator 2
    public static let metro = TerminalID(hex: "710003010101")!     // metro, operator 3

    public var sequences: [TerminalID: UInt32] = [:]
    /// The TAC master the day's cards sign with (``tacMaster`` unless a test brings its keyset).
    public var signingMaster: TripleDESKey = Day.tacMaster
    public var cards: [CardSerial: (balance: UInt32, offline: UInt16, online: UInt16)] = [:]

    public static func bcd(_ iso: String) -> UInt64 { TripleDESPurse.packedDateTime(BCDDateTime(iso: iso)!) }

    public mutating func load(_ serial: CardSerial, _ amount: UInt32, at: String) -> BatchRecord {
        var c = cards[serial] ?? (0, 0, 0)
        let after = c.balance + amount
        let dt = Self.bcd(at)
        let tac = TripleDESPurse.loadTAC(
            tacKey: TripleDESPurse.tacKey(tacMaster: signingMaster, serial: serial), newBalanceFen: after,
            onlineCounter: PurseCounter(rawValue: c.online), amountFen: amount, type: .epLoad, terminal: Self.counter,
            at: BCDDateTime(iso: at)!)
        let r = BatchRecord(
            kind: .load, transactionType: 0x02, serial: serial, cardType: 1, counter: c.online, amountFen: amount,
            balanceBeforeFen: c.balance, balanceAfterFen: after, terminal: Self.counter, sequence: next(Self.counter),
            dateTimeBCD: dt, tac: tac)
        c.balance = after
        c.online += 1
        cards[serial] = c
        return r
    }

    public mutating func tap(_ serial: CardSerial, _ amount: UInt32, on terminal: TerminalID = bus, at: String) -> BatchRecord {
        var c = cards[serial] ?? (0, 0, 0)
        let seq = next(terminal)
        let tac = TripleDESPurse.purchaseTAC(
            tacKey: TripleDESPurse.tacKey(tacMaster: signingMaster, serial: serial), amountFen: amount, typeByte: 0x06,
            terminal: terminal.rawValue, terminalSequence: seq, dateTimeBCD: Self.bcd(at))
        let r = BatchRecord(
            kind: .purchase, transactionType: 0x06, serial: serial, cardType: 1, counter: c.offline, amountFen: amount,
            balanceBeforeFen: c.balance, balanceAfterFen: c.balance - amount, terminal: terminal, sequence: seq,
            dateTimeBCD: Self.bcd(at), tac: tac)
        c.balance -= amount
        c.offline += 1
        cards[serial] = c
        return r
    }

    public mutating func next(_ t: TerminalID) -> UInt32 {
        sequences[t, default: 0] += 1
        return sequences[t]!
    }

    /// A batch as the terminal wrote it, received by the centre `receivedAfter` seconds after
    /// its header time (or at `received`).
    public static func batch(
        _ terminal: TerminalID, _ seq: UInt32, _ records: [BatchRecord], created: String = "2026-11-29T23:00:00",
        received: String? = nil, receivedAfter: UInt32 = 1800
    ) -> IncomingBatch {
        let op: UInt16 = terminal == counter ? 1 : terminal == bus ? 2 : 3
        let header = BatchHeader(terminal: terminal, operatorID: op, sequence: seq, createdBCD: bcd(created))
        let at = received.map { ClearingTime.seconds(BCDDateTime(iso: $0)!) } ?? ClearingTime.seconds(BCDDateTime(iso: created)!) + receivedAfter
        return IncomingBatch(file: "\(terminal)-\(seq)", batch: BatchFile(header: header, records: records), received: at)
    }

    public static func engine() -> ClearingEngine { ClearingEngine(config: ClearingConfig(city: city, tacMaster: tacMaster)) }
    /// Moves the old card's balance onto a new, empty card at the counter (a replacement).
    public mutating func replace(_ old: CardSerial, with new: CardSerial, at: String) -> BatchRecord {
        let balance = cards[old]?.balance ?? 0
        var r = load(new, balance, at: at)
        r.kind = .replacement
        r.relatedSerial = new
        r.serial = old
        cards[old]?.balance = 0
        return r
    }

    /// An empty day.
    public init() {}

    /// An empty day whose cards sign under `tacMaster`.
    public init(tacMaster: TripleDESKey) { signingMaster = tacMaster }
}

public let cardA = CardSerial(hex: "2000000000000001")!
public let cardB = CardSerial(hex: "2000000000000002")!

/// Paths every test target finds the same way: from this file's place in the repository.
public enum TestPaths {
    /// The package root (this file is `Tests/Support/Day.swift`).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The example city file.
    public static let city = root.appendingPathComponent("config/city-xian.json").path
    /// The debug build of the `onecard` binary, which the crash and CLI tests run.
    public static let onecard = root.appendingPathComponent(".build/debug/onecard").path
}
