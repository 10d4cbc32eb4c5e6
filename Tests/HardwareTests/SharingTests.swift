import OneCardPCSC
import Testing

extension HardwareSuite {
    @Suite("Sharing the card between applications")
    struct SharingTests {
        @Test("an exclusive connection makes another application's connect a sharing violation")
        func exclusiveRefusesOthers() throws {
            try withInsertedCard(TestCard()) { context, reader in
                let owner = try context.connect(reader: reader, share: .exclusive)
                let otherContext = try PCSCContext()
                #expect(throws: PCSCError(.sharingViolation, function: "SCardConnect")) {
                    try otherContext.connect(reader: reader, share: .shared)
                }
                try owner.disconnect()
                #expect(try otherContext.connect(reader: reader).transmit(getBalance).status == .success)
            }
        }

        @Test("two shared connections both talk to the card; exclusive is refused while shared exists")
        func sharedAllowsShared() throws {
            try withInsertedCard(TestCard(), slot: .slot1) { context, reader in
                let first = try context.connect(reader: reader)
                let second = try PCSCContext().connect(reader: reader)
                #expect(try first.transmit(getBalance).status == .success)
                #expect(try second.transmit(getBalance).status == .success)
                #expect(throws: PCSCError(.sharingViolation, function: "SCardConnect")) {
                    try PCSCContext().connect(reader: reader, share: .exclusive)
                }
            }
        }
    }
}
