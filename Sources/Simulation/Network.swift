import OneCardCore

/// The simulated network between terminals and the front-end: every message is delivered at a
/// step of the simulation's choosing, or lost, or delivered twice. Only the simulation's random
/// stream decides, so a seed replays the same deliveries.
struct Network {
    enum Payload {
        /// A terminal's upload: `PUT /v1/terminals/{terminal}/batches/{sequence}` with the bytes.
        case upload(terminal: TerminalID, sequence: UInt32, bytes: [UInt8])
        /// The front-end's answer to an upload, back to its terminal.
        case answer(terminal: TerminalID, sequence: UInt32, acknowledged: Bool, json: String)
    }

    struct Message {
        var at: Int
        var order: UInt64
        var payload: Payload
    }

    /// Fault rates (0 in the final, fault-free phase).
    var lossRate = 0.0
    var duplicateRate = 0.0
    var delayStepsMax = 0

    private(set) var inFlight: [Message] = []
    private var counter: UInt64 = 0
    private(set) var lost = 0
    private(set) var duplicated = 0

    /// Sends a message at `step`: lost, delayed, or sent twice as the faults say.
    mutating func send(_ payload: Payload, step: Int, rng: inout SplitMix64) {
        if rng.chance(lossRate) {
            lost += 1
            return
        }
        let copies = rng.chance(duplicateRate) ? 2 : 1
        if copies == 2 { duplicated += 1 }
        for _ in 0..<copies {
            counter += 1
            inFlight.append(Message(at: step + (delayStepsMax > 0 ? rng.int(in: 0...delayStepsMax) : 0), order: rng.next() ^ counter, payload: payload))
        }
    }

    /// The messages due at `step`, in a shuffled (seeded) order: reordering.
    mutating func due(at step: Int) -> [Payload] {
        let ready = inFlight.filter { $0.at <= step }.sorted { $0.order < $1.order }
        inFlight.removeAll { $0.at <= step }
        return ready.map(\.payload)
    }

    var isEmpty: Bool { inFlight.isEmpty }
}
