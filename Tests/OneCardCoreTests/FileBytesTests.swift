import Foundation
import OneCardCore
import Testing

@Suite("whole files read into memory")
struct FileBytesTests {
    static func scratch(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("filebytes-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("a file's bytes exactly, an empty file, a file over the limit refused by its size, a missing file")
    func reads() throws {
        var rng = SplitMix64(seed: 9)
        let bytes = (0..<300_001).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let path = try Self.scratch(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileBytes.read(path, maxBytes: bytes.count) == .success(bytes))
        #expect(FileBytes.read(path, maxBytes: bytes.count - 1) == .failure(.tooLarge(bytes.count)))
        let empty = try Self.scratch([])
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(FileBytes.read(empty, maxBytes: 10) == .success([]))
        guard case .failure(.unreadable(let why)) = FileBytes.read(path + ".missing", maxBytes: 10) else {
            Issue.record("a missing file was read")
            return
        }
        #expect(why.contains("No such file"))
    }

    @Test("a file's size: its bytes, 0 for an empty file, nil for a missing one")
    func size() throws {
        let path = try Self.scratch([UInt8](repeating: 7, count: 12_345))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileBytes.size(path) == 12_345)
        let empty = try Self.scratch([])
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(FileBytes.size(empty) == 0)
        #expect(FileBytes.size(path + ".missing") == nil)
    }
}
