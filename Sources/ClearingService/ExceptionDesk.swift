public import City
public import Clearing
public import OneCardCore
public import Storage
import UploadBatch

/// A clearing officer's decisions on the exception queue (docs/settlement.md): a clearing
/// exception (decimal id) is marked accepted or rejected; a refused record
/// (`TERMINAL/BATCH#INDEX`) accepted is posted as an adjustment into the next open business
/// day. Every decision is audited, and the same decision again returns the first one: nothing
/// is posted twice.
public enum ExceptionDesk {
    /// What a decision did.
    public enum Outcome: Sendable {
        /// A clearing exception's new status.
        case exception(id: UInt64, status: String)
        /// A refused record's decision (with the adjustment's day and amount when accepted).
        case refusal(RefusalDecision)
    }

    /// Decides the item `id` as `officer`, for `reason`, at `decided` (an audit stamp).
    public static func decide(
        store: ClearingStore, city: City, id: String, accept: Bool, officer: String, reason: String, decided: String
    ) throws -> Outcome {
        let status = accept ? "accepted" : "rejected"
        if let number = UInt64(id) {
            try store.decideException(id: number, status: status, officer: officer, reason: reason, decided: decided)
            return .exception(id: number, status: status)
        }
        guard let ref = RecordRef(id) else { throw ServiceError("\(id) is neither an exception id (decimal) nor a refused record TERMINAL/BATCH#INDEX") }
        guard let (f, day) = try store.refusal(ref) else { throw ServiceError("no refused record \(ref): list them with onecard exceptions list") }
        var decision = RefusalDecision(record: ref.description, code: f.code.rawValue, status: status, officer: officer, reason: reason, decided: decided)
        var adjustment: Transfer? = nil
        // An accepted fare takes its identity, so that it can never be paid a second time.
        let fare = f.record.kind == .purchase || f.record.kind == .grey ? FareIdentity(f.record) : nil
        if accept, let fare {
            // Older than the fare identities clearing keeps, a copy of this fare may have been
            // paid without clearing being able to tell any more: it cannot be accepted.
            let keptFrom = try store.newestDay() - ClearingConfig(city: city, tacMasters: [:]).fareRetentionDays
            guard fare.day >= keptFrom else {
                throw ServiceError("\(ref) is a fare of \(BCDDate(daysSinceEpoch: fare.day)), older than the fare identities clearing keeps (from \(BCDDate(daysSinceEpoch: keptFrom))): whether it was paid can no longer be proved; reject it")
            }
        }
        var load: LoadIdentity? = nil
        if accept, f.record.kind == .load {
            // A load the ledger already cleared (its counter seen in the card's window), or
            // too old to tell, cannot be accepted: it would be credited twice.
            let identity = LoadIdentity(serial: f.record.serial.rawValue, counter: f.record.counter)
            let shadow = try store.loadState().cards[identity.serial] ?? CardShadow()
            guard shadow.hasSeen(counter: identity.counter, offline: false) == false else {
                throw ServiceError("\(ref): the load with online counter \(identity.counter) of card \(f.record.serial.masked) was cleared, or is too old to tell: accepting it would credit it twice; reject it")
            }
            load = identity
        }
        if accept {
            let t = try adjustmentTransfer(f, city: city)
            let target = try store.nextOpenDay(from: day)
            decision.adjustmentDay = target.description
            decision.adjustmentFen = t.amountFen
            adjustment = t
        }
        // The same decision again returns the first one; nothing is posted twice.
        return .refusal(try store.decide(decision, adjustment: adjustment, fare: accept ? fare : nil, load: load))
    }

    /// The adjustment an accepted refused record posts: a fare (or grey fare) suspense →
    /// operator payable; a load agent cash → suspense. Purses are not touched: the shadow
    /// mirrors cleared records only, and suspense carries the difference (docs/settlement.md).
    public static func adjustmentTransfer(_ f: Refusal, city: City) throws(ServiceError) -> Transfer {
        let r = f.record
        guard f.code != .duplicate else { throw ServiceError("\(f.ref) is a duplicate (03): the original was already cleared and paid; reject it instead") }
        guard r.amountFen > 0 else { throw ServiceError("\(f.ref) moves 0 fen: nothing to adjust; reject it instead") }
        let (debit, credit): (AccountID, AccountID)
        switch r.kind {
        case .purchase, .grey:
            guard let op = city.terminals[r.terminal]?.operatorID else {
                throw ServiceError("\(f.ref): terminal \(r.terminal) is not in the city file, so no operator can be paid; reject it instead")
            }
            (debit, credit) = (.suspense, .operatorPayable(op.rawValue))
        case .load:
            (debit, credit) = (.agentCash(r.terminal), .suspense)
        case .issue, .refund, .replacement:
            throw ServiceError("\(f.ref) is a \(r.kind): only refused fares and loads can be accepted as adjustments")
        }
        let id = TransferID.make(serial: f.ref.terminal.rawValue | UInt64(f.ref.index & 0xFFFF) << 48, kind: 0xAD,
                                 counter: f.ref.batch, leg: UInt8(truncatingIfNeeded: f.ref.index >> 16))
        return Transfer(id: id, debit: debit, credit: credit, amountFen: Int64(r.amountFen), reason: .adjustment, source: f.ref, dateTimeBCD: r.dateTimeBCD)
    }
}
