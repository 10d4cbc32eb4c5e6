public import Clearing
import OneCardCore
import UploadBatch
public import Storage

/// `onecard clearing check`: the ledger's invariants over everything stored (docs/architecture.md),
/// one run at a time: each run's transfers against the records it accepted, the settlement
/// postings and officers' adjustments, and the card shadows at the end.
public enum LedgerCheck {
    /// Runs the audit over a clearing store.
    ///
    /// - Throws: ``ServiceError`` for a corrupt page, or the store's error.
    public static func run(_ store: ClearingStore) throws -> LedgerAudit {
        var audit = LedgerAudit()
        // Settlement postings and officers' adjustments live outside the run pages: first, so
        // that each run's records are checked against the adjustments as it closes.
        audit.add(try store.settlementTransfers())
        for run in try store.runNumbers() {
            try store.forEachPage("transfers", runs: [run]) { page in
                guard let t = Packing.transfers(page) else { throw ServiceError("a transfer page of \(store.path) (run \(run)) is corrupt") }
                audit.add(t)
            }
            var accepted: [(ref: RecordRef, kind: RecordKind, amountFen: UInt32)] = []
            try store.forEachPage("details", runs: [run]) { page in
                guard let a = Packing.acceptedRefs(page) else { throw ServiceError("a detail page of \(store.path) (run \(run)) is corrupt") }
                accepted += a
            }
            audit.closeRun(accepted: accepted)
        }
        let adjusted = Set(try store.decisions().filter { $0.status == "accepted" }.compactMap { RecordRef($0.record) })
        audit.finish(shadows: try store.loadState().cards, adjusted: adjusted)
        return audit
    }
}
