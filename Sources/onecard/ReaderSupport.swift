import City
import Foundation
import OneCardCore
import OneCardPCSC

/// Opening the card in a named reader, for the counter and terminal commands.
enum ReaderAccess {
    /// How long a counter command waits for the card to be presented.
    static let presentWaitDefault: Duration = .seconds(10)

    /// Waits (bounded) for a card in `reader` and connects to it.
    static func card(in reader: String, context: PCSCContext, wait: Duration = presentWaitDefault) throws -> PCSCCard {
        guard try cardPresent(in: reader, context: context, wait: wait) else {
            throw CLIError("no card in \(reader) after \(wait): present a card")
        }
        return try context.connect(reader: reader)
    }

    /// Waits up to `wait` for a card in `reader`: `false` when none came, other PC/SC errors thrown.
    static func cardPresent(in reader: String, context: PCSCContext, wait: Duration) throws -> Bool {
        let present = Result { () throws(PCSCError) in try context.waitForCard(in: reader, present: true, timeout: wait) }
        if case .failure(let e) = present {
            if e.status == .timeout { return false }
            throw e
        }
        return true
    }
}

extension City {
    /// Loads a city file, or says how to give one.
    static func loadForCLI(_ path: String) throws -> City {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("city file \(path) not found: pass --city (the example city is config/city-xian.json in the repository)")
        }
        return try City.load(path: path)
    }

    /// The first issuer service counter in the city (the default counter terminal).
    var defaultCounterTerminal: TerminalID? {
        terminals.values.filter { if case .serviceCounter = $0.location { true } else { false } }.map(\.id).min()
    }
}
