import City
import OneCardCore
import UploadBatch

/// One card as the simulation tracks it: exactly the purse state a real card keeps.
struct CardRun {
    var index: UInt32
    var tacKey: UInt64
    var type: CardType
    /// 0 bus commuter, 1 metro commuter, 2 driver (taxi and gas).
    var persona: Int
    var balanceFen: UInt32
    var offlineCounter: UInt16
    var onlineCounter: UInt16
    /// The last trip (for transfer discounts) and when it was charged.
    var previousKind: OperatorKind?
    var previousAt: UInt32 = 0
    var previousWasTransfer = false
    /// The time of the card's last record of any kind.
    var lastTime: UInt32 = 0
    var hotlisted = false
    /// The fault of the card's last purchase (`nil` before its first): a gap is only made
    /// between two purchases that clearing accepts, so the hole is plain to see.
    var lastPurchaseFault: Fault?
    var lastPurchaseEvent: Int?
}

/// A priced leg before it is written.
struct Leg {
    var kind: OperatorKind
    var terminal: UInt32
    var startTime: UInt32
    var fare: FareParts
    var transferFen: UInt32 = 0
    var entryStation: UInt16 = 0
    var entryAgeSeconds: UInt16 = 0
}

/// Simulates cards one at a time, appending their records in time order. One simulator per
/// worker; a card's records depend only on the seed and its index.
struct CardSimulator {
    /// The earliest and latest tap of a day (no taps around the business-day cut-off).
    static let daySecondsMin: UInt32 = 5 * 3600 + 30 * 60
    static let daySecondsMax: UInt32 = 23 * 3600 + 30 * 60
    /// No record before this time of day: loads and metro entries stay inside the service day
    /// (and far from the business-day cut-off).
    static let serviceStartSeconds: UInt32 = 5 * 3600
    /// The least time between two taps of one card.
    static let tapGapSecondsMin: UInt32 = 300
    /// Load denominations, fen.
    static let loadsFen: [UInt32] = [2_000, 3_000, 5_000, 10_000, 20_000]

    let plan: CityPlan
    let options: LoadGenOptions
    /// Days before this one are past the upload window at upload time: refused `05`.
    let firstLiveDay: Int
    let balanceFenMax: UInt32
    let startSecondsSinceEpoch: Int64
    var events: [TapEvent] = []
    var hotlist: [(card: UInt32, time: UInt32)] = []

    init(plan: CityPlan, options: LoadGenOptions) {
        self.plan = plan
        self.options = options
        firstLiveDay = options.uploads == .daily ? 0 : max(0, options.days - 1 - plan.city.settlement.uploadWindowDays)
        balanceFenMax = UInt32(clamping: plan.city.card.balanceFenMax)
        startSecondsSinceEpoch = Int64(options.startDate.daysSinceEpoch) * 86_400
    }

    /// The card type for a card: adults the majority, then students, seniors, staff; a type that
    /// pays nowhere in this city becomes adult.
    static func cardType(_ rng: inout SplitMix64, plan: CityPlan) -> CardType {
        let u = rng.below(100)
        let type: CardType = u < 70 ? .adult : u < 85 ? .student : u < 95 ? .senior : .staff
        return plan.payableKinds[Int(type.rawValue) - 1].isEmpty ? .adult : type
    }

    /// Simulates card `index` making `taps` purchases over the run.
    mutating func simulate(card index: Int, type: CardType, tacKey: UInt64, taps: Int) {
        var rng = SplitMix64(seed: options.seed, UInt64(index), 1)
        var faultRng = SplitMix64(seed: options.seed, UInt64(index), 2)
        var card = CardRun(index: UInt32(index), tacKey: tacKey, type: type, persona: rng.below(100) < 5 ? 2 : rng.below(2),
                           balanceFen: UInt32(rng.below(501) * 10), offlineCounter: UInt16(rng.below(20_000)),
                           onlineCounter: UInt16(rng.below(2_000)))
        card.hotlisted = options.faults.hotlisted > 0 && faultRng.chance(options.faults.hotlisted)
        let first = events.count
        var times = [UInt32](repeating: 0, count: LoadGenOptions.tapsPerCardDayMax)
        for day in 0..<options.days {
            let n = Self.share(taps, part: day, of: options.days)
            guard n > 0 else { continue }
            sampleTimes(n, into: &times, &rng)
            for i in 0..<n {
                let at = UInt32(day) * 86_400 + times[i]
                leg(at: at, day: day, &card, &rng, &faultRng)
            }
        }
        if let last = card.lastPurchaseEvent, events[last].fault == .gap { events[last].fault = .none }
        if card.hotlisted { hotlistPartWay(card: card.index, events: first..<events.count) }
    }

    /// An even share of `total` for `part` of `parts` (shares differ by at most one, sum to total).
    static func share(_ total: Int, part: Int, of parts: Int) -> Int {
        total * (part + 1) / parts - total * part / parts
    }

    /// `n` tap times (seconds of day) with a morning and an evening peak, sorted, at least
    /// ``tapGapSecondsMin`` apart and inside the day's service hours.
    func sampleTimes(_ n: Int, into t: inout [UInt32], _ rng: inout SplitMix64) {
        let lo = Double(Self.daySecondsMin), hi = Double(Self.daySecondsMax)
        for i in 0..<n {
            let u = rng.unit()
            let s: Double = u < 0.38 ? 8 * 3600 + 50 * 60 * rng.normal()
                : u < 0.76 ? 18 * 3600 + 65 * 60 * rng.normal()
                : 6 * 3600 + rng.unit() * 16.5 * 3600
            t[i] = UInt32(min(hi, max(lo, s)))
        }
        t[0..<n].sort()
        let gap = Self.tapGapSecondsMin
        for i in 1..<max(1, n) where t[i] < t[i - 1] + gap { t[i] = t[i - 1] + gap }
        // Pull back from the end of the day; n × gap is far shorter than the service day.
        if t[n - 1] > Self.daySecondsMax { t[n - 1] = Self.daySecondsMax }
        for i in stride(from: n - 2, through: 0, by: -1) where t[i] + gap > t[i + 1] { t[i] = t[i + 1] - gap }
    }

    /// Marks the card hotlisted in the middle of its live records: those before stay good, the
    /// rest are refused `07`.
    mutating func hotlistPartWay(card: UInt32, events range: Range<Int>) {
        let liveFrom = UInt32(firstLiveDay) * 86_400
        guard let firstLive = range.first(where: { events[$0].time >= liveFrom }) else { return }
        let k = firstLive + (range.upperBound - firstLive) / 2
        // Records of one card are at least a minute apart, so this falls strictly between two.
        let at = events[k].time - 30
        precondition(k == range.lowerBound || events[k - 1].time < at, "hotlist time collides with a tap")
        for i in k..<range.upperBound { events[i].fault = .hotlisted }
        hotlist.append((card, at))
    }
}
