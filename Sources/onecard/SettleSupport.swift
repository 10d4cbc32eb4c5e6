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


/// Reads the accepted-record details (and, with `transfers`, the transfers) of a day's runs
/// into a builder; `purchases` gets each detail page's purchases with the operator whose
/// clearing file lists them. Run by run, a run's details then its transfers: a writer given the
/// purchases works while the transfers are read.
func feedDetails(_ store: ClearingStore, runs: [Int64], transfers: Bool, into builder: inout SettlementBuilder, progress: inout ProgressBar,
                 purchases: ([(operatorID: UInt16, detail: AcceptedDetail)]) throws -> Void) throws {
    try store.forEachPage(of: transfers ? ["details", "transfers"] : ["details"], runs: runs) { kind, page in
        if kind == "transfers" {
            guard let ts = Packing.transfers(page) else { throw CLIError("a transfer page of \(store.path) is corrupt") }
            for t in ts { builder.addUpload(t) }
            progress.step("transfers")
            return
        }
        guard let details = Packing.details(page) else { throw CLIError("a detail page of \(store.path) is corrupt") }
        var rows: [(operatorID: UInt16, detail: AcceptedDetail)] = []
        rows.reserveCapacity(details.count)
        for d in details {
            if let op = builder.add(d) { rows.append((op, d)) }
        }
        try purchases(rows)
        progress.step("accepted records")
    }
}

/// The operators' clearing files, formatted and written on a queue of their own while the
/// caller reads the next pages and feeds the settlement: settling a day then uses both cores.
///
/// Pages are taken in order and at most ``pagesInFlightMax`` wait, so the files are the same
/// as written on one thread and memory stays bounded. The first write error stops the writing
/// and is thrown by the next ``append(_:)`` or by ``drain()``. After ``drain()`` the queue is
/// idle and ``file(_:)`` may be used directly.
final class ClearingFileWriter: @unchecked Sendable {
    /// Pages handed over and not yet written.
    static let pagesInFlightMax = 4
    private let dir: String
    private let queue = DispatchQueue(label: "onecard.settle.clearing-files")
    private let slots = DispatchSemaphore(value: pagesInFlightMax)
    private let lock = NSLock()
    /// Touched on the queue only (or after a drain).
    private var files: [UInt16: OutputFile] = [:]
    /// Guarded by `lock`.
    private var failure: (any Error)?

    init(dir: String) { self.dir = dir }

    /// Every file opened so far.
    var opened: [OutputFile] { Array(files.values) }

    /// The clearing file of an operator, opened on first use.
    func file(_ op: UInt16) throws -> OutputFile {
        if let f = files[op] { return f }
        let f = try OutputFile(dir: dir, name: SettlementFiles.clearingFileName(op), header: SettlementFiles.clearingHeader)
        files[op] = f
        return f
    }

    /// Queues one page's purchases for their files.
    func append(_ rows: [(operatorID: UInt16, detail: AcceptedDetail)]) throws {
        try rethrowFailure()
        guard !rows.isEmpty else { return }
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            guard lock.withLock({ failure == nil }) else { return }
            do {
                // A page's purchases come batch by batch: one file lookup per run of rows of
                // one operator, and its buffer taken out while the rows are formatted.
                var i = 0
                while i < rows.count {
                    let op = rows[i].operatorID
                    let f = try file(op)
                    var buffer = f.buffer
                    f.buffer = []
                    while i < rows.count, rows[i].operatorID == op {
                        SettlementFiles.appendClearingRow(rows[i].detail, to: &buffer)
                        i += 1
                    }
                    f.buffer = buffer
                    try f.flushIfFull()
                }
            } catch {
                lock.withLock { failure = error }
            }
        }
    }

    /// Waits until every queued page is written.
    func drain() throws {
        queue.sync {}
        try rethrowFailure()
    }

    private func rethrowFailure() throws {
        if let e = lock.withLock({ failure }) { throw e }
    }
}
