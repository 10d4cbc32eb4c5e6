#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import OneCardCore

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

/// The local wall clock as terminals and the clearing centre stamp transactions and receipts.
public enum LocalClock {
    /// Now, local time, to the second (a leap second reads as :59).
    public static func now() -> BCDDateTime {
        var t = time(nil)
        var parts = tm()
        localtime_r(&t, &parts)
        return BCDDateTime(
            date: BCDDate(year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday))!,
            time: BCDTime(hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: min(59, Int(parts.tm_sec)))!)
    }
}
