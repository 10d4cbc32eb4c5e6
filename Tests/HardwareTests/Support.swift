import Foundation
import OneCardTestSupport
import OneCardCore
import OneCardPCSC
import Testing
import VirtualReader

/// Every hardware test runs against the one real pcscd (started by
/// `Hardware/scripts/pcscd-start.sh`) and its two vpcd slots, so they run one at a time.
@Suite("PC/SC through the real pcscd and vpcd", .serialized)
struct HardwareSuite {}

/// The vpcd slot names pcscd gives the private reader config.
enum Slot {
    static let zero = "Virtual PCD 00 00"
    static let one = "Virtual PCD 00 01"
}

/// How long pcscd may take to notice a card coming or going (it polls vpcd ~2.5×/s).
let cardEventWaitMax: Duration = .seconds(1)

func seconds(_ duration: Duration) -> TimeInterval {
    TimeInterval(duration.components.seconds) + TimeInterval(duration.components.attoseconds) / 1e18
}

/// Fails the test (never skips it) when pcscd is not running, saying how to start it.
func requirePCSCD() throws -> PCSCContext {
    do {
        return try PCSCContext()
    } catch {
        Issue.record("pcscd is not running (\(error)). Start it with Hardware/scripts/pcscd-start.sh, or run scripts/test.sh.")
        throw error
    }
}

/// Runs one of the Hardware/scripts and returns its exit status. (posix_spawn, not
/// Foundation.Process: the latter's waitUntilExit can hang when the script leaves pcscd
/// running in the background.) The child gets an empty signal mask: test threads block
/// signals, and a pcscd inheriting a blocked SIGTERM ignores pcscd-stop.sh until SIGKILL.
@discardableResult
func runScript(_ name: String) throws -> Int32 {
    let path = TestPaths.root.appendingPathComponent("Hardware/scripts/\(name)").path
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
    defer { argv.forEach { free($0) } }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let rv = posix_spawn(&pid, path, nil, &attributes, argv, environ)
    guard rv == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rv) ?? .EIO) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xFF
}

/// Inserts `card` in a vpcd slot, waits until pcscd sees it, runs `body`, removes the card.
func withInsertedCard<R>(
    _ card: TestCard, slot: VPCDEndpoint = .slot0, _ body: (PCSCContext, String) throws -> R
) throws -> R {
    let context = try requirePCSCD()
    let reader = slot == .slot0 ? Slot.zero : Slot.one
    let virtual = VirtualReader(card: card, endpoint: slot)
    try virtual.insert()
    defer {
        virtual.remove()
        _ = try? context.waitForCard(in: reader, present: false, timeout: .seconds(2))
    }
    _ = try context.waitForCard(in: reader, timeout: .seconds(2))
    return try body(context, reader)
}

/// Events from a ``ReaderMonitor`` with the time each arrived, for tests to wait on.
final class EventLog: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var entries: [(event: ReaderEvent, at: ContinuousClock.Instant)] = []

    func append(_ event: ReaderEvent) {
        lock.lock(); defer { lock.unlock() }
        entries.append((event, .now))
    }

    var events: [ReaderEvent] {
        lock.lock(); defer { lock.unlock() }
        return entries.map(\.event)
    }

    /// Waits (polling) for an event after `since` matching `predicate`; returns when it came.
    func wait(
        since: ContinuousClock.Instant, timeout: Duration, _ predicate: (ReaderEvent) -> Bool
    ) -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let found = { () -> ContinuousClock.Instant? in
                lock.lock(); defer { lock.unlock() }
                return entries.first { $0.at >= since && predicate($0.event) }?.at
            }()
            if let found { return found }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }
}

/// Starts a ``ReaderMonitor`` feeding `log`; the returned task ends it when cancelled.
func startMonitor(into log: EventLog) -> Task<Void, Never> {
    Task.detached {
        for await event in ReaderMonitor(reportInitialState: true) { log.append(event) }
    }
}
