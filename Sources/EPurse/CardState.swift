public import OneCardCore
public import OneCardCrypto

/// Whether the purse application is blocked (hotlisted cards are blocked by terminals).
public enum BlockState: String, Sendable, Codable {
    /// The application works.
    case none
    /// Blocked by APPLICATION BLOCK with P2 `00`; APPLICATION UNBLOCK lifts it.
    case temporary
    /// Blocked by APPLICATION BLOCK with P2 `01`; nothing lifts it.
    case permanent
}

/// The proof of the last purchase, kept for GET TRANSACTION PROVE (tear recovery).
public struct PurchaseProof: Equatable, Sendable {
    /// `06` purchase or `09` compound purchase.
    public var type: TransactionType
    /// The offline counter after the purchase (the value a terminal asks for: INITIALIZE's counter + 1).
    public var counterAfter: PurseCounter
    /// MAC2 of the purchase.
    public var mac2: UInt32
    /// TAC of the purchase.
    public var tac: UInt32

    /// Builds a proof.
    public init(type: TransactionType, counterAfter: PurseCounter, mac2: UInt32, tac: UInt32) {
        self.type = type
        self.counterAfter = counterAfter
        self.mac2 = mac2
        self.tac = tac
    }
}

/// Everything a purse card keeps in its non-volatile memory. Saved to and loaded from a
/// card file (`onecard-card/1`). Mutated only by ``EPurseCard`` command handlers, which work
/// on a copy and commit it whole, so a command either changes everything it should or
/// nothing.
public struct CardState: Equatable, Sendable {
    /// The card's maximum balance unless personalised otherwise: 1,000 yuan.
    public static let balanceMaxFenDefault: UInt32 = 100_000
    /// How many wrong PINs block the PIN.
    public static let pinTriesMaxDefault = 3

    /// File 0x15 (30 bytes).
    public var issuerInfo: [UInt8]
    /// File 0x16 (55 bytes).
    public var holderFile: [UInt8]
    /// File 0x17 (60 bytes).
    public var managementFile: [UInt8]
    /// The purse balance.
    public var balanceFen: UInt32
    /// The largest balance a load may reach.
    public var balanceMaxFen: UInt32
    /// Counter of loads (online transactions).
    public var onlineCounter: PurseCounter
    /// Counter of purchases (offline transactions).
    public var offlineCounter: PurseCounter
    /// The card's diversified keys.
    public var keys: CardKeys
    /// The key index the card accepts in INITIALIZE commands.
    public var keyIndex: KeyIndex
    /// The key version it reports.
    public var keyVersion: KeyVersion
    /// The PIN digits, BCD-packed (2–6 bytes).
    public var pin: [UInt8]
    /// Wrong PINs left before the PIN blocks.
    public var pinTriesRemaining: Int
    /// Whether INITIALIZE FOR LOAD needs a verified PIN first.
    public var loadRequiresPIN: Bool
    /// Application block state.
    public var blocked: BlockState
    /// Transaction log (0x18), newest first, at most 10 records.
    public var transactionLog: [TransactionLogRecord]
    /// Trip log (0x1E) as raw records, newest first, at most 30.
    public var tripLog: [[UInt8]]
    /// The compound-purchase cache record (0x1A, 128 bytes); `nil` until first written.
    public var compoundCache: [UInt8]?
    /// The last purchase, for GET TRANSACTION PROVE.
    public var lastPurchase: PurchaseProof?
    /// The last load (type `02`, MAC2 0), for GET TRANSACTION PROVE of a load (*ours*): a
    /// counter that lost CREDIT's answer recovers the TAC on the next presentation.
    public var lastLoad: PurchaseProof? = nil

    /// The decoded issuer information; `nil` only if file 0x15 was corrupted.
    public var info: IssuerInfo? { IssuerInfo(bytes: issuerInfo) }

    /// A fresh card personalised from an issuer keyset (all four master keys needed).
    ///
    /// - Throws: ``KeysetError/missingKey(path:role:)`` if the keyset lacks a master key.
    public static func personalise(
        keyset: Keyset, info: IssuerInfo, balanceMaxFen: UInt32 = balanceMaxFenDefault, keyIndex: KeyIndex = KeyIndex(rawValue: 1)
    ) throws(KeysetError) -> CardState {
        var management = [UInt8](repeating: 0, count: 60)
        management[8] = 0x00
        management[9] = 0x01  // nationally interoperable (spec §2, file 0x17 [8..9])
        return CardState(
            issuerInfo: info.bytes, holderFile: [UInt8](repeating: 0, count: 55), managementFile: management,
            balanceFen: 0, balanceMaxFen: balanceMaxFen, onlineCounter: PurseCounter(rawValue: 0),
            offlineCounter: PurseCounter(rawValue: 0), keys: try keyset.cardKeys(serial: info.serial),
            keyIndex: keyIndex, keyVersion: keyset.keyVersion, pin: [0x12, 0x34, 0x56],
            pinTriesRemaining: pinTriesMaxDefault, loadRequiresPIN: false, blocked: .none, transactionLog: [],
            tripLog: [], compoundCache: nil, lastPurchase: nil)
    }
}
