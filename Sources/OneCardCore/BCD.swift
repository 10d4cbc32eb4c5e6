/// Binary-coded decimal dates and times as the card stores them: `YYYYMMDD` in 4 bytes,
/// `HHMMSS` in 3 bytes. Values are validated (month 1–12, day within the month, leap years).

/// A calendar date, encoded as 4 BCD bytes `YYYYMMDD`.
public struct BCDDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Year (0...9999).
    public let year: Int
    /// Month (1...12).
    public let month: Int
    /// Day of the month (1...28/29/30/31).
    public let day: Int

    /// Builds a date; `nil` if it does not exist.
    public init?(year: Int, month: Int, day: Int) {
        guard (0...9999).contains(year), (1...12).contains(month),
              (1...Self.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Decodes 4 BCD bytes; `nil` for a non-BCD nibble or a date that does not exist.
    public init?(bcd bytes: some Collection<UInt8>) {
        guard bytes.count == 4, let digits = BCD.decode(bytes) else { return nil }
        self.init(year: digits / 10_000, month: digits / 100 % 100, day: digits % 100)
    }

    /// Parses `YYYYMMDD` or `YYYY-MM-DD`.
    public init?(_ text: String) {
        let digits = text.filter { $0 != "-" }
        guard digits.count == 8, digits.allSatisfy(\.isASCII), let v = Int(digits) else { return nil }
        self.init(year: v / 10_000, month: v / 100 % 100, day: v % 100)
    }

    /// The 4 BCD bytes.
    public var bcd: [UInt8] { BCD.encode(year * 10_000 + month * 100 + day, byteCount: 4) }

    /// `YYYY-MM-DD`.
    public var description: String {
        "\(BCD.pad(year, 4))-\(BCD.pad(month, 2))-\(BCD.pad(day, 2))"
    }

    /// The days since 1970-01-01 (negative before), for date arithmetic.
    public var daysSinceEpoch: Int {
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date `daysSinceEpoch` days after 1970-01-01.
    public init(daysSinceEpoch z0: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (m <= 2 ? 1 : 0)
        month = m
        day = d
    }

    /// The date `days` days later (earlier if negative).
    public func adding(days: Int) -> BCDDate { BCDDate(daysSinceEpoch: daysSinceEpoch + days) }

    /// Whether `year` is a Gregorian leap year.
    public static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    public static func < (a: BCDDate, b: BCDDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }
}

/// A time of day, encoded as 3 BCD bytes `HHMMSS`.
public struct BCDTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Hour (0...23).
    public let hour: Int
    /// Minute (0...59).
    public let minute: Int
    /// Second (0...59).
    public let second: Int

    /// Builds a time; `nil` if out of range.
    public init?(hour: Int, minute: Int, second: Int) {
        guard (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second) else { return nil }
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// Decodes 3 BCD bytes.
    public init?(bcd bytes: some Collection<UInt8>) {
        guard bytes.count == 3, let v = BCD.decode(bytes) else { return nil }
        self.init(hour: v / 10_000, minute: v / 100 % 100, second: v % 100)
    }

    /// Seconds since midnight.
    public var secondsOfDay: Int { hour * 3600 + minute * 60 + second }

    /// The 3 BCD bytes.
    public var bcd: [UInt8] { BCD.encode(hour * 10_000 + minute * 100 + second, byteCount: 3) }

    /// `HH:MM:SS`.
    public var description: String { "\(BCD.pad(hour, 2)):\(BCD.pad(minute, 2)):\(BCD.pad(second, 2))" }

    public static func < (a: BCDTime, b: BCDTime) -> Bool { a.secondsOfDay < b.secondsOfDay }
}

/// A local date and time as a terminal stamps a transaction (no time zone: the city's).
public struct BCDDateTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The date.
    public let date: BCDDate
    /// The time of day.
    public let time: BCDTime

    /// Combines a date and a time.
    public init(date: BCDDate, time: BCDTime) {
        self.date = date
        self.time = time
    }

    /// Decodes 7 BCD bytes `YYYYMMDDHHMMSS`.
    public init?(bcd bytes: some Collection<UInt8>) {
        let a = Array(bytes)
        guard a.count == 7, let d = BCDDate(bcd: a[0..<4]), let t = BCDTime(bcd: a[4..<7]) else { return nil }
        self.init(date: d, time: t)
    }

    /// Seconds since 1970-01-01 00:00:00 in the city's local time.
    public var secondsSinceEpoch: Int64 { Int64(date.daysSinceEpoch) * 86_400 + Int64(time.secondsOfDay) }

    /// The local date-time `seconds` after 1970-01-01 00:00:00.
    public init(secondsSinceEpoch s: Int64) {
        let days = s >= 0 ? s / 86_400 : (s - 86_399) / 86_400
        let rest = Int(s - days * 86_400)
        self.date = BCDDate(daysSinceEpoch: Int(days))
        // rest is in 0..<86400, so the time always exists.
        self.time = BCDTime(hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60)!
    }

    /// The 7 BCD bytes.
    public var bcd: [UInt8] { date.bcd + time.bcd }

    /// ISO 8601 local time, `YYYY-MM-DDTHH:MM:SS`.
    public var description: String { "\(date)T\(time)" }

    /// Parses `YYYY-MM-DDTHH:MM:SS` (or with a space instead of `T`).
    public init?(iso text: String) {
        let parts = text.split(whereSeparator: { $0 == "T" || $0 == " " })
        guard parts.count == 2, let d = BCDDate(String(parts[0])) else { return nil }
        let hms = parts[1].split(separator: ":")
        guard hms.count == 3, let h = Int(hms[0]), let m = Int(hms[1]), let s = Int(hms[2]),
              let t = BCDTime(hour: h, minute: m, second: s)
        else { return nil }
        self.init(date: d, time: t)
    }

    public static func < (a: BCDDateTime, b: BCDDateTime) -> Bool { (a.date, a.time) < (b.date, b.time) }
}

/// BCD digit packing shared by the date and time types.
public enum BCD {
    /// Decodes BCD bytes to an integer; `nil` if any nibble is above 9.
    public static func decode(_ bytes: some Collection<UInt8>) -> Int? {
        var v = 0
        for b in bytes {
            let hi = Int(b >> 4), lo = Int(b & 0x0F)
            guard hi <= 9, lo <= 9 else { return nil }
            v = v * 100 + hi * 10 + lo
        }
        return v
    }

    /// Encodes a non-negative integer as `byteCount` BCD bytes (the low digits).
    public static func encode(_ value: Int, byteCount: Int) -> [UInt8] {
        precondition(value >= 0, "BCD of negative \(value)")
        var out = [UInt8](repeating: 0, count: byteCount)
        var v = value
        for i in stride(from: byteCount - 1, through: 0, by: -1) {
            let two = v % 100
            out[i] = UInt8(two / 10) << 4 | UInt8(two % 10)
            v /= 100
        }
        return out
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
