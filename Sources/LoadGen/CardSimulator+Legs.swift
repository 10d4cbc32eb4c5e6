import City
import OneCardCore
import UploadBatch

extension CardSimulator {
    /// Window in which a leg following a bus or metro leg is taken as a transfer onward.
    static let transferIntentSeconds: UInt32 = 45 * 60
    /// Below this balance a card is topped up now and then even if the fare fits.
    static let lowBalanceFen: UInt32 = 1_000

    /// One purchase tap at `at` (a metro exit time for metro), with a load first if the balance
    /// runs low.
    mutating func leg(at: UInt32, day: Int, _ card: inout CardRun, _ rng: inout SplitMix64, _ faultRng: inout SplitMix64) {
        let preferred = chooseKind(card, at: at, &rng)
        var chosen = price(preferred, at: at, card, &rng)
        if (chosen?.fare.payableFen ?? 0) == 0 {
            chosen = nil
            for kind in plan.payableKinds[Int(card.type.rawValue) - 1] where chosen == nil && kind != preferred {
                if let l = price(kind, at: at, card, &rng), l.fare.payableFen > 0 { chosen = l }
            }
        }
        // Every card type has a payable kind (CityPlan); taxi and gas never take a transfer
        // discount, so only a city of bus and metro alone with a transfer discount covering the
        // whole fare ends here: the tap is free and moves no money.
        guard let leg = chosen else { return }
        let live = day >= firstLiveDay
        if card.balanceFen < leg.fare.payableFen || (card.balanceFen < Self.lowBalanceFen && rng.chance(0.5)) {
            load(before: leg, amountFen: leg.fare.payableFen, live: live, &card, &rng)
        }
        purchase(leg, at: at, live: live, &card, &faultRng)
    }

    /// The kind of operator for the next leg: a transfer onward after a recent bus or metro
    /// leg, otherwise by the card's persona, among the kinds this card type pays on.
    func chooseKind(_ card: CardRun, at: UInt32, _ rng: inout SplitMix64) -> OperatorKind {
        let kinds = plan.payableKinds[Int(card.type.rawValue) - 1]
        if let prev = card.previousKind, at - card.previousAt <= Self.transferIntentSeconds, rng.chance(0.5) {
            if prev == .bus, kinds.contains(.metro) { return .metro }
            if prev == .metro, kinds.contains(.bus) { return .bus }
        }
        let u = rng.below(100)
        let (first, second): (OperatorKind, OperatorKind) = switch card.persona {
        case 0: u < 70 ? (.bus, .metro) : u < 92 ? (.metro, .bus) : u < 98 ? (.taxi, .bus) : (.gas, .bus)
        case 1: u < 70 ? (.metro, .bus) : u < 92 ? (.bus, .metro) : u < 98 ? (.taxi, .metro) : (.gas, .metro)
        default: u < 35 ? (.bus, .metro) : u < 70 ? (.metro, .bus) : u < 85 ? (.taxi, .gas) : (.gas, .taxi)
        }
        if kinds.contains(first) { return first }
        return kinds.contains(second) ? second : kinds[0]
    }

    /// Prices a leg of `kind` ending at `at` with the city's fares (precomputed by the fare
    /// engine) and the engine's transfer rule; `nil` if the city has no such terminal.
    func price(_ kind: OperatorKind, at: UInt32, _ card: CardRun, _ rng: inout SplitMix64) -> Leg? {
        let pool = plan.terminals(of: kind)
        guard !pool.isEmpty else { return nil }
        let terminal = pool[rng.below(pool.count)]
        let typeIndex = Int(card.type.rawValue) - 1
        switch kind {
        case .bus:
            var leg = Leg(kind: kind, terminal: terminal, startTime: at, fare: plan.busFare[Int(terminal) * 4 + typeIndex])
            applyTransfer(&leg, card)
            return leg
        case .metro:
            return metroLeg(exitGate: terminal, at: at, card, &rng)
        case .taxi, .gas:
            return enteredLeg(kind, terminal: terminal, at: at, card, &rng)
        case .issuer:
            return nil
        }
    }

    private func metroLeg(exitGate: UInt32, at: UInt32, _ card: CardRun, _ rng: inout SplitMix64) -> Leg? {
        guard let exit = plan.gateStation[exitGate], let net = plan.city.metro else { return nil }
        let s = plan.stations.count
        var entry = rng.below(s)
        if entry == exit, s > 1 { entry = (entry + 1 + rng.below(s - 1)) % s }
        let metres = plan.metroMetres[entry * s + exit]
        // Walk + ride at 10 m/s, kept fresh under the city's stale-entry limit (the fares were
        // priced for a fresh entry).
        let journey = min(180 + UInt32(metres / 10), UInt32(net.staleEntryMinutesMax) * 60 - 30, 3 * 3600)
        let start = max(at - journey, card.lastTime + 120, at / 86_400 * 86_400 + Self.serviceStartSeconds)
        var leg = Leg(kind: .metro, terminal: exitGate, startTime: start, fare: plan.metroFare[(entry * s + exit) * 4 + Int(card.type.rawValue) - 1],
                      entryStation: UInt16(entry), entryAgeSeconds: UInt16(at - start))
        applyTransfer(&leg, card)
        return leg
    }

    private func enteredLeg(_ kind: OperatorKind, terminal: UInt32, at: UInt32, _ card: CardRun, _ rng: inout SplitMix64) -> Leg? {
        guard let op = plan.city.operator(ofTerminal: plan.terminalIDs[Int(terminal)]) else { return nil }
        let wanted: Int64 = kind == .taxi ? 900 + Int64(rng.below(400)) * 10 : 5_000 + Int64(rng.below(251)) * 100
        let amount = min(max(wanted, op.amountFenMin), op.amountFenMax)
        guard let fare = try? plan.city.enteredAmountFare(terminal: plan.terminalIDs[Int(terminal)], amountFen: amount, cardType: card.type)
        else { return nil }
        return Leg(kind: kind, terminal: terminal, startTime: at,
                   fare: FareParts(payableFen: fare.payableCardFen, concessionFen: UInt32(clamping: fare.concessionFen)))
    }

    /// The city's transfer discount (the fare engine's rule), taken off after the concession.
    private func applyTransfer(_ leg: inout Leg, _ card: CardRun) {
        guard let prev = card.previousKind, let rule = plan.city.transfer,
              leg.startTime >= card.previousAt, leg.startTime - card.previousAt <= UInt32(rule.windowMinutes) * 60
        else { return }
        let start = BCDDateTime(secondsSinceEpoch: startSecondsSinceEpoch + Int64(leg.startTime))
        let prevAt = BCDDateTime(secondsSinceEpoch: startSecondsSinceEpoch + Int64(card.previousAt))
        let d = plan.city.transferDiscountFen(to: leg.kind, startingAt: start,
                                              previous: PreviousTrip(kind: prev, at: prevAt, wasTransfer: card.previousWasTransfer))
        let transfer = UInt32(clamping: min(d, Int64(leg.fare.payableFen)))
        leg.transferFen = transfer
        leg.fare.payableFen -= transfer
    }
}
