import ArgumentParser
import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import Terminal

/// `onecard card …`: personalise, inspect and emulate cards.
struct CardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card",
        abstract: "Make, show and emulate e-purse cards.",
        subcommands: [New.self, Show.self]
    )

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Personalise a new card into a card file (onecard-card/1).")

        @Option(help: "Issuer keyset with all four master keys.")
        var keys: String
        @Option(help: "Card serial, 16 hex digits.")
        var serial: CardSerial
        @Option(help: "Card type: adult, student, senior or staff.")
        var type: CardType
        @Option(help: "Where to write the card file.")
        var out: String
        @Option(help: "Issuer ID, 16 hex digits.")
        var issuer: String = "7100000000000001"
        @Option(help: "First valid day, YYYY-MM-DD (default: today).")
        var start: String?
        @Option(help: "Validity in years from the start day.")
        var years: Int = 10
        @Option(help: "The card's maximum balance in fen.")
        var balanceMaxFen: UInt32 = CardState.balanceMaxFenDefault
        @Flag(help: "Overwrite an existing card file.")
        var force = false

        func validate() throws {
            guard IssuerID(hex: issuer) != nil else { throw ValidationError("--issuer must be 16 hex digits") }
            guard (1...50).contains(years) else { throw ValidationError("--years must be 1...50") }
            if let start, BCDDate(start) == nil { throw ValidationError("--start must be a date YYYY-MM-DD") }
        }

        func run() throws {
            try reporting {
                guard force || !FileManager.default.fileExists(atPath: out) else {
                    throw CLIError("\(out) exists; use --force to replace that card")
                }
                let keyset = try Keyset.load(path: keys)
                let startDate = start.flatMap(BCDDate.init) ?? localNow().date
                let anniversary = BCDDate(year: startDate.year + years, month: startDate.month, day: startDate.day)
                    ?? BCDDate(year: startDate.year + years, month: startDate.month, day: 28)!
                let expiry = anniversary.adding(days: -1)
                let info = IssuerInfo(
                    issuer: IssuerID(hex: issuer)!, serialPrefix: 0x7100, serial: serial, startDate: startDate,
                    expiryDate: expiry, cardType: type, depositFlag: 0)
                let state = try CardState.personalise(keyset: keyset, info: info, balanceMaxFen: balanceMaxFen)
                try CardFile.save(state, path: out)
                print("card \(serial) (\(type)) valid \(startDate) to \(expiry) written to \(out)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a card file's balance, counters and decoded logs.")

        @Argument(help: "The card file.")
        var card: String

        func run() throws {
            try reporting {
                let state = try CardFile.load(path: card)
                var channel = InProcessChannel(card: EPurseCard(state: state))
                print(try PurseSnapshot.read(from: &channel).report)
            }
        }
    }
}
