public import OneCardCore

/// The purse's command APDUs as a terminal builds them (spec §1–3).
public enum PurseCommand {
    /// SELECT the PPSE.
    public static let selectPPSE = CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: Array("2PAY.SYS.DDF01".utf8), le: 256)
    /// SELECT the purse ADF `A000000632010105`.
    public static let selectPurse = CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05], le: 256)
    /// GET BALANCE.
    public static let getBalance = CommandAPDU(cla: 0x80, ins: 0x5C, p1: 0x00, p2: 0x02, le: 4)

    /// READ BINARY of a whole binary file by SFI.
    public static func readBinary(sfi: UInt8, byteCount: Int) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x80 | sfi, p2: 0x00, le: byteCount)
    }

    /// READ RECORD `number` (1 = newest) of a record file by SFI.
    public static func readRecord(sfi: UInt8, number: UInt8, byteCount: Int) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xB2, p1: number, p2: sfi << 3 | 0x04, le: byteCount)
    }

    /// INITIALIZE FOR LOAD (EP).
    public static func initializeForLoad(keyIndex: KeyIndex, amountFen: UInt32, terminal: TerminalID) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x50, p1: 0x00, p2: 0x02, data: initData(keyIndex, amountFen, terminal), le: 16)
    }

    /// CREDIT FOR LOAD.
    public static func creditForLoad(at: BCDDateTime, mac2: UInt32) -> CommandAPDU {
        var d = at.bcd
        d.appendBigEndian(mac2)
        return CommandAPDU(cla: 0x80, ins: 0x52, p1: 0x00, p2: 0x00, data: d, le: 4)
    }

    /// INITIALIZE FOR PURCHASE, simple (`06`) or compound (`09`).
    public static func initializeForPurchase(keyIndex: KeyIndex, amountFen: UInt32, terminal: TerminalID, compound: Bool) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x50, p1: compound ? 0x03 : 0x01, p2: 0x02, data: initData(keyIndex, amountFen, terminal), le: 15)
    }

    /// UPDATE CAPP DATA CACHE: P1 `01` with SFI 0x1A writes the in-journey record; P1 `00`
    /// with SFI 0x1E appends a trip record.
    public static func updateCache(sfi: UInt8, recordNumber: UInt8, record: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0xDC, p1: recordNumber, p2: sfi << 3, data: record)
    }

    /// DEBIT FOR PURCHASE.
    public static func debitForPurchase(sequence: TerminalSequence, at: BCDDateTime, mac1: UInt32) -> CommandAPDU {
        var d: [UInt8] = []
        d.appendBigEndian(sequence.rawValue)
        d += at.bcd
        d.appendBigEndian(mac1)
        return CommandAPDU(cla: 0x80, ins: 0x54, p1: 0x01, p2: 0x00, data: d, le: 8)
    }

    /// GET TRANSACTION PROVE for the purchase whose INITIALIZE returned `offlineCounter` (or,
    /// type `02`, the load whose INITIALIZE FOR LOAD returned that online counter).
    public static func getTransactionProve(type: TransactionType, offlineCounter: PurseCounter) -> CommandAPDU {
        var d: [UInt8] = []
        d.appendBigEndian(offlineCounter.rawValue &+ 1)
        return CommandAPDU(cla: 0x80, ins: 0x5A, p1: 0x00, p2: type.rawValue, data: d, le: 8)
    }

    private static func initData(_ keyIndex: KeyIndex, _ amountFen: UInt32, _ terminal: TerminalID) -> [UInt8] {
        var d: [UInt8] = [keyIndex.rawValue]
        d.appendBigEndian(amountFen)
        return d + terminal.bytes
    }
}

extension CardChannel {
    /// Sends `command` and returns the data of a `9000` answer.
    ///
    /// - Throws: ``TerminalError/cardRefused(step:status:)`` for any other status, or the
    ///   channel's own error.
    public mutating func expectSuccess(_ command: CommandAPDU, step: String) throws -> [UInt8] {
        let r = try transmit(command)
        guard r.status == .success else { throw TerminalError.cardRefused(step: step, status: r.status) }
        return r.data
    }
}
