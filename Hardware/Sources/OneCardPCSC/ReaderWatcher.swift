import CPCSCLite
import Foundation

/// Something that happened to the readers or cards pcscd manages.
public enum ReaderEvent: Sendable, Equatable, CustomStringConvertible {
    /// A reader appeared (plugged in, or seen for the first time).
    case readerAdded(String)
    /// A reader disappeared.
    case readerRemoved(String)
    /// A card was put into (or onto) the reader; `atr` is its answer to reset.
    case cardInserted(reader: String, atr: [UInt8])
    /// The card left the reader.
    case cardRemoved(reader: String)
    /// pcscd went away; every card handle is now dead. Watching continues.
    case serviceLost(PCSCStatus)
    /// pcscd is back and watching resumed on a new context.
    case serviceRestored

    /// One line, like `pcsc_scan`.
    public var description: String {
        switch self {
        case .readerAdded(let r): "reader added: \(r)"
        case .readerRemoved(let r): "reader removed: \(r)"
        case .cardInserted(let r, let atr): "card inserted: \(r) ATR \(atr.map { String(format: "%02X", $0) }.joined())"
        case .cardRemoved(let r): "card removed: \(r)"
        case .serviceLost(let s): "PC/SC service lost: \(s.message)"
        case .serviceRestored: "PC/SC service restored"
        }
    }
}

/// Watches readers and cards on its own context with `SCardGetStatusChange`, synchronously.
/// ``ReaderMonitor`` runs one on a thread; a CLI can call ``next(timeout:)`` in a loop.
///
/// It keeps the event counter in `dwCurrentState`, watches `\\?PnP?\Notification` for
/// readers coming and going, and re-establishes its context when pcscd restarts.
/// Call ``next(timeout:)`` from one thread at a time; ``cancel()`` from any thread.
public final class ReaderWatcher: @unchecked Sendable {
    // @unchecked: everything but `shared` is touched only by the thread in `next`.

    /// Longest single `SCardGetStatusChange`: no call blocks longer than this.
    public static let waitSliceMax: Duration = .milliseconds(500)
    /// Pause between attempts to reach a stopped pcscd.
    public static let reconnectDelay: Duration = .milliseconds(100)

    private struct Known { var present: Bool; var eventCount: Int? }
    private struct Shared { var cancelled = false; var context: PCSCContext? }

    private let shared = Locked(Shared())
    private var context: PCSCContext?
    private var table: ReaderStateTable?
    private var known: [String: Known] = [:]
    private var readerOrder: [String] = []
    private var serviceDown = false
    private var reportNext: Bool
    private var pending: [ReaderEvent] = []

    /// A watcher; with `reportInitialState`, the first events describe the readers and cards
    /// already there (like `pcsc_scan`).
    public init(reportInitialState: Bool = true) {
        reportNext = reportInitialState
    }

    /// Whether ``cancel()`` was called.
    public var isCancelled: Bool { shared.withLock { $0.cancelled } }

    /// Stops watching: wakes a blocked ``next(timeout:)`` (`SCardCancel`), which returns.
    public func cancel() {
        let context = shared.withLock { s -> PCSCContext? in
            s.cancelled = true
            return s.context
        }
        context?.cancel()
    }

    /// Waits up to `timeout` for events and returns them (empty on timeout or cancel).
    /// Service failures become ``ReaderEvent/serviceLost(_:)`` events, never errors.
    public func next(timeout: Duration) -> [ReaderEvent] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while pending.isEmpty && !isCancelled {
            let remaining = clock.now.duration(to: deadline)
            if remaining <= .zero { break }
            step(slice: min(remaining, Self.waitSliceMax))
        }
        defer { pending.removeAll(keepingCapacity: true) }
        return pending
    }

    private func step(slice: Duration) {
        guard let context = ensureContext(), let table else {
            Thread.sleep(forTimeInterval: seconds(min(slice, Self.reconnectDelay)))
            return
        }
        do {
            try table.wait(context: context.handle, timeout: slice)
        } catch {
            handle(error)
            return
        }
        apply(table.snapshots())
        table.acknowledge()
    }

    private func handle(_ error: PCSCError) {
        switch error.status {
        case .timeout, .cancelled: return
        case .unknownReader, .readerUnavailable: rebuild()
        default: loseService(error.status)
        }
    }

    /// The watching context, established (and the readers listed) if needed.
    private func ensureContext() -> PCSCContext? {
        if let context { return context }
        do {
            let fresh = try PCSCContext()
            context = fresh
            shared.withLock { $0.context = fresh }
        } catch {
            loseService(error.status)
            return nil
        }
        if serviceDown {
            serviceDown = false
            pending.append(.serviceRestored)
        }
        rebuild()
        return context
    }

    /// Lists readers, reports additions and removals, and starts a fresh state table.
    private func rebuild() {
        guard let context else { return }
        let readers: [String]
        do { readers = try context.readers() } catch {
            loseService(error.status)
            return
        }
        for gone in readerOrder where !readers.contains(gone) { forget(gone) }
        for reader in readers where known[reader] == nil {
            known[reader] = Known(present: false, eventCount: nil)
            report(.readerAdded(reader))
        }
        for reader in readers { known[reader]?.eventCount = nil }
        readerOrder = readers
        table = ReaderStateTable(readers: readers + [pnpNotificationReader])
    }

    private func forget(_ reader: String) {
        if known[reader]?.present == true { report(.cardRemoved(reader: reader)) }
        known[reader] = nil
        report(.readerRemoved(reader))
    }

    /// pcscd is gone: every card and reader it had is gone with it.
    private func loseService(_ status: PCSCStatus) {
        if !serviceDown {
            serviceDown = true
            reportNext = true  // after an outage, everything found again is news
            pending.append(.serviceLost(status))
            for reader in readerOrder { forget(reader) }
            readerOrder = []
        }
        table = nil
        context = nil
        shared.withLock { $0.context = nil }
    }

    /// Turns the states of one `SCardGetStatusChange` into events.
    private func apply(_ states: [ReaderState]) {
        var readersChanged = false
        for state in states {
            if state.reader == pnpNotificationReader {
                readersChanged = readersChanged || state.flags.contains(.changed)
                continue
            }
            if state.flags.contains(.unknown) {
                readersChanged = true
                continue
            }
            applyCard(state)
        }
        reportNext = true
        if readersChanged { rebuild() }
    }

    private func applyCard(_ state: ReaderState) {
        guard let before = known[state.reader] else { return }
        let present = state.isCardPresent && !state.flags.contains(.mute)
        // Same presence but a new event count: the card left and came back between calls.
        let swapped = before.present && present && before.eventCount.map { $0 != state.eventCount } == true
        if before.present && (!present || swapped) { report(.cardRemoved(reader: state.reader)) }
        if present && (!before.present || swapped) { report(.cardInserted(reader: state.reader, atr: state.atr)) }
        known[state.reader] = Known(present: present, eventCount: state.eventCount)
    }

    private func report(_ event: ReaderEvent) {
        if reportNext { pending.append(event) }
    }
}

/// A duration in seconds, for Foundation's sleep.
func seconds(_ duration: Duration) -> TimeInterval {
    let (s, atto) = duration.components
    return TimeInterval(s) + TimeInterval(atto) / 1e18
}
