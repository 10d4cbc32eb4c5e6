import City
import Dispatch
import OneCardCore
import OneCardCrypto
import UploadBatch

/// One ingest run's work over the fresh batches: sort, verify, post.
struct Posting {
    /// A record's place in the run, sorted by card then time.
    struct Item {
        var serial: UInt64
        /// Seconds since 1970 in the high half, upload ordinal in the low half.
        var order: UInt64
        var batch: UInt32
        var index: UInt32
    }

    let engine: ClearingEngine
    let input: [IncomingBatch]
    var result: RunResult
    /// The input batch of the record being posted.
    var current = 0

    init(engine: ClearingEngine, input: [IncomingBatch], result: RunResult) {
        self.engine = engine
        self.input = input
        self.result = result
    }

    mutating func run(_ fresh: [Int]) {
        var items: [Item] = []
        items.reserveCapacity(fresh.reduce(0) { $0 + input[$1].batch.records.count })
        var ordinal: UInt64 = 0
        for b in fresh {
            let day = ClearingTime.day(ClearingTime.seconds(bcd: input[b].batch.header.createdBCD))
            engine.state.newestDay = max(engine.state.newestDay, day)
            for (i, r) in input[b].batch.records.enumerated() {
                let seconds = ClearingTime.seconds(bcd: r.dateTimeBCD)
                items.append(Item(serial: r.serial.rawValue, order: UInt64(seconds) << 32 | ordinal, batch: UInt32(b), index: UInt32(i)))
                ordinal += 1
            }
        }
        // Per card, in time order (ties in upload order): the card's own history.
        items.sort { $0.serial != $1.serial ? $0.serial < $1.serial : $0.order < $1.order }
        let codes = verify(items)
        var n = 0
        while n < items.count {
            // One shadow lookup per card, however many records it has in the run.
            let serial = items[n].serial
            var shadow = engine.state.cards[serial] ?? CardShadow()
            let before = shadow
            while n < items.count, items[n].serial == serial {
                let item = items[n]
                let batch = input[Int(item.batch)].batch
                let r = batch.records[Int(item.index)]
                let ref = RecordRef(terminal: batch.header.terminal, batch: batch.header.sequence, index: item.index)
                let code = codes[n] == 0
                    ? post(r, &shadow, seconds: UInt32(truncatingIfNeeded: item.order >> 32), ref: ref, batch: Int(item.batch))
                    : RefusalCode.allCases[Int(codes[n]) - 1]
                tally(Int(item.batch), r, code, ref)
                if let code { result.refusals.append(Refusal(ref: ref, code: code, record: r)) }
                n += 1
            }
            if shadow != before {
                engine.state.cards[serial] = shadow
                result.touchedCards.insert(serial)
            }
        }
    }

    /// The stateless checks of every item on both cores, one TAC key derivation per card:
    /// 0 = passed, else 1 + the index of the ``RefusalCode``.
    func verify(_ items: [Item]) -> [UInt8] {
        var codes = [UInt8](repeating: 0, count: items.count)
        // Split at a card boundary so that each card's key is derived on one core only.
        var split = items.count / 2
        while split > 0, split < items.count, items[split].serial == items[split - 1].serial { split += 1 }
        let ranges = [0..<split, split..<items.count]
        codes.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            nonisolated(unsafe) let me = self
            DispatchQueue.concurrentPerform(iterations: ranges.count) { i in
                me.verify(items, ranges[i], into: out)
            }
        }
        return codes
    }

    private func verify(_ items: [Item], _ range: Range<Int>, into codes: UnsafeMutableBufferPointer<UInt8>) {
        var keySerial: UInt64? = nil
        var key = DESKey(rawValue: 0)
        let master = engine.config.tacMaster
        for n in range {
            let item = items[n]
            let batch = input[Int(item.batch)].batch
            let r = batch.records[Int(item.index)]
            if keySerial != item.serial {
                key = TripleDESPurse.tacKey(tacMaster: master, serial: r.serial)
                keySerial = item.serial
            }
            let t = engine.terminals[batch.header.terminal.rawValue]
            let terminalOK = t?.operatorID == batch.header.operatorID && r.terminal == batch.header.terminal
            let code = engine.verifier.check(
                r, seconds: UInt32(truncatingIfNeeded: item.order >> 32),
                uploadDay: ClearingTime.day(ClearingTime.seconds(bcd: batch.header.createdBCD)),
                terminalOK: terminalOK, operatorKind: t?.kind, tacKey: key, hotlistedAt: engine.state.hotlist[item.serial])
            codes[n] = code.map { c in UInt8(RefusalCode.allCases.firstIndex(of: c)! + 1) } ?? 0
        }
    }

    mutating func tally(_ batch: Int, _ r: BatchRecord, _ code: RefusalCode?, _ ref: RecordRef) {
        if let code {
            result.outcomes[batch].refused[code.rawValue, default: 0] += 1
        } else {
            Packing.appendAccepted(ref, kind: r.kind, amountFen: r.amountFen, to: &result.accepted)
            Packing.append(AcceptedDetail(ref: ref, record: r, operatorID: input[batch].batch.header.operatorID), to: &result.details)
            result.outcomes[batch].accepted += 1
            result.outcomes[batch].acceptedAmountFen += Int64(r.amountFen)
        }
    }

    // MARK: Posting

    /// Posts one verified record; returns `.duplicate` if the ledger already has it.
    mutating func post(_ r: BatchRecord, _ shadow: inout CardShadow, seconds: UInt32, ref: RecordRef, batch: Int) -> RefusalCode? {
        current = batch
        switch r.kind {
        case .purchase, .load:
            let offline = r.kind == .purchase
            guard advanceCounter(&shadow, r, offline: offline, seconds: seconds) else { return .duplicate }
            checkChain(&shadow, r, seconds: seconds, ref: ref)
            if offline { postPurchase(&shadow, r, ref) } else { postLoad(&shadow, r, ref) }
        case .issue:
            guard shadow.flags & CardShadow.Flags.issued == 0 else { return .duplicate }
            shadow.flags |= CardShadow.Flags.issued
            transfer(r, leg: 0, from: .agentCash(r.terminal), to: .deposits, Int64(r.depositFen), .deposit, ref)
        case .refund:
            guard shadow.flags & CardShadow.Flags.refunded == 0 else { return .duplicate }
            shadow.flags |= CardShadow.Flags.refunded
            payOut(&shadow, r, amountFen: r.amountFen, to: .agentCash(r.terminal), reason: .refundBalance, ref)
            transfer(r, leg: 1, from: .deposits, to: .agentCash(r.terminal), Int64(r.depositFen), .refundDeposit, ref)
        case .replacement:
            guard shadow.flags & CardShadow.Flags.replaced == 0 else { return .duplicate }
            shadow.flags |= CardShadow.Flags.replaced
            payOut(&shadow, r, amountFen: r.amountFen, to: .purse(r.relatedSerial), reason: .replacement, ref)
            credit(newCard: r.relatedSerial, amountFen: r.amountFen, r, ref)
        case .grey:
            preconditionFailure("grey records are refused by the verifier")
        }
        return nil
    }

    /// Moves the counter of `r`'s kind; `false` for a duplicate.
    mutating func advanceCounter(_ s: inout CardShadow, _ r: BatchRecord, offline: Bool, seconds: UInt32) -> Bool {
        let c = r.counter
        var next = offline ? s.nextOffline : s.nextOnline
        if c < next || (c == next && c == UInt16.max && s.flags & (offline ? CardShadow.Flags.seenOffline : CardShadow.Flags.seenOnline) != 0) {
            guard let i = engine.state.gaps[r.serial.rawValue]?.firstIndex(where: { $0.offline == offline && $0.counter == c }) else {
                return false
            }
            engine.state.gaps[r.serial.rawValue]?.remove(at: i)
            if engine.state.gaps[r.serial.rawValue]?.isEmpty == true {
                engine.state.gaps[r.serial.rawValue] = nil
                s.flags &= ~CardShadow.Flags.hasGaps
            }
            return true
        }
        if c > next { openGaps(&s, r, offline: offline, from: next, to: c, seconds: seconds) }
        next = c &+ 1
        if offline {
            s.nextOffline = next
            s.flags |= CardShadow.Flags.seenOffline
        } else {
            s.nextOnline = next
            s.flags |= CardShadow.Flags.seenOnline
        }
        return true
    }

    mutating func openGaps(_ s: inout CardShadow, _ r: BatchRecord, offline: Bool, from: UInt16, to: UInt16, seconds: UInt32) {
        let count = Int(to) - Int(from)
        let held = engine.state.gaps[r.serial.rawValue]?.count ?? 0
        guard held + count <= ClearingEngine.gapsPerCardMax else {
            exception(.counterGap, r, "\(offline ? "offline" : "online") counter jumped from \(from) to \(to): more than \(ClearingEngine.gapsPerCardMax) records missing", leg: 2)
            return
        }
        let day = engine.state.newestDay
        for c in from..<to {
            engine.state.gaps[r.serial.rawValue, default: []].append(CounterGap(serial: r.serial, offline: offline, counter: c, seenDay: day))
        }
        s.flags |= CardShadow.Flags.hasGaps
    }

    /// The card's own balance chain: a record after the newest one must start from its balance.
    mutating func checkChain(_ s: inout CardShadow, _ r: BatchRecord, seconds: UInt32, ref: RecordRef) {
        guard seconds >= s.lastSeconds else { return }
        let seenBefore = s.flags & (CardShadow.Flags.seenOffline | CardShadow.Flags.seenOnline) != 0 && s.lastSeconds != 0
        if seenBefore, s.flags & CardShadow.Flags.hasGaps == 0, r.balanceBeforeFen != s.lastBalanceAfterFen {
            exception(.balanceMismatch, r, "balance before \(Fen.yuan(Int64(r.balanceBeforeFen))) yuan, but the card's previous transaction left \(Fen.yuan(Int64(s.lastBalanceAfterFen))) yuan", leg: 0, ref: ref)
        }
        s.lastSeconds = seconds
        s.lastBalanceAfterFen = r.balanceAfterFen
    }

    mutating func postPurchase(_ s: inout CardShadow, _ r: BatchRecord, _ ref: RecordRef) {
        let payable = AccountID.operatorPayable(input[current].batch.header.operatorID)
        if s.balanceFen >= r.amountFen {
            s.balanceFen -= r.amountFen
            transfer(r, leg: 0, from: .purse(r.serial), to: payable, Int64(r.amountFen), .purchase, ref)
        } else {
            // The load that funds this fare has not been cleared yet: pay the operator from
            // suspense and recover it from the purse when the load arrives.
            s.arrearsFen += r.amountFen
            transfer(r, leg: 0, from: .suspense, to: payable, Int64(r.amountFen), .purchase, ref)
        }
    }

    mutating func postLoad(_ s: inout CardShadow, _ r: BatchRecord, _ ref: RecordRef) {
        s.balanceFen += r.amountFen
        transfer(r, leg: 0, from: .agentCash(r.terminal), to: .purse(r.serial), Int64(r.amountFen), .load, ref)
        recoverArrears(&s, r, ref)
    }

    mutating func recoverArrears(_ s: inout CardShadow, _ r: BatchRecord, _ ref: RecordRef) {
        let x = min(s.arrearsFen, s.balanceFen)
        guard x > 0 else { return }
        s.arrearsFen -= x
        s.balanceFen -= x
        transfer(r, leg: 3, from: .purse(r.serial), to: .suspense, Int64(x), .arrears, ref)
    }

    /// Pays `amountFen` out of the card's purse, from suspense for what the purse lacks.
    mutating func payOut(_ s: inout CardShadow, _ r: BatchRecord, amountFen: UInt32, to: AccountID, reason: TransferReason, _ ref: RecordRef) {
        let fromPurse = min(s.balanceFen, amountFen)
        s.balanceFen -= fromPurse
        transfer(r, leg: 0, from: .purse(r.serial), to: to, Int64(fromPurse), reason, ref)
        if fromPurse < amountFen {
            exception(.balanceMismatch, r, "\(r.kind) of \(Fen.yuan(Int64(amountFen))) yuan but the ledger holds \(Fen.yuan(Int64(fromPurse))) yuan for the card", leg: 1, ref: ref)
            s.arrearsFen += amountFen - fromPurse
            transfer(r, leg: 2, from: .suspense, to: to, Int64(amountFen - fromPurse), reason, ref)
        }
    }

    /// Credits a replacement's balance to the new card, whose online counter the moving load used.
    mutating func credit(newCard: CardSerial, amountFen: UInt32, _ r: BatchRecord, _ ref: RecordRef) {
        var n = engine.state.cards[newCard.rawValue] ?? CardShadow()
        n.balanceFen += amountFen
        if amountFen > 0 {
            n.nextOnline = max(n.nextOnline, r.counter &+ 1)
            n.flags |= CardShadow.Flags.seenOnline
            let seconds = ClearingTime.seconds(bcd: r.dateTimeBCD)
            if seconds >= n.lastSeconds {
                n.lastSeconds = seconds
                n.lastBalanceAfterFen = r.balanceAfterFen
            }
        }
        var asLoad = r
        asLoad.serial = newCard
        recoverArrears(&n, asLoad, ref)
        engine.state.cards[newCard.rawValue] = n
        result.touchedCards.insert(newCard.rawValue)
    }

    mutating func transfer(_ r: BatchRecord, leg: UInt8, from: AccountID, to: AccountID, _ amountFen: Int64, _ reason: TransferReason, _ ref: RecordRef) {
        guard amountFen > 0 else { return }
        let counter = r.kind == .purchase || r.kind == .load ? UInt32(r.counter) : 0
        let t = Transfer(
            id: TransferID.make(serial: r.serial.rawValue, kind: r.kind.rawValue, counter: counter, leg: leg),
            debit: from, credit: to, amountFen: amountFen, reason: reason, source: ref, dateTimeBCD: r.dateTimeBCD)
        result.transfers.append(t)
        // A purse's net is its shadow balance; only the other accounts are summed here.
        if from.kind != .purse { engine.state.accountNetFen[from, default: 0] -= amountFen }
        if to.kind != .purse { engine.state.accountNetFen[to, default: 0] += amountFen }
    }

    mutating func exception(_ kind: ClearingException.Kind, _ r: BatchRecord, _ detail: String, leg: UInt8, ref: RecordRef? = nil) {
        let counter = UInt32(r.counter) | UInt32(r.kind.rawValue) << 16
        result.exceptions.append(ClearingException(
            id: TransferID.make(serial: r.serial.rawValue, kind: 0xE0, counter: counter, leg: leg),
            kind: kind, card: r.serial.description, detail: detail, record: ref?.description,
            opened: BCDDate(daysSinceEpoch: engine.state.newestDay).description))
        result.outcomes[current].exceptions += 1
    }
}
