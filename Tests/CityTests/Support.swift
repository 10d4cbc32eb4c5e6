import City
import FoundationEssentials
import OneCardCore
import Testing

/// The repository root, found from this file's path (Tests/CityTests/Support.swift).
let repositoryRoot = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")

/// The example city's path.
let xianPath = repositoryRoot + "/config/city-xian.json"

/// The example city as shipped.
func xian() throws -> City { try City.load(path: xianPath) }

/// The example city with one piece of its text replaced (the replaced text must occur).
func xianVariant(replacing old: String, with new: String) throws -> City {
    let text = try #require(String(data: Data(contentsOf: URL(fileURLWithPath: xianPath)), encoding: .utf8))
    try #require(text.contains(old), "the example city no longer contains \(old)")
    return try City.parse(data: Data(text.replacing(old, with: new).utf8), source: "variant.json")
}

/// A terminal id from 12 hex digits.
func tid(_ hex: String) throws -> TerminalID { try #require(TerminalID(hex: hex)) }

/// A station code from 4 hex digits.
func station(_ hex: String) throws -> StationID { try #require(StationID(hex: hex)) }

/// A local time on 2026-03-02 (or another day), `HH:MM:SS`.
func at(_ time: String, day: String = "2026-03-02") throws -> BCDDateTime {
    try #require(BCDDateTime(iso: "\(day)T\(time)"))
}

// Terminals of the example city (the ID scheme is in docs/formats.md).
enum X {
    static let bus5 = "710002000501"       // line 5, 100 fen
    static let bus215 = "710002021501"     // line 215, 200 fen
    static let tour8 = "710002060801"      // tour line 8, 300 fen
    static let gateHouweizhai = "710003010101"  // line 1, 0 m
    static let gateHanchenglu = "710003010501"  // line 1, 5900 m
    static let gateBeidajie = "710003011001"    // transfer station (line 1 11200 m, line 2 11000 m)
    static let gateChanglepo = "710003011601"   // line 1, 18100 m
    static let gateBeikezhan = "710003020101"   // line 2, 0 m
    static let gateZhonglou = "710003021101"    // line 2, 11900 m
    static let gateXiaozhai = "710003021501"    // line 2, 15900 m
    static let gateHuizhan = "710003021701"     // line 2, 18100 m
    static let taxi1 = "710004000001"
    static let gas1 = "710005000001"
    static let counter1 = "710001000001"
}
