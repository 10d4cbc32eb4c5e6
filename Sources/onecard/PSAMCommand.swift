import ArgumentParser
import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import PSAMCard
import UploadBatch
import VirtualReader

/// `onecard psam …`: personalise, inspect and emulate a terminal's PSAM (docs/psam.md).
struct PSAMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "psam",
        abstract: "Personalise, show and emulate PSAMs, the terminals' secure access modules.",
        subcommands: [New.self, Show.self, Emulate.self]
    )

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Personalise a PSAM for one terminal into a PSAM file (onecard-psam/1, mode 0600).",
            discussion: """
                Personalisation, not a terminal, runs this: it needs the purchase master key (and the \
                maintenance master, for blocking hotlisted cards inside the PSAM). The PSAM file is the \
                PSAM's silicon: only `onecard psam emulate` reads it. The terminal talks to the PSAM \
                through a reader and never sees a key.
                """)

        @Option(help: "Personalisation keyset: masterKeys.purchase, masterKeys.batch (the terminal's upload key is derived from it), and masterKeys.maintenance for hotlist blocking.")
        var keys: String
        @Option(help: "The terminal the PSAM is for, 12 hex digits (its EF 0x16: the terminal ID of every purchase).")
        var terminal: TerminalID
        @Option(help: "Where to write the PSAM file.")
        var out: String
        @Option(help: "PSAM serial, 20 hex digits (default: 0000 and the terminal ID).")
        var serial: String?
        @Option(help: "The last terminal sequence used (a replacement PSAM continues its predecessor's).")
        var sequence: UInt32 = 0
        @Option(help: "First valid day, YYYY-MM-DD.")
        var start: String = "2026-01-01"
        @Option(help: "Validity in years.")
        var years: Int = 10
        @Flag(help: "Overwrite an existing PSAM file.")
        var force = false

        func validate() throws {
            if let serial, Hex.decode(serial)?.count != 10 { throw ValidationError("--serial must be 20 hex digits") }
            guard BCDDate(start) != nil else { throw ValidationError("--start must be YYYY-MM-DD") }
            guard (1...50).contains(years) else { throw ValidationError("--years must be 1...50") }
        }

        func run() throws {
            try reporting {
                guard force || !FileManager.default.fileExists(atPath: out) else { throw CLIError("\(out) exists; use --force to replace that PSAM") }
                let keyset = try Keyset.load(path: keys)
                let version = keyset.keyVersion.rawValue
                let purchase = try keyset.masterKey(.purchase)
                let maintenance = try? keyset.masterKey(.maintenance)
                let upload = try keyset.masterKey(.batch)
                let from = BCDDate(start)!
                let state = PSAMState(
                    serial: serial.flatMap(Hex.decode) ?? [0, 0] + terminal.bytes + [0, 0], terminal: terminal,
                    purchaseKeys: [version: purchase], maintenanceKeys: maintenance.map { [0x01: $0] } ?? [:],
                    start: from, expiry: BCDDate(year: from.year + years, month: from.month, day: min(from.day, 28)) ?? from, sequence: sequence,
                    uploadKey: BatchFile.uploadKey(batchMaster: upload, terminal: terminal), uploadKeyVersion: version)
                try AtomicFile.write(PSAMFile.encode(state), to: out)
                print("PSAM for terminal \(terminal) (purchase key version \([version].hex)\(maintenance == nil ? ", no maintenance key: it cannot block cards" : "")) written to \(out)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a PSAM file's terminal, sequence and key versions (never a key).")

        @Argument(help: "The PSAM file.")
        var psam: String

        func run() throws {
            try reporting {
                let s = try PSAMCommand.load(psam)
                print("PSAM      \(s.serial.hex)")
                print("terminal  \(s.terminal)")
                print("sequence  \(s.sequence) (last used)")
                print("valid     \(s.start) to \(s.expiry)")
                print("upload    \(s.uploadKey == nil ? "no upload key: it cannot sign batches" : "upload key version \([s.uploadKeyVersion].hex)")")
                print("keys      purchase versions \(s.purchaseKeys.keys.sorted().map { [$0].hex }.joined(separator: ",")); maintenance \(s.maintenanceKeys.isEmpty ? "none" : s.maintenanceKeys.keys.sorted().map { [$0].hex }.joined(separator: ","))")
            }
        }
    }

    struct Emulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put an emulated PSAM into the virtual reader (vpcd) until Ctrl-C or --remove-after.",
            discussion: """
                The PSAM's state (its terminal sequence) is saved to its file after every command that \
                changed it, before the answer goes back: a sequence, once answered, is never handed out again. \
                A fare terminal's PSAM sits in the second slot: --connect 127.0.0.1:35964 = reader "Virtual PCD 00 01".
                """)

        @Option(help: "The PSAM file.")
        var psam: String
        @Option(help: "Where vpcd listens, HOST:PORT.")
        var connect: String = "127.0.0.1:35964"
        @Option(help: "Remove the PSAM after this many seconds.")
        var removeAfter: Double?

        func validate() throws {
            guard VPCDEndpoint(parsing: connect) != nil else { throw ValidationError("--connect must be HOST:PORT") }
            if let removeAfter, !(removeAfter > 0) { throw ValidationError("--remove-after must be positive") }
        }

        func run() throws {
            try reporting {
                let path = psam
                let emulated = PSAMCard(state: try PSAMCommand.load(path))
                try emulateInVPCD(emulated, connect: connect, removeAfter: removeAfter, name: "PSAM of terminal \(emulated.state.terminal)",
                                  revision: { emulated.revision }, save: { try AtomicFile.write(PSAMFile.encode(emulated.state), to: path) })
            }
        }
    }

    static func load(_ path: String) throws -> PSAMState {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read PSAM file \(path)") }
        return try PSAMFile.decode(data, source: path)
    }
}

/// Serves an emulated card or PSAM to vpcd until Ctrl-C (or `removeAfter` seconds), saving its
/// state with `save` whenever `revision` moved, before each answer goes back to the reader. If
/// the state cannot be saved, the answer is never sent: the process leaves at once (exit status
/// 75), as a card that lost power — the file keeps the last state that was answered for.
func emulateInVPCD(
    _ responder: any CardResponder, connect: String, removeAfter: Double?, name: String, revision: @escaping () -> UInt64,
    save: @escaping () throws -> Void
) throws {
    nonisolated(unsafe) var saved = revision()
    let reader = VirtualReader(card: responder, endpoint: VPCDEndpoint(parsing: connect)!) { _, _, _ in
        guard revision() != saved else { return }
        do {
            try save()
            saved = revision()
        } catch {
            FileHandle.standardError.write(Data("\(name): state NOT saved (\(error)): leaving without answering\n".utf8))
            exit(75)
        }
    }
    print("\(name) inserted at vpcd \(connect); Ctrl-C removes it")
    flushOutput()
    try reader.runUntilInterrupted(removeAfter: removeAfter.map { .milliseconds(Int64($0 * 1000)) })
    print("\(name) removed")
}
