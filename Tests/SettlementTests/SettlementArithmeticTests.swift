import City
import Clearing
import OneCardCore
import OneCardTestSupport
import Settlement
import Testing
import UploadBatch

@Suite("a hand-computed day settles to the fen")
struct SettlementArithmeticTests {
    @Test("commission is the operator's rate applied once to the day's gross, half-up to the fen")
    func commissionRounding() {
        let bp150 = BasisPoints(rawValue: 150)!
        #expect(bp150.portion(ofFen: 1234) == 19)      // 18.51 → 19
        #expect(BasisPoints(rawValue: 100)!.portion(ofFen: 550) == 6)   // 5.5 → 6 (half goes up)
        #expect(BasisPoints(rawValue: 50)!.portion(ofFen: 899) == 4)    // 4.495 → 4
        // Once per day, not per fare: 1000 and 234 separately would round to 15 + 4 = 19 here,
        // but 3 × 100 fen at 150 bp is 4.5 → 5 for the day, against 3 × (1.5 → 2) = 6 per fare.
        #expect(bp150.portion(ofFen: 300) == 5)
    }

    @Test("per operator: count, gross, commission, net payable; per agent: loads owed to the issuer")
    func handDay() {
        let (s, _) = HandDay().settleInMemory()
        let ops = Dictionary(uniqueKeysWithValues: s.summary.operators.map { ($0.operatorID, $0) })
        #expect(ops[2].map { [$0.transactions, Int($0.grossFen), Int($0.commissionFen), Int($0.netPayableFen)] } == [2, 1234, 19, 1215])
        #expect(ops[3].map { [$0.transactions, Int($0.grossFen), Int($0.commissionFen), Int($0.netPayableFen)] } == [2, 550, 6, 544])
        #expect(ops[4].map { [$0.transactions, Int($0.grossFen), Int($0.commissionFen), Int($0.netPayableFen)] } == [1, 1325, 27, 1298])
        #expect(ops[5].map { [$0.transactions, Int($0.grossFen), Int($0.commissionFen), Int($0.netPayableFen)] } == [1, 899, 4, 895])
        #expect(s.summary.agents.count == 1)
        #expect(s.summary.agents.first.map { [$0.loads, Int($0.loadsFen), Int($0.owedToIssuerFen)] } == [2, 8000, 8000])
        #expect(s.summary.totals.grossFen == 4008 && s.summary.totals.commissionFen == 56 && s.summary.totals.netPayableFen == 3952)
        #expect(s.summary.issuer == IssuerPosition(floatChangeFen: 3992, commissionFen: 56, positionFen: 4048))
        #expect(s.summary.refusalsByCode["01"] == 1 && s.summary.totals.refusedRecords == 1)
        #expect(s.summary.tapsByHour[8] == 2 && s.summary.tapsByHour[9] == 1 && s.summary.tapsByHour[17] == 1)
        #expect(s.summary.tapsByHour.reduce(0, +) == 6)
    }

    @Test("positions sum to zero: operators receive, agents pay, the issuer keeps float change and commission")
    func sumToZero() {
        let (s, _) = HandDay().settleInMemory()
        #expect(s.summary.positions.reduce(Int64(0)) { $0 + $1.positionFen } == 0)
        #expect(s.summary.positions.count == 4 + 1 + 1)
        #expect(s.summary.positions.first { $0.role == "agent" }?.positionFen == -8000)
    }

    @Test("the postings bring every operator payable and agent cash account of the day to zero and balance the ledger")
    func postingsZeroTheDay() {
        let (s, r) = HandDay().settleInMemory()
        var net: [AccountID: Int64] = [:]
        for t in r.transfers + s.transfers {
            net[t.debit, default: 0] -= t.amountFen
            net[t.credit, default: 0] += t.amountFen
        }
        for (account, fen) in net where account.kind == .operatorPayable || account.kind == .agentCash {
            #expect(fen == 0, "\(account) nets \(fen) fen after settlement")
        }
        #expect(net[.feeIncome] == 56)
        #expect(net[.bank] == 3952 - 8000)
        #expect(net.values.reduce(0, +) == 0)
        #expect(s.transfers.count == 4 * 2 + 1)
        #expect(Set(s.transfers.map(\.id)).count == s.transfers.count)
        #expect(s.transfers.allSatisfy { $0.source.isSettlement })
    }

    @Test("settling the same day twice gives the same transfer ids and the same bytes")
    func deterministic() {
        let (a, _) = HandDay().settleInMemory()
        let (b, _) = HandDay().settleInMemory()
        #expect(a.transfers == b.transfers)
        #expect(SettlementFiles.summaryJSON(a.summary) == SettlementFiles.summaryJSON(b.summary))
        #expect(SettlementReport.html(a.summary) == SettlementReport.html(b.summary))
        #expect(SettlementFiles.positions(a.summary) == SettlementFiles.positions(b.summary))
    }

    @Test("the ledger audit accepts settlement postings but refuses a settlement reason on an upload record")
    func auditRules() {
        let (s, r) = HandDay().settleInMemory()
        var audit = LedgerAudit()
        audit.add(r.transfers)
        audit.add(s.transfers)
        let state = { () -> CardTable in
            let e = Day.engine()
            _ = e.run(HandDay().batches)
            return e.state.cards
        }()
        audit.finish(accepted: Packing.acceptedRefs(r.details) ?? [], shadows: state)
        #expect(audit.holds, "\(audit.violations)")
        var forged = LedgerAudit()
        var bad = s.transfers[0]
        bad.source = r.transfers[0].source
        bad.id = 42
        forged.add(r.transfers + [bad])
        forged.finish(accepted: Packing.acceptedRefs(r.details) ?? [], shadows: state)
        #expect(!forged.holds)
        var adjusted = LedgerAudit()
        let adj = Transfer(id: 7, debit: .suspense, credit: .operatorPayable(2), amountFen: 150, reason: .adjustment, source: HandDay().forgedRef, dateTimeBCD: 0)
        adjusted.add(r.transfers + [adj])
        adjusted.finish(accepted: Packing.acceptedRefs(r.details) ?? [], shadows: state)
        #expect(!adjusted.holds, "an adjustment no officer accepted must be a violation")
    }
}

@Suite("a statement reconciles per terminal")
struct ReconcilerTests {
    @Test("matching, mismatching and missing terminals in both directions")
    func compare() throws {
        let statement = try Reconciler.parse("""
            terminal,count,amount_fen
            710002000501,2,1234
            710003010101,2,560
            710002000502,3,600
            """, file: "s.csv")
        let cleared: [TerminalID: (count: Int, amountFen: Int64)] = [Day.bus: (2, 1234), Day.metro: (2, 550), taxi: (1, 1325)]
        let r = Reconciler.compare(day: "2026-11-29", statement: statement, cleared: cleared) { Day.city.terminals[$0]?.operatorID.rawValue }
        #expect(r.matched.map(\.terminal) == ["710002000501"])
        #expect(r.mismatched.map { [$0.statementAmountFen, $0.clearedAmountFen] } == [[560, 550]])
        #expect(r.missingInClearing.map(\.terminal) == ["710002000502"])
        #expect(r.missingInStatement.isEmpty, "taxi is not an operator of this statement")
        #expect(!r.agrees)
    }

    @Test("a statement without the header or with a bad line is refused with the line number")
    func malformed() {
        #expect(throws: StatementError.self) { try Reconciler.parse("710002000501,2,1234\n", file: "s.csv") }
        #expect(throws: StatementError(description: "s.csv line 3: expected TERMINAL(12 hex),COUNT,AMOUNT_FEN, got \"xyz,1,2\"")) {
            try Reconciler.parse("terminal,count,amount_fen\n710002000501,2,1234\nxyz,1,2\n", file: "s.csv")
        }
    }
}

@Suite("a clearing-file row is exactly the documented CSV")
struct ClearingRowTests {
    /// The row as docs/formats.md describes it, built with ordinary string formatting.
    func expected(_ d: AcceptedDetail) -> String {
        func hex(_ v: UInt64, _ digits: Int) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: digits - s.count) + s
        }
        let t = hex(d.dateTimeBCD, 14)
        let time = "\(t.prefix(4))-\(t.dropFirst(4).prefix(2))-\(t.dropFirst(6).prefix(2))T\(t.dropFirst(8).prefix(2)):\(t.dropFirst(10).prefix(2)):\(t.dropFirst(12).prefix(2))"
        let terminal = hex(d.ref.terminal.rawValue, 12)
        return "\(terminal)/\(d.ref.batch)#\(d.ref.index),purchase,\(hex(d.serial.rawValue, 16)),\(time),\(terminal),\(d.counter),\(d.amountFen),\(hex(UInt64(d.tac), 8))\n"
    }

    @Test("every width of every number, from 0 to the largest value of its field")
    func edgeValues() throws {
        let numbers: [UInt32] = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65_535, 99_999, 100_000, 1_000_000_000, 4_294_967_295]
        let terminals: [UInt64] = [1, 0x0000_0000_00AB, 0x1234_5678_9ABC, 0xFFFF_FFFF_FFFF]
        for (i, n) in numbers.enumerated() {
            let terminal = try #require(TerminalID(rawValue: terminals[i % terminals.count]))
            let d = AcceptedDetail(
                ref: RecordRef(terminal: terminal, batch: n, index: numbers[numbers.count - 1 - i]), kind: .purchase,
                serial: CardSerial(rawValue: 0x3100_0000_0000_0000 | UInt64(n)), counter: UInt16(truncatingIfNeeded: n),
                amountFen: n, depositFen: 0, dateTimeBCD: 0x2026_0302_2359_59, tac: n ^ 0xA5A5_A5A5, operatorID: 2)
            var out: [UInt8] = []
            SettlementFiles.appendClearingRow(d, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == expected(d))
        }
    }
}
