import Clearing
import Foundation
import OneCardCore
import Settlement
import Storage

/// A progress bar on standard error, drawn only when standard output and standard error are a
/// terminal and the output is not `--json`.
struct ProgressBar {
    /// Characters in the bar.
    static let widthMax = 30
    let enabled: Bool
    let total: Int
    var done = 0
    var lastPercent = -1

    init(total: Int, quiet: Bool) {
        self.total = max(1, total)
        self.enabled = !quiet && isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1
    }

    /// One more of `total` steps done.
    mutating func step(_ what: String) {
        done += 1
        advance(to: done * 100 / total, what)
    }

    /// Draws `percent` (0–100) done, if it moved.
    mutating func advance(to percent: Int, _ what: String) {
        guard enabled else { return }
        let percent = min(100, max(0, percent))
        guard percent != lastPercent else { return }
        lastPercent = percent
        let filled = percent * Self.widthMax / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: Self.widthMax - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(percent)% \(what)   ".utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// A progress bar a library's step callback can advance.
final class ProgressSteps {
    var bar: ProgressBar
    init(total: Int, quiet: Bool) { bar = ProgressBar(total: total, quiet: quiet) }
    func step(_ what: String) { bar.step(what) }
    func finish() { bar.finish() }
}

/// Parses `--date`.
func parseDay(_ text: String) throws -> BCDDate {
    guard text.count == 10, let d = BCDDate(text) else { throw CLIError("--date must be YYYY-MM-DD, got \(text)") }
    return d
}
