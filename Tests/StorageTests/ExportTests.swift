import Foundation
import OneCardCore
@testable import Storage
import Testing
import UploadBatch

@Suite("exporting twice never loses or duplicates a record")
struct ExportTests {
    @Test("an export writes every completed record once; a second export has nothing new and writes nothing")
    func exportThenNothingNew() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let made = try (0..<5).map { try purchase(j, serial: 0x3100_0000_0000_0100 + UInt64($0), counter: 1, amountFen: 100 + UInt32($0)) }
            let first = try j.export(to: dir + "/b1", key: batchKey, createdAt: noon)
            #expect(first.outcome == .wrote && first.batchSequence == 1 && first.recordCount == 5 && first.amountFen == 510)
            let batch = try decodeBatch(dir + "/b1")
            #expect(batch.records == made)
            #expect(batch.header == BatchHeader(terminal: busTerminal, operatorID: 2, sequence: 1, createdBCD: 0x2026_1129_1200_00))
            #expect(batch.records.reduce(0) { $0 + $1.amountFen } == 510)
            let second = try j.export(to: dir + "/b2", key: batchKey, createdAt: noon)
            #expect(second.outcome == .nothingNew && second.batchSequence == nil)
            #expect(!FileManager.default.fileExists(atPath: dir + "/b2"))
        }
    }

    @Test("an export after new records writes only those, under the next batch sequence")
    func nextSequence() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let old = try purchase(j, serial: 0x3100_0000_0000_0200, counter: 1)
            _ = try j.export(to: dir + "/b1", key: batchKey, createdAt: noon)
            _ = try j.export(to: dir + "/b-empty", key: batchKey, createdAt: noon) // uses no batch sequence
            let new = try purchase(j, serial: 0x3100_0000_0000_0201, counter: 1, amountFen: 350)
            let r = try j.export(to: dir + "/b2", key: batchKey, createdAt: noon)
            #expect(r.outcome == .wrote && r.batchSequence == 2)
            let all = try decodeBatch(dir + "/b1").records + decodeBatch(dir + "/b2").records
            #expect(all == [old, new])
        }
    }

    @Test("a crash between assigning and writing a batch: the next export rewrites it byte-identical, then the new records")
    func crashBetweenAssignAndWrite() throws {
        try withTempDir { dir in
            let path = dir + "/j.sqlite"
            let expected: [UInt8]
            do {
                let j = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
                for i in 0..<3 { try purchase(j, serial: 0x3100_0000_0000_0300 + UInt64(i), counter: 4) }
                #expect(try j.assignBatch(createdAt: noon, includeGrey: false) == 1) // … and the process dies here
                expected = try j.batchFile(1).encode(key: batchKey)
            }
            let j = try SQLiteJournal(path: path, terminal: busTerminal, operatorID: 2)
            let late = try purchase(j, serial: 0x3100_0000_0000_0399, counter: 1)
            let later = BCDDateTime(date: BCDDate(year: 2026, month: 11, day: 30)!, time: BCDTime(hour: 8, minute: 0, second: 0)!)
            let rewrite = try j.export(to: dir + "/again", key: batchKey, createdAt: later)
            #expect(rewrite.outcome == .rewrotePending && rewrite.batchSequence == 1 && rewrite.recordCount == 3)
            #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/again"))) == expected)
            let next = try j.export(to: dir + "/b2", key: batchKey, createdAt: later)
            #expect(next.outcome == .wrote && next.batchSequence == 2)
            #expect(try decodeBatch(dir + "/b2").records == [late])
            #expect(try j.export(to: dir + "/b3", key: batchKey, createdAt: later).outcome == .nothingNew)
        }
    }

    @Test("an unwritable batch path loses nothing: the next export writes the same batch")
    func unwritableOutput() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let made = try purchase(j, serial: 0x3100_0000_0000_0400, counter: 1)
            #expect(throws: StorageError.self) { try j.export(to: dir + "/no-such-dir/b", key: batchKey, createdAt: noon) }
            let r = try j.export(to: dir + "/b", key: batchKey, createdAt: noon)
            #expect(r.outcome == .rewrotePending && r.batchSequence == 1)
            #expect(try decodeBatch(dir + "/b").records == [made])
        }
    }

    @Test("grey records are exported only when asked, once, as kind grey; the later completion follows")
    func includeGrey() throws {
        try withTempDir { dir in
            let j = try SQLiteJournal(path: dir + "/j.sqlite", terminal: busTerminal, operatorID: 2)
            let g = greyRecord(0x3100_0000_0000_0500, counter: 2, sequence: try j.nextSequence())
            try j.recordGrey(g)
            #expect(try j.export(to: dir + "/b0", key: batchKey, createdAt: noon).outcome == .nothingNew)
            let r = try j.export(to: dir + "/b1", key: batchKey, createdAt: noon, includeGrey: true)
            #expect(r.outcome == .wrote && r.greyCount == 1)
            #expect(try decodeBatch(dir + "/b1").records == [g])
            #expect(try j.export(to: dir + "/b2", key: batchKey, createdAt: noon, includeGrey: true).outcome == .nothingNew)
            #expect(try j.grey(for: g.serial) == g) // still unresolved on the terminal
            try j.complete(completed(g))
            _ = try j.export(to: dir + "/b3", key: batchKey, createdAt: noon)
            #expect(try decodeBatch(dir + "/b3").records == [completed(g)])
        }
    }
}
