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
    /// Journals a counter operation (load, refund, replacement) before the card is credited or
    /// blocked — grey-first, as purchases are: at most one per card. Durable before it returns.
    func begin(_ pending: BatchRecord) throws
    /// The card's unfinished counter operation, if any.
    func pending(for serial: CardSerial) throws -> BatchRecord?
    /// Replaces the card's pending counter operation with the finished record (its registry
    /// effect applied in the same step). Durable before it returns.
    func finish(_ record: BatchRecord) throws
    /// Drops the card's pending operation: the card proved it never happened.
    func abandon(serial: CardSerial) throws
    /// Takes note of a terminal sequence the terminal's PSAM handed out (the PSAM keeps the
    /// sequence; the journal then accepts records that carry it). Durable before it returns.
    func adopt(_ sequence: TerminalSequence) throws
}

extension TerminalJournal {
    /// A journal whose terminal takes its sequences from the journal itself (a service counter)
    /// has nothing to note.
    public func adopt(_ sequence: TerminalSequence) throws {}

    // A fare terminal's journal makes no counter operations.
    public func begin(_ pending: BatchRecord) throws { throw CounterOperationUnsupported() }
    public func pending(for serial: CardSerial) throws -> BatchRecord? { nil }
    public func finish(_ record: BatchRecord) throws { throw CounterOperationUnsupported() }
    public func abandon(serial: CardSerial) throws {}
}

/// A fare terminal's journal was asked to journal a counter operation.
public struct CounterOperationUnsupported: Error, CustomStringConvertible {
    public var description: String { "this journal is a fare terminal's: counter operations need the issuer database" }
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

    /// Unfinished counter operations by card.
    public private(set) var pendings: [CardSerial: BatchRecord] = [:]

    public func begin(_ pending: BatchRecord) throws {
        guard pendings[pending.serial] == nil else { throw TerminalError.counterOperationPending(kind: pending.kind.description) }
        pendings[pending.serial] = pending
    }

    public func pending(for serial: CardSerial) throws -> BatchRecord? { pendings[serial] }

    public func finish(_ record: BatchRecord) throws {
        pendings[record.serial] = nil
        records.append(record)
    }

    public func abandon(serial: CardSerial) throws { pendings[serial] = nil }
}
