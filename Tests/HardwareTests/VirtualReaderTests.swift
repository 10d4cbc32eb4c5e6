import Foundation
import OneCardCore
import OneCardPCSC
import Testing
import VirtualReader

/// Terminal-side code written once against ``CardChannel``.
private func readBalance<C: CardChannel>(_ channel: inout C) throws -> [UInt8] {
    guard try channel.transmit(selectPurse).status == .success else { return [] }
    return try channel.transmit(getBalance).data
}

extension HardwareSuite {
    @Suite("The virtual reader bridge")
    struct VirtualReaderTests {
        @Test("terminal code over CardChannel reads the same balance in-process and through pcscd")
        func cardChannelRunsOverPCSC() throws {
            var inProcess = InProcessChannel(card: TestCard(balanceFen: 777))
            let expected = try readBalance(&inProcess)
            #expect(expected == [0, 0, 0x03, 0x09])
            try withInsertedCard(TestCard(balanceFen: 777)) { context, reader in
                var channel = try context.connect(reader: reader)
                #expect(try readBalance(&channel) == expected)
            }
        }

        @Test("the after-command hook sees every command and runs before the reader gets the answer")
        func hookRunsBeforeAnswer() throws {
            let context = try requirePCSCD()
            let seen = HookLog()
            let card = TestCard()
            let virtual = VirtualReader(card: card, endpoint: .slot0) { _, command, response in
                seen.append(command, response)
            }
            try virtual.insert()
            defer { virtual.remove() }
            _ = try context.waitForCard(in: Slot.zero, timeout: .seconds(2))
            let channel = try context.connect(reader: Slot.zero)
            // Both counts are already up to date when transmit returns: the serving thread records
            // a command before the reader gets its answer (a count taken after the answer races).
            let commands = 200
            var lagging = 0
            for expectedCount in 1...commands {
                _ = try channel.transmit(getBalance)
                if seen.count != expectedCount || virtual.commandCount != expectedCount { lagging += 1 }
            }
            #expect(lagging == 0, "\(lagging) of \(commands) answers arrived before their command was counted")
            #expect(seen.last?.command == getBalance.bytes)
            #expect(seen.last?.response == [0, 0, 0x30, 0x39, 0x90, 0x00])
            #expect(virtual.commandCount == commands)
        }

        @Test("run(removeAfter:) serves until the time is up, then the card is removed")
        func runRemovesAfterDeadline() throws {
            let context = try requirePCSCD()
            let virtual = VirtualReader(card: TestCard(), endpoint: .slot1)
            let started = ContinuousClock.now
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                try? virtual.run(removeAfter: .milliseconds(1200))
                done.signal()
            }
            let present = try context.waitForCard(in: Slot.one, timeout: .seconds(2))
            #expect(present.atr == TestCard.defaultATR)
            #expect(done.wait(timeout: .now() + 3) == .success)
            #expect(ContinuousClock.now - started >= .milliseconds(1200))
            #expect(virtual.isInserted == false)
            let gone = try context.waitForCard(in: Slot.one, present: false, timeout: .seconds(2))
            #expect(!gone.isCardPresent)
        }

        @Test("inserting with no vpcd listening fails with a timeout naming the endpoint")
        func insertWithoutVPCDTimesOut() throws {
            let nowhere = VPCDEndpoint(host: "127.0.0.1", port: 9)  // discard port: nothing listens
            let virtual = VirtualReader(card: TestCard(), endpoint: nowhere)
            #expect(throws: VirtualReaderError.connectTimedOut(nowhere)) {
                try virtual.insert(timeout: .milliseconds(300))
            }
            #expect(virtual.isInserted == false)
        }
    }
}

/// What the hook saw, from the serving thread.
private final class HookLog: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var entries: [(command: [UInt8], response: [UInt8])] = []

    func append(_ command: [UInt8], _ response: [UInt8]) {
        lock.lock(); defer { lock.unlock() }
        entries.append((command, response))
    }

    var count: Int { lock.lock(); defer { lock.unlock() }; return entries.count }
    var last: (command: [UInt8], response: [UInt8])? { lock.lock(); defer { lock.unlock() }; return entries.last }
}

extension HardwareSuite.VirtualReaderTests {
    @Test("runUntilInterrupted removes the card and returns when the signal arrives")
    func signalRemovesCard() throws {
        let context = try requirePCSCD()
        let virtual = VirtualReader(card: TestCard(), endpoint: .slot1)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? virtual.runUntilInterrupted(signals: [SIGUSR2])
            done.signal()
        }
        _ = try context.waitForCard(in: Slot.one, timeout: .seconds(2))
        #expect(done.wait(timeout: .now() + 0.2) == .timedOut)  // still serving
        kill(getpid(), SIGUSR2)
        #expect(done.wait(timeout: .now() + 2) == .success)
        let gone = try context.waitForCard(in: Slot.one, present: false, timeout: .seconds(2))
        #expect(!gone.isCardPresent)
    }
}
