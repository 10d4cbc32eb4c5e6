import ArgumentParser
import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import Terminal
import VirtualReader

/// `onecard card …`: personalise, inspect and emulate cards.
struct CardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card",
        abstract: "Make, show and emulate e-purse cards.",
        subcommands: [New.self, Show.self, Emulate.self]
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

    struct Emulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put an emulated card into the virtual reader (vpcd) until Ctrl-C or --remove-after.",
            discussion: """
                The card's state is saved to its card file after every state-changing command, before                 the answer goes back to the reader. Debian's vpcd listens and the card connects to it                 (--connect, default 127.0.0.1:35963 = reader "Virtual PCD 00 00"; :35964 = "Virtual PCD                 00 01"). --listen (vpcd connecting to the card) is refused: that mode crashes pcscd 1.9.9                 on Debian 12 (docs/hardware.md).
                """)

        @Option(help: "The card file.")
        var card: String
        @Option(help: "Where vpcd listens, HOST:PORT.")
        var connect: String = "127.0.0.1:35963"
        @Option(help: "Listen for vpcd instead (refused: crashes pcscd 1.9.9; see docs/hardware.md).")
        var listen: String?
        @Option(help: "Remove the card after this many seconds.")
        var removeAfter: Double?

        func validate() throws {
            if listen != nil {
                throw ValidationError("--listen is not supported: vpcd's reversed mode crashes pcscd 1.9.9 on Debian 12; use --connect (docs/hardware.md)")
            }
            guard VPCDEndpoint(parsing: connect) != nil else { throw ValidationError("--connect must be HOST:PORT") }
            if let removeAfter, !(removeAfter > 0) { throw ValidationError("--remove-after must be positive") }
        }

        func run() throws {
            try reporting {
                let path = card
                let emulated = EPurseCard(state: try CardFile.load(path: path))
                try emulateInVPCD(emulated, connect: connect, removeAfter: removeAfter, name: "card \(emulated.state.info?.serial.description ?? "?")",
                                  revision: { emulated.revision }, save: { try CardFile.save(emulated.state, path: path) })
            }
        }
    }
}
