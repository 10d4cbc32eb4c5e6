import Foundation
import OneCardPCSC
import Testing

extension HardwareSuite {
    @Suite("Listing readers")
    struct ReaderListTests {
        @Test("pcscd lists both vpcd slots of the private reader config")
        func listsBothSlots() throws {
            let readers = try requirePCSCD().readers()
            #expect(readers.contains(Slot.zero))
            #expect(readers.contains(Slot.one))
        }

        @Test("an empty slot reports no card and no ATR")
        func emptySlotHasNoCard() throws {
            let states = try requirePCSCD().states(of: [Slot.one])
            #expect(states.count == 1)
            #expect(states.first?.isCardPresent == false)
            #expect(states.first?.atr == [])
        }

        @Test("an unknown reader name is refused with SCARD_E_UNKNOWN_READER")
        func unknownReaderRefused() throws {
            let context = try requirePCSCD()
            #expect(throws: PCSCError(.unknownReader, function: "SCardConnect")) {
                try context.connect(reader: "No Such Reader 00 00")
            }
        }

        @Test("with pcscd stopped, a context fails with 'PC/SC service not running'")
        func noServiceIsClear() throws {
            _ = try requirePCSCD()
            #expect(try runScript("pcscd-stop.sh") == 0)
            defer { #expect((try? runScript("pcscd-start.sh")) == 0) }
            do {
                _ = try PCSCContext()
                Issue.record("a context was established with pcscd stopped")
            } catch {
                #expect(error.status == .noService)
                #expect(error.description.contains("PC/SC service not running"))
            }
        }
    }
}
