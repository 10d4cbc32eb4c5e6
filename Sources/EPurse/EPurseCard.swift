public import OneCardCore
import OneCardCrypto

/// The T-Union / PBOC e-purse card application: APDU in, APDU out (spec §1–4).
///
/// Every command works on a copy of the card's non-volatile ``state`` and the copy replaces
/// the state only when the command succeeds, so an error path changes nothing, and
/// DEBIT/CREDIT change balance, counter, logs and caches in one step. ``revision`` counts
/// the commits, so a caller knows when to save the card file.
public final class EPurseCard: CardResponder {
    /// The non-volatile state.
    public private(set) var state: CardState
    /// How many commands have changed ``state`` since this object was made.
    public private(set) var revision: UInt64 = 0

    /// Volatile state: lost at power off or reset.
    var session = Session()
    /// The source of the card's random numbers (INITIALIZE and GET CHALLENGE).
    let random: () -> UInt32

    /// Wraps a card state.
    ///
    /// - Parameter random: the card's random number source; the default is the system's.
    public init(state: CardState, random: @escaping () -> UInt32 = { UInt32.random(in: .min ... .max) }) {
        self.state = state
        self.random = random
    }

    /// ISO 14443-4 card through a PC/SC reader (PC/SC part 3 ATR) with historical bytes "ONECARD1".
    public var atr: [UInt8] {
        var a: [UInt8] = [0x3B, 0x88, 0x80, 0x01] + Array("ONECARD1".utf8)
        a.append(a.dropFirst().reduce(0, ^))
        return a
    }

    /// Power on or warm reset: drops the selection, any open session and the challenge.
    public func reset() { session = Session() }

    /// Power off: as reset.
    public func powerOff() { session = Session() }

    /// Answers one raw command. Never traps on input; malformed lengths are `6700`.
    public func respond(to command: [UInt8]) -> [UInt8] {
        response(to: command).bytes
    }

    /// Answers one raw command as a parsed response.
    public func response(to bytes: [UInt8]) -> ResponseAPDU {
        guard let command = try? CommandAPDU(bytes: bytes) else {
            return ResponseAPDU(status: .wrongLength)
        }
        var working = state
        let r = dispatch(command, &working)
        // Handlers mutate `working` only on the paths that must persist (a success, or a
        // wrong PIN spending a try), after every check has passed.
        if working != state {
            state = working
            revision &+= 1
        }
        return r
    }

    private func dispatch(_ c: CommandAPDU, _ s: inout CardState) -> ResponseAPDU {
        switch (c.cla, c.ins) {
        case (0x00, 0xA4): return select(c, s)
        case (0x00, 0xB0): return readBinary(c, s)
        case (0x00, 0xB2): return readRecord(c, s)
        case (0x00, 0x84): return getChallenge(c)
        case (0x00, 0x20): return verifyPIN(c, &s)
        case (0x80, 0x5C): return getBalance(c, s)
        case (0x80, 0x50): return initialize(c, &s)
        case (0x80, 0x52): return creditForLoad(c, &s)
        case (0x80, 0x54): return debitForPurchase(c, &s)
        case (0x80, 0xDC): return updateCache(c, s)
        case (0x80, 0x5A): return getTransactionProve(c, s)
        case (0x04, 0xD6): return updateBinarySecure(c, &s)
        case (0x84, 0x1E): return applicationBlock(c, &s)
        case (0x84, 0x18): return applicationUnblock(c, &s)
        case (0x00, _), (0x80, _), (0x84, _), (0x04, _): return ResponseAPDU(status: .instructionNotSupported)
        default: return ResponseAPDU(status: .classNotSupported)
        }
    }
}

/// What a card forgets at power off.
struct Session {
    enum Selection { case none, ppse, purse }

    struct Load {
        var type: TransactionType
        var amountFen: UInt32
        var terminal: TerminalID
        var sessionKey: DESKey
    }

    struct Purchase {
        var type: TransactionType
        var amountFen: UInt32
        var terminal: TerminalID
        var random: UInt32
        /// UPDATE CAPP DATA CACHE writes, applied at DEBIT: the 0x1A record and 0x1E appends.
        var compoundRecord: [UInt8]?
        var tripRecords: [[UInt8]] = []
    }

    enum Pending {
        case load(Load)
        case purchase(Purchase)
    }

    var selection = Selection.none
    var pending: Pending? = nil
    var challenge: UInt32? = nil
    var pinVerified = false
}

extension ResponseAPDU {
    static func sw(_ status: StatusWord) -> ResponseAPDU { ResponseAPDU(status: status) }
    static func ok(_ data: [UInt8] = []) -> ResponseAPDU { ResponseAPDU(data: data, status: .success) }
}

extension StatusWord {
    /// `9406`: the MAC/TAC asked for by GET TRANSACTION PROVE is not available (*ours*, as PBOC).
    public static let proveNotAvailable = StatusWord(rawValue: 0x9406)
    /// `9402`: a purse counter has reached its maximum.
    public static let counterExhausted = StatusWord(rawValue: 0x9402)
}
