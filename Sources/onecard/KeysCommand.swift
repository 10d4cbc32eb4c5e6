import ArgumentParser
import EPurse
import Foundation
import OneCardCore
import OneCardCrypto

/// `onecard keys …`: make and split keyset files.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make keyset files (onecard-keyset/1).",
        subcommands: [New.self, Split.self, Restrict.self]
    )

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Generate a keyset with fresh random master keys.")

        @Option(help: "Where to write the keyset (refuses to overwrite).")
        var out: String
        @Option(help: "Key version cards report (0–255).")
        var keyVersion: UInt8 = 1

        func run() throws {
            try reporting {
                guard !FileManager.default.fileExists(atPath: out) else { throw CLIError("\(out) exists; refusing to overwrite a keyset") }
                var rng = SystemRandomNumberGenerator()
                var keys: [KeyRole: TripleDESKey] = [:]
                for role in KeyRole.allCases {
                    keys[role] = try TripleDESKey(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) })
                }
                try writeKeyset(Keyset(keyVersion: KeyVersion(rawValue: keyVersion), masterKeys: keys), to: out)
                print("wrote keyset \(out) (roles: \(KeyRole.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
    }

    /// The keysets of each role (docs/architecture.md, "Who holds which key"). No fare terminal
    /// gets one: its PSAM is personalised from `psam.json`.
    static let roles: [(file: String, roles: Set<KeyRole>, who: String)] = [
        ("personalisation.json", Set(KeyRole.allCases), "personalisation: cards and PSAMs"),
        ("issuer.json", [.load, .maintenance], "the issuer's service counters and top-up agents"),
        ("clearing.json", [.tac, .batch], "the clearing centre"),
        ("psam.json", [.purchase, .maintenance, .batch], "what goes into the PSAMs (onecard psam new)"),
    ]

    struct Split: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the keyset of each role from a full keyset: personalisation, issuer, clearing, PSAM.",
            discussion: "No fare terminal is handed a keyset: its PSAM holds its keys. Each file is created mode 0600 and never overwritten.")

        @Option(help: "The full keyset (onecard keys new).")
        var keys: String
        @Option(help: "The directory to write personalisation.json, issuer.json, clearing.json and psam.json into.")
        var outDir: String

        func run() throws {
            try reporting {
                let full = try Keyset.load(path: keys)
                try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
                for (file, roles, who) in KeysCommand.roles {
                    let path = outDir + "/" + file
                    guard !FileManager.default.fileExists(atPath: path) else { throw CLIError("\(path) exists; refusing to overwrite a keyset") }
                    for role in roles { _ = try full.masterKey(role) }
                    try writeKeyset(full.restricted(to: roles), to: path)
                    print("wrote \(path) (\(roles.map(\.rawValue).sorted().joined(separator: ", ")): \(who))")
                }
            }
        }
    }

    struct Restrict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy only some roles' keys: e.g. --roles purchase for a terminal's SAM, --roles tac for clearing.")

        @Option(help: "The full keyset.")
        var keys: String
        @Option(help: "Comma-separated roles to keep: purchase, load, tac, maintenance, batch.")
        var roles: String
        @Option(help: "Where to write the restricted keyset (refuses to overwrite).")
        var out: String

        func run() throws {
            try reporting {
                var keep = Set<KeyRole>()
                for name in roles.split(separator: ",") {
                    guard let role = KeyRole(rawValue: String(name)) else { throw CLIError("unknown role \"\(name)\"") }
                    keep.insert(role)
                }
                guard !FileManager.default.fileExists(atPath: out) else { throw CLIError("\(out) exists; refusing to overwrite a keyset") }
                let full = try Keyset.load(path: keys)
                for role in keep { _ = try full.masterKey(role) }
                try writeKeyset(full.restricted(to: keep), to: out)
                print("wrote keyset \(out) (roles: \(keep.map(\.rawValue).sorted().joined(separator: ", ")))")
            }
        }
    }
}

/// Writes a new keyset readable by its owner only: created with mode 0600 in one step, never
/// chmod-ed after it was written, and never over an existing file (``AtomicFile/create(_:at:)``).
func writeKeyset(_ keyset: Keyset, to path: String) throws {
    try AtomicFile.create(keyset.exportJSON(), at: path)
}
