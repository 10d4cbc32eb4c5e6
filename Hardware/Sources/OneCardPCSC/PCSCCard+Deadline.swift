import Foundation
import OneCardCore

extension PCSCCard {
    /// ``transmit(_:)`` with a deadline the caller can rely on.
    ///
    /// pcsc-lite's `SCardTransmit` has no timeout: it waits as long as the card (or a
    /// virtual card) takes. This runs the exchange on a helper thread and, when `timeout`
    /// passes first, throws ``PCSCStatus/timeout`` and abandons the connection: every later
    /// call on it throws ``PCSCStatus/invalidHandle``. The helper finishes (and the handle is
    /// released) whenever the reader returns. Its context stays busy until then, so carry on
    /// with a new ``PCSCContext``.
    ///
    /// Costs a thread hand-off (tens of µs) per call; use plain ``transmit(_:)`` where the
    /// reader driver's own limits are enough.
    ///
    /// - Throws: ``PCSCError`` (``PCSCStatus/timeout`` on expiry) or ``CardExchangeError``.
    public func transmit(_ command: CommandAPDU, timeout: Duration) throws -> ResponseAPDU {
        let outcome = Locked<Result<ResponseAPDU, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let card = UncheckedSendable(self)  // the caller waits, or abandons the card
        Thread.detachNewThread {
            let result = Result { try card.value.transmit(command) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        if done.wait(timeout: .now() + seconds(timeout)) == .timedOut {
            markAbandoned()
            throw PCSCError(.timeout, function: "SCardTransmit")
        }
        guard let result = outcome.withLock({ $0 }) else { throw PCSCError(.timeout, function: "SCardTransmit") }
        return try result.get()
    }
}

/// A value handed to one other thread while its owner does not touch it (the owner waits,
/// or abandons the value for good).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
