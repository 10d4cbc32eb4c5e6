import ArgumentParser

/// `onecard card …`: personalise, inspect and emulate cards.
struct CardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card",
        abstract: "Make, show and emulate e-purse cards.",
        subcommands: []
    )
}
