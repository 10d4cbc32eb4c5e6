import City
public import OneCardCore
public import OneCardCrypto

/// The cards a terminal refuses, and the key to block them with.
public struct Hotlist: Sendable {
    /// Hotlisted card serials (reported lost or stolen, refunded, replaced) held in memory.
    public var serials: Set<CardSerial>
    /// A validator's hotlist store (a file of sorted serials), if the terminal has one.
    public var store: HotlistStore?
    /// The application maintenance master key; with it the terminal blocks a hotlisted card
    /// (APPLICATION BLOCK, temporary), without it it only refuses and says so.
    public var maintenanceMaster: TripleDESKey?

    /// A hotlist.
    public init(serials: Set<CardSerial> = [], store: HotlistStore? = nil, maintenanceMaster: TripleDESKey? = nil) {
        self.serials = serials
        self.store = store
        self.maintenanceMaster = maintenanceMaster
    }

    /// Whether the card is hotlisted.
    public func contains(_ serial: CardSerial) -> Bool { serials.contains(serial) || store?.contains(serial) == true }
}

/// Which way a metro gate faces. A gate's direction is configuration, not read from the card:
/// otherwise "entry twice" and "exit without entry" could not be told apart from a journey.
public enum GateDirection: String, Sendable {
    /// Into the paid area.
    case entry
    /// Out of the paid area.
    case exit
}

/// Why a ``TapTerminal`` cannot be set up.
public enum TapSetupError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The city file does not know the terminal.
    case unknownTerminal(TerminalID)
    /// The SAM is bound to another terminal ID than the one configured.
    case samTerminalMismatch(sam: TerminalID, terminal: TerminalID)
    /// The terminal belongs to the issuer (service counter, top-up agent): no fares there.
    case notAFareTerminal(TerminalID)

    public var description: String {
        switch self {
        case .unknownTerminal(let t): "terminal \(t) is not in the city file"
        case .samTerminalMismatch(let s, let t): "the SAM is bound to terminal \(s), not \(t)"
        case .notAFareTerminal(let t): "terminal \(t) is an issuer terminal; it takes no fares"
        }
    }
}

/// The terminal itself failed — the journal or the SAM (not the card): it must not show "OK";
/// it shows out of service. A grey record written before the failure stays for recovery.
public struct TerminalFault: Error, CustomStringConvertible {
    /// What the terminal was doing, e.g. "complete the journal record".
    public var operation: String
    /// The journal's or SAM's error.
    public var underlying: any Error

    /// Wraps a failure.
    public init(operation: String, underlying: any Error) {
        self.operation = operation
        self.underlying = underlying
    }

    public var description: String { "terminal fault: could not \(operation): \(underlying)" }
}

/// A refusal decided by the terminal, with the sentence for the rider.
struct Decline: Error {
    var reason: String
}

/// Remembers whether the wrapped channel threw, so a flow can tell "card removed" from the
/// terminal's own failures.
struct ObservedChannel<Base: CardChannel>: CardChannel {
    var base: Base
    var failed = false

    mutating func transmit(_ command: CommandAPDU) throws -> ResponseAPDU {
        do {
            return try base.transmit(command)
        } catch {
            failed = true
            throw error
        }
    }
}

extension OperatorKind {
    /// The kind a trip record's industry byte names, `nil` for an unknown byte.
    init?(industryCode: UInt8) {
        guard let k = OperatorKind.allCases.first(where: { $0.industryCode == industryCode }) else { return nil }
        self = k
    }
}

extension TerminalError {
    /// The sentence a rider reads.
    var plainWords: String {
        switch self {
        case .insufficientFunds(let b, let a):
            "Not enough money on the card: balance \(Fen.yuan(Int64(b))) yuan, fare \(Fen.yuan(Int64(a))) yuan. Please top up."
        case .cardNotValid(_, let s, let e): "This card is not valid today (valid \(s) to \(e)). Please see the service counter."
        case .cardBlocked: "This card is blocked. Please see the service counter."
        case .cardRefused(_, .macInvalid): "The card refused the payment (security check failed). Nothing was charged. Please tell the staff."
        default: "The card could not be processed (\(self)). Nothing was charged. Please try again."
        }
    }
}
