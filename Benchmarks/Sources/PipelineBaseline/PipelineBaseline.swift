import ArgumentParser
import Foundation

/// The baselines of `Benchmarks/pipeline.sh`: the loadgen's upload batches checked in the
/// application (batch MAC, grey records, every TAC) and posted to a conventional database,
/// with duplicates refused by a unique key and balances kept by updates. Prints one JSON line.
@main
struct PipelineBaseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Post loadgen batches through PostgreSQL or SQLite, as a conventional design would, and check the totals.")

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case pgRows = "pg-rows", pgSet = "pg-set", pgCeiling = "pg-ceiling", sqliteRows = "sqlite-rows"
    }

    @Option(help: "pg-rows | pg-set | pg-ceiling | sqlite-rows")
    var mode: Mode
    @Option(help: "The loadgen output directory (batches/ and ground-truth.json).")
    var dir: String
    @Option(help: "The keyset (purchase and tac master keys are used; never printed).")
    var keys: String
    @Option(help: "PostgreSQL port on 127.0.0.1.")
    var pgPort = 54329
    @Option(help: "PostgreSQL user.")
    var pgUser = "postgres"
    @Option(help: "PostgreSQL database.")
    var pgDatabase = "onecard_baseline"
    @Option(help: "SQLite database path (sqlite-rows).")
    var sqlite = "/tmp/onecard-baseline.sqlite"
    @Option(help: "Process only the first this many records, in file order (a sample; the last batch is cut); 0 = all.")
    var limitRecords = 0

    @Flag(help: "pg-set only: create transfers without its foreign key to accounts (to measure the key's cost).")
    var noForeignKey = false
    @Flag(help: "pg-ceiling only: give transfers its primary key (card, counter kind, counter); without it, no constraint at all.")
    var primaryKey = false

    func run() async throws {
        let sink = try await openSink()
        try await sink.reset()
        let began = DispatchTime.now().uptimeNanoseconds
        let run = try await post(into: sink)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
        let db = try await sink.totals()
        try await sink.close()
        let report = Report(mode: mode.rawValue, noFK: noForeignKey, run: run, seconds: seconds, db: db)
        print(report.json)
        try report.check(truth: run.sampled ? nil : Truth.load(dir: dir))
    }

    /// Opens the mode's database.
    private func openSink() async throws -> any Sink {
        switch mode {
        case .pgRows: return PostgresRowsSink(conn: try await PostgresLink.connect(port: pgPort, user: pgUser, database: pgDatabase))
        case .pgSet:
            let conn = try await PostgresLink.connect(port: pgPort, user: pgUser, database: pgDatabase)
            return PostgresSetSink(conn: conn, foreignKey: !noForeignKey)
        case .pgCeiling:
            return PostgresCeilingSink(conn: try await PostgresLink.connect(port: pgPort, user: pgUser, database: pgDatabase), primaryKey: primaryKey)
        case .sqliteRows:
            try removeSQLite()
            return try SQLiteRowsSink(path: sqlite)
        }
    }

    /// Starts SQLite from an empty file.
    private func removeSQLite() throws {
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: sqlite + suffix) {
            try FileManager.default.removeItem(atPath: sqlite + suffix)
        }
    }

    /// Reads, checks and posts every batch (or a sample), one transaction per batch.
    private func post(into sink: any Sink) async throws -> Run {
        var source = try BatchSource(keysPath: keys)
        var run = Run()
        for file in try BatchSource.files(in: dir) {
            let room = limitRecords > 0 ? limitRecords - run.records : .max
            if room <= 0 { run.sampled = true; break }
            let t0 = now()
            guard let batch = try source.read(file, maxRecords: room) else { continue }
            run.expectation.add(batch.rows)
            let t1 = now()
            try await sink.post(batch.rows, operatorID: batch.operatorID)
            run.appNs += t1 - t0
            run.dbNs += now() - t1
            run.records += batch.records
            run.batches += 1
        }
        let t = now()
        try await sink.finish()
        run.dbNs += now() - t
        run.refusals = source.refusals
        run.phases = sink.phases
        return run
    }
}

/// What one run did, counted in the application.
struct Run {
    var records = 0, batches = 0
    /// Reading, MAC, decoding and TAC checks in the application; and the database's part.
    var appNs: UInt64 = 0, dbNs: UInt64 = 0
    /// The sink's own phases.
    var phases: [(name: String, seconds: Double)] = []
    var sampled = false
    var expectation = Expectation()
    var refusals = AppRefusals()
}

/// The result line and the checks that fail the run loudly.
struct Report {
    let mode: String
    /// Whether `transfers` had its foreign key.
    let noFK: Bool
    let run: Run
    let seconds: Double
    let db: DatabaseTotals

    /// One JSON line: what was processed, how fast, and the totals the database holds.
    var json: String {
        let rate = Double(run.records) / max(seconds, 1e-9)
        let r = run.refusals
        return """
            {"mode":"\(mode)","foreignKey":\(!noFK),"records":\(run.records),"batches":\(run.batches),"sampled":\(run.sampled),\
            "seconds":\(String(format: "%.3f", seconds)),"recordsPerSecond":\(Int(rate)),\
            "appSeconds":\(secs(run.appNs)),"dbSeconds":\(secs(run.dbNs)),"dbPhases":{\(phases)},\
            "accepted":\(db.transfers),"acceptedAmountFen":\(db.transfersAmountFen),"accountsFen":\(db.accountsFen),\
            "cardsNetFen":\(db.cardsFen),"refused":{"tac":\(r.tac),"grey":\(r.grey),"duplicate":\(run.expectation.duplicates),\
            "otherKind":\(r.otherKind),"badFiles":\(r.badFiles)}}
            """
    }

    private func secs(_ ns: UInt64) -> String { String(format: "%.3f", Double(ns) / 1e9) }
    private var phases: String { run.phases.map { "\"\($0.name)\":\(String(format: "%.3f", $0.seconds))" }.joined(separator: ",") }

    /// Throws unless the database agrees with the in-memory expectation and, for a full run,
    /// with the load generator's ground truth.
    func check(truth: Truth?) throws {
        let e = run.expectation
        var failures: [String] = []
        func expect(_ ok: Bool, _ what: String) { if !ok { failures.append(what) } }
        expect(db.transfers == e.accepted, "transfers \(db.transfers) != expected accepted \(e.accepted)")
        expect(db.transfersAmountFen == e.amountFen, "transfer amount \(db.transfersAmountFen) != expected \(e.amountFen)")
        expect(db.accountsFen == e.amountFen, "operator accounts \(db.accountsFen) != accepted amount \(e.amountFen)")
        expect(db.cardsFen == e.cardDeltaFen, "card balances net \(db.cardsFen) != expected \(e.cardDeltaFen)")
        if let t = truth {
            expect(db.transfers == t.accepted, "accepted \(db.transfers) != ground truth \(t.accepted)")
            expect(db.transfersAmountFen == t.acceptedAmountFen,
                   "accepted amount \(db.transfersAmountFen) != ground truth \(t.acceptedAmountFen)")
            expect(db.cardsFen == t.loads.acceptedAmountFen - t.purchases.acceptedAmountFen,
                   "card balances net \(db.cardsFen) != ground truth loads − purchases")
        }
        guard failures.isEmpty else {
            FileHandle.standardError.write(Data("\(mode): CHECK FAILED\n  \(failures.joined(separator: "\n  "))\n".utf8))
            throw ExitCode(2)
        }
        let against = truth == nil ? "the in-memory expectation (sample: no ground truth for part of a day)" : "the ground truth"
        FileHandle.standardError.write(Data("\(mode): totals match \(against)\n".utf8))
    }
}
