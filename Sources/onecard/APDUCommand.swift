import ArgumentParser
import OneCardCore
import OneCardPCSC

/// `onecard apdu --reader NAME HEX...`: sends raw APDUs and prints the answers, like
/// `scriptor`.
struct APDUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apdu",
        abstract: "Send command APDUs to the card in a reader and print the responses.",
        discussion: """
            Each HEX argument is one command APDU (spaces and colons allowed inside quotes). \
            Unless --raw is given, 61xx is followed with GET RESPONSE and 6Cxx re-sent with the right Le.
            Example: onecard apdu --reader 'Virtual PCD 00 00' '00 A4 04 00 08 A0 00 00 06 32 01 01 05 00' 805C000204
            """
    )

    @Option(help: "The reader's name, as `onecard readers` prints it.")
    var reader: String

    @Flag(help: "Connect in exclusive mode (no other application may talk to the card meanwhile).")
    var exclusive = false

    @Flag(help: "Do not follow 61xx / 6Cxx: show exactly what the card answered.")
    var raw = false

    @Argument(help: "Command APDUs in hex.")
    var apdus: [String]

    func validate() throws {
        if apdus.isEmpty { throw ValidationError("give at least one APDU") }
        _ = try parsedCommands()
    }

    func run() throws {
        let commands = try parsedCommands()
        let card = try PCSCContext().connect(reader: reader, share: exclusive ? .exclusive : .shared)
        for command in commands {
            print("> \(command)")
            let response = raw ? try card.transmitSingle(command) : try card.transmit(command)
            print("< \(response.description) : \(response.status.meaning)")
        }
        try card.disconnect()
    }

    private func parsedCommands() throws -> [CommandAPDU] {
        try apdus.map { text in
            let cleaned = text.filter { !" :\t".contains($0) }
            guard let bytes = Hex.decode(cleaned) else { throw ValidationError("not hex: \(text)") }
            do { return try CommandAPDU(bytes: bytes) } catch { throw ValidationError("not an APDU: \(text) (\(error))") }
        }
    }
}
