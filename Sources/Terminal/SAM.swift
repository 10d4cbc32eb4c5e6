public import OneCardCore
public import OneCardCrypto

/// The security module of a purchase terminal: it computes purchase MAC1 and checks MAC2
/// with the card's purchase key, which it diversifies itself from the purchase master key, and
/// it owns the terminal transaction sequence. In a fare terminal it is the PSAM in the reader's
/// second slot (``PSAMModule``); ``SoftwareSAM`` is the in-process test double.
public protocol SAM: AnyObject {
    /// The terminal ID the SAM is bound to.
    var terminal: TerminalID { get }
    /// Takes the next terminal sequence number and returns it with MAC1 for the purchase.
    ///
    /// - Throws: if the sequence cannot be taken durably.
    func authorizePurchase(_ p: PurchaseAuthorization) throws -> (sequence: TerminalSequence, mac1: UInt32)
    /// Checks the card's MAC2 for the purchase authorised with `sequence`.
    func verifyMAC2(_ mac2: UInt32, for p: PurchaseAuthorization, sequence: TerminalSequence) -> Bool
}

/// What a SAM needs from INITIALIZE FOR PURCHASE to compute MAC1.
public struct PurchaseAuthorization: Sendable, Equatable {
    /// The card serial (for diversification).
    public var serial: CardSerial
    /// The card's random number.
    public var random: UInt32
    /// The card's offline counter before the purchase.
    public var offlineCounter: PurseCounter
    /// The amount.
    public var amountFen: UInt32
    /// `06` or `09`.
    public var type: TransactionType
    /// The terminal's date and time for the transaction.
    public var at: BCDDateTime
    /// The key version the card named (INITIALIZE response [9]): selects the purchase key.
    public var keyVersion: KeyVersion

    /// Groups the inputs.
    public init(
        serial: CardSerial, random: UInt32, offlineCounter: PurseCounter, amountFen: UInt32, type: TransactionType, at: BCDDateTime,
        keyVersion: KeyVersion = KeyVersion(rawValue: 0x01)
    ) {
        self.serial = serial
        self.random = random
        self.offlineCounter = offlineCounter
        self.amountFen = amountFen
        self.type = type
        self.at = at
        self.keyVersion = keyVersion
    }
}

/// A SAM in software — the in-process test double of a PSAM, never a fare terminal's: the
/// purchase master key from a keyset with `masterKeys.purchase`, and a sequence source. The sequence source is where durability lives (the terminal journal in
/// production; a counter in tests).
public final class SoftwareSAM: SAM {
    public let terminal: TerminalID
    private let purchaseMaster: TripleDESKey
    private let nextSequence: () throws -> TerminalSequence

    /// Builds a SAM from a keyset holding the purchase master key.
    ///
    /// - Parameter nextSequence: returns a sequence number never returned before, durably.
    /// - Throws: ``KeysetError/missingKey(path:role:)`` without a purchase key.
    public init(keyset: Keyset, terminal: TerminalID, nextSequence: @escaping () throws -> TerminalSequence) throws(KeysetError) {
        self.purchaseMaster = try keyset.masterKey(.purchase)
        self.terminal = terminal
        self.nextSequence = nextSequence
    }

    public func authorizePurchase(_ p: PurchaseAuthorization) throws -> (sequence: TerminalSequence, mac1: UInt32) {
        let sequence = try nextSequence()
        let key = sessionKey(p, sequence)
        return (sequence, TripleDESPurse.purchaseMAC1(sessionKey: key, amountFen: p.amountFen, type: p.type, terminal: terminal, at: p.at))
    }

    public func verifyMAC2(_ mac2: UInt32, for p: PurchaseAuthorization, sequence: TerminalSequence) -> Bool {
        TripleDESPurse.purchaseMAC2(sessionKey: sessionKey(p, sequence), amountFen: p.amountFen) == mac2
    }

    private func sessionKey(_ p: PurchaseAuthorization, _ sequence: TerminalSequence) -> DESKey {
        let dpk = TripleDESPurse.diversify(master: purchaseMaster, serial: p.serial)
        return TripleDESPurse.purchaseSessionKey(dpk: dpk, random: p.random, offlineCounter: p.offlineCounter, terminalSequence: sequence)
    }
}

/// The issuer host's side of a load: it verifies the card's MAC1 and computes MAC2 with the
/// load master key.
public struct IssuerHost: Sendable {
    private let loadMaster: TripleDESKey

    /// Builds the host from a keyset holding the load master key.
    ///
    /// - Throws: ``KeysetError/missingKey(path:role:)`` without a load key.
    public init(keyset: Keyset) throws(KeysetError) {
        loadMaster = try keyset.masterKey(.load)
    }

    /// Verifies MAC1 from INITIALIZE FOR LOAD and returns MAC2 for CREDIT FOR LOAD.
    ///
    /// - Throws: ``TerminalError/cardMACInvalid`` when MAC1 does not verify.
    public func authorizeLoad(
        serial: CardSerial, random: UInt32, onlineCounter: PurseCounter, oldBalanceFen: UInt32, amountFen: UInt32,
        terminal: TerminalID, at: BCDDateTime, cardMAC1: UInt32
    ) throws(TerminalError) -> UInt32 {
        let dlk = TripleDESPurse.diversify(master: loadMaster, serial: serial)
        let key = TripleDESPurse.loadSessionKey(dlk: dlk, random: random, onlineCounter: onlineCounter)
        let mac1 = TripleDESPurse.loadMAC1(sessionKey: key, oldBalanceFen: oldBalanceFen, amountFen: amountFen, type: .epLoad, terminal: terminal)
        guard mac1 == cardMAC1 else { throw .cardMACInvalid }
        return TripleDESPurse.loadMAC2(sessionKey: key, amountFen: amountFen, type: .epLoad, terminal: terminal, at: at)
    }
}
