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

/// A file written through a temporary name and renamed into place when complete, so a killed
/// settlement never leaves a half-written output under its final name.
final class OutputFile {
    /// Bytes buffered before a write.
    static let bufferBytesMax = 1 << 20
    let finalPath: String
    let tempPath: String
    let handle: FileHandle
    var buffer: [UInt8] = []

    init(dir: String, name: String, header: String) throws {
        finalPath = dir + "/" + name
        tempPath = dir + "/." + name + ".tmp"
        // open(2), not FileManager.createFile: the latter writes through a hidden temporary
        // file of its own, which a killed settlement would leave behind. Settlement files hold
        // full card numbers and TACs: created readable by the owner only, in the same call
        // (O_EXCL: a leftover temporary is removed first, never reused with its old mode).
        unlink(tempPath)
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot write \(tempPath): check that the output directory is writable") }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try handle.write(contentsOf: Data(header.utf8))
    }

    func flushIfFull() throws { if buffer.count >= Self.bufferBytesMax { try flush() } }

    func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and renames into place.
    func commit() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
        guard rename(tempPath, finalPath) == 0 else { throw CLIError("cannot rename \(tempPath) to \(finalPath): \(String(cString: strerror(errno)))") }
    }

    /// Writes a whole file through a temporary name.
    static func write(_ bytes: [UInt8], dir: String, name: String) throws {
        let f = try OutputFile(dir: dir, name: name, header: "")
        f.buffer = bytes
        try f.commit()
    }
}

/// Parses `--date`.
func parseDay(_ text: String) throws -> BCDDate {
    guard text.count == 10, let d = BCDDate(text) else { throw CLIError("--date must be YYYY-MM-DD, got \(text)") }
    return d
}

/// The current UTC time, ISO 8601: for audit columns only, never for output files.
func auditNow() -> String { ISO8601DateFormatter().string(from: Date()) }

/// Reads the accepted-record details of a day's runs into a builder.
func feedDetails(_ store: ClearingStore, runs: [Int64], into builder: inout SettlementBuilder, progress: inout ProgressBar,
                 row: (UInt16, AcceptedDetail) throws -> Void) throws {
    try store.forEachPage("details", runs: runs) { page in
        guard let details = Packing.details(page) else { throw CLIError("a detail page of \(store.path) is corrupt") }
        for d in details {
            if let op = builder.add(d) { try row(op, d) }
        }
        progress.step("accepted records")
    }
}
