import CPCSCLite

// The C boundary: `DWORD` is `UInt` on 64-bit Linux and `UInt32` on macOS, the PC/SC
// macros import as `Int32` or `Int`. Conversions happen here and nowhere else.

/// A Swift integer as a C `DWORD` (values are small flags or byte counts, never negative).
@inline(__always)
func dword<T: BinaryInteger>(_ value: T) -> DWORD { DWORD(truncatingIfNeeded: value) }

/// A C `DWORD` as a Swift `Int`.
@inline(__always)
func int(_ value: DWORD) -> Int { Int(truncatingIfNeeded: value) }

/// Milliseconds for a PC/SC timeout, clamped below `INFINITE`.
func timeoutMilliseconds(_ duration: Duration) -> DWORD {
    let (seconds, attoseconds) = duration.components
    let ms = max(0, seconds) * 1000 + max(0, attoseconds) / 1_000_000_000_000_000
    return dword(min(ms, Int64(UInt32.max - 1)))
}

/// `\\?PnP?\Notification`: the pseudo-reader whose state changes when a reader is added or
/// removed (pcsc-lite ≥ 1.6).
let pnpNotificationReader = #"\\?PnP?\Notification"#

/// Splits a double-NUL-terminated multi-string (`SCardListReaders`) into its strings.
func splitMultiString(_ buffer: [CChar]) -> [String] {
    var names: [String] = []
    var start = 0
    for (i, c) in buffer.enumerated() where c == 0 {
        if i == start { break }
        let bytes = buffer[start..<i].map { UInt8(bitPattern: $0) }
        names.append(String(decoding: bytes, as: UTF8.self))
        start = i + 1
    }
    return names
}
