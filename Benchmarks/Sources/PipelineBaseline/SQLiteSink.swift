import GRDB

/// `sqlite-rows`: the straightforward schema in SQLite through GRDB, durable like clearing's
/// store (WAL, `synchronous=FULL`), one transaction per batch, one statement at a time.
final class SQLiteRowsSink: Sink {
    private let queue: DatabaseQueue

    /// Opens (creates) the database at `path`.
    init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL")
        }
        queue = try DatabaseQueue(path: path, configuration: config)
    }

    func reset() async throws {
        try await queue.write { db in
            for sql in Schema.create(serialPK: "INTEGER PRIMARY KEY") { try db.execute(sql: sql) }
        }
    }

    func post(_ rows: [Row], operatorID: Int64) async throws {
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO accounts (id) VALUES (?) ON CONFLICT DO NOTHING", arguments: [operatorID])
            let insert = try db.cachedStatement(sql: """
                INSERT INTO transfers (serial, counter_kind, counter, kind, amount_fen, operator_id, terminal, sequence, at_bcd, tac)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """)
            let account = try db.cachedStatement(sql: "UPDATE accounts SET balance_fen = balance_fen + ? WHERE id = ?")
            let card = try db.cachedStatement(sql: """
                INSERT INTO card_balances (serial, balance_fen) VALUES (?, ?)
                ON CONFLICT (serial) DO UPDATE SET balance_fen = balance_fen + excluded.balance_fen
                """)
            for r in rows {
                try insert.execute(arguments: [r.serial, r.counterKind, r.counter, r.kind, r.amountFen, r.operatorID,
                                               r.terminal, r.sequence, r.atBCD, r.tac])
                guard db.changesCount == 1 else { continue }  // a duplicate: refused, no money moves
                try account.execute(arguments: [r.amountFen, r.operatorID])
                try card.execute(arguments: [r.serial, r.cardDeltaFen])
            }
        }
    }

    func totals() async throws -> DatabaseTotals {
        try await queue.read { db in
            guard let row = try GRDB.Row.fetchOne(db, sql: Schema.totals) else { fatalError("totals query returned no row") }
            return DatabaseTotals(transfers: row[0], transfersAmountFen: row[1], accountsFen: row[2], cardsFen: row[3])
        }
    }

    func close() async throws { try queue.close() }
}
