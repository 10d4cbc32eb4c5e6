public import OneCardCore

/// Why a terminal flow stopped. Each case says what a rider or operator needs to know;
/// none carries key material or a full MAC.
public enum TerminalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The card answered a step with an error status.
    case cardRefused(step: String, status: StatusWord)
    /// The card's answer has the wrong shape for the step.
    case malformedResponse(step: String, byteCount: Int)
    /// The card's file 0x15 could not be decoded.
    case unreadableCard
    /// The card's MAC1 on a load did not verify: a wrong key set or a forged card.
    case cardMACInvalid
    /// The card's MAC2 on a purchase did not verify with the SAM.
    case samRejectedMAC2
    /// The purse cannot pay the fare.
    case insufficientFunds(balanceFen: UInt32, amountFen: UInt32)
    /// The load would take the balance above the card's maximum.
    case aboveMaximum(balanceFen: UInt32, amountFen: UInt32, maximumFen: UInt32)
    /// The card is outside its validity period.
    case cardNotValid(today: BCDDate, start: BCDDate, expiry: BCDDate)
    /// The purse application is blocked.
    case cardBlocked
    /// The card's algorithm is not 3DES.
    case unsupportedAlgorithm(AlgorithmID)
    /// A replacement card must be empty: its balance would otherwise be mixed with the old one's.
    case replacementCardNotEmpty(balanceFen: UInt32)
    /// The old and the new card of a replacement are the same card.
    case replacementIsSameCard
    /// The card has an unfinished counter operation (a refund or replacement cut short):
    /// finish it first.
    case counterOperationPending(kind: String)
    /// The PSAM answered a step with an error status (a wrong key version: `9403`; no
    /// maintenance key: `6A88`; not a PSAM: `6A82` at SELECT).
    case psamRefused(step: String, status: StatusWord)

    public var description: String {
        switch self {
        case .cardRefused(let step, let sw): "the card refused \(step): \(sw)"
        case .malformedResponse(let step, let n): "the card's answer to \(step) is malformed (\(n) bytes)"
        case .unreadableCard: "the card's issuer file is unreadable"
        case .cardMACInvalid: "the card's MAC1 did not verify (wrong key set or a forged card)"
        case .samRejectedMAC2: "the card's MAC2 did not verify at the SAM"
        case .insufficientFunds(let b, let a): "insufficient funds: balance \(Fen.yuan(Int64(b))) yuan, fare \(Fen.yuan(Int64(a))) yuan"
        case .aboveMaximum(let b, let a, let m):
            "loading \(Fen.yuan(Int64(a))) yuan onto a balance of \(Fen.yuan(Int64(b))) yuan would exceed the card maximum of \(Fen.yuan(Int64(m))) yuan"
        case .cardNotValid(let t, let s, let e): "card not valid on \(t) (valid \(s) to \(e))"
        case .cardBlocked: "card blocked: the purse application is locked"
        case .unsupportedAlgorithm(let a): "the card uses algorithm \(a); this terminal supports 3DES (00) only"
        case .replacementCardNotEmpty(let b): "the replacement card already holds \(Fen.yuan(Int64(b))) yuan; use an empty card"
        case .replacementIsSameCard: "the replacement card is the old card itself; present a new card"
        case .psamRefused(let step, let sw): "the PSAM refused \(step): \(sw)"
        case .counterOperationPending(let k): "this card has an unfinished \(k): run the \(k) again to finish it"
        }
    }
}
