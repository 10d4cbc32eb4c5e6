/// Counts one worker makes while writing; merged in terminal order at the end.
struct Tally: Sendable {
    var batches = 0
    var records = 0
    var accepted = 0
    var acceptedAmountFen: Int64 = 0
    /// Indexed by refusal code (`01` → 1).
    var refused = [Int](repeating: 0, count: 8)
    /// Accepted count and amount per terminal index.
    var terminalAccepted: [Int]
    var terminalAmountFen: [Int64]
    var purchases = 0, purchasesFen: Int64 = 0, purchasesAccepted = 0, purchasesAcceptedFen: Int64 = 0
    var loads = 0, loadsFen: Int64 = 0, loadsAccepted = 0, loadsAcceptedFen: Int64 = 0
    var grey = 0
    var forged = 0, duplicates = 0, expired = 0
    var gaps: [GroundTruth.Gap] = []
    var truncated: [GroundTruth.TruncatedFile] = []

    init(terminals: Int) {
        terminalAccepted = [Int](repeating: 0, count: terminals)
        terminalAmountFen = [Int64](repeating: 0, count: terminals)
    }

    /// Adds another worker's counts.
    mutating func merge(_ o: Tally) {
        batches += o.batches
        records += o.records
        accepted += o.accepted
        acceptedAmountFen += o.acceptedAmountFen
        for i in refused.indices { refused[i] += o.refused[i] }
        for i in terminalAccepted.indices {
            terminalAccepted[i] += o.terminalAccepted[i]
            terminalAmountFen[i] += o.terminalAmountFen[i]
        }
        purchases += o.purchases; purchasesFen += o.purchasesFen
        purchasesAccepted += o.purchasesAccepted; purchasesAcceptedFen += o.purchasesAcceptedFen
        loads += o.loads; loadsFen += o.loadsFen; loadsAccepted += o.loadsAccepted; loadsAcceptedFen += o.loadsAcceptedFen
        grey += o.grey
        forged += o.forged; duplicates += o.duplicates; expired += o.expired
        gaps += o.gaps
        truncated += o.truncated
    }

    /// Counts one record written to a complete file, with what clearing must do with it.
    @inline(__always)
    mutating func count(kind: UInt8, amountFen: UInt32, terminal: Int, refusal: Int?) {
        records += 1
        let amount = Int64(amountFen)
        let isLoad = kind == 0x02
        if kind == 0x01 { purchases += 1; purchasesFen += amount }
        if isLoad { loads += 1; loadsFen += amount }
        if kind == 0x06 { grey += 1 }
        if let refusal {
            refused[refusal] += 1
            return
        }
        accepted += 1
        acceptedAmountFen += amount
        terminalAccepted[terminal] += 1
        terminalAmountFen[terminal] += amount
        if isLoad { loadsAccepted += 1; loadsAcceptedFen += amount } else { purchasesAccepted += 1; purchasesAcceptedFen += amount }
    }
}
