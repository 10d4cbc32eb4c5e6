import ArgumentParser
import Foundation
import OneCardCore
import OneCardPCSC

/// `onecard readers [--watch] [--json]`: the readers pcscd knows and their cards, like
/// `pcsc_scan`.
struct ReadersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readers",
        abstract: "List PC/SC readers and their cards; --watch prints cards coming and going."
    )

    @Flag(help: "Keep running and print reader and card events as they happen (Ctrl-C stops).")
    var watch = false

    @Flag(help: "Print JSON (one object per line with --watch).")
    var json = false

    @Option(help: "With --watch: stop after this many seconds.")
    var seconds: Double?

    func validate() throws {
        if let seconds, !(seconds > 0) { throw ValidationError("--seconds must be positive") }
        if seconds != nil && !watch { throw ValidationError("--seconds needs --watch") }
    }

    func run() throws {
        let context = try PCSCContext()
        let states = try context.states(of: context.readers())
        printStates(states)
        if watch { watchEvents() }
    }

    private func printStates(_ states: [ReaderState]) {
        if json {
            let readers = states.map { ReaderJSON(reader: $0.reader, card: $0.isCardPresent, atr: $0.atr.hex) }
            emitJSON(readers)
            return
        }
        if states.isEmpty { emitLine("no readers") }
        for (i, state) in states.enumerated() {
            let card = state.isCardPresent ? "card present, ATR \(state.atr.hex)" : "no card"
            emitLine("\(i): \(state.reader): \(card)")
        }
    }

    private func watchEvents() {
        let watcher = ReaderWatcher(reportInitialState: false)
        let deadline = seconds.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) }
        while deadline.map({ ContinuousClock.now < $0 }) ?? true {
            for event in watcher.next(timeout: ReaderWatcher.waitSliceMax) { printEvent(event) }
        }
    }

    private func printEvent(_ event: ReaderEvent) {
        let time = Date().formatted(.iso8601)
        if json {
            emitJSON(EventJSON(event, time: time))
        } else {
            emitLine("\(time) \(event)")
        }
    }
}

private struct ReaderJSON: Encodable {
    var reader: String
    var card: Bool
    var atr: String
}

private struct EventJSON: Encodable {
    var time: String
    var event: String
    var reader: String?
    var atr: String?
    var detail: String?

    init(_ event: ReaderEvent, time: String) {
        self.time = time
        switch event {
        case .readerAdded(let r): self.event = "readerAdded"; reader = r
        case .readerRemoved(let r): self.event = "readerRemoved"; reader = r
        case .cardInserted(let r, let a): self.event = "cardInserted"; reader = r; atr = a.hex
        case .cardRemoved(let r): self.event = "cardRemoved"; reader = r
        case .serviceLost(let s): self.event = "serviceLost"; detail = s.description
        case .serviceRestored: self.event = "serviceRestored"
        }
    }
}

/// Prints one value as compact JSON on one line.
func emitJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(value) else { return }
    emitLine(String(decoding: data, as: UTF8.self))
}

/// Writes one line to stdout unbuffered, so `--watch` output shows up at once through a pipe.
func emitLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
