import Foundation
import OneCardPCSC
import Testing
import VirtualReader

extension HardwareSuite {
    @Suite("Watching readers and cards")
    struct MonitorTests {
        @Test("inserting and removing the card are each reported within one second, with the ATR")
        func insertAndRemoveEvents() throws {
            _ = try requirePCSCD()
            let log = EventLog()
            let monitor = startMonitor(into: log)
            defer { monitor.cancel() }
            let ready = log.wait(since: .now - .seconds(60), timeout: .seconds(10)) { $0 == .readerAdded(Slot.zero) }
            try #require(ready != nil, "the monitor reported no initial reader")

            let virtual = VirtualReader(card: TestCard(), endpoint: .slot0)
            let insertedAt = ContinuousClock.now
            try virtual.insert()
            let seen = log.wait(since: insertedAt, timeout: .seconds(2)) {
                $0 == .cardInserted(reader: Slot.zero, atr: TestCard.defaultATR)
            }
            let inserted = try #require(seen, "no insertion event; events: \(log.events)")
            #expect(inserted - insertedAt < cardEventWaitMax)

            let removedAt = ContinuousClock.now
            virtual.remove()
            let gone = log.wait(since: removedAt, timeout: .seconds(2)) { $0 == .cardRemoved(reader: Slot.zero) }
            let removed = try #require(gone, "no removal event; events: \(log.events)")
            #expect(removed - removedAt < cardEventWaitMax)
        }

        @Test("a card removed and re-inserted is reported twice")
        func reinsertIsReported() throws {
            _ = try requirePCSCD()
            let watcher = ReaderWatcher(reportInitialState: false)
            _ = watcher.next(timeout: .milliseconds(50))
            let virtual = VirtualReader(card: TestCard(), endpoint: .slot1)
            var events: [ReaderEvent] = []
            for _ in 0..<2 {
                try virtual.insert()
                events += collect(watcher, until: .cardInserted(reader: Slot.one, atr: TestCard.defaultATR))
                virtual.remove()
                events += collect(watcher, until: .cardRemoved(reader: Slot.one))
            }
            let inserted: ReaderEvent = .cardInserted(reader: Slot.one, atr: TestCard.defaultATR)
            #expect(events.filter { $0 == inserted }.count == 2)
            #expect(events.filter { $0 == .cardRemoved(reader: Slot.one) }.count == 2)
        }

        @Test("monitoring survives a pcscd restart: service lost, restored, and card events resume")
        func survivesRestart() throws {
            _ = try requirePCSCD()
            let log = EventLog()
            let monitor = startMonitor(into: log)
            defer { monitor.cancel() }
            let start = ContinuousClock.now - .seconds(60)
            try #require(log.wait(since: start, timeout: .seconds(10)) { $0 == .readerAdded(Slot.zero) } != nil)

            let virtual = VirtualReader(card: TestCard(), endpoint: .slot0, reconnects: true)
            try virtual.insert()
            defer { virtual.remove() }
            let inserted: ReaderEvent = .cardInserted(reader: Slot.zero, atr: TestCard.defaultATR)
            try #require(log.wait(since: start, timeout: .seconds(2)) { $0 == inserted } != nil)

            let restartAt = ContinuousClock.now
            #expect(try runScript("pcscd-stop.sh") == 0)
            #expect(log.wait(since: restartAt, timeout: .seconds(2)) { if case .serviceLost = $0 { true } else { false } } != nil)
            #expect(try runScript("pcscd-start.sh") == 0)
            #expect(log.wait(since: restartAt, timeout: .seconds(3)) { $0 == .serviceRestored } != nil)
            // The virtual card reconnects to the new vpcd by itself; the monitor sees it again.
            #expect(log.wait(since: restartAt, timeout: .seconds(3)) { $0 == inserted } != nil, "events: \(log.events)")
            let context = try PCSCContext()
            #expect(try context.connect(reader: Slot.zero).transmit(getBalance).status == .success)
        }
    }
}

/// Events from `watcher` up to and including `target` (or whatever came in 2 s).
private func collect(_ watcher: ReaderWatcher, until target: ReaderEvent) -> [ReaderEvent] {
    var events: [ReaderEvent] = []
    let deadline = ContinuousClock.now + .seconds(2)
    while ContinuousClock.now < deadline, !events.contains(target) {
        events += watcher.next(timeout: .milliseconds(200))
    }
    return events
}

extension HardwareSuite.MonitorTests {
    @Test("cancel() wakes a watcher blocked in SCardGetStatusChange at once, not at the end of its slice")
    func cancelWakesWatcher() throws {
        _ = try requirePCSCD()
        let watcher = ReaderWatcher(reportInitialState: false)
        _ = watcher.next(timeout: .milliseconds(50))  // context established, states acknowledged
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { watcher.cancel() }
        let start = ContinuousClock.now
        let events = watcher.next(timeout: .seconds(5))
        let elapsed = ContinuousClock.now - start
        #expect(events.isEmpty)
        #expect(watcher.isCancelled)
        #expect(elapsed < .milliseconds(400), "a slice is \(ReaderWatcher.waitSliceMax); took \(elapsed)")
    }

    @Test("ending the for-await loop over ReaderMonitor stops the sequence")
    func monitorLoopEnds() async throws {
        _ = try requirePCSCD()
        var count = 0
        for await event in ReaderMonitor(reportInitialState: true) {
            count += 1
            if event == .readerAdded(Slot.one) { break }
        }
        #expect(count >= 1)
    }
}
