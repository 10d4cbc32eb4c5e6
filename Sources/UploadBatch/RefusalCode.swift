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
