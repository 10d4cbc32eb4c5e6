import Foundation

/// Reader and card events as an `AsyncSequence`:
/// `for await event in ReaderMonitor() { … }`.
///
/// Each iterator runs a ``ReaderWatcher`` on its own thread and context (a blocking
/// `SCardGetStatusChange` must not share a context with card I/O). Ending the loop or
/// cancelling the task cancels the watcher with `SCardCancel`. The sequence survives pcscd
/// restarts: it reports ``ReaderEvent/serviceLost(_:)`` then ``ReaderEvent/serviceRestored``
/// and keeps going; it finishes only when cancelled.
public struct ReaderMonitor: AsyncSequence, Sendable {
    /// Each element is one event.
    public typealias Element = ReaderEvent

    /// Most events held for a consumer that lags; older ones are dropped beyond this.
    public static let bufferedEventsMax = 1024

    /// Whether the first events describe the readers and cards already present.
    public var reportInitialState: Bool

    /// A monitor; see ``ReaderWatcher/init(reportInitialState:)``.
    public init(reportInitialState: Bool = true) {
        self.reportInitialState = reportInitialState
    }

    /// Starts a watcher thread for this iteration.
    public func makeAsyncIterator() -> Iterator {
        let watcher = ReaderWatcher(reportInitialState: reportInitialState)
        let (stream, continuation) = AsyncStream<ReaderEvent>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.bufferedEventsMax))
        continuation.onTermination = { _ in watcher.cancel() }
        let thread = Thread {
            while !watcher.isCancelled {
                for event in watcher.next(timeout: ReaderWatcher.waitSliceMax) { continuation.yield(event) }
            }
            continuation.finish()
        }
        thread.name = "onecard.pcsc.monitor"
        thread.start()
        return Iterator(base: stream.makeAsyncIterator(), watcher: watcher)
    }

    /// Yields events until cancelled.
    public struct Iterator: AsyncIteratorProtocol {
        var base: AsyncStream<ReaderEvent>.Iterator
        let watcher: ReaderWatcher

        /// The next event, or `nil` once the watcher is cancelled.
        public mutating func next() async -> ReaderEvent? {
            await base.next()
        }
    }
}
