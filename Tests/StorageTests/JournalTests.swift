import Foundation
import GRDB
import OneCardCore
import Storage
import Testing
import UploadBatch

@Suite("a grey record is kept until the card resolves it")
struct GreyRecordTests {
    @Test("grey → complete: the grey record is replaced by the completed purchase, durably")
    func greyThenComplete() throws {
        try withTempDir { dir in
            let path = dir + "/j.sqlite"
            let j = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
            let seq = try j.nextSequence()
            let g = greyRecord(0x3100_0000_0000_0001, counter: 7, sequence: seq)
            try j.recordGrey(g)
            #expect(try j.grey(for: g.serial) == g)
            try j.complete(completed(g))
            #expect(try j.grey(for: g.serial) == nil)
            let reopened = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
            #expect(try reopened.records() == [completed(g)])
            #expect(try reopened.unresolvedGreys().isEmpty)
        }
    }

    @Test("grey → void: the grey record disappears and nothing is journaled")
    func greyThenVoid() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let g = greyRecord(0x3100_0000_0000_0002, counter: 3, sequence: try j.nextSequence())
            try j.recordGrey(g)
            try j.void(serial: g.serial, counter: 3)
            #expect(try j.grey(for: g.serial) == nil)
            #expect(try j.records().isEmpty)
            try j.void(serial: g.serial, counter: 3) // a retried void is harmless
        }
    }

    @Test("a grey record survives a reopen until it is resolved")
    func greySurvivesReopen() throws {
        try withTempDir { dir in
            let path = dir + "/j.sqlite"
            let g: BatchRecord
            do {
                let j = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
                g = greyRecord(0x3100_0000_0000_0003, counter: 9, sequence: try j.nextSequence())
                try j.recordGrey(g)
            }
            let j = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
            #expect(try j.grey(for: g.serial) == g)
            #expect(try j.unresolvedGreys() == [g])
        }
    }

    @Test("a grey record is unique per (serial, counter)")
    func greyUnique() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let g = greyRecord(0x3100_0000_0000_0004, counter: 5, sequence: try j.nextSequence())
            try j.recordGrey(g)
            let again = greyRecord(0x3100_0000_0000_0004, counter: 5, sequence: try j.nextSequence())
            #expect(throws: StorageError.greyPending(path: j.path, card: g.serial.masked, counter: 5)) { try j.recordGrey(again) }
        }
    }

    @Test("a purchase cannot be completed twice")
    func completeTwice() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let c = try purchase(j, serial: 0x3100_0000_0000_0005, counter: 1)
            #expect(throws: StorageError.noGreyRecord(path: j.path, card: c.serial.masked, counter: 1)) { try j.complete(c) }
            #expect(try j.records().count == 1)
        }
    }
}

@Suite("the terminal sequence never repeats")
struct SequenceTests {
    @Test("sequences keep rising across reopen, including ones taken but never used")
    func acrossReopen() throws {
        try withTempDir { dir in
            let path = dir + "/j.sqlite"
            var seen: [UInt32] = []
            for _ in 0..<3 {
                let j = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
                seen.append(try j.nextSequence().rawValue) // taken, never used (a tear before grey)
                seen.append(try purchase(j, serial: 0x3100_0000_0000_0010, counter: UInt16(seen.count)).sequence)
            }
            #expect(seen == Array(1...6))
        }
    }

    @Test("a record with a sequence the journal never handed out is refused")
    func unissuedSequence() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let g = greyRecord(0x3100_0000_0000_0011, counter: 1, sequence: TerminalSequence(rawValue: 42))
            #expect(throws: StorageError.self) { try j.recordGrey(g) }
        }
    }

    @Test("a record stamped with another terminal is refused")
    func foreignRecord() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let g = greyRecord(0x3100_0000_0000_0012, counter: 1, sequence: try j.nextSequence(), terminal: otherTerminal)
            #expect(throws: StorageError.foreignRecord(path: j.path, journal: busTerminal, record: otherTerminal)) { try j.recordGrey(g) }
        }
    }
}

@Suite("a journal belongs to one terminal and must be writable")
struct JournalIdentityTests {
    @Test("the journal of another terminal is refused with both terminal IDs named")
    func otherTerminalRefused() throws {
        try withTempDir { dir in
            let path = dir + "/j.sqlite"
            _ = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
            let error = #expect(throws: StorageError.self) { try SQLiteJournal(path: path, terminal: otherTerminal, operatorID: 2) }
            #expect(error == .wrongTerminal(path: path, journal: busTerminal, requested: otherTerminal))
            #expect(error?.description.contains("belongs to terminal \(busTerminal)") == true)
            let existing = try SQLiteJournal(existing: path)
            #expect(existing.terminal == busTerminal && existing.operatorID == 2)
        }
    }

    @Test("a read-only journal file is refused with an unwritable error")
    func readOnlyFile() throws {
        try withTempDir { dir in
            let path = dir + "/j.sqlite"
            _ = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
            chmod(path, 0o444)
            let error = #expect(throws: StorageError.self) { try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2) }
            guard case .unwritable(let p, _)? = error else { Issue.record("expected unwritable, got \(String(describing: error))"); return }
            #expect(p == path)
            #expect(error?.description.contains("not writable") == true)
        }
    }

    @Test("a journal in a read-only directory is refused with an unwritable error")
    func readOnlyDirectory() throws {
        try withTempDir { dir in
            let ro = dir + "/ro"
            try FileManager.default.createDirectory(atPath: ro, withIntermediateDirectories: false)
            chmod(ro, 0o555)
            defer { chmod(ro, 0o755) }
            let error = #expect(throws: StorageError.self) { try SQLiteJournal(path: ro + "/j.sqlite", terminal: busTerminal, operatorID: 2) }
            guard case .unwritable? = error else { Issue.record("expected unwritable, got \(String(describing: error))"); return }
        }
    }

    @Test("a journal path under a regular file (not a directory) is refused with an unwritable error")
    func notADirectory() throws {
        try withTempDir { dir in
            let file = dir + "/plain"
            _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
            let error = #expect(throws: StorageError.self) { try SQLiteJournal(path: file + "/j.sqlite", terminal: busTerminal, operatorID: 2) }
            guard case .unwritable? = error else { Issue.record("expected unwritable, got \(String(describing: error))"); return }
        }
    }

    @Test("opening a missing journal for export says it does not exist")
    func missing() throws {
        try withTempDir { dir in
            #expect(throws: StorageError.missing(path: dir + "/none.sqlite")) { try SQLiteJournal(existing: dir + "/none.sqlite") }
        }
    }

    @Test("a file that is not a journal is refused")
    func notAJournal() throws {
        try withTempDir { dir in
            let path = dir + "/text.sqlite"
            _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: 4096))
            #expect(throws: StorageError.self) { try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2) }
        }
    }

    @Test("another program's SQLite database is refused by the journal, the issuer registry and the clearing store, and left as it was")
    func otherProgramsDatabase() throws {
        try withTempDir { dir in
            let path = dir + "/other.sqlite"
            try DatabaseQueue(path: path).write { db in
                try db.execute(sql: "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine')")
            }
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            func refused(_ open: () throws -> Void) {
                do {
                    try open()
                    Issue.record("opened another program's database")
                } catch StorageError.notAJournal(_, let reason) {
                    #expect(reason.contains("other tables"), "\(reason)")
                } catch {
                    Issue.record("\(error)")
                }
                // Refused before any pragma: not switched to WAL mode (header bytes 18-19), no
                // byte of the file changed, no WAL file left beside it.
                #expect((try? Data(contentsOf: URL(fileURLWithPath: path))) == before, "the refused file was changed")
                #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "a WAL file beside the refused file")
            }
            refused { _ = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2) }
            refused { _ = try IssuerDatabase(path: path, journal: dir + "/counter.sqlite", counterTerminal: counterTerminal, operatorID: 2) }
            refused { _ = try ClearingStore(path: path) }
            let tables = try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
            #expect(tables == ["notes"])
        }
    }
}

@Suite("a journal on a PSAM adopts the PSAM's terminal sequences")
struct AdoptedSequenceTests {
    @Test("a sequence the PSAM handed out is accepted after adopt, an old one adopted again changes nothing, a number twice is refused")
    func adopt() throws {
        try withTempDir { dir in
            let path = dir + "/j.sqlite"
            let j = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
            let psamSequence = TerminalSequence(rawValue: 501)
            let g = greyRecord(0x3100_0000_0000_0009, counter: 1, sequence: psamSequence)
            #expect(throws: StorageError.self, "not handed out yet") { try j.recordGrey(g) }
            try j.adopt(psamSequence)
            try j.adopt(TerminalSequence(rawValue: 12))
            try j.adopt(psamSequence)
            try j.recordGrey(g)
            try j.complete(completed(g))
            let reopened = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
            #expect(try reopened.records().map(\.sequence) == [501])
            let again = greyRecord(0x3100_0000_0000_000A, counter: 1, sequence: psamSequence)
            try reopened.recordGrey(again)
            #expect(throws: StorageError.self, "one number, one completed record") { try reopened.complete(completed(again)) }
        }
    }
}
