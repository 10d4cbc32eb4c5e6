public import OneCardCore
public import UploadBatch

/// Where a terminal keeps what it did, durably, before it tells anyone "OK".
///
/// The unit of journaling is the upload ``BatchRecord``: a purchase is journaled as
/// ``RecordKind/grey`` before DEBIT is sent and completed (with its TAC) after the card
/// answers, so a tear leaves a grey record that the next presentation of the card resolves.
/// The production implementation is SQLite (`Storage.SQLiteJournal`); ``MemoryJournal`` serves
/// unit tests.
public protocol TerminalJournal: AnyObject {
    /// Takes the next terminal sequence number. Durable: never returned again, even after a crash.
    func nextSequence() throws -> TerminalSequence
    /// Records a purchase about to be sent to the card as grey. Durable before it returns.
    func recordGrey(_ record: BatchRecord) throws
    /// Replaces the card's grey record for `record.counter` with the completed record
    /// (kind purchase, TAC set). Durable before it returns.
    func complete(_ record: BatchRecord) throws
    /// Drops the card's grey record for `counter`: the card proved the debit never happened.
    func void(serial: CardSerial, counter: UInt16) throws
    /// The card's unresolved grey record, if any.
    func grey(for serial: CardSerial) throws -> BatchRecord?
    /// Records a completed load, issue, refund or replacement. Durable before it returns.
    func append(_ record: BatchRecord) throws
    /// Takes note of a terminal sequence the terminal's PSAM handed out (the PSAM keeps the
    /// sequence; the journal then accepts records that carry it). Durable before it returns.
    func adopt(_ sequence: TerminalSequence) throws
}

extension TerminalJournal {
    /// A journal whose terminal takes its sequences from the journal itself (a service counter)
    /// has nothing to note.
    public func adopt(_ sequence: TerminalSequence) throws {}
}

/// An in-memory ``TerminalJournal`` for tests: same contract, no durability.
public final class MemoryJournal: TerminalJournal {
    /// Completed records in order.
    public private(set) var records: [BatchRecord] = []
    /// Unresolved grey records.
    public private(set) var greys: [BatchRecord] = []
    private var sequence: UInt32 = 0

    /// An empty journal.
    public init() {}

    public func nextSequence() throws -> TerminalSequence {
        sequence += 1
        return TerminalSequence(rawValue: sequence)
    }

    public func recordGrey(_ record: BatchRecord) throws {
        precondition(record.kind == .grey, "recordGrey of a \(record.kind) record")
        greys.append(record)
    }

    public func complete(_ record: BatchRecord) throws {
        greys.removeAll { $0.serial == record.serial && $0.counter == record.counter }
        records.append(record)
    }

    public func void(serial: CardSerial, counter: UInt16) throws {
        greys.removeAll { $0.serial == serial && $0.counter == counter }
    }

    public func grey(for serial: CardSerial) throws -> BatchRecord? { greys.last { $0.serial == serial } }

    public func append(_ record: BatchRecord) throws { records.append(record) }

    public func adopt(_ sequence: TerminalSequence) throws { self.sequence = max(self.sequence, sequence.rawValue) }
}
