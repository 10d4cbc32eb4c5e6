/// Why the clearing centre refuses one upload record (spec §7). The two-digit code is what
/// clearing reports, the ingest `--json` output counts, and the load generator's ground truth
/// predicts.
public enum RefusalCode: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// `01`: the TAC does not verify with the card's diversified DTK.
    case tacError = "01"
    /// `02`: illegal data — impossible date, amount 0 or above the card maximum, unknown card
    /// type, balances that do not add up.
    case illegalData = "02"
    /// `03`: the same transaction was already cleared.
    case duplicate = "03"
    /// `04`: a grey (unfinished) record.
    case grey = "04"
    /// `05`: older than the upload window.
    case expired = "05"
    /// `06`: the terminal is unknown or does not belong to the batch's operator.
    case unknownTerminal = "06"
    /// `07`: the card was hotlisted before the transaction.
    case hotlisted = "07"

    public var description: String {
        switch self {
        case .tacError: "01 TAC error"
        case .illegalData: "02 illegal data"
        case .duplicate: "03 duplicate"
        case .grey: "04 grey record"
        case .expired: "05 expired"
        case .unknownTerminal: "06 unknown terminal"
        case .hotlisted: "07 hotlisted card"
        }
    }
}

/// The record field a refusal is about (docs/formats.md, "Refusal row"): a refused record
/// names the field that could not be represented or proved, so an officer and a terminal
/// vendor see what was wrong without the original file. The raw value is the byte stored in
/// the refusal row; 0 is "no particular field".
public enum RecordField: UInt8, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// No particular field (the code says it all).
    case none = 0
    /// The transaction type byte.
    case transactionType = 1
    /// The card serial.
    case serial = 2
    /// The card type byte.
    case cardType = 3
    /// The card counter.
    case counter = 4
    /// The amount.
    case amount = 5
    /// Balance before.
    case balanceBefore = 6
    /// Balance after.
    case balanceAfter = 7
    /// The record's terminal.
    case terminal = 8
    /// The terminal sequence (a fare's identity with the terminal).
    case sequence = 9
    /// The record's date-time.
    case dateTime = 10
    /// The deposit.
    case deposit = 11
    /// A replacement's new card.
    case relatedSerial = 12
    /// The TAC.
    case tac = 13
    /// The record's kind is not allowed from the batch's operator.
    case kind = 14
    /// The card key version: clearing holds no TAC master key of that version.
    case keyVersion = 15

    public var description: String {
        switch self {
        case .none: "none"
        case .transactionType: "transaction type"
        case .serial: "card serial"
        case .cardType: "card type"
        case .counter: "counter"
        case .amount: "amount"
        case .balanceBefore: "balance before"
        case .balanceAfter: "balance after"
        case .terminal: "terminal"
        case .sequence: "terminal sequence"
        case .dateTime: "date-time"
        case .deposit: "deposit"
        case .relatedSerial: "new card"
        case .tac: "TAC"
        case .kind: "record kind"
        case .keyVersion: "key version"
        }
    }
}
