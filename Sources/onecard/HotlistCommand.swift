import ArgumentParser
import Clearing
import EPurse
import Foundation
import OneCardCore
import Storage
import Terminal

extension ClearingCommand {
    /// `onecard clearing hotlist add|remove|list|export`.
    struct Hotlist: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the hotlist: cards whose transactions are refused (07) from a given time.",
            subcommands: [Add.self, Remove.self, List.self, Export.self, Import.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Hotlist a card from a time (default: now).")
            @OptionGroup var database: Database
            @Option(help: "Card serial, 16 hex digits.")
            var card: CardSerial
            @Option(help: "Hotlisted from this local time, YYYY-MM-DDTHH:MM:SS (default: now).")
            var since: String?
            @Option(help: "Why (lost, stolen, fraud …).")
            var reason = "reported lost"

            func run() throws {
                try reporting {
                    let (store, _) = try database.open()
                    let at = try since.map { s in
                        guard let t = BCDDateTime(iso: s) else { throw CLIError("--since must be YYYY-MM-DDTHH:MM:SS") }
                        return t
                    } ?? localNow()
                    try store.hotlistAdd(card, since: UInt32(clamping: at.secondsSinceEpoch), reason: reason)
                    print("card \(card) hotlisted from \(at) (\(reason))")
                }
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Take a card off the hotlist.")
            @OptionGroup var database: Database
            @Option(help: "Card serial, 16 hex digits.")
            var card: CardSerial

            func run() throws {
                try reporting {
                    let (store, _) = try database.open()
                    guard try store.hotlistRemove(card) else { throw CLIError("card \(card) is not on the hotlist") }
                    print("card \(card) removed from the hotlist")
                }
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the hotlist.")
            @OptionGroup var database: Database
            @Flag(help: "Print the hotlist file document instead of a table.")
            var json = false

            func run() throws {
                try reporting {
                    let (store, _) = try database.open()
                    let list = try store.hotlist()
                    if json {
                        printJSON(HotlistFile(list.map { ($0.serial, $0.since) }))
                        return
                    }
                    for e in list { print("\(e.serial)  since \(BCDDateTime(secondsSinceEpoch: Int64(e.since)))  \(e.reason)") }
                    print("\(list.count) card(s)")
                }
            }
        }

        struct Import: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Hotlist every card of a hotlist file (onecard-hotlist/1), each from its `since`.")
            @OptionGroup var database: Database
            @Option(help: "The hotlist file.")
            var file: String
            @Option(help: "The reason recorded for each card.")
            var reason = "imported"

            func run() throws {
                try reporting {
                    let (store, _) = try database.open()
                    let entries = try HotlistFile.entries(path: file)
                    try store.hotlistAdd(entries.map { ($0.0, UInt32(clamping: $0.1.secondsSinceEpoch)) }, reason: reason)
                    print("hotlisted \(entries.count) card(s) from \(file)")
                }
            }
        }

        struct Export: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Write the hotlist file terminals load (onecard-hotlist/1).")
            @OptionGroup var database: Database
            @Option(help: "Where to write it.")
            var out: String

            func run() throws {
                try reporting {
                    let (store, _) = try database.open()
                    let list = try store.hotlist()
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                    try AtomicFile.write(try encoder.encode(HotlistFile(list.map { ($0.serial, $0.since) })), to: out)
                    print("wrote \(list.count) card(s) to \(out)")
                }
            }
        }
    }
}
