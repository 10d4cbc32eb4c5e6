import Foundation
import OneCardCore
import Terminal
import Testing

@Suite("a validator's hotlist store")
struct HotlistStoreTests {
    func withDir(_ body: (String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "onecard-hotlist-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    func malformedReason(_ path: String) -> String? {
        do {
            _ = try HotlistStore(path: path)
            return nil
        } catch {
            if case .malformed(_, let reason) = error { return reason }
            return "\(error)"
        }
    }

    @Test("every listed card is found and no other, at 8 bytes a card plus 64")
    func lookups() throws {
        try withDir { dir in
            var rng = SplitMix64(seed: 1)
            let listed = Set((0..<20_000).map { _ in rng.next() | 1 }).sorted()
            let path = dir + "/h.ochl"
            try HotlistStore.writeAtomically(HotlistStore.encode(kind: .full, version: 9, baseVersion: 0, added: listed, removed: []), to: path)
            let store = try HotlistStore(path: path)
            #expect(store.version == 9 && store.count == listed.count)
            #expect(store.byteCount == 64 + 8 * listed.count)
            #expect(listed.allSatisfy { store.contains(CardSerial(rawValue: $0)) })
            // Even numbers were never listed (every listed serial is odd).
            #expect(!(0..<20_000).contains { _ in store.contains(CardSerial(rawValue: rng.next() & ~1)) })
            #expect(!store.contains(CardSerial(rawValue: 0)) && !store.contains(CardSerial(rawValue: .max - 1)))
            #expect(Hotlist(store: store).contains(CardSerial(rawValue: listed[0])))
        }
    }

    @Test("a corrupt, cut, unordered or mislabelled file is refused with its reason")
    func refusals() throws {
        try withDir { dir in
            let good = HotlistStore.encode(kind: .full, version: 3, baseVersion: 0, added: [10, 20, 30], removed: [])
            let path = dir + "/h.ochl"
            var flipped = good
            flipped[40] ^= 1
            try write(flipped, path)
            #expect(malformedReason(path)?.contains("SHA-256") == true)
            try write(Array(good.dropLast(1)), path)
            #expect(malformedReason(path)?.contains("header says") == true)
            try write(HotlistStore.encodeUnchecked(version: 3, serials: [10, 30, 20]), path)
            #expect(malformedReason(path)?.contains("ascending") == true)
            try write(HotlistStore.encodeUnchecked(version: 3, serials: [10, 10]), path)
            #expect(malformedReason(path)?.contains("ascending") == true)
            var badMagic = good
            badMagic[0] = UInt8(ascii: "X")
            try write(badMagic, path)
            #expect(malformedReason(path)?.contains("magic") == true)
            try write(HotlistStore.encode(kind: .delta, version: 4, baseVersion: 3, added: [1], removed: [2]), path)
            #expect(malformedReason(path)?.contains("delta") == true)
            try write([], path)
            #expect(malformedReason(path) != nil)
            try write(good, path)
            #expect(malformedReason(path) == nil)
        }
    }

    @Test("a delta applies only to its base version; applied, the store holds the new list and a second reader picks it up")
    func deltas() throws {
        try withDir { dir in
            let path = dir + "/h.ochl"
            let v1: [UInt64] = [5, 10, 15, 20, 25]
            let v2: [UInt64] = [1, 10, 20, 25, 30, 99]
            try HotlistStore.writeAtomically(HotlistStore.encode(kind: .full, version: 1, baseVersion: 0, added: v1, removed: []), to: path)
            let store = try HotlistStore(path: path)
            let reader = try HotlistStore(path: path)
            // A delta from another version changes nothing.
            try write(HotlistStore.delta(from: [5], version: 7, to: [6], version: 8), dir + "/wrong.ochl")
            #expect(throws: HotlistStore.StoreError.wrongBase(path: dir + "/wrong.ochl", storeVersion: 1, deltaBase: 7)) {
                try store.apply(deltaAt: dir + "/wrong.ochl")
            }
            #expect(store.version == 1 && store.serials == v1)
            #expect(try reader.reopenIfChanged() == false)
            // The right one.
            try write(HotlistStore.delta(from: v1, version: 1, to: v2, version: 2), dir + "/d.ochl")
            try store.apply(deltaAt: dir + "/d.ochl")
            #expect(store.version == 2 && store.serials == v2)
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
            // A running terminal's reader sees the replaced file at its next check.
            #expect(reader.contains(CardSerial(rawValue: 5)))
            #expect(try reader.reopenIfChanged() == true)
            #expect(!reader.contains(CardSerial(rawValue: 5)) && reader.contains(CardSerial(rawValue: 99)) && reader.version == 2)
            // Applying the same delta again is refused: the store is past its base.
            #expect(throws: HotlistStore.StoreError.self) { try store.apply(deltaAt: dir + "/d.ochl") }
            // A broken replacement is refused and the reader keeps the list it has.
            try write([1, 2, 3], path)
            #expect(throws: HotlistStore.StoreError.self) { try reader.reopenIfChanged() }
            #expect(reader.version == 2 && reader.contains(CardSerial(rawValue: 99)))
        }
    }
}
