public import OneCardCore
public import OneCardCrypto

/// The non-volatile state of a PSAM (docs/psam.md, after `../shared/spec/PSAM.md`): its files
/// and the keys it holds but never reveals. Personalised for one terminal: EF 0x16 is that
/// terminal's number, and the PSAM signs purchases with it whatever the terminal claims.
public struct PSAMState: Equatable, Sendable {
    /// PSAM serial, 10 bytes BCD (EF 0x15 [0..9]).
    public var serial: [UInt8]
    /// EF 0x15 [10]: version.
    public var version: UInt8
    /// EF 0x15 [11]: key-card type.
    public var keyCardType: UInt8
    /// EF 0x15 [12..13]: issuer data.
    public var issuerData: [UInt8]
    /// EF 0x16: the terminal number it is personalised for.
    public var terminal: TerminalID
    /// EF 0x17 [0]: the purchase key index terminals send in INITIALIZE FOR PURCHASE.
    public var keyIndex: UInt8
    /// EF 0x17 [1..8]: application issuer ID.
    public var applicationIssuer: [UInt8]
    /// EF 0x17 [9..16]: application user ID.
    public var applicationUser: [UInt8]
    /// EF 0x17 [17..20]: valid from.
    public var start: BCDDate
    /// EF 0x17 [21..24]: valid until.
    public var expiry: BCDDate
    /// EF 0x19: the last terminal transaction sequence used (0 for a fresh PSAM).
    public var sequence: UInt32
    /// Purchase master keys by key version (the version byte of the card's INITIALIZE
    /// response selects one).
    public var purchaseKeys: [UInt8: TripleDESKey]
    /// Application maintenance keys (DELIVERY KEY type `05`) by key identifier (P2): the
    /// block MAC of a hotlisted card is made in here.
    public var maintenanceKeys: [UInt8: TripleDESKey]
    /// The terminal's upload key (16 bytes, derived from the batch master for this terminal)
    /// and the batch master's version: SIGN BATCH DIGEST signs its upload files with it.
    public var uploadKey: [UInt8]?
    /// The batch master key version `uploadKey` comes from.
    public var uploadKeyVersion: UInt8

    /// Describes a PSAM.
    public init(
        serial: [UInt8], terminal: TerminalID, purchaseKeys: [UInt8: TripleDESKey], maintenanceKeys: [UInt8: TripleDESKey] = [:],
        keyIndex: UInt8 = 0x01, applicationIssuer: [UInt8] = Array(repeating: 0, count: 8), applicationUser: [UInt8] = Array(repeating: 0, count: 8),
        start: BCDDate, expiry: BCDDate, sequence: UInt32 = 0, version: UInt8 = 0x01, keyCardType: UInt8 = 0x01, issuerData: [UInt8] = [0, 0],
        uploadKey: [UInt8]? = nil, uploadKeyVersion: UInt8 = 0x01
    ) {
        self.serial = serial
        self.version = version
        self.keyCardType = keyCardType
        self.issuerData = issuerData
        self.terminal = terminal
        self.keyIndex = keyIndex
        self.applicationIssuer = applicationIssuer
        self.applicationUser = applicationUser
        self.start = start
        self.expiry = expiry
        self.sequence = sequence
        self.purchaseKeys = purchaseKeys
        self.maintenanceKeys = maintenanceKeys
        self.uploadKey = uploadKey
        self.uploadKeyVersion = uploadKeyVersion
    }

    /// EF 0x15, 14 bytes.
    var ef15: [UInt8] { serial + [version, keyCardType] + issuerData }
    /// EF 0x16, 6 bytes.
    var ef16: [UInt8] { terminal.bytes }
    /// EF 0x17, 25 bytes.
    var ef17: [UInt8] { [keyIndex] + applicationIssuer + applicationUser + start.bcd + expiry.bcd }
    /// EF 0x19, 4 bytes.
    var ef19: [UInt8] {
        var b: [UInt8] = []
        b.appendBigEndian(sequence)
        return b
    }

    /// Whether the fields have the sizes the files need.
    public var isWellFormed: Bool {
        serial.count == 10 && issuerData.count == 2 && applicationIssuer.count == 8 && applicationUser.count == 8
            && (uploadKey?.count ?? 16) == 16
    }
}
