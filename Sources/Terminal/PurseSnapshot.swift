public import EPurse
public import OneCardCore

/// What a card-reader app shows of a purse: issuer file, balance, counters and decoded logs.
public struct PurseSnapshot: Sendable, Equatable {
    /// File 0x15, decoded.
    public var info: IssuerInfo
    /// The balance.
    public var balanceFen: UInt32
    /// The offline (purchase) counter; `nil` when the card would not say (blocked).
    public var offlineCounter: PurseCounter?
    /// The online (load) counter, from the newest load in the log; `nil` when no load is logged.
    public var onlineCounter: PurseCounter?
    /// Whether SELECT answered `6283` (application blocked).
    public var blocked: Bool
    /// The transaction log, newest first.
    public var transactionLog: [TransactionLogRecord]
    /// The trip log, newest first (records that decode).
    public var tripLog: [TripRecord]

    /// Reads a card through any channel: SELECT, READ BINARY 0x15, GET BALANCE, the logs, and
    /// INITIALIZE FOR PURCHASE of 0 fen for the offline counter (no DEBIT follows, so nothing
    /// changes on the card).
    ///
    /// - Throws: ``TerminalError`` or the channel's error.
    public static func read(from channel: inout some CardChannel) throws -> PurseSnapshot {
        let selected = try channel.transmit(PurseCommand.selectPurse)
        guard selected.status == .success || selected.status == .selectedFileInvalidated else {
            throw TerminalError.cardRefused(step: "SELECT purse", status: selected.status)
        }
        let file = try channel.expectSuccess(PurseCommand.readBinary(sfi: 0x15, byteCount: 30), step: "READ BINARY 0x15")
        guard let info = IssuerInfo(bytes: file) else { throw TerminalError.unreadableCard }
        let b = try channel.expectSuccess(PurseCommand.getBalance, step: "GET BALANCE")
        guard let balance = b.bigEndianInteger(count: 4), b.count == 4 else {
            throw TerminalError.malformedResponse(step: "GET BALANCE", byteCount: b.count)
        }
        let log = try readRecords(&channel, sfi: 0x18, byteCount: 23, countMax: 10).compactMap(TransactionLogRecord.init(bytes:))
        let trips = try readRecords(&channel, sfi: 0x1E, byteCount: 48, countMax: 30).compactMap(TripRecord.init(bytes:))
        var offline: PurseCounter? = nil
        let probe = try channel.transmit(PurseCommand.initializeForPurchase(keyIndex: KeyIndex(rawValue: 1), amountFen: 0, terminal: TerminalID(rawValue: 0)!, compound: false))
        if probe.status == .success, let c = probe.data.bigEndianInteger(at: 4, count: 2) { offline = PurseCounter(rawValue: UInt16(c)) }
        return PurseSnapshot(
            info: info, balanceFen: UInt32(balance), offlineCounter: offline,
            onlineCounter: log.first(where: { $0.type.isLoad })?.counterAfter,
            blocked: selected.status == .selectedFileInvalidated, transactionLog: log, tripLog: trips)
    }

    private static func readRecords(_ channel: inout some CardChannel, sfi: UInt8, byteCount: Int, countMax: Int) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for n in 1...countMax {
            let r = try channel.transmit(PurseCommand.readRecord(sfi: sfi, number: UInt8(n), byteCount: byteCount))
            guard r.status == .success else { break }
            out.append(r.data)
        }
        return out
    }

    /// A multi-line report like a card-reader app's.
    public var report: String {
        var lines = [
            "card      \(info.serial)  (\(info.cardType))\(blocked ? "  BLOCKED" : "")",
            "issuer    \(info.issuer)",
            "valid     \(info.startDate) to \(info.expiryDate)",
            "balance   \(Fen.yuan(Int64(balanceFen))) yuan (\(balanceFen) fen)",
            "counters  online \(onlineCounter.map(\.description) ?? "-")  offline \(offlineCounter.map(\.description) ?? "-")",
            "transactions (newest first):",
        ]
        if transactionLog.isEmpty { lines.append("  (none)") }
        for r in transactionLog {
            let sign = r.type.isLoad ? "+" : "-"
            lines.append("  #\(r.counterAfter)  \(r.at)  \(r.type.description.padding(toLength: 17, withPad: " ", startingAt: 0)) \(sign)\(Fen.yuan(Int64(r.amountFen)))  terminal \(r.terminal)")
        }
        if !tripLog.isEmpty {
            lines.append("trips (newest first):")
            for t in tripLog {
                let codes = "industry \([t.industry].hex)  line \(code(t.line))  station \(code(t.station))"
                lines.append("  \(t.at)  \(t.kind)  \(codes)  \(Fen.yuan(Int64(t.amountFen)))  balance \(Fen.yuan(Int64(t.balanceAfterFen)))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A 2-byte trip-record code as its 4 hex digits, as the city file writes it.
    private func code(_ v: UInt16) -> String {
        var b: [UInt8] = []
        b.appendBigEndian(v)
        return b.hex
    }
}
