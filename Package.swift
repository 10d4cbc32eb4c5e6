// swift-tools-version:6.0
//
// OneCard: a city one-card (一卡通) e-purse transaction engine.
//
// Layout (see docs/architecture.md):
//   OneCardCore     pure values: money, identifiers, APDU codec, BCD dates. No C, no I/O.
//   COneCardCrypto  the C shim over OpenSSL's libcrypto (legacy DES API).
//   CPrefetch       a cache prefetch hint (one inline C function), for Clearing's tables.
//   OneCardCrypto   3DES/DES, ISO 9797-1 MACs, PBOC diversification, purse MAC/TAC, keysets.
//                   The only module that imports libcrypto.
//   City            the city file (operators, terminals, lines, fares) and the pure fare engine.
//   LoadGen         the load generator: a simulated city day as real upload batches + ground truth.
//   EPurse          the T-Union / PBOC e-purse card application and its emulator.
//   PSAMCard        the terminal's secure access module (PSAM) card application and its emulator.
//   CPCSCLite       system library over libpcsclite (Hardware/).
//   OneCardPCSC     the Swift PC/SC layer (Hardware/). The only module importing PC/SC.
//   VirtualReader   puts an emulated card into pcscd through vsmartcard's vpcd (Hardware/).
//   ClearingFuzz    a seeded mutation fuzzer over batch decode → verify → post (`onecard fuzz`).
//   Settlement      the pure daily settlement: fees, nets, positions, postings, files, report.
//   Storage         SQLite (through GRDB): the terminal journal, the issuer database and the
//                   clearing store, whose SQL is written once for both engines (SQLEngine).
//   PostgresStorage the clearing store on PostgreSQL (postgres-nio): `--db postgresql://…`.
//   onecard         the command-line tool, a thin shell over the libraries.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "OneCard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "onecard", targets: ["onecard"]),
        .library(name: "OneCardCore", targets: ["OneCardCore"]),
        .library(name: "OneCardCrypto", targets: ["OneCardCrypto"]),
        .library(name: "EPurse", targets: ["EPurse"]),
        .library(name: "PSAMCard", targets: ["PSAMCard"]),
        .library(name: "UploadBatch", targets: ["UploadBatch"]),
        .library(name: "Terminal", targets: ["Terminal"]),
        .library(name: "Clearing", targets: ["Clearing"]),
        .library(name: "OneCardPCSC", targets: ["OneCardPCSC"]),
        .library(name: "VirtualReader", targets: ["VirtualReader"]),
        .library(name: "City", targets: ["City"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "LoadGen", targets: ["LoadGen"]),
        .library(name: "Settlement", targets: ["Settlement"]),
        .library(name: "ClearingIngest", targets: ["ClearingIngest"]),
        .library(name: "ClearingService", targets: ["ClearingService"]),
        .library(name: "PostgresStorage", targets: ["PostgresStorage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // The network front-end only (module FrontEnd): the core modules do not depend on it.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The clearing store on PostgreSQL only (module PostgresStorage).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .target(name: "OneCardCore", swiftSettings: strict),
        .target(
            name: "COneCardCrypto",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        .target(name: "CPrefetch"),
        .target(
            name: "OneCardCrypto",
            dependencies: ["OneCardCore", "COneCardCrypto"],
            swiftSettings: strict
        ),
        .target(
            name: "EPurse",
            dependencies: ["OneCardCore", "OneCardCrypto"],
            swiftSettings: strict
        ),
        .target(
            name: "PSAMCard",
            dependencies: ["OneCardCore", "OneCardCrypto"],
            swiftSettings: strict
        ),
        .target(name: "City", dependencies: ["OneCardCore"], swiftSettings: strict),
        .target(
            name: "UploadBatch",
            dependencies: ["OneCardCore", "OneCardCrypto"],
            swiftSettings: strict
        ),
        .target(
            name: "LoadGen",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch"],
            swiftSettings: strict
        ),
        .target(
            name: "Terminal",
            dependencies: ["OneCardCore", "OneCardCrypto", "EPurse", "City", "UploadBatch"],
            swiftSettings: strict
        ),
        .target(
            name: "Clearing",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "CPrefetch"],
            swiftSettings: strict
        ),
        .target(
            name: "ClearingFuzz",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "Clearing"],
            swiftSettings: strict
        ),
        .target(
            name: "Storage",
            dependencies: [
                "OneCardCore", "OneCardCrypto", "EPurse", "UploadBatch", "Terminal", "Clearing",
                .product(name: "GRDB", package: "GRDB.swift"),
                // sqlite3_wal_hook (SQLiteFile.Checkpointer), which GRDB does not wrap.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "PostgresStorage",
            dependencies: ["Storage", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: strict
        ),
        .target(
            name: "Settlement",
            dependencies: ["OneCardCore", "City", "UploadBatch", "Clearing"],
            swiftSettings: strict
        ),
        .target(
            name: "ClearingIngest",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "Clearing", "Storage"],
            swiftSettings: strict
        ),
        .target(
            name: "FrontEnd",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "Terminal", "Clearing", "Storage", "ClearingIngest",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ClearingService",
            dependencies: ["OneCardCore", "City", "UploadBatch", "Clearing", "Settlement", "Storage"],
            swiftSettings: strict
        ),
        .target(
            name: "Simulation",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "EPurse", "PSAMCard", "UploadBatch", "Terminal", "Clearing",
                           "Settlement", "Storage", "ClearingIngest", "ClearingService"],
            swiftSettings: strict
        ),
        .systemLibrary(
            name: "CPCSCLite",
            path: "Hardware/Sources/CPCSCLite",
            pkgConfig: "libpcsclite",
            providers: [.apt(["libpcsclite-dev"])]
        ),
        .target(
            name: "OneCardPCSC",
            dependencies: ["OneCardCore", "CPCSCLite"],
            path: "Hardware/Sources/OneCardPCSC",
            swiftSettings: strict
        ),
        .target(
            name: "VirtualReader",
            dependencies: ["OneCardCore", "EPurse"],
            path: "Hardware/Sources/VirtualReader",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "onecard",
            dependencies: [
                "OneCardCore", "OneCardCrypto", "EPurse", "PSAMCard", "City", "UploadBatch", "Terminal", "Clearing", "Storage", "OneCardPCSC",
                "VirtualReader", "LoadGen", "Settlement", "ClearingFuzz", "ClearingIngest", "ClearingService", "FrontEnd", "Simulation",
                "PostgresStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "OneCardCoreTests", dependencies: ["OneCardCore"], swiftSettings: strict),
        .testTarget(
            name: "OneCardCryptoTests",
            dependencies: ["OneCardCore", "OneCardCrypto"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EPurseTests",
            dependencies: ["OneCardCore", "OneCardCrypto", "EPurse", "OneCardTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PSAMCardTests",
            dependencies: ["OneCardCore", "OneCardCrypto", "PSAMCard", "EPurse", "Terminal", "City", "UploadBatch", "OneCardTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(name: "CityTests", dependencies: ["OneCardCore", "City"], swiftSettings: strict),
        .testTarget(
            name: "UploadBatchTests",
            dependencies: ["OneCardCore", "OneCardCrypto", "UploadBatch"],
            swiftSettings: strict
        ),
        .target(
            name: "OneCardTestSupport",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "Clearing"],
            path: "Tests/Support",
            swiftSettings: strict
        ),
        .target(
            name: "StoreTestSupport",
            dependencies: ["OneCardCore", "OneCardCrypto", "Storage", "PostgresStorage"],
            path: "Tests/StoreSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ClearingTests",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "Clearing", "ClearingFuzz", "OneCardTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TerminalTests",
            dependencies: ["OneCardCore", "OneCardCrypto", "EPurse", "City", "UploadBatch", "Terminal", "OneCardTestSupport"],
            swiftSettings: strict
        ),
        // For the storage tests: a SQLite VFS in front of the default one that counts a WAL's
        // fsyncs and the writes not yet fsynced.
        .target(name: "CSQLiteSyncWatch", path: "Tests/SyncWatch", linkerSettings: [.linkedLibrary("sqlite3")]),
        .testTarget(
            name: "StorageTests",
            dependencies: ["OneCardCore", "OneCardCrypto", "UploadBatch", "Terminal", "Storage", "City", "Clearing", "ClearingIngest", "OneCardTestSupport", "StoreTestSupport", "PostgresStorage", "CSQLiteSyncWatch",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SettlementTests",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "Clearing", "Settlement", "Storage", "OneCardTestSupport", "StoreTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LoadGenTests",
            dependencies: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "LoadGen"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HardwareTests",
            dependencies: [
                "OneCardCore", "OneCardCrypto", "EPurse", "PSAMCard", "City", "UploadBatch", "Terminal", "Storage", "OneCardPCSC",
                "VirtualReader", "OneCardTestSupport",
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
