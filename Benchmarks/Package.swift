// swift-tools-version:6.1
//
// OneCard's benchmarks, in their own package so that `swift test` at the top level never
// compiles the benchmark tooling. Run from this directory:
//
//     swift package --allow-writing-to-package-directory benchmark
//
// Numbers and the exact commands that produced them are in ../docs/performance.md.
import PackageDescription

import struct Foundation.URL

// SwiftPM names a path dependency after its folder, so the clone's folder name is the
// identity of the OneCard package here.
let oneCard = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

/// An ordo-one benchmark target in `Benchmarks/NAME` using the given OneCard products.
func benchmark(_ name: String, using products: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "Benchmark", package: "benchmark")] + products.map { .product(name: $0, package: oneCard) },
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

let package = Package(
    name: "OneCardBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // Only for PipelineBaseline (the PostgreSQL and SQLite baselines of pipeline.sh).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        benchmark("CryptoBenchmarks", using: ["OneCardCore", "OneCardCrypto"]),
        benchmark("EPurseBenchmarks", using: ["OneCardCore", "OneCardCrypto", "EPurse", "Terminal"]),
        benchmark("ClearingBenchmarks", using: ["OneCardCore", "OneCardCrypto", "City", "UploadBatch", "Clearing"]),
        // The baselines of pipeline.sh: the same upload batches, verified and posted through
        // PostgreSQL (row at a time, set-based) or SQLite (row at a time). Not a benchmark
        // plugin target: pipeline.sh runs it with /usr/bin/time.
        .executableTarget(
            name: "PipelineBaseline",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "OneCardCore", package: oneCard),
                .product(name: "OneCardCrypto", package: oneCard),
                .product(name: "UploadBatch", package: oneCard),
            ],
            path: "Sources/PipelineBaseline"
        ),
    ]
)
