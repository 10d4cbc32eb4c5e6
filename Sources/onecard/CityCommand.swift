import ArgumentParser
import City
import Foundation
import OneCardCore
import Storage
import PostgresStorage

extension ClearingCommand {
    /// `onecard clearing city add|list|show`: the versions of the city file clearing keeps.
    struct CityVersions: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "city",
            abstract: "Store a new version of the city file with the day it takes effect, list the versions, print one.",
            discussion: """
                Every version is kept. Settling or reconciling a business day uses the version in force that day \
                (the newest-stored whose effective day is on or before it); ingest and serve use the newest. A \
                version cannot take effect on a closed day.
                """,
            subcommands: [Add.self, List.self, Show.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Store a city file as a new version.")
            @Option(help: "The clearing database: a SQLite file, or a postgresql:// URL.")
            var db: String
            @Option(help: "The city file.")
            var file: String
            @Option(help: "The first business day it is in force, YYYY-MM-DD (default: the first day not yet closed).")
            var effective: String?

            func run() throws {
                try reporting {
                    let store = try ClearingDatabase.open(db)
                    let day = try effective.map { text in
                        guard let d = BCDDate(text) else { throw CLIError("--effective must be YYYY-MM-DD, got \(text)") }
                        return d
                    }
                    let data = try Data(contentsOf: URL(fileURLWithPath: file))
                    _ = try City.parse(data: data, source: file)
                    let before = try store.newestCity()?.version
                    let version = try store.addCity(data, effective: day)
                    if version == before {
                        print("\(file) is the newest city version \(version) already: nothing stored")
                    } else {
                        print("stored \(file) as city version \(version), in force from \(day?.description ?? "the first open day")")
                    }
                }
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the city versions.")
            @Option(help: "The clearing database: a SQLite file, or a postgresql:// URL.")
            var db: String
            @Flag(help: "Print a JSON array.")
            var json = false

            func run() throws {
                try reporting {
                    let versions = try ClearingDatabase.open(db).cityVersions()
                    if json {
                        printJSON(versions)
                        return
                    }
                    for v in versions {
                        print("\(v.version)  from \(v.effective?.description ?? "the beginning")  \(v.bytes) bytes  sha256 \(v.sha256)  stored \(v.stored)")
                    }
                    print("\(versions.count) version(s)")
                }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print one city version's file (default: the one in force on --day, or the newest).")
            @Option(help: "The clearing database: a SQLite file, or a postgresql:// URL.")
            var db: String
            @Option(help: "The version.")
            var version: Int64?
            @Option(help: "The business day, YYYY-MM-DD: print the version in force that day.")
            var day: String?

            func run() throws {
                try reporting {
                    let store = try ClearingDatabase.open(db)
                    let file: Data?
                    if let version {
                        file = try store.cityFile(version: version)
                    } else if let day {
                        guard let d = BCDDate(day) else { throw CLIError("--day must be YYYY-MM-DD, got \(day)") }
                        file = try store.city(forDay: d)?.file
                    } else {
                        file = try store.newestCity()?.file
                    }
                    guard let file else { throw CLIError("\(db) has no such city version: see onecard clearing city list") }
                    FileHandle.standardOutput.write(file)
                }
            }
        }
    }
}
