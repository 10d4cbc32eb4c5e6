import Foundation
import OneCardTestSupport
import OneCardCore
import Storage
import Testing
import UploadBatch

@Suite("a SIGKILL never loses an acknowledged record, duplicates a sequence or leaves half a record")
struct CrashTests {
    /// How many times the journaling process is killed.
    static let killCountMax = 20
    /// The longest a run lives before its kill, milliseconds.
    static let runMsMax: UInt32 = 250
    let stressTerminal = TerminalID(rawValue: 0x0000_0000_5157)!

    @Test("20 random SIGKILLs of a process journaling purchases: every acknowledged sequence is there, once, whole")
    func killLoop() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let path = dir + "/stress.sqlite"
            var acknowledged: [UInt32] = []
            for _ in 0..<Self.killCountMax {
                let acks = try runAndKill(binary, journal: path, afterMs: UInt32.random(in: 20...Self.runMsMax))
                if let first = acks.first, let previous = acknowledged.last {
                    #expect(first > previous, "a sequence was handed out again after a crash")
                }
                acknowledged += acks
                try check(path, acknowledged: acknowledged)
            }
            #expect(acknowledged.count > Self.killCountMax, "the child acknowledged too few purchases to prove anything")
        }
    }

    /// Starts `journal-stress`, kills it with SIGKILL after `afterMs`, returns the sequences it
    /// acknowledged on complete lines.
    private func runAndKill(_ binary: String, journal: String, afterMs: UInt32) throws -> [UInt32] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["terminal", "journal-stress", "--journal", journal, "--terminal", "000000005157"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        try? out.fileHandleForWriting.close()
        usleep(afterMs * 1_000)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "journal-stress ended before it was killed")
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() // a cut last line is not acknowledged
        return lines.compactMap { UInt32($0) }
    }

    /// Reopens the journal as a restarted terminal would and checks it.
    private func check(_ path: String, acknowledged: [UInt32]) throws {
        let j = try SQLiteJournal(path: path, terminal: stressTerminal, operatorID: 0)
        #expect(try j.integrityProblems().isEmpty)
        let records = try j.records(limit: 10_000_000) // every stored row decodes as a whole 128-byte record
        let sequences = records.map(\.sequence)
        #expect(Set(sequences).count == sequences.count, "duplicate terminal sequence")
        #expect(Set(acknowledged).isSubset(of: Set(sequences)), "an acknowledged purchase is missing")
        #expect(records.allSatisfy { $0.kind == .purchase && $0.terminal == stressTerminal && $0.amountFen == 200 })
        #expect(try j.unresolvedGreys().count <= Self.killCountMax, "more grey records than interrupted purchases")
        #expect(try j.lastSequence().rawValue >= sequences.max() ?? 0)
    }
}
