import Foundation
import GRDB
import OneCardCore
@testable import Storage
import Testing
import UploadBatch

@Suite("a card is refunded or replaced once only, and a replacement moves the balance exactly once")
struct IssuerDatabaseTests {
    let oldCard = CardSerial(rawValue: 0x3100_0000_0000_1001)
    let newCard = CardSerial(rawValue: 0x3100_0000_0000_1002)
    let thirdCard = CardSerial(rawValue: 0x3100_0000_0000_1003)

    func open(_ dir: String) throws -> IssuerDatabase {
        try IssuerDatabase(path: dir + "/issuer.sqlite", journal: dir + "/counter.sqlite", counterTerminal: counterTerminal, operatorID: 1)
    }

    @Test("issuing registers the card active with its deposit and journals an issue record")
    func issue() throws {
        try withTempDir { dir in
            let db = try open(dir)
            let r = try db.issue(serial: oldCard, cardType: .student, depositFen: 2_000, at: noon)
            #expect(r.kind == .issue && r.depositFen == 2_000 && r.terminal == counterTerminal && r.sequence == 1)
            #expect(try db.card(oldCard)?.status == .active)
            #expect(try db.card(oldCard)?.depositFen == 2_000)
            #expect(throws: StorageError.cardAlreadyIssued(path: db.path, card: oldCard.masked)) {
                try db.issue(serial: oldCard, cardType: .adult, depositFen: 0, at: noon)
            }
            #expect(try db.journal.records() == [r])
        }
    }

    @Test("a second refund is refused and journals nothing")
    func refundOnce() throws {
        try withTempDir { dir in
            let db = try open(dir)
            _ = try db.issue(serial: oldCard, cardType: .adult, depositFen: 2_000, at: noon)
            let r = try db.refund(serial: oldCard, balanceFen: 1_234, at: noon)
            #expect(r.kind == .refund && r.amountFen == 1_234 && r.depositFen == 2_000)
            #expect(try db.card(oldCard)?.status == .refunded)
            let before = try db.journal.records()
            let error = #expect(throws: StorageError.self) { try db.refund(serial: oldCard, balanceFen: 1_234, at: noon) }
            #expect(error == .cardNotAllowed(path: db.path, card: oldCard.masked, status: "refunded", operation: "refund"))
            #expect(throws: StorageError.self) { try db.replace(old: oldCard, new: newCard, balanceFen: 1, at: noon) }
            #expect(try db.journal.records() == before)
        }
    }

    @Test("a replacement closes the old card, credits the new one once, and cannot be repeated")
    func replaceOnce() throws {
        try withTempDir { dir in
            let db = try open(dir)
            for s in [oldCard, newCard, thirdCard] { _ = try db.issue(serial: s, cardType: .adult, depositFen: 2_000, at: noon) }
            try db.block(serial: oldCard) // reported lost
            let r = try db.replace(old: oldCard, new: newCard, balanceFen: 4_321, at: noon)
            #expect(r.kind == .replacement && r.serial == oldCard && r.relatedSerial == newCard && r.amountFen == 4_321)
            #expect(try db.card(oldCard)?.status == .replaced && db.card(oldCard)?.replacedBy == newCard)
            #expect(throws: StorageError.self) { try db.replace(old: oldCard, new: thirdCard, balanceFen: 4_321, at: noon) }
            #expect(throws: StorageError.self) { try db.refund(serial: oldCard, balanceFen: 4_321, at: noon) }
            let error = #expect(throws: StorageError.self) { try db.replace(old: thirdCard, new: newCard, balanceFen: 5, at: noon) }
            guard case .replacementInvalid? = error else { Issue.record("expected replacementInvalid, got \(String(describing: error))"); return }
            #expect(throws: StorageError.self) { try db.replace(old: thirdCard, new: thirdCard, balanceFen: 5, at: noon) }
            let moves = try db.journal.records().filter { $0.kind == .replacement }
            #expect(moves == [r])
        }
    }

    @Test("the schema itself refuses a second closure and a status moving backwards")
    func schemaEnforcesOnceOnly() throws {
        try withTempDir { dir in
            let db = try open(dir)
            _ = try db.issue(serial: oldCard, cardType: .adult, depositFen: 2_000, at: noon)
            _ = try db.refund(serial: oldCard, balanceFen: 10, at: noon)
            let serial = Int64(bitPattern: oldCard.rawValue)
            #expect(throws: DatabaseError.self) {
                try db.registry.write { d in
                    try d.execute(
                        sql: "INSERT INTO issuer_closure (serial, kind, balance_fen, deposit_fen, terminal, sequence, at_bcd) VALUES (?, 'refund', 10, 0, 1, 99, 0)",
                        arguments: [serial])
                }
            }
            #expect(throws: DatabaseError.self) {
                try db.registry.write { d in
                    try d.execute(sql: "UPDATE issuer_card SET status = 'active' WHERE serial = ?", arguments: [serial])
                }
            }
            #expect(throws: DatabaseError.self) {
                try db.journal.queue.write { d in try d.execute(sql: "DELETE FROM journal_record") }
            }
        }
    }

    @Test("a load of a blocked or unknown card is refused; an active card's load is journaled")
    func loads() throws {
        try withTempDir { dir in
            let db = try open(dir)
            _ = try db.issue(serial: oldCard, cardType: .adult, depositFen: 0, at: noon)
            let seq = try db.journal.nextSequence()
            let load = BatchRecord(
                kind: .load, transactionType: 0x02, serial: oldCard, cardType: 1, counter: 0, amountFen: 5_000, balanceBeforeFen: 0,
                balanceAfterFen: 5_000, terminal: counterTerminal, sequence: seq.rawValue, dateTimeBCD: 0x2026_1129_1200_00, tac: 0x1234)
            try db.recordLoad(load)
            var unknown = load
            unknown.serial = thirdCard
            #expect(throws: StorageError.cardUnknown(path: db.path, card: thirdCard.masked)) { try db.recordLoad(unknown) }
            try db.block(serial: oldCard)
            #expect(throws: StorageError.self) { try db.recordLoad(load) }
            #expect(try db.journal.records().filter { $0.kind == .load } == [load])
        }
    }

    @Test("the counter's journal exports issues, loads and refunds with deposits summed in the trailer")
    func exportCounter() throws {
        try withTempDir { dir in
            let db = try open(dir)
            _ = try db.issue(serial: oldCard, cardType: .adult, depositFen: 2_000, at: noon)
            _ = try db.refund(serial: oldCard, balanceFen: 700, at: noon)
            let j = try SQLiteJournal(existing: db.journal.path)
            #expect(j.terminal == counterTerminal && j.operatorID == 1)
            let r = try j.export(to: dir + "/counter.batch", key: batchKey, createdAt: noon)
            #expect(r.recordCount == 2 && r.amountFen == 700 && r.depositFen == 4_000)
            #expect(try decodeBatch(dir + "/counter.batch").records.map(\.kind) == [.issue, .refund])
        }
    }

    @Test("one registry for the city: a card issued at one counter is loaded and refunded at another, once; each counter journals its own records")
    func twoCounters() throws {
        try withTempDir { dir in
            let other = TerminalID(rawValue: 0x0000_0000_0002)!
            let a = try IssuerDatabase(path: dir + "/issuer.sqlite", journal: dir + "/a.sqlite", counterTerminal: counterTerminal, operatorID: 1)
            let b = try IssuerDatabase(path: dir + "/issuer.sqlite", journal: dir + "/b.sqlite", counterTerminal: other, operatorID: 1)
            _ = try a.issue(serial: oldCard, cardType: .adult, depositFen: 2_000, at: noon)
            #expect(try b.card(oldCard)?.status == .active, "counter B knows the card counter A issued")
            let load = BatchRecord(
                kind: .load, transactionType: 0x02, serial: oldCard, cardType: 1, counter: 0, amountFen: 5_000, balanceBeforeFen: 0,
                balanceAfterFen: 5_000, terminal: other, sequence: try b.journal.nextSequence().rawValue, dateTimeBCD: 0x2026_1129_1200_00, tac: 0x1234)
            try b.recordLoad(load)
            let refund = try b.refund(serial: oldCard, balanceFen: 5_000, at: noon)
            #expect(throws: StorageError.self, "refunded once, city-wide") { try a.refund(serial: oldCard, balanceFen: 5_000, at: noon) }
            #expect(try a.card(oldCard)?.status == .refunded)
            #expect(try a.journal.records().map(\.kind) == [.issue])
            #expect(try b.journal.records() == [load, refund])
            // Both counters number from 1: their closures do not collide.
            _ = try a.issue(serial: newCard, cardType: .adult, depositFen: 2_000, at: noon)
            _ = try a.refund(serial: newCard, balanceFen: 0, at: noon)
        }
    }

    @Test("a counter record journaled but not yet registered (a crash between the two files) is finished by repeating the step")
    func repeatedStep() throws {
        try withTempDir { dir in
            let db = try open(dir)
            _ = try db.issue(serial: oldCard, cardType: .adult, depositFen: 2_000, at: noon)
            let seq = try db.journal.nextSequence()
            let refund = BatchRecord(
                kind: .refund, transactionType: 0, serial: oldCard, cardType: 1, counter: 0, amountFen: 300, balanceBeforeFen: 300,
                balanceAfterFen: 0, terminal: counterTerminal, sequence: seq.rawValue, dateTimeBCD: 0x2026_1129_1200_00, tac: 0, depositFen: 2_000)
            try db.beginCounterRecord(refund)
            try db.journal.appendOnce(refund)    // the first step, then the crash
            try db.journalCounterRecord(refund, finishing: true)
            #expect(try db.journal.records().filter { $0.kind == .refund } == [refund], "journaled once")
            #expect(try db.card(oldCard)?.status == .refunded && db.pendingCounterRecord(oldCard) == nil)
        }
    }

    @Test("a card a pending replacement moves a balance onto is reserved: no load, refund or other replacement onto it until finished")
    func newCardReserved() throws {
        try withTempDir { dir in
            let db = try open(dir)
            for s in [oldCard, newCard, thirdCard] { _ = try db.issue(serial: s, cardType: .adult, depositFen: 2_000, at: noon) }
            func record(_ kind: RecordKind, _ serial: CardSerial, related: CardSerial = CardSerial(rawValue: 0)) throws -> BatchRecord {
                BatchRecord(
                    kind: kind, transactionType: 0, serial: serial, cardType: 1, counter: 0, amountFen: 0, balanceBeforeFen: 0, balanceAfterFen: 0,
                    terminal: counterTerminal, sequence: try db.journal.nextSequence().rawValue, dateTimeBCD: 0x2026_1129_1200_00, tac: 0,
                    relatedSerial: related)
            }
            try db.beginCounterRecord(try record(.replacement, oldCard, related: newCard))
            #expect(throws: StorageError.self) { try db.beginCounterRecord(try record(.load, newCard)) }
            #expect(throws: StorageError.self) { try db.beginCounterRecord(try record(.refund, newCard)) }
            #expect(throws: StorageError.self) { try db.beginCounterRecord(try record(.replacement, thirdCard, related: newCard)) }
            try db.beginCounterRecord(try record(.load, thirdCard))
        }
    }
}
