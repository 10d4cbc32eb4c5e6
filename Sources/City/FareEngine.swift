import OneCardCore

/// The fare engine: pure functions of the city, the terminal, the card type and what the card's
/// logs say. Order of deductions (docs/fares.md): base fare → concession (rounded once, half-up)
/// → transfer discount (never below zero).
extension City {
    /// The fare for boarding a bus: the line's flat fare, the card type's concession, and the
    /// transfer discount if `previous` qualifies.
    ///
    /// - Parameters:
    ///   - terminal: the validator on the bus.
    ///   - at: the boarding time (the start of this trip for the transfer window).
    ///   - previous: the card's last trip, or `nil`.
    /// - Throws: ``FareRefusal`` for an unknown terminal or one that is not on a bus.
    public func busFare(terminal: TerminalID, cardType: CardType, at: BCDDateTime,
                        previous: PreviousTrip?) throws(FareRefusal) -> Fare {
        let t = try resolve(terminal)
        guard case .bus(let lineID, _) = t.location, let line = busLines[lineID] else {
            throw FareRefusal(.wrongTerminalKind(t.location.operatorKind))
        }
        let transfer = transferDiscountFen(to: .bus, startingAt: at, previous: previous)
        return price(baseFen: line.fareFen, kind: .bus, cardType: cardType, transferFen: transfer, rule: .flat(line: lineID))
    }

    /// What a metro gate does when a card enters. Entry itself is free; a journey still open on
    /// the card is handled by policy: a stale one by `incompleteJourney`, a fresh one by
    /// `entryTwice`. Under `maxFare` the open journey is charged the maximum fare (after
    /// concession, no transfer discount) and the rider enters.
    ///
    /// - Parameter openEntry: the card's in-journey record if it says "inside", else `nil`.
    /// - Throws: ``FareRefusal`` for a wrong terminal or under the `refuse` policy.
    public func metroEntry(terminal: TerminalID, cardType: CardType, at: BCDDateTime,
                           openEntry: OpenEntry?) throws(FareRefusal) -> EntryDecision {
        let net = try gateNetwork(terminal).network
        guard let open = openEntry else { return EntryDecision(unfinishedJourneyFare: nil) }
        let stale = isStale(open, at: at)
        let reason: IncompleteReason = stale ? .staleEntry(entry: open) : .entryTwice(entry: open)
        let fare = try incompleteFare(reason, policy: stale ? net.incompleteJourney : net.entryTwice, net, cardType)
        return EntryDecision(unfinishedJourneyFare: fare)
    }

    /// The fare at a metro exit gate: the distance fare from the entry station, the card type's
    /// concession and the transfer discount (window measured from `previous.at` to the entry
    /// time). With no entry, a stale entry or an unknown entry station the journey is incomplete
    /// and `incompleteJourney` decides: the maximum fare after concession, or a refusal.
    ///
    /// - Parameters:
    ///   - entry: the card's open entry, or `nil` if it has none.
    ///   - previous: the card's trip before that entry, or `nil`.
    /// - Throws: ``FareRefusal`` for a wrong terminal or an incomplete journey under `refuse`.
    public func metroExitFare(terminal: TerminalID, cardType: CardType, at: BCDDateTime,
                              entry: OpenEntry?, previous: PreviousTrip?) throws(FareRefusal) -> Fare {
        let (net, exitStation) = try gateNetwork(terminal)
        guard let entry else { return try incompleteFare(.noEntry, policy: net.incompleteJourney, net, cardType) }
        guard !isStale(entry, at: at) else {
            return try incompleteFare(.staleEntry(entry: entry), policy: net.incompleteJourney, net, cardType)
        }
        guard let metres = net.metres(from: entry.station, to: exitStation) else {
            return try incompleteFare(.unknownEntryStation(entry: entry), policy: net.incompleteJourney, net, cardType)
        }
        let transfer = transferDiscountFen(to: .metro, startingAt: entry.at, previous: previous)
        return price(baseFen: net.fareFen(forMetres: metres), kind: .metro, cardType: cardType, transferFen: transfer,
                     rule: .distance(from: entry.station, to: exitStation, metres: metres))
    }

    /// The fare for an amount entered at a taxi meter or gas counter: checked against the
    /// operator's limits, then the card type's concession if the city grants one (usually none).
    /// No transfer discount.
    ///
    /// - Throws: ``FareRefusal`` for a wrong terminal or an amount outside the limits.
    public func enteredAmountFare(terminal: TerminalID, amountFen: Int64, cardType: CardType) throws(FareRefusal) -> Fare {
        let t = try resolve(terminal)
        let kind = t.location.operatorKind
        guard kind == .taxi || kind == .gas, let op = operators[t.operatorID] else {
            throw FareRefusal(.wrongTerminalKind(kind))
        }
        guard amountFen >= op.amountFenMin else { throw FareRefusal(.amountBelowMinimum(amountFen: amountFen, minFen: op.amountFenMin)) }
        guard amountFen <= op.amountFenMax else { throw FareRefusal(.amountAboveMaximum(amountFen: amountFen, maxFen: op.amountFenMax)) }
        return price(baseFen: amountFen, kind: kind, cardType: cardType, transferFen: 0, rule: .entered)
    }

    /// The transfer discount for a trip of `kind` starting at `start` after `previous`: the
    /// city's `discountFen` when the pair (previous kind → kind) is configured, the previous trip
    /// was not itself a transfer, and `0 ≤ start − previous.at ≤ windowMinutes` (the boundary
    /// second is inside); otherwise 0. The caller caps it at the fare.
    public func transferDiscountFen(to kind: OperatorKind, startingAt start: BCDDateTime, previous: PreviousTrip?) -> Int64 {
        guard let rule = transfer, let previous, !previous.wasTransfer,
              rule.pairs.contains(TransferRule.Pair(from: previous.kind, to: kind))
        else { return 0 }
        let gapSeconds = start.secondsSinceEpoch - previous.at.secondsSinceEpoch
        return (0...Int64(rule.windowMinutes) * 60).contains(gapSeconds) ? rule.discountFen : 0
    }

    /// Whether an open entry is stale at `at`: more than `staleEntryMinutesMax` old (the limit
    /// itself is still fresh), or stamped after `at` (a clock that cannot be trusted). `true` if
    /// the city has no metro.
    public func isStale(_ entry: OpenEntry, at: BCDDateTime) -> Bool {
        guard let net = metro else { return true }
        let ageSeconds = at.secondsSinceEpoch - entry.at.secondsSinceEpoch
        return !(0...Int64(net.staleEntryMinutesMax) * 60).contains(ageSeconds)
    }

    // MARK: Helpers

    /// Base → concession (half-up, once) → transfer discount capped at what is left.
    func price(baseFen: Int64, kind: OperatorKind, cardType: CardType, transferFen: Int64, rule: FareRule) -> Fare {
        let discount = concession(for: cardType, on: kind)
        // Rounding the amount paid (not the discount) half-up: 125 fen at 50 % pays 63.
        let remaining = BasisPoints(rawValue: BasisPoints.rawValueMax - discount.rawValue) ?? .zero
        let afterConcession = remaining.portion(ofFen: baseFen)
        let transfer = min(transferFen, afterConcession)
        return Fare(baseFen: baseFen, concessionFen: baseFen - afterConcession, transferDiscountFen: transfer,
                    payableFen: afterConcession - transfer, rule: rule)
    }

    func incompleteFare(_ reason: IncompleteReason, policy: IncompletePolicy, _ net: MetroNetwork,
                        _ cardType: CardType) throws(FareRefusal) -> Fare {
        guard policy == .maxFare else { throw FareRefusal(.incompleteJourney(reason)) }
        return price(baseFen: net.maxFareFen, kind: .metro, cardType: cardType, transferFen: 0, rule: .incompleteJourney(reason))
    }

    func resolve(_ id: TerminalID) throws(FareRefusal) -> Terminal {
        guard let t = terminals[id] else { throw FareRefusal(.unknownTerminal(id)) }
        return t
    }

    func gateNetwork(_ id: TerminalID) throws(FareRefusal) -> (network: MetroNetwork, station: StationID) {
        let t = try resolve(id)
        guard case .metroGate(_, let station) = t.location, let net = metro else {
            throw FareRefusal(.wrongTerminalKind(t.location.operatorKind))
        }
        return (net, station)
    }
}
