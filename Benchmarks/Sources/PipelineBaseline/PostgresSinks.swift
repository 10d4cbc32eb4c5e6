import PostgresNIO

/// A connection to the benchmark's private PostgreSQL cluster (loopback only, trust auth).
enum PostgresLink {
    /// Connects to `127.0.0.1:port` as `user` to `database`, without TLS.
    static func connect(port: Int, user: String, database: String) async throws -> PostgresConnection {
        let config = PostgresConnection.Configuration(
            host: "127.0.0.1", port: port, username: user, password: nil, database: database, tls: .disable)
        return try await PostgresConnection.connect(configuration: config, id: 1, logger: logger)
    }

    /// A logger that stays quiet unless something goes wrong.
    static let logger: Logger = {
        var l = Logger(label: "PipelineBaseline")
        l.logLevel = .warning
        return l
    }()

    /// Runs a statement and drains its result.
    static func exec(_ conn: PostgresConnection, _ query: PostgresQuery) async throws {
        for try await _ in try await conn.query(query, logger: logger) {}
    }

    /// Re-creates the schema.
    static func reset(_ conn: PostgresConnection, foreignKey: Bool = true) async throws {
        for sql in Schema.create(serialPK: "bigserial PRIMARY KEY", foreignKey: foreignKey) { try await exec(conn, PostgresQuery(unsafeSQL: sql)) }
    }

    /// Makes sure the batch's operator has an account.
    static func ensureAccount(_ conn: PostgresConnection, _ operatorID: Int64) async throws {
        try await exec(conn, "INSERT INTO accounts (id) VALUES (\(operatorID)) ON CONFLICT DO NOTHING")
    }

    /// Reads the totals back.
    static func totals(_ conn: PostgresConnection) async throws -> DatabaseTotals {
        for try await (t, a, acc, cards) in try await conn.query(PostgresQuery(unsafeSQL: Schema.totals), logger: logger)
            .decode((Int64, Int64, Int64, Int64).self)
        {
            return DatabaseTotals(transfers: Int(t), transfersAmountFen: a, accountsFen: acc, cardsFen: cards)
        }
        fatalError("totals query returned no row")
    }
}

/// `pg-rows`: what a team builds first. One transaction per batch; per record one INSERT into
/// `transfers` (a duplicate hits the unique key and inserts nothing), then — if it inserted —
/// one UPDATE of the operator's account (a handful of hot rows) and one upsert of the card's
/// balance. Each statement is a round trip through postgres-nio.
final class PostgresRowsSink: Sink {
    private let conn: PostgresConnection

    init(conn: PostgresConnection) { self.conn = conn }

    func reset() async throws { try await PostgresLink.reset(conn) }

    func post(_ rows: [Row], operatorID: Int64) async throws {
        try await PostgresLink.exec(conn, "BEGIN")
        try await PostgresLink.ensureAccount(conn, operatorID)
        for r in rows {
            guard try await insert(r) else { continue }  // a duplicate: refused, no money moves
            try await PostgresLink.exec(conn, "UPDATE accounts SET balance_fen = balance_fen + \(r.amountFen) WHERE id = \(r.operatorID)")
            try await PostgresLink.exec(conn, """
                INSERT INTO card_balances (serial, balance_fen) VALUES (\(r.serial), \(r.cardDeltaFen))
                ON CONFLICT (serial) DO UPDATE SET balance_fen = card_balances.balance_fen + EXCLUDED.balance_fen
                """)
        }
        try await PostgresLink.exec(conn, "COMMIT")
    }

    /// Inserts the transfer; `false` if the unique key refused it as a duplicate.
    private func insert(_ r: Row) async throws -> Bool {
        let rows = try await conn.query("""
            INSERT INTO transfers (serial, counter_kind, counter, kind, amount_fen, operator_id, terminal, sequence, at_bcd, tac)
            VALUES (\(r.serial), \(Int16(r.counterKind)), \(Int32(r.counter)), \(Int16(r.kind)), \(r.amountFen), \(r.operatorID),
                    \(r.terminal), \(r.sequence), \(r.atBCD), \(r.tac))
            ON CONFLICT (serial, counter_kind, counter) DO NOTHING RETURNING 1
            """, logger: PostgresLink.logger)
        var inserted = false
        for try await _ in rows { inserted = true }
        return inserted
    }

    func totals() async throws -> DatabaseTotals { try await PostgresLink.totals(conn) }

    func close() async throws { try await conn.close() }
}

/// `pg-set`: PostgreSQL's best case. Per batch, one transaction: COPY (text format, through
/// postgres-nio's `copyFrom`) of the checked rows into a temporary staging table, then ONE
/// statement that inserts them into `transfers` (ON CONFLICT DO NOTHING drops duplicates) and
/// applies the inserted rows' amounts as grouped updates: one per operator account, one upsert
/// per card.
final class PostgresSetSink: Sink {
    private let conn: PostgresConnection
    private var copyNs: UInt64 = 0, statementNs: UInt64 = 0, commitNs: UInt64 = 0
    static let columns = ["serial", "counter_kind", "counter", "kind", "amount_fen", "operator_id", "terminal",
                                  "sequence", "at_bcd", "tac"]

    private let foreignKey: Bool

    /// `foreignKey: false` drops the one foreign key (a per-row trigger), to measure its cost.
    init(conn: PostgresConnection, foreignKey: Bool = true) {
        self.conn = conn
        self.foreignKey = foreignKey
    }

    func reset() async throws {
        try await PostgresLink.reset(conn, foreignKey: foreignKey)
        try await PostgresLink.exec(conn, """
            CREATE TEMP TABLE IF NOT EXISTS staging (
                serial bigint, counter_kind smallint, counter integer, kind smallint, amount_fen bigint,
                operator_id bigint, terminal bigint, sequence bigint, at_bcd bigint, tac bigint) ON COMMIT DELETE ROWS
            """)
    }

    func post(_ rows: [Row], operatorID: Int64) async throws {
        try await PostgresLink.exec(conn, "BEGIN")
        try await PostgresLink.ensureAccount(conn, operatorID)
        let t0 = now()
        try await conn.copyFrom(table: "staging", columns: Self.columns, logger: PostgresLink.logger) { writer in
            try await Self.copy(rows, to: writer)
        }
        let t1 = now()
        try await PostgresLink.exec(conn, """
            WITH ins AS (
                INSERT INTO transfers (serial, counter_kind, counter, kind, amount_fen, operator_id, terminal, sequence, at_bcd, tac)
                SELECT serial, counter_kind, counter, kind, amount_fen, operator_id, terminal, sequence, at_bcd, tac FROM staging
                ON CONFLICT (serial, counter_kind, counter) DO NOTHING
                RETURNING serial, kind, amount_fen, operator_id),
            acc AS (
                UPDATE accounts a SET balance_fen = a.balance_fen + s.amount
                FROM (SELECT operator_id, sum(amount_fen) AS amount FROM ins GROUP BY operator_id) s
                WHERE a.id = s.operator_id)
            INSERT INTO card_balances (serial, balance_fen)
            SELECT serial, sum(CASE WHEN kind = 1 THEN -amount_fen ELSE amount_fen END) FROM ins GROUP BY serial
            ON CONFLICT (serial) DO UPDATE SET balance_fen = card_balances.balance_fen + EXCLUDED.balance_fen
            """)
        let t2 = now()
        try await PostgresLink.exec(conn, "COMMIT")
        copyNs += t1 - t0
        statementNs += t2 - t1
        commitNs += now() - t2
    }

    /// COPY, the INSERT … SELECT with its grouped updates, and COMMIT.
    var phases: [(name: String, seconds: Double)] {
        [("copy", Double(copyNs) / 1e9), ("insertSelect", Double(statementNs) / 1e9), ("commit", Double(commitNs) / 1e9)]
    }

    /// Streams rows as COPY text lines in ~1 MiB chunks.
    static func copy(_ rows: [Row], to writer: PostgresCopyFromWriter) async throws {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(1 << 20 + 4096)
        for r in rows {
            buffer.writeString("\(r.serial)\t\(r.counterKind)\t\(r.counter)\t\(r.kind)\t\(r.amountFen)\t\(r.operatorID)\t\(r.terminal)\t\(r.sequence)\t\(r.atBCD)\t\(r.tac)\n")
            if buffer.readableBytes >= 1 << 20 {
                try await writer.write(buffer)
                buffer.clear()
            }
        }
        if buffer.readableBytes > 0 { try await writer.write(buffer) }
    }

    func totals() async throws -> DatabaseTotals { try await PostgresLink.totals(conn) }

    func close() async throws { try await conn.close() }
}

/// `pg-ceiling`: PostgreSQL's set-based ceiling, for the ratio the issue asks for: the whole
/// day's already-checked rows (the application has checked TACs and dropped duplicates) COPYed
/// into a staging table, then one `INSERT … SELECT` and the two grouped balance updates, all in
/// one transaction, into tables with no constraint on `transfers` (or, with `primaryKey`, only
/// its primary key on card, counter kind and counter). Nothing is checked by the database.
final class PostgresCeilingSink: Sink {
    private let conn: PostgresConnection
    private let primaryKey: Bool
    private var rows: [Row] = []
    private var seen = Set<DuplicateKey>()
    private var copyNs: UInt64 = 0, statementNs: UInt64 = 0, commitNs: UInt64 = 0

    private struct DuplicateKey: Hashable { var serial: Int64, kind: Int64, counter: Int64 }

    init(conn: PostgresConnection, primaryKey: Bool) {
        self.conn = conn
        self.primaryKey = primaryKey
    }

    func reset() async throws {
        for sql in [
            "DROP TABLE IF EXISTS transfers", "DROP TABLE IF EXISTS accounts", "DROP TABLE IF EXISTS card_balances",
            "CREATE TABLE accounts (id bigint PRIMARY KEY, balance_fen bigint NOT NULL DEFAULT 0)",
            "CREATE TABLE card_balances (serial bigint PRIMARY KEY, balance_fen bigint NOT NULL)",
            """
            CREATE TABLE transfers (
                serial bigint NOT NULL, counter_kind smallint NOT NULL, counter integer NOT NULL, kind smallint NOT NULL,
                amount_fen bigint NOT NULL, operator_id bigint NOT NULL, terminal bigint NOT NULL, sequence bigint NOT NULL,
                at_bcd bigint NOT NULL, tac bigint NOT NULL\(primaryKey ? ", PRIMARY KEY (serial, counter_kind, counter)" : ""))
            """,
            """
            CREATE TEMP TABLE IF NOT EXISTS staging (
                serial bigint, counter_kind smallint, counter integer, kind smallint, amount_fen bigint,
                operator_id bigint, terminal bigint, sequence bigint, at_bcd bigint, tac bigint) ON COMMIT DELETE ROWS
            """,
        ] { try await PostgresLink.exec(conn, PostgresQuery(unsafeSQL: sql)) }
    }

    /// Keeps the batch's rows (the application's duplicate check drops repeats); nothing is
    /// written until ``finish()``.
    func post(_ batch: [Row], operatorID: Int64) async throws {
        for r in batch where seen.insert(DuplicateKey(serial: r.serial, kind: r.counterKind, counter: r.counter)).inserted { rows.append(r) }
    }

    /// The one transaction.
    func finish() async throws {
        try await PostgresLink.exec(conn, "BEGIN")
        for op in Set(rows.map(\.operatorID)) { try await PostgresLink.ensureAccount(conn, op) }
        let t0 = now()
        let all = rows
        try await conn.copyFrom(table: "staging", columns: PostgresSetSink.columns, logger: PostgresLink.logger) { writer in
            try await PostgresSetSink.copy(all, to: writer)
        }
        let t1 = now()
        try await PostgresLink.exec(conn, """
            INSERT INTO transfers (serial, counter_kind, counter, kind, amount_fen, operator_id, terminal, sequence, at_bcd, tac)
            SELECT serial, counter_kind, counter, kind, amount_fen, operator_id, terminal, sequence, at_bcd, tac FROM staging
            """)
        try await PostgresLink.exec(conn, """
            UPDATE accounts a SET balance_fen = a.balance_fen + s.amount
            FROM (SELECT operator_id, sum(amount_fen) AS amount FROM staging GROUP BY operator_id) s WHERE a.id = s.operator_id
            """)
        try await PostgresLink.exec(conn, """
            INSERT INTO card_balances (serial, balance_fen)
            SELECT serial, sum(CASE WHEN kind = 1 THEN -amount_fen ELSE amount_fen END) FROM staging GROUP BY serial
            ON CONFLICT (serial) DO UPDATE SET balance_fen = card_balances.balance_fen + EXCLUDED.balance_fen
            """)
        let t2 = now()
        try await PostgresLink.exec(conn, "COMMIT")
        copyNs = t1 - t0
        statementNs = t2 - t1
        commitNs = now() - t2
        rows = []
    }

    /// COPY, the statements, COMMIT.
    var phases: [(name: String, seconds: Double)] {
        [("copy", Double(copyNs) / 1e9), ("insertSelectAndUpdates", Double(statementNs) / 1e9), ("commit", Double(commitNs) / 1e9)]
    }

    func totals() async throws -> DatabaseTotals { try await PostgresLink.totals(conn) }

    func close() async throws { try await conn.close() }
}
