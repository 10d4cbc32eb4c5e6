import Foundation
import Storage
import Testing

@Suite("audit stamps are ISO 8601 in UTC to the second")
struct AuditTimeTests {
    @Test("the same text as Foundation's ISO 8601 formatter, at the epoch, leap days and now")
    func matchesFoundation() {
        let formatter = ISO8601DateFormatter()
        let now = Int(Date().timeIntervalSince1970)
        for t in [0, 59, 951_782_400, 1_709_164_799, 1_796_172_377, 4_102_444_799, now] {
            #expect(AuditTime.stamp(secondsSinceEpoch: t) == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(t))))
        }
        #expect(AuditTime.stamp(secondsSinceEpoch: 0) == "1970-01-01T00:00:00Z")
    }
}
