import City
import EPurse
import OneCardCore
import UploadBatch

/// Pricing and the compound records per operator kind.
extension TapTerminal {
    /// Bus: the line's flat fare, concession, transfer discount from the trip log; a compound
    /// purchase appending a single-ride trip record so the next tap sees this one.
    func boardBus(_ ch: inout some CardChannel, _ info: IssuerInfo, at: BCDDateTime, _ r: inout TapResult) throws {
        let previous = try previousTrip(&ch)
        let fare = try city.busFare(terminal: terminal, cardType: info.cardType, at: at, previous: previous)
        let transfer = fare.transferDiscountFen > 0
        let amount = fare.payableCardFen
        try charge(&ch, info, at: at, amountFen: amount, compound: true, context: FareContext(fare: fare, flags: transfer ? .transfer : []), &r) {
            [tripUpdate(.singleRide, amountFen: amount, balanceAfterFen: $0 - amount, at: at, transfer: transfer)]
        }
        r.reason = "Paid \(Fen.yuan(fare.payableFen)) yuan" + (transfer ? " (transfer discount)." : ".")
    }

    /// Metro entry: free, unless an open journey is charged under the `maxFare` policy (then
    /// the same compound purchase charges it). Writes 0x1A "inside" and an entry trip record.
    func enterMetro(_ ch: inout some CardChannel, _ info: IssuerInfo, at: BCDDateTime, _ r: inout TapResult) throws {
        let open = try readInJourney(&ch)?.openEntry
        let decision = try city.metroEntry(terminal: terminal, cardType: info.cardType, at: at, openEntry: open)
        let fare = decision.unfinishedJourneyFare
        let amount = fare?.payableCardFen ?? 0
        let record = InJourneyRecord(
            cityCode: city.code.rawValue, entryTerminal: terminal, entryLine: location.line.rawValue,
            entryStation: location.station.rawValue, entryAt: at, operatorCode: operatorCode, entryAmountFen: amount)
        var context = FareContext(fare: fare, flags: fare == nil ? .metroEntry : [.metroEntry, .incompleteJourney])
        if fare != nil, let open { (context.entryStation, context.entryAt) = (open.station.rawValue, open.at) }
        try charge(&ch, info, at: at, amountFen: amount, compound: true, context: context, &r) {
            [inJourneyUpdate(record), tripUpdate(.entry, amountFen: amount, balanceAfterFen: $0 - amount, at: at, transfer: false)]
        }
        r.reason = "Entered at \(stationName(location.station))."
        if let fare, let open {
            r.reason += " Your earlier journey from \(stationName(open.station)) at \(open.at) was not finished: charged \(Fen.yuan(fare.payableFen)) yuan."
        }
    }

    /// Metro exit: the distance fare from 0x1A's open entry (or the incomplete-journey policy),
    /// writes 0x1A "outside" with the exit and an exit trip record.
    func exitMetro(_ ch: inout some CardChannel, _ info: IssuerInfo, at: BCDDateTime, _ r: inout TapResult) throws {
        let stored = try readInJourney(&ch)
        let entry = stored?.openEntry
        let previous = entry == nil ? nil : try previousTrip(&ch, before: entry)
        let fare = try city.metroExitFare(terminal: terminal, cardType: info.cardType, at: at, entry: entry, previous: previous)
        let transfer = fare.transferDiscountFen > 0
        var incomplete: IncompleteReason? = nil
        if case .incompleteJourney(let why) = fare.rule { incomplete = why }
        var flags: FareFlags = .metroExit
        if transfer { flags.insert(.transfer) }
        if incomplete != nil { flags.insert(.incompleteJourney) }
        let context = FareContext(fare: fare, flags: flags, entryStation: entry?.station.rawValue ?? 0, entryAt: entry?.at)
        let amount = fare.payableCardFen
        try charge(&ch, info, at: at, amountFen: amount, compound: true, context: context, &r) { balance in
            var updates = [tripUpdate(.exit, amountFen: amount, balanceAfterFen: balance - amount, at: at, transfer: transfer)]
            if var out = stored {
                out.status = .outside
                (out.exitTerminal, out.exitStation, out.exitAt, out.exitFareFen) = (terminal, location.station.rawValue, at, amount)
                out.exitFlags = (transfer ? 0x01 : 0) | (incomplete != nil ? 0x02 : 0)
                updates.insert(inJourneyUpdate(out), at: 0)
            }
            return updates
        }
        r.reason = exitReason(fare, entry: entry, incomplete: incomplete)
    }

    private func exitReason(_ fare: Fare, entry: OpenEntry?, incomplete: IncompleteReason?) -> String {
        let paid = "\(Fen.yuan(fare.payableFen)) yuan"
        switch incomplete {
        case .noEntry?: return "No entry recorded on this card: charged the maximum fare, \(paid)."
        case .staleEntry(let e)?: return "Your entry at \(e.at) is too old: charged the maximum fare, \(paid)."
        case .unknownEntryStation?: return "The entry station is not known here: charged the maximum fare, \(paid)."
        case .entryTwice?, nil:
            let from = entry.map { " from \(stationName($0.station))" } ?? ""
            return "Exit at \(stationName(location.station))\(from): paid \(paid)" + (fare.transferDiscountFen > 0 ? " (transfer discount)." : ".")
        }
    }

    /// Taxi and gas: the keyed-in amount within the operator's limits; a simple purchase (`06`)
    /// with no trip record, so these trips neither give nor break a transfer (docs/terminal.md).
    func payEntered(_ ch: inout some CardChannel, _ info: IssuerInfo, at: BCDDateTime, amountFen: Int64?, _ r: inout TapResult) throws {
        guard let amountFen else { throw Decline(reason: "No amount entered. Please key in the amount first.") }
        let fare = try city.enteredAmountFare(terminal: terminal, amountFen: amountFen, cardType: info.cardType)
        try charge(&ch, info, at: at, amountFen: fare.payableCardFen, compound: false, context: FareContext(fare: fare, flags: []), &r) { _ in [] }
        r.reason = "Paid \(Fen.yuan(fare.payableFen)) yuan."
    }

    /// The in-journey record, or `nil` when never written or corrupt (bad CRC counts as no entry).
    func readInJourney(_ ch: inout some CardChannel) throws -> InJourneyRecord? {
        try readRecord(&ch, sfi: 0x1A, number: 1, byteCount: InJourneyRecord.byteCount).flatMap(InJourneyRecord.init(bytes:))
    }

    func stationName(_ id: StationID) -> String {
        city.metro?.lines.lazy.flatMap(\.stations).first { $0.id == id }?.name ?? "station \(id)"
    }
}
