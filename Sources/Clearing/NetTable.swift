/// Signed sums by 64-bit key, in an open-addressing table with a multiplicative hash and
/// linear probing: the ledger audit adds two legs a transfer, tens of millions of times, and a
/// `Dictionary` spends most of that hashing (SipHash) rather than finding. Slots are 16 bytes;
/// the table doubles past half full. The key `UInt64.max` marks an empty slot, so its sum is
/// kept beside the table.
struct NetTable {
    private var keys: [UInt64]
    private var sums: [Int64]
    /// The sum of key `UInt64.max`, if it was added to.
    private var maxKeySum: Int64?
    /// Keys in the table.
    private(set) var count = 0

    init() {
        keys = [UInt64](repeating: .max, count: 1 << 10)
        sums = [Int64](repeating: 0, count: 1 << 10)
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int { FibonacciHash.slot(key, tableSize: keys.count) }

    /// Adds `amount` to the sum of `key` (a new key starts at 0). Traps on overflow, like `+=`.
    @inline(__always)
    mutating func add(_ key: UInt64, _ amount: Int64) {
        guard key != .max else {
            maxKeySum = (maxKeySum ?? 0) + amount
            return
        }
        if (count + 1) * 2 > keys.count { grow() }
        let mask = keys.count - 1
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key {
                sums[i] += amount
                return
            }
            if k == .max {
                keys[i] = key
                sums[i] = amount
                count += 1
                return
            }
            i = (i + 1) & mask
        }
    }

    /// The sum of `key`, or `nil` if nothing was added to it.
    func sum(_ key: UInt64) -> Int64? {
        guard key != .max else { return maxKeySum }
        let mask = keys.count - 1
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return sums[i] }
            if k == .max { return nil }
            i = (i + 1) & mask
        }
    }

    /// Every key with its sum, in no particular order.
    func forEach(_ body: (UInt64, Int64) -> Void) {
        for i in keys.indices where keys[i] != .max { body(keys[i], sums[i]) }
        if let m = maxKeySum { body(.max, m) }
    }

    /// The sum of all sums.
    var total: Int64 {
        var t: Int64 = maxKeySum ?? 0
        for s in sums { t += s }
        return t
    }

    private mutating func grow() {
        let old = (keys, sums, maxKeySum)
        keys = [UInt64](repeating: .max, count: old.0.count * 2)
        sums = [Int64](repeating: 0, count: old.0.count * 2)
        count = 0
        maxKeySum = nil
        for i in old.0.indices where old.0[i] != .max { add(old.0[i], old.1[i]) }
        maxKeySum = old.2
    }
}
