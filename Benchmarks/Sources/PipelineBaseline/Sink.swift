import Dispatch

/// Where a baseline writes: one database and one way of writing to it.
protocol Sink {
    /// Drops and re-creates the schema (accounts, transfers, card balances).
    func reset() async throws
    /// Writes one batch's checked rows in one transaction: transfers (duplicates refused by
    /// the unique key on card, counter kind, counter) and the balances they move.
    func post(_ rows: [Row], operatorID: Int64) async throws
    /// Reads the totals back from the database.
    func totals() async throws -> DatabaseTotals
    /// Closes the connection.
    func close() async throws
    /// Seconds spent in the sink's own phases, for the report (empty if it has none).
    var phases: [(name: String, seconds: Double)] { get }
    /// Writes what the sink held back (the ceiling writes the whole day at the end).
    func finish() async throws
}

extension Sink {
    var phases: [(name: String, seconds: Double)] { [] }
    func finish() async throws {}
}

/// Monotonic nanoseconds, for phase timings.
func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// The schema shared by every baseline, as a typical team would write it. `bigint` columns;
/// `transfers` has a surrogate key and the natural unique key that refuses duplicates.
enum Schema {
    /// Statements that create the three tables. `serialPK` is the surrogate key's type;
    /// `foreignKey` adds `transfers.operator_id REFERENCES accounts(id)` (on by default).
    static func create(serialPK: String, foreignKey: Bool = true) -> [String] {
        [
            "DROP TABLE IF EXISTS transfers",
            "DROP TABLE IF EXISTS accounts",
            "DROP TABLE IF EXISTS card_balances",
            "CREATE TABLE accounts (id bigint PRIMARY KEY, balance_fen bigint NOT NULL DEFAULT 0)",
            "CREATE TABLE card_balances (serial bigint PRIMARY KEY, balance_fen bigint NOT NULL)",
            """
            CREATE TABLE transfers (
                id \(serialPK), serial bigint NOT NULL, counter_kind smallint NOT NULL, counter integer NOT NULL,
                kind smallint NOT NULL, amount_fen bigint NOT NULL, operator_id bigint NOT NULL\(foreignKey ? " REFERENCES accounts(id)" : ""),
                terminal bigint NOT NULL, sequence bigint NOT NULL, at_bcd bigint NOT NULL, tac bigint NOT NULL,
                UNIQUE (serial, counter_kind, counter))
            """,
        ]
    }

    /// The totals query: one row of four `bigint`s (PostgreSQL's `sum(bigint)` is `numeric`).
    static let totals = """
        SELECT CAST((SELECT count(*) FROM transfers) AS bigint),
               CAST((SELECT coalesce(sum(amount_fen), 0) FROM transfers) AS bigint),
               CAST((SELECT coalesce(sum(balance_fen), 0) FROM accounts) AS bigint),
               CAST((SELECT coalesce(sum(balance_fen), 0) FROM card_balances) AS bigint)
        """
}
