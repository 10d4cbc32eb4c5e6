#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The wall-clock time stamped on audit rows (a run's `committed_at`, a hotlist entry, an
/// officer's action): ISO 8601 in UTC to the second, `2026-12-02T01:46:17Z`.
///
/// Built from `gmtime_r` rather than `ISO8601DateFormatter`, which builds an ICU formatter on
/// every call (6 % of an ingest in runs of one file each).
public enum AuditTime {
    /// The stamp of the present moment.
    public static func now() -> String { stamp(secondsSinceEpoch: Int(time(nil))) }

    /// The stamp of a moment in seconds since 1970 UTC.
    public static func stamp(secondsSinceEpoch: Int) -> String {
        var t = time_t(secondsSinceEpoch)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
