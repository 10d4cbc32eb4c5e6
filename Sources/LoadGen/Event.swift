/// What clearing must do with one generated record (or why it never reaches clearing).
enum Fault: UInt8 {
    /// A good record: accepted.
    case none = 0
    /// TAC altered: refused `01`.
    case forgedTAC
    /// Uploaded twice: the first accepted, the copy refused `03`.
    case duplicate
    /// Dropped from the uploads: a counter gap, listed in the ground truth.
    case gap
    /// A grey record: refused `04`.
    case grey
    /// Made more than the upload window before the upload: refused `05`.
    case expired
    /// Made after the card was hotlisted: refused `07`.
    case hotlisted
}

/// One transaction as the simulation leaves it, before terminal sequence numbers are known.
/// Kept compact (48 bytes) because a 10M-tap run holds ~11M of them; it carries the card's TAC
/// key and type so the writers read events in order and never chase per-card tables.
struct TapEvent {
    /// The card's TAC key as an integer: `3DES(MTK, F) XOR 3DES(MTK, ~F)` (spec §4).
    var tacKey: UInt64
    /// Card index.
    var card: UInt32
    /// Seconds since the start date's midnight.
    var time: UInt32
    /// Amount (fare or load), fen.
    var amountFen: UInt32
    /// Balance before, fen.
    var balanceBeforeFen: UInt32
    /// Concession taken off, fen.
    var concessionFen: UInt32
    /// Index into ``CityPlan``'s terminal table.
    var terminal: UInt32
    /// Counter before the transaction (offline for purchases and grey records, online for loads).
    var counter: UInt16
    /// Transfer discount, fen.
    var transferFen: UInt16
    /// Metro exit: index of the entry station in ``CityPlan/stations``.
    var entryStation: UInt16
    /// Metro exit: seconds between entry and exit.
    var entryAgeSeconds: UInt16
    /// Card type byte.
    var cardType: UInt8
    /// `RecordKind` raw value.
    var kind: UInt8
    /// `FareFlags` raw value.
    var flags: UInt8
    /// What clearing must do with it.
    var fault: Fault
}
