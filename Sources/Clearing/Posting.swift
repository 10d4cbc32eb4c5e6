import City
import OneCardCore
import OneCardCrypto
import UploadBatch

/// One ingest run's posting of its staged records (``StagedRun``): card by card, in time order,
/// against the ledger state.
struct Posting {
    /// A record's place in the run, sorted by card then time.
    struct Item: Sendable {
        var serial: UInt64
        /// Seconds since 1970 in the high half, upload ordinal (the index into ``records``) in
        /// the low half.
        var order: UInt64

        var seconds: UInt32 { UInt32(truncatingIfNeeded: order >> 32) }
        var ordinal: Int { Int(order & 0xFFFF_FFFF) }
    }

    /// What the checks need of a record's batch, computed once per batch.
    struct BatchInfo: Sendable {
        var input: Int
        var terminal: TerminalID
        var sequence: UInt32
        var operatorID: UInt16
        /// The day the centre received the batch (days since 1970).
        var receivedDay: Int
        var terminalKnown: Bool
        var kind: OperatorKind?
    }

    /// The engine's state, moved out of the engine while the run posts (``ClearingEngine``
    /// puts it back): a struct the posting owns is changed in place without the runtime's
    /// exclusivity checks that every access to a class's property costs.
    var state: ClearingState
    /// The run's records, sorted and checked.
    let staged: StagedRun
    let input: [IncomingBatch]
    var result: RunResult
    /// The input batch of the record being posted, and its header's operator and terminal.
    var current = -1
    var currentOperator: UInt16 = 0
    var currentTerminal: UInt64 = 0
    /// Net movements of each input batch's operator payable and terminal cash (by input index),
    /// folded into the account nets at the end of the run.
    var batchPayableFen: [Int64]
    var batchCashFen: [Int64]
    /// Which upload ordinals were accepted (their details are staged, ``StagedRun/details``).
    var acceptedSlots: [Bool] = []
    /// The run's new transfers and changed shadows, packed as they are posted.
    var transferRows = Packing.Rows(rowBytes: Packing.transferBytes, capacity: 0)
    var shadowRows = Packing.Rows(rowBytes: Packing.shadowBytes, capacity: 0)
    /// The upload ordinal of each refusal.
    var refusalSlots: [Int] = []
    /// Whether posting the current card credited another card (a replacement).
    var creditedOtherCard = false
    /// The fare pages noted in ``RunResult/touchedFarePages`` lately (``touchFarePage(_:)``):
    /// 4096 slots; no terminal is `UInt64.max`, which marks an empty slot.
    var notedFareTerminals = [UInt64](repeating: .max, count: 4096)
    var notedFarePages = [UInt32](repeating: 0, count: 4096)

    init(state: ClearingState, staged: StagedRun, result: RunResult) {
        self.state = state
        self.staged = staged
        self.input = staged.input
        self.result = result
        batchPayableFen = [Int64](repeating: 0, count: staged.input.count)
        batchCashFen = batchPayableFen
    }

    /// Posts the staged records card by card, in time order.
    mutating func run() {
        let total = staged.starts.last ?? 0
        // Grown once: doubling these arrays would copy and page-fault them again and again.
        transferRows = Packing.Rows(rowBytes: Packing.transferBytes, capacity: total + total / 8)
        shadowRows = Packing.Rows(rowBytes: Packing.shadowBytes, capacity: staged.cards)
        acceptedSlots = [Bool](repeating: false, count: total)
        let items = staged.items
        let places = staged.places
        let hotlist = state.hotlist
        var n = 0
        // The table lines of the cards ahead are on their way while these are posted.
        var cardsAhead = CardsAhead(0..<items.count)
        while n < items.count {
            cardsAhead.newCard(items) { state.cards.prefetch($0) }
            // One shadow lookup (the same slot written back) and one hotlist lookup per card,
            // however many records it has in the run. Each card's items are contiguous.
            let serial = items[n].serial
            let hotlistedAt = hotlist.isEmpty ? nil : hotlist[serial]
            let slot = state.cards.slot(of: serial)
            var shadow = slot.map { state.cards[slot: $0] } ?? CardShadow()
            let before = shadow
            creditedOtherCard = false
            while n < items.count, items[n].serial == serial {
                postItem(items[n], place: places[n], hotlistedAt: hotlistedAt, &shadow)
                n += 1
            }
            if shadow != before {
                // A replacement's credit may have added a card: the slot is then stale.
                if let slot, !creditedOtherCard {
                    state.cards[slot: slot] = shadow
                } else {
                    state.cards[serial] = shadow
                }
                shadowRows.append { Packing.store(serial: serial, shadow, in: $0, at: $1) }
            }
        }
        foldNets()
        result.packedTransfers = transferRows.finish()
        result.postedShadows = shadowRows.finish()
        gatherInUploadOrder()
    }

    private mutating func postItem(_ item: Item, place: StagedRun.Place, hotlistedAt: UInt32?, _ shadow: inout CardShadow) {
        let batch = Int(place.batch)
        let b = staged.batches[batch]
        let r = staged.records[item.ordinal]
        let ref = RecordRef(terminal: b.terminal, batch: b.sequence, index: place.index)
        // The hotlist is the last of the checks of a record on its own (``RecordVerifier``).
        let verdict = place.code != 0 ? Verdict(packed: place.code)
            : hotlistedAt.map({ $0 <= item.seconds }) == true ? Verdict(.hotlisted)
            : post(r, &shadow, seconds: item.seconds, ref: ref, batch: b.input)
        // Kept in upload order (batch by batch, record by record), whatever the order of
        // posting: the day's files are then the same however its batches were split into runs.
        let slot = staged.starts[batch] + Int(place.index)
        if let verdict {
            result.outcomes[b.input].refused[verdict.code.rawValue, default: 0] += 1
            refusalSlots.append(slot)
            result.refusals.append(Refusal(ref: ref, code: verdict.code, record: r, field: verdict.field))
        } else {
            result.outcomes[b.input].accepted += 1
            result.outcomes[b.input].acceptedAmountFen += Int64(r.amountFen)
            // One byte written out of order; the detail rows are read in order at the end.
            acceptedSlots[slot] = true
        }
    }

    /// The accepted records' details and the refusals in upload order.
    private mutating func gatherInUploadOrder() {
        // Every record accepted: the staged rows are the details, as they are.
        guard !refusalSlots.isEmpty else {
            result.details = staged.details
            return
        }
        var details: [UInt8] = []
        details.reserveCapacity(result.summary.accepted * Packing.detailBytes)
        staged.details.withUnsafeBytes { rows in
            var slot = 0
            while slot < acceptedSlots.count {
                // Runs of accepted records are copied at once.
                guard acceptedSlots[slot] else {
                    slot += 1
                    continue
                }
                var end = slot + 1
                while end < acceptedSlots.count, acceptedSlots[end] { end += 1 }
                details.append(contentsOf: rows[slot * Packing.detailBytes..<end * Packing.detailBytes])
                slot = end
            }
        }
        result.details = details
        if refusalSlots.count > 1 {
            let order = refusalSlots.indices.sorted { refusalSlots[$0] < refusalSlots[$1] }
            result.refusals = order.map { result.refusals[$0] }
        }
    }

    /// The longest replacement chain within one run that is ordered (longer ones are forged).
    static let replacementChainMax = 8

    // MARK: Posting

    /// Posts one verified record, or refuses it against the ledger: a duplicate (`03`), or a
    /// counter record whose amount the card's ledger does not bear out (`02`). Every check
    /// comes before the first change, so a refused record changes nothing.
    mutating func post(_ r: BatchRecord, _ shadow: inout CardShadow, seconds: UInt32, ref: RecordRef, batch: Int) -> Verdict? {
        if current != batch {
            current = batch
            currentOperator = input[batch].batch.header.operatorID
            currentTerminal = input[batch].batch.header.terminal.rawValue
        }
        switch r.kind {
        case .purchase:
            guard shadow.ledgerFen - Int64(r.amountFen) >= -Int64(UInt32.max) else { return Verdict(.illegalData, .amount) }
            // The fare's identity is what its TAC signs; the counter is the terminal's word.
            // Taken first (one lookup), given back if the counter refuses the record.
            guard state.fares.insert(terminal: r.terminal.rawValue, sequence: r.sequence, day: ClearingTime.day(seconds)) else {
                return Verdict(.duplicate, .sequence)
            }
            guard advanceCounter(&shadow, r, offline: true, seconds: seconds) else {
                state.fares.remove(terminal: r.terminal.rawValue, sequence: r.sequence)
                return Verdict(.duplicate, .counter)
            }
            touchFarePage(FareIdentities.pageKey(terminal: r.terminal.rawValue, sequence: r.sequence))
            track(&shadow, before: r.balanceBeforeFen, after: r.balanceAfterFen, seconds: seconds)
            postPurchase(&shadow, r, ref)
        case .load:
            guard shadow.ledgerFen + Int64(r.amountFen) <= Int64(UInt32.max) else { return Verdict(.illegalData, .amount) }
            if !state.acceptedLoads.isEmpty, state.acceptedLoads.contains(LoadIdentity(serial: r.serial.rawValue, counter: r.counter)) {
                return Verdict(.duplicate, .counter)
            }
            guard advanceCounter(&shadow, r, offline: false, seconds: seconds) else { return Verdict(.duplicate, .counter) }
            track(&shadow, before: r.balanceBeforeFen, after: r.balanceAfterFen, seconds: seconds)
            postLoad(&shadow, r, ref)
        case .issue:
            guard shadow.flags & CardShadow.Flags.issued == 0 else { return Verdict(.duplicate, .serial) }
            shadow.flags |= CardShadow.Flags.issued
            transfer(r, leg: 0, from: .agentCash(r.terminal), to: .deposits, Int64(r.depositFen), .deposit, ref)
        case .refund:
            if let refused = checkPayOut(r, shadow) { return refused }
            shadow.flags |= CardShadow.Flags.refunded
            payOut(&shadow, r, amountFen: r.amountFen, to: .agentCash(r.terminal), reason: .refundBalance, ref)
            transfer(r, leg: 1, from: .deposits, to: .agentCash(r.terminal), Int64(r.depositFen), .refundDeposit, ref)
        case .replacement:
            if let refused = checkPayOut(r, shadow) { return refused }
            let newCard = state.cards[r.relatedSerial.rawValue] ?? CardShadow()
            guard newCard.ledgerFen + Int64(r.amountFen) <= Int64(UInt32.max), newCard.flags & Self.paidOut == 0 else {
                return Verdict(.illegalData, .relatedSerial)
            }
            shadow.flags |= CardShadow.Flags.replaced
            payOut(&shadow, r, amountFen: r.amountFen, to: .purse(r.relatedSerial), reason: .replacement, ref)
            credit(newCard: r.relatedSerial, amountFen: r.amountFen, r, ref)
        case .grey:
            // The verifier refuses grey records before posting.
            return Verdict(.grey)
        }
        return nil
    }

    /// Notes that a page of fare identities changed, once per page and run: a direct-mapped
    /// memory of the pages noted (a run's fares fall in a few pages per terminal) spares the
    /// set most of its hashing.
    @inline(__always)
    mutating func touchFarePage(_ key: FareIdentities.PageKey) {
        let slot = FibonacciHash.slot(key.terminal &+ UInt64(key.page) &* 0x1_0000_0001, tableSize: notedFareTerminals.count)
        guard notedFareTerminals[slot] != key.terminal || notedFarePages[slot] != key.page else { return }
        notedFareTerminals[slot] = key.terminal
        notedFarePages[slot] = key.page
        result.touchedFarePages.insert(key)
    }

    /// A card whose balance was paid out (refunded or replaced) has no purse left to pay.
    static let paidOut = CardShadow.Flags.refunded | CardShadow.Flags.replaced

    /// What a refund or replacement must prove before it pays the card's balance out: the card
    /// was issued (refunds), it was not paid out before, and the amount is the card's balance
    /// in the ledger (the record's own balance fields are the terminal's word).
    func checkPayOut(_ r: BatchRecord, _ shadow: CardShadow) -> Verdict? {
        guard shadow.flags & Self.paidOut == 0 else { return Verdict(.duplicate, .serial) }
        if r.kind == .refund, shadow.flags & CardShadow.Flags.issued == 0 { return Verdict(.illegalData, .serial) }
        guard r.amountFen == shadow.balanceFen, shadow.arrearsFen == 0 else { return Verdict(.illegalData, .amount) }
        return nil
    }

    /// The oldest counter below the newest one that can still be told apart from a duplicate.
    static let counterWindow = 64

    /// Moves the counter of `r`'s kind; `false` for a duplicate. A counter above the next one
    /// expected leaves a gap; one below it is a late record if it was never seen (it fills its
    /// gap), a duplicate if it was, or when it is older than the window. The open gaps are the
    /// unseen counters between the oldest and the newest seen in the window
    /// (``CardShadow/hasOpenGaps``), whichever arrived first; gaps that the window leaves behind
    /// unreported are reported at once (they can no longer be filled).
    mutating func advanceCounter(_ s: inout CardShadow, _ r: BatchRecord, offline: Bool, seconds: UInt32) -> Bool {
        let c = Int(r.counter)
        let flag = offline ? CardShadow.Flags.seenOffline : CardShadow.Flags.seenOnline
        var next = Int(offline ? s.nextOffline : s.nextOnline)
        var seen = offline ? s.offlineSeen : s.onlineSeen
        let wasOpen = s.hasOpenGaps
        if s.flags & flag == 0 {
            // The first record of this counter sets the baseline: the card's history before it
            // predates this clearing centre; earlier records may still arrive and are accepted.
            next = c + 1
            seen = 1
            s.flags |= flag
        } else if c >= next {
            let shift = c - next + 1
            // Unseen counters the window moves past, and those beyond it that never enter it.
            let left = shift >= Self.counterWindow ? CardShadow.missing(seen) : CardShadow.missing(seen) >> UInt64(Self.counterWindow - shift)
            if left != 0 || shift > Self.counterWindow { lostGaps(&s, r, offline: offline, from: next - 1, to: c) }
            seen = shift >= Self.counterWindow ? 1 : seen << UInt64(shift) | 1
            next = c + 1
        } else {
            let age = next - 1 - c
            guard age < Self.counterWindow, seen & (1 << UInt64(age)) == 0 else { return false }
            seen |= 1 << UInt64(age)
        }
        if offline {
            s.nextOffline = UInt16(truncatingIfNeeded: next)
            s.offlineSeen = seen
        } else {
            s.nextOnline = UInt16(truncatingIfNeeded: next)
            s.onlineSeen = seen
        }
        let open = s.hasOpenGaps
        if !open || !wasOpen {
            // Gaps opened anew (or all filled): their age counts from today.
            s.gapSinceDay = open ? UInt16(clamping: state.newestDay) : 0
            if s.flags & CardShadow.Flags.gapsReported != 0 { s.flags &= ~CardShadow.Flags.gapsReported }
        }
        return true
    }

    /// Reports counters that can no longer be uploaded (the 64-counter window moved past them),
    /// once while the card's gaps stay open.
    mutating func lostGaps(_ s: inout CardShadow, _ r: BatchRecord, offline: Bool, from: Int, to: Int) {
        guard s.flags & CardShadow.Flags.gapsReported == 0 else { return }
        s.flags |= CardShadow.Flags.gapsReported
        exception(.counterGap, r, "\(offline ? "offline" : "online") counter moved from \(from) to \(to): records below \(to - Self.counterWindow + 1) that were never uploaded can no longer be", leg: 2)
    }

    /// Keeps the card's oldest and newest balances by time, whatever order its records arrive
    /// in; ties go to the record uploaded first (oldest) and last (newest), which is the order of
    /// posting in one run and across runs alike. Their agreement with the ledger is checked
    /// when the receipt day closes (``ClearingEngine``).
    func track(_ s: inout CardShadow, before: UInt32, after: UInt32, seconds: UInt32) {
        guard s.flags & CardShadow.Flags.chained != 0 else {
            s.flags |= CardShadow.Flags.chained
            s.firstSeconds = seconds
            s.firstBalanceBeforeFen = before
            s.lastSeconds = seconds
            s.lastBalanceAfterFen = after
            // Called before the record moves the ledger: what the ledger held already (a
            // balance moved without the card's word) is not the card's to explain.
            s.baselineAdjustFen = -s.ledgerFen
            return
        }
        if seconds < s.firstSeconds {
            s.firstSeconds = seconds
            s.firstBalanceBeforeFen = before
        }
        if seconds >= s.lastSeconds {
            s.lastSeconds = seconds
            s.lastBalanceAfterFen = after
        }
    }

    mutating func postPurchase(_ s: inout CardShadow, _ r: BatchRecord, _ ref: RecordRef) {
        // Always from the purse, whether or not the load that funds it has cleared yet: the
        // ledger then does not depend on the order records arrive in.
        s.setLedger(s.ledgerFen - Int64(r.amountFen))
        transfer(r, leg: 0, from: .purse(r.serial), to: .operatorPayable(currentOperator), Int64(r.amountFen), .purchase, ref)
    }

    mutating func postLoad(_ s: inout CardShadow, _ r: BatchRecord, _ ref: RecordRef) {
        s.setLedger(s.ledgerFen + Int64(r.amountFen))
        transfer(r, leg: 0, from: .agentCash(r.terminal), to: .purse(r.serial), Int64(r.amountFen), .load, ref)
    }

    /// Pays `amountFen` out of the card's purse (``checkPayOut(_:_:)`` proved the purse holds it).
    mutating func payOut(_ s: inout CardShadow, _ r: BatchRecord, amountFen: UInt32, to: AccountID, reason: TransferReason, _ ref: RecordRef) {
        s.setLedger(s.ledgerFen - Int64(amountFen))
        transfer(r, leg: 0, from: .purse(r.serial), to: to, Int64(amountFen), reason, ref)
    }

    /// Credits a replacement's balance to the new card (issued in its own right at the counter
    /// before the replacement), whose online counter the moving load used.
    mutating func credit(newCard: CardSerial, amountFen: UInt32, _ r: BatchRecord, _ ref: RecordRef) {
        var n = state.cards[newCard.rawValue] ?? CardShadow()
        if amountFen > 0 {
            // The moving load took the new card's online counter (already seen: nothing to move).
            var asLoad = r
            asLoad.serial = newCard
            _ = advanceCounter(&n, asLoad, offline: false, seconds: ClearingTime.seconds(bcd: r.dateTimeBCD))
            // The moving load is the new card's transaction: its balance-after is the new card's.
            track(&n, before: r.balanceAfterFen &- amountFen, after: r.balanceAfterFen, seconds: ClearingTime.seconds(bcd: r.dateTimeBCD))
        }
        n.setLedger(n.ledgerFen + Int64(amountFen))
        state.cards[newCard.rawValue] = n
        result.touchedCards.insert(newCard.rawValue)
        creditedOtherCard = true
    }

    mutating func transfer(_ r: BatchRecord, leg: UInt8, from: AccountID, to: AccountID, _ amountFen: Int64, _ reason: TransferReason, _ ref: RecordRef) {
        guard amountFen > 0 else { return }
        let counter = r.kind == .purchase || r.kind == .load ? UInt32(r.counter) : 0
        let t = Transfer(
            id: TransferID.make(serial: r.serial.rawValue, kind: r.kind.rawValue, counter: counter, leg: leg),
            debit: from, credit: to, amountFen: amountFen, reason: reason, source: ref, dateTimeBCD: r.dateTimeBCD)
        transferRows.append { Packing.store(t, in: $0, at: $1) }
        // A purse's net is its shadow balance; only the other accounts are summed here, the
        // batch's own operator and terminal in registers, the rest in the dictionary.
        net(from, -amountFen)
        net(to, amountFen)
    }

    @inline(__always)
    mutating func net(_ account: AccountID, _ deltaFen: Int64) {
        switch account.kind {
        case .purse: return
        case .operatorPayable where account.number == UInt64(currentOperator):
            batchPayableFen[current] += deltaFen
        case .agentCash where account.number == currentTerminal:
            batchCashFen[current] += deltaFen
        default:
            state.accountNetFen[account, default: 0] += deltaFen
        }
    }

    /// Folds the per-batch sums into the account nets.
    mutating func foldNets() {
        for (b, v) in batchPayableFen.enumerated() where v != 0 {
            state.accountNetFen[.operatorPayable(input[b].batch.header.operatorID), default: 0] += v
        }
        for (b, v) in batchCashFen.enumerated() where v != 0 {
            state.accountNetFen[.agentCash(input[b].batch.header.terminal), default: 0] += v
        }
        for b in batchPayableFen.indices {
            batchPayableFen[b] = 0
            batchCashFen[b] = 0
        }
    }

    mutating func exception(_ kind: ClearingException.Kind, _ r: BatchRecord, _ detail: String, leg: UInt8, ref: RecordRef? = nil) {
        let counter = UInt32(r.counter) | UInt32(r.kind.rawValue) << 16
        result.exceptions.append(ClearingException(
            id: TransferID.make(serial: r.serial.rawValue, kind: 0xE0, counter: counter, leg: leg),
            kind: kind, card: r.serial.description, detail: detail, record: ref?.description,
            opened: BCDDate(daysSinceEpoch: state.newestDay).description))
        result.outcomes[current].exceptions += 1
    }
}
