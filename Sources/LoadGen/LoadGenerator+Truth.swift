import City
import OneCardCore

extension LoadGenerator {
    static func hotlistFile(_ entries: [(card: UInt32, time: UInt32)], serialBase: UInt64,
                            options: LoadGenOptions) -> GeneratedHotlist {
        let start = Int64(options.startDate.daysSinceEpoch) * 86_400
        let list = entries.map {
            GeneratedHotlist.Entry(card: CardSerial(rawValue: serialBase | UInt64($0.card)).description,
                                   since: BCDDateTime(secondsSinceEpoch: start + Int64($0.time)).description)
        }
        return GeneratedHotlist(format: GeneratedHotlist.format, cards: list.sorted())
    }

    static func groundTruth(_ t: Tally, hotlist: GeneratedHotlist, plan: CityPlan, options: LoadGenOptions) -> GroundTruth {
        var perOperator: [String: GroundTruth.OperatorTotals] = [:]
        for op in plan.city.operators.values {
            perOperator[String(op.id.rawValue)] = GroundTruth.OperatorTotals(kind: op.kind.rawValue, accepted: 0, acceptedAmountFen: 0)
        }
        for i in plan.terminalIDs.indices where t.terminalAccepted[i] > 0 {
            let key = String(plan.operatorIDs[i])
            perOperator[key]?.accepted += t.terminalAccepted[i]
            perOperator[key]?.acceptedAmountFen += t.terminalAmountFen[i]
        }
        var refused: [String: Int] = [:]
        for code in 1...7 { refused["0\(code)"] = t.refused[code] }
        return GroundTruth(
            format: GroundTruth.format, city: plan.city.code.description, seed: options.seed, cards: options.cards,
            taps: t.purchases - t.duplicates + t.gaps.count, days: options.days, startDate: options.startDate.description,
            uploadDate: options.startDate.adding(days: options.days - 1).description, uploads: options.uploads.rawValue,
            uploadWindowDays: plan.city.settlement.uploadWindowDays, batches: t.batches, records: t.records,
            accepted: t.accepted, acceptedAmountFen: t.acceptedAmountFen, refused: refused, perOperator: perOperator,
            purchases: GroundTruth.KindTotals(records: t.purchases, amountFen: t.purchasesFen, accepted: t.purchasesAccepted,
                                              acceptedAmountFen: t.purchasesAcceptedFen),
            loads: GroundTruth.KindTotals(records: t.loads, amountFen: t.loadsFen, accepted: t.loadsAccepted,
                                          acceptedAmountFen: t.loadsAcceptedFen),
            greyRecords: t.grey, gaps: t.gaps.sorted(), truncatedFiles: t.truncated.sorted(), hotlistFile: "hotlist.json",
            injected: GroundTruth.Injected(forgedTAC: t.forged, duplicates: t.duplicates, gaps: t.gaps.count, grey: t.grey,
                                           hotlistedCards: hotlist.cards.count, truncatedFiles: t.truncated.count,
                                           expired: t.expired))
    }
}
