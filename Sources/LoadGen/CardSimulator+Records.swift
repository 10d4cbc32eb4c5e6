import City
import OneCardCore
import UploadBatch

extension CardSimulator {
    /// A load at an issuer terminal half-way between the card's last record and the leg's start,
    /// enough for `amountFen` and never above the card maximum.
    mutating func load(before leg: Leg, amountFen: UInt32, live: Bool, _ card: inout CardRun, _ rng: inout SplitMix64) {
        let room = (balanceFenMax - min(card.balanceFen, balanceFenMax)) / 100 * 100
        var loadFen = Self.loadsFen[rng.below(Self.loadsFen.count)]
        if card.balanceFen + loadFen < amountFen { loadFen = (amountFen - card.balanceFen + 999) / 1_000 * 1_000 }
        loadFen = min(loadFen, room)
        guard loadFen > 0 else { return }
        precondition(card.balanceFen + loadFen >= amountFen, "load of \(loadFen) cannot pay \(amountFen) from \(card.balanceFen)")
        let lower = max(card.lastTime, leg.startTime / 86_400 * 86_400 + Self.serviceStartSeconds)
        let time = lower + (leg.startTime - lower) / 2
        let terminal = plan.issuer[rng.below(plan.issuer.count)]
        events.append(TapEvent(
            tacKey: card.tacKey, card: card.index, time: time, amountFen: loadFen, balanceBeforeFen: card.balanceFen, concessionFen: 0,
            terminal: terminal, counter: card.onlineCounter, transferFen: 0, entryStation: 0, entryAgeSeconds: 0,
            cardType: card.type.rawValue, kind: RecordKind.load.rawValue, flags: 0, fault: recordFault(live: live, card)))
        card.balanceFen += loadFen
        card.onlineCounter &+= 1
        card.lastTime = time
    }

    /// The purchase itself (and a grey record before it when that fault is drawn).
    mutating func purchase(_ leg: Leg, at: UInt32, live: Bool, _ card: inout CardRun, _ faultRng: inout SplitMix64) {
        precondition(card.balanceFen >= leg.fare.payableFen, "purchase of \(leg.fare.payableFen) from \(card.balanceFen)")
        var flags: FareFlags = leg.transferFen > 0 ? [.transfer] : []
        if leg.kind == .metro { flags.insert(.metroExit) }
        var e = TapEvent(
            tacKey: card.tacKey, card: card.index, time: at, amountFen: leg.fare.payableFen, balanceBeforeFen: card.balanceFen,
            concessionFen: leg.fare.concessionFen, terminal: leg.terminal, counter: card.offlineCounter,
            transferFen: UInt16(clamping: leg.transferFen), entryStation: leg.entryStation, entryAgeSeconds: leg.entryAgeSeconds,
            cardType: card.type.rawValue, kind: RecordKind.purchase.rawValue, flags: flags.rawValue, fault: recordFault(live: live, card))
        if e.fault == .none, live, !card.hotlisted { e.fault = drawPurchaseFault(card, &faultRng) }
        if e.fault == .grey {
            // The torn attempt: the card never wrote, so the retry below has the same counter.
            var grey = e
            grey.kind = RecordKind.grey.rawValue
            grey.time = at - 15
            events.append(grey)
            e.fault = .none
        }
        card.lastPurchaseFault = e.fault
        card.lastPurchaseEvent = events.count
        events.append(e)
        card.balanceFen -= leg.fare.payableFen
        card.offlineCounter &+= 1
        card.lastTime = at
        card.previousKind = leg.kind
        card.previousAt = at
        card.previousWasTransfer = leg.transferFen > 0
    }

    /// The fault every record of this card and day carries: expired days, nothing else here
    /// (hotlisting is marked once the card is done).
    func recordFault(live: Bool, _ card: CardRun) -> Fault { live ? .none : .expired }

    /// One draw decides a purchase's fault. A card's first purchase and the one after any
    /// faulty purchase stay clean, so every gap sits between two accepted purchases.
    func drawPurchaseFault(_ card: CardRun, _ rng: inout SplitMix64) -> Fault {
        let f = options.faults
        guard f.perPurchaseSum > 0, let last = card.lastPurchaseFault, last == .none else { return .none }
        let u = rng.unit()
        if u < f.forgedTAC { return .forgedTAC }
        if u < f.forgedTAC + f.duplicates { return .duplicate }
        if u < f.forgedTAC + f.duplicates + f.gaps { return .gap }
        if u < f.perPurchaseSum { return .grey }
        return .none
    }
}
