public import Clearing
import City
import OneCardCore

/// A computed settlement: the summary and the transfers it posts.
public struct Settlement: Sendable {
    /// The `summary.json` document.
    public var summary: SettlementSummary
    /// The settlement's own transfers: operator payable → fee income (commission), operator
    /// payable → bank (net), bank ↔ agent cash (remittance), sources
    /// ``RecordRef/settlement(day:index:)``, ids deterministic in (day, account, reason).
    public var transfers: [Transfer]
}

extension SettlementBuilder {
    /// Settles the day: commissions, nets, positions and postings.
    ///
    /// - Parameters:
    ///   - runs: the ingest runs of the day (listed in the summary).
    ///   - closed: whether the day is (being) closed.
    ///   - exceptions: the lines to show (exceptions of the day's runs, decisions landing in it).
    /// - Precondition: the positions sum to zero (records and transfers agree).
    public func finish(runs: [Int64], closed: Bool, exceptions: [ExceptionLine]) -> Settlement {
        var ops = operators.keys.sorted().compactMap { operators[$0] }
        for i in ops.indices {
            let base = ops[i].grossFen + ops[i].adjustmentFen
            let rate = BasisPoints(rawValue: ops[i].commissionBasisPoints) ?? .zero
            ops[i].commissionFen = rate.portion(ofFen: base)
            ops[i].netPayableFen = base - ops[i].commissionFen
            precondition(ops[i].netPayableFen >= 0, "operator \(ops[i].operatorID) net \(ops[i].netPayableFen) fen")
        }
        var ags = agents.keys.sorted().compactMap { agents[$0] }
        for i in ags.indices {
            let a = ags[i]
            ags[i].owedToIssuerFen = a.loadsFen + a.depositsTakenFen + a.adjustmentFen - a.balancesRefundedFen - a.depositsRefundedFen
        }
        let commission = ops.reduce(Int64(0)) { $0 + $1.commissionFen }
        let issuer = IssuerPosition(floatChangeFen: floatChangeFen, commissionFen: commission, positionFen: floatChangeFen + commission)
        var positions = ops.map { Position(participant: "operator:\($0.operatorID)", role: "operator", name: $0.name, positionFen: $0.netPayableFen) }
        positions += ags.map { Position(participant: "agent:\($0.terminal)", role: "agent", name: $0.name, positionFen: -$0.owedToIssuerFen) }
        positions.append(Position(participant: "issuer", role: "issuer", name: "issuer (float and commission)", positionFen: issuer.positionFen))
        let sum = positions.reduce(Int64(0)) { $0 + $1.positionFen }
        precondition(sum == 0, "settlement of \(day): positions sum to \(sum) fen, not zero (records and transfers disagree)")
        let transfers = postings(ops, ags)
        let totals = SettlementTotals(
            acceptedRecords: accepted, refusedRecords: refused, transactions: ops.reduce(0) { $0 + $1.transactions },
            grossFen: ops.reduce(0) { $0 + $1.grossFen + $1.adjustmentFen }, commissionFen: commission,
            netPayableFen: ops.reduce(0) { $0 + $1.netPayableFen }, owedByAgentsFen: ags.reduce(0) { $0 + $1.owedToIssuerFen },
            adjustments: adjustments)
        let summary = SettlementSummary(
            day: day.description, cutoff: city.settlement.cutoff.description, closed: closed, runs: runs, totals: totals,
            operators: ops, agents: ags, issuer: issuer, positions: positions, tapsByHour: tapsByHour, refusalsByCode: refusalsByCode,
            exceptions: exceptions,
            postings: transfers.map {
                PostingLine(id: String($0.id), debit: $0.debit.description, credit: $0.credit.description, amountFen: $0.amountFen, reason: $0.reason.description)
            })
        return Settlement(summary: summary, transfers: transfers)
    }

    /// The postings that bring every settled operator payable and agent cash account of the
    /// day back to zero.
    func postings(_ ops: [OperatorSettlement], _ ags: [AgentSettlement]) -> [Transfer] {
        let dayNumber = day.daysSinceEpoch
        let at = BCDClock.pack(day.adding(days: 1), city.settlement.cutoff)
        var out: [Transfer] = []
        var index: UInt32 = 0
        func post(_ from: AccountID, _ to: AccountID, _ fen: Int64, _ reason: TransferReason, account: AccountID) {
            guard fen > 0 else { return }
            let id = TransferID.make(
                serial: UInt64(dayNumber) << 48 ^ account.number, kind: 0xC0 | reason.rawValue, counter: 0, leg: account.kind.rawValue)
            out.append(Transfer(id: id, debit: from, credit: to, amountFen: fen, reason: reason,
                                source: .settlement(day: dayNumber, index: index), dateTimeBCD: at))
        }
        for o in ops {
            index += 1
            let payable = AccountID.operatorPayable(o.operatorID)
            post(payable, .feeIncome, o.commissionFen, .commission, account: payable)
            post(payable, .bank, o.netPayableFen, .settlementPayment, account: payable)
        }
        for a in ags {
            index += 1
            guard let t = TerminalID(hex: a.terminal) else { continue }
            let cash = AccountID.agentCash(t)
            // Agent cash is debited by loads and deposits: the agent's remittance credits it back.
            if a.owedToIssuerFen > 0 { post(.bank, cash, a.owedToIssuerFen, .agentRemittance, account: cash) }
            if a.owedToIssuerFen < 0 { post(cash, .bank, -a.owedToIssuerFen, .agentRemittance, account: cash) }
        }
        return out
    }
}
