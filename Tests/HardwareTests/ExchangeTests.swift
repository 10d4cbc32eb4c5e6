import Foundation
import OneCardCore
import OneCardPCSC
import Testing
import VirtualReader

/// `00 A4 04 00 08 A0 00 00 06 32 01 01 05 00`: SELECT the purse ADF (EPURSE.md §1).
let selectPurse = CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05], le: 256)
/// `80 5C 00 02 04`: GET BALANCE.
let getBalance = CommandAPDU(cla: 0x80, ins: 0x5C, p1: 0x00, p2: 0x02, le: 4)

extension HardwareSuite {
    @Suite("Exchanging APDUs through pcscd")
    struct ExchangeTests {
        @Test("SELECT and GET BALANCE reach the card unchanged and its balance comes back")
        func selectAndGetBalance() throws {
            let card = TestCard(balanceFen: 0x0001_E240)
            try withInsertedCard(card) { context, reader in
                let channel = try context.connect(reader: reader)
                #expect(try channel.transmit(selectPurse).status == .success)
                let balance = try channel.transmit(getBalance)
                #expect(balance == ResponseAPDU(data: [0x00, 0x01, 0xE2, 0x40], status: .success))
                #expect(card.commands == [selectPurse.bytes, getBalance.bytes])
            }
        }

        @Test("the connected card reports the emulator's ATR and T=1")
        func statusReportsATR() throws {
            try withInsertedCard(TestCard()) { context, reader in
                let status = try context.connect(reader: reader).status()
                #expect(status.atr == TestCard.defaultATR)
                #expect(status.reader == reader)
                #expect(status.activeProtocol.contains(.t1) || status.activeProtocol.contains(.t0))
                // vpcd implements no reader attributes: the typed error says so.
                #expect(throws: PCSCError(.unsupportedFeature, function: "SCardGetAttrib")) {
                    try context.connect(reader: reader).attribute(PCSCAttribute.atrString)
                }
            }
        }

        @Test("61xx reaches the application raw, and the exchange follows it with GET RESPONSE")
        func followsMoreData() throws {
            let payload = (0..<600).map { UInt8($0 & 0xFF) }
            let card = TestCard(mode: .chained(payload: payload, chunk: 0x80))
            try withInsertedCard(card) { context, reader in
                let channel = try context.connect(reader: reader)
                let read = CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x95, p2: 0x00, le: 256)
                #expect(try channel.transmitSingle(read).status == StatusWord(sw1: 0x61, sw2: 0x80))
                let full = try channel.transmit(read)
                #expect(full == ResponseAPDU(data: payload, status: .success))
                let getResponses = card.commands.filter { $0.count == 5 && $0[1] == 0xC0 }
                #expect(getResponses.count == 5)  // 600 bytes in chunks of 128
                #expect(getResponses.allSatisfy { $0[4] <= 0x80 && $0[4] > 0 })
            }
        }

        @Test("6Cxx makes the exchange re-send the command once with Le = xx")
        func resendsWithRightLe() throws {
            let payload = Array(repeating: UInt8(0x5A), count: 0x1E)
            let card = TestCard(mode: .wrongLe(payload: payload))
            try withInsertedCard(card) { context, reader in
                let channel = try context.connect(reader: reader)
                let read = CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x95, p2: 0x00, le: 256)
                #expect(try channel.transmit(read) == ResponseAPDU(data: payload, status: .success))
                #expect(card.commands == [read.bytes, [0x00, 0xB0, 0x95, 0x00, 0x1E]])
            }
        }

        @Test("a card answering 61xx forever stops the exchange at the GET RESPONSE limit")
        func endlessMoreDataIsBounded() throws {
            try withInsertedCard(TestCard(mode: .endlessMoreData)) { context, reader in
                let channel = try context.connect(reader: reader)
                #expect(throws: CardExchangeError.tooManyGetResponses(PCSCCard.getResponseCountMax + 1)) {
                    try channel.transmit(getBalance)
                }
            }
        }

        @Test("an extended-length APDU with 1000 data bytes travels both ways")
        func extendedAPDU() throws {
            try withInsertedCard(TestCard()) { context, reader in
                let channel = try context.connect(reader: reader)
                let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
                let echo = CommandAPDU(cla: 0x80, ins: 0xE0, p1: 0, p2: 0, data: data, le: 65_536)
                #expect(echo.isExtended)
                #expect(try channel.transmit(echo) == ResponseAPDU(data: data, status: .success))
            }
        }

        @Test("a card removed mid-exchange fails with SCARD_W_REMOVED_CARD, not a hang")
        func removedMidExchange() throws {
            let context = try requirePCSCD()
            let card = TestCard(mode: .slow(delay: .milliseconds(600)))
            let virtual = VirtualReader(card: card, endpoint: .slot0, reconnects: false)
            try virtual.insert()
            defer { virtual.remove() }
            _ = try context.waitForCard(in: Slot.zero, timeout: .seconds(2))
            let channel = try context.connect(reader: Slot.zero)
            #expect(try channel.transmit(getBalance).status == .success)
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.15) { virtual.remove() }
            let start = ContinuousClock.now
            #expect(throws: PCSCError(.removedCard, function: "SCardTransmit")) {
                try channel.transmit(CommandAPDU(cla: 0x80, ins: 0xEE, p1: 0, p2: 0))
            }
            #expect(ContinuousClock.now - start < .seconds(3))
            #expect(throws: PCSCError(.removedCard, function: "SCardTransmit")) { try channel.transmit(getBalance) }
        }

        @Test("a transaction runs its body and releases the card; reconnect with reset resets the card")
        func transactionAndReconnect() throws {
            let card = TestCard()
            try withInsertedCard(card) { context, reader in
                let channel = try context.connect(reader: reader)
                let sw = try channel.withTransaction { try $0.transmit(getBalance).status }
                #expect(sw == .success)
                let resetsBefore = card.resets
                try channel.reconnect(initialization: .reset)
                #expect(try channel.transmit(getBalance).status == .success)
                #expect(card.resets > resetsBefore)
                let other = try PCSCContext().connect(reader: reader)  // the transaction ended
                #expect(try other.transmit(getBalance).status == .success)
            }
        }
    }
}

extension HardwareSuite.ExchangeTests {
    @Test("transmit with a deadline gives up on a card that does not answer, and the connection is abandoned")
    func deadlineBoundsTransmit() throws {
        let card = TestCard(mode: .slow(delay: .milliseconds(1500)))
        try withInsertedCard(card) { context, reader in
            let channel = try context.connect(reader: reader)
            #expect(try channel.transmit(getBalance, timeout: .seconds(1)).status == .success)
            let start = ContinuousClock.now
            #expect(throws: PCSCError(.timeout, function: "SCardTransmit")) {
                try channel.transmit(CommandAPDU(cla: 0x80, ins: 0xEE, p1: 0, p2: 0), timeout: .milliseconds(300))
            }
            #expect(ContinuousClock.now - start < .milliseconds(600))
            #expect(throws: PCSCError(.invalidHandle, function: "SCardTransmit")) { try channel.transmit(getBalance) }
            // A new context works (pcscd serialises the reader: after the abandoned exchange ends).
            #expect(try PCSCContext().connect(reader: reader).transmit(getBalance).status == .success)
        }
    }
}
