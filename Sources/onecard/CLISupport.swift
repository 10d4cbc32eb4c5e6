import ArgumentParser
import Foundation
import OneCardCore
import Storage

/// An error the CLI prints as one line and exits non-zero with.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a throwing body, turning any library error into a one-line message.
func reporting<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as CLIError {
        throw e
    } catch let e as ExitCode {
        throw e
    } catch {
        throw CLIError(String(describing: error))
    }
}

/// Prints a listing: with `json` one JSON object per line, else one `line` per item and the
/// count (`N noun(s)`).
func printListing<T: Encodable>(_ items: [T], json: Bool, noun: String, _ line: (T) -> String) {
    for item in items {
        if json { printJSON(item) } else { print(line(item)) }
    }
    if !json { print("\(items.count) \(noun)(s)") }
}

/// Writes JSON for `--json` outputs: one compact line, keys sorted.
func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) { print(text) }
}

/// The local wall-clock time as a terminal stamps transactions.
func localNow() -> BCDDateTime { LocalClock.now() }

extension CardSerial: ExpressibleByArgument {
    public init?(argument: String) { self.init(hex: argument) }
}

extension TerminalID: ExpressibleByArgument {
    public init?(argument: String) { self.init(hex: argument) }
}

extension CardType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.description) }
}

/// Flushes standard output (all C streams), so a line reaches a pipe at once.
func flushOutput() { fflush(nil) }
