import Foundation
import OneCardCore

/// Puts a ``CardResponder`` into pcscd as a card in a vsmartcard vpcd slot.
///
/// vpcd (inside pcscd) listens on TCP; connecting is inserting the card, closing the socket
/// is removing it. This type connects, answers vpcd's control messages (power off/on,
/// reset, get ATR) and command APDUs, and reconnects after pcscd restarts.
///
/// Two ways to use it:
/// - a CLI calls ``run(removeAfter:)``, which blocks; a signal handler calls ``remove()``;
/// - tests call ``insert(timeout:)`` (serves on a background thread), then ``remove()``,
///   and may ``insert(timeout:)`` again.
public final class VirtualReader: @unchecked Sendable {
    // @unchecked: `card` and `afterCommand` are used only by the one serving thread;
    // the lifecycle fields are behind `lock`.

    /// Called on the serving thread after the card answered a command and **before** the
    /// answer goes back to the reader, so state saved here is durable before the terminal
    /// sees the response (a torn card is then never ahead of its file).
    public typealias CommandHook = (_ card: any CardResponder, _ command: [UInt8], _ response: [UInt8]) -> Void

    /// How long ``insert(timeout:)`` waits by default for vpcd to accept.
    public static let insertTimeoutDefault: Duration = .seconds(3)
    /// How long ``remove()`` waits for the serving thread to finish its command.
    public static let removeWaitMax: Duration = .seconds(5)
    /// Pause between connection attempts while vpcd is not listening.
    public static let reconnectDelay: Duration = .milliseconds(50)

    /// Where vpcd listens.
    public let endpoint: VPCDEndpoint
    /// Whether to reconnect when vpcd drops the connection (pcscd restarted).
    public let reconnects: Bool
    /// Whether TCP_NODELAY and TCP_QUICKACK are set (always, except to measure their effect).
    public let lowLatency: Bool
    private let card: any CardResponder
    private let afterCommand: CommandHook?

    private let lock = NSLock()
    private var stopRequested = false
    private var connection: VPCDConnection?
    private var serving = false
    /// Entered while serving; every ``remove()`` caller waits on it (a semaphore would wake one).
    private let finished = DispatchGroup()
    private var connectedSignal: DispatchSemaphore?
    private var lastErrorValue: VirtualReaderError?
    private var commandsServed = 0

    /// A virtual reader for `card` on `endpoint` (slot 0 by default).
    ///
    /// - Parameters:
    ///   - reconnects: reconnect when vpcd drops the connection (pcscd restarted).
    ///   - lowLatency: `false` only to measure what Nagle and delayed ACK cost (~44 ms per APDU).
    ///   - afterCommand: see ``CommandHook``.
    public init(
        card: any CardResponder, endpoint: VPCDEndpoint = .slot0, reconnects: Bool = true,
        lowLatency: Bool = true, afterCommand: CommandHook? = nil
    ) {
        self.card = card
        self.endpoint = endpoint
        self.reconnects = reconnects
        self.lowLatency = lowLatency
        self.afterCommand = afterCommand
    }

    /// Whether the card is in the reader (connected to vpcd) right now.
    public var isInserted: Bool { locked { connection != nil } }
    /// Command APDUs answered so far (not counting control messages).
    public var commandCount: Int { locked { commandsServed } }
    /// Why serving last stopped with an error, if it did.
    public var lastError: VirtualReaderError? { locked { lastErrorValue } }

    /// Inserts the card: serves on a background thread and returns once the TCP connection
    /// to vpcd is up. pcscd reports the card at vpcd's next poll (within ~400 ms); wait for
    /// it with `PCSCContext.waitForCard`. Re-inserting into a slot whose previous card
    /// pcscd has not yet seen leave is a race: wait for the slot to be empty first.
    ///
    /// - Throws: ``VirtualReaderError/connectTimedOut(_:)`` when vpcd does not accept in time
    ///   (the background thread is stopped then).
    public func insert(timeout: Duration = VirtualReader.insertTimeoutDefault) throws(VirtualReaderError) {
        let connected = DispatchSemaphore(value: 0)
        let alreadyServing = locked { () -> Bool in
            if serving { return true }
            serving = true
            stopRequested = false
            finished.enter()
            connectedSignal = connected
            return false
        }
        if alreadyServing { return }
        let thread = Thread { [self] in try? serveUntilStopped(deadline: nil, firstConnectTimeout: timeout) }
        thread.name = "onecard.vpcd.\(endpoint.port)"
        thread.start()
        if connected.wait(timeout: .now() + seconds(timeout)) == .timedOut {
            remove()
            throw .connectTimedOut(endpoint)
        }
    }

    /// Serves on the calling thread until ``remove()`` is called or `removeAfter` elapsed,
    /// then removes the card.
    ///
    /// - Throws: ``VirtualReaderError`` when vpcd cannot be reached within
    ///   ``insertTimeoutDefault`` or the connection fails without `reconnects`.
    public func run(removeAfter: Duration? = nil) throws(VirtualReaderError) {
        let begin = locked { () -> Bool in
            if serving { return false }
            serving = true
            stopRequested = false
            finished.enter()
            return true
        }
        guard begin else { return }
        let deadline = removeAfter.map { ContinuousClock.now + $0 }
        try serveUntilStopped(deadline: deadline, firstConnectTimeout: Self.insertTimeoutDefault)
    }

    /// ``run(removeAfter:)`` for a command-line tool: the given signals (Ctrl-C and SIGTERM
    /// by default) remove the card and make this return, instead of killing the process
    /// mid-command. The signals' previous dispositions are restored to the default after.
    ///
    /// - Throws: as ``run(removeAfter:)``.
    public func runUntilInterrupted(
        removeAfter: Duration? = nil, signals: [Int32] = [SIGINT, SIGTERM]
    ) throws(VirtualReaderError) {
        let queue = DispatchQueue(label: "onecard.vpcd.signals")
        let sources = signals.map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)  // let Dispatch see it instead of the default action
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [weak self] in self?.requestRemoval() }
            source.resume()
            return source
        }
        defer {
            sources.forEach { $0.cancel() }
            signals.forEach { signal($0, SIG_DFL) }
        }
        try run(removeAfter: removeAfter)
    }

    /// Asks the serving thread to remove the card, without waiting.
    private func requestRemoval() {
        locked {
            stopRequested = true
            connection?.shutdownBoth()
        }
    }

    /// Removes the card: closes the socket and waits (at most ``removeWaitMax``) for the
    /// serving thread to end. Safe from any thread, and when not inserted.
    public func remove() {
        requestRemoval()
        _ = finished.wait(timeout: .now() + seconds(Self.removeWaitMax))
    }

    private func serveUntilStopped(deadline: ContinuousClock.Instant?, firstConnectTimeout: Duration) throws(VirtualReaderError) {
        defer { finishServing() }
        let shouldStop = { [self] in locked { stopRequested } || deadline.map { ContinuousClock.now >= $0 } == true }
        var connectDeadline: ContinuousClock.Instant? = ContinuousClock.now + firstConnectTimeout
        do {
            while !shouldStop() {
                guard let connection = try connect(until: connectDeadline, shouldStop: shouldStop) else { return }
                do {
                    try serve(connection, shouldStop: shouldStop)
                } catch where reconnects {
                    // A reset or broken pipe is vpcd going away (pcscd stopped): reconnect.
                    locked { lastErrorValue = error }
                }
                locked { self.connection = nil }
                if !reconnects { return }
                connectDeadline = nil  // after a pcscd restart, wait for vpcd as long as it takes
            }
        } catch {
            locked { lastErrorValue = error }
            throw error
        }
    }

    private func finishServing() {
        locked {
            connection = nil
            serving = false
            finished.leave()
            connectedSignal = nil
        }
    }

    /// Connects, retrying while vpcd refuses; `nil` when asked to stop.
    private func connect(
        until deadline: ContinuousClock.Instant?, shouldStop: () -> Bool
    ) throws(VirtualReaderError) -> VPCDConnection? {
        while !shouldStop() {
            do {
                let connection = try VPCDConnection(endpoint: endpoint, lowLatency: lowLatency)
                let stop = locked { () -> Bool in
                    self.connection = connection
                    connectedSignal?.signal()
                    return stopRequested
                }
                return stop ? nil : connection
            } catch .system(call: "connect", errno: let e) where e == ECONNREFUSED {
                if let deadline, ContinuousClock.now >= deadline { throw .connectTimedOut(endpoint) }
                Thread.sleep(forTimeInterval: seconds(Self.reconnectDelay))
            }
        }
        return nil
    }

    /// Answers vpcd until it closes the connection or we are asked to stop.
    private func serve(_ connection: VPCDConnection, shouldStop: () -> Bool) throws(VirtualReaderError) {
        while let message = try connection.receive(shouldStop: shouldStop) {
            if message.count == 1 {
                if let reply = control(message[0]) { try connection.sendMessage(reply) }
                continue
            }
            let response = card.respond(to: message)
            afterCommand?(card, message, response)
            // Counted before the answer goes out, so a reader that has its answer sees the count.
            locked { commandsServed += 1 }
            try connection.sendMessage(response)
        }
    }

    /// vpcd's one-byte control messages; only GET ATR is answered.
    private func control(_ code: UInt8) -> [UInt8]? {
        switch code {
        case VPCDControl.powerOff: card.powerOff()
        case VPCDControl.powerOn, VPCDControl.reset: card.reset()
        case VPCDControl.getATR: return card.atr
        default: break  // unknown control codes are ignored, as vpcd's own emulators do
        }
        return nil
    }

    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// vpcd's one-byte control messages.
enum VPCDControl {
    static let powerOff: UInt8 = 0x00
    static let powerOn: UInt8 = 0x01
    static let reset: UInt8 = 0x02
    static let getATR: UInt8 = 0x04
}

/// A duration in seconds, for Foundation and Dispatch.
func seconds(_ duration: Duration) -> TimeInterval {
    let (s, atto) = duration.components
    return TimeInterval(s) + TimeInterval(atto) / 1e18
}
