import GRDB

/// The terminal journal's schema, as append-only SQL migrations (docs/formats.md,
/// "Terminal journal (SQLite)"). Never edit a shipped migration: add a new one.
enum JournalSchema {
    /// Registers the journal migrations, in order.
    static func register(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("journal-v1") { db in
            try db.execute(sql: v1)
        }
        migrator.registerMigration("journal-v2") { db in
            try db.execute(sql: v2)
        }
    }

    /// Version 1: identity, counters, grey records, journaled records, batches.
    ///
    /// Integers that are unsigned 64-bit on the card (serials) are stored as their signed
    /// bit pattern; records keep their exact 128-byte upload encoding in `record`.
    static let v1 = """
        CREATE TABLE journal_identity (
            id        INTEGER PRIMARY KEY CHECK (id = 1),
            terminal  INTEGER NOT NULL CHECK (terminal BETWEEN 0 AND 281474976710655),
            operator  INTEGER NOT NULL CHECK (operator BETWEEN 0 AND 65535)
        );
        CREATE TABLE journal_counter (
            name   TEXT PRIMARY KEY CHECK (name IN ('terminal_sequence', 'batch_sequence')),
            value  INTEGER NOT NULL CHECK (value BETWEEN 0 AND 4294967295)
        ) WITHOUT ROWID;
        INSERT INTO journal_counter (name, value) VALUES ('terminal_sequence', 0), ('batch_sequence', 0);

        CREATE TABLE journal_batch (
            sequence      INTEGER PRIMARY KEY CHECK (sequence BETWEEN 1 AND 4294967295),
            created_bcd   INTEGER NOT NULL,
            record_count  INTEGER NOT NULL CHECK (record_count > 0),
            amount_fen    INTEGER NOT NULL CHECK (amount_fen >= 0),
            written       INTEGER NOT NULL DEFAULT 0 CHECK (written IN (0, 1))
        );

        CREATE TABLE journal_grey (
            id              INTEGER PRIMARY KEY,
            serial          INTEGER NOT NULL,
            counter         INTEGER NOT NULL CHECK (counter BETWEEN 0 AND 65535),
            sequence        INTEGER NOT NULL,
            record          BLOB NOT NULL CHECK (length(record) = 128),
            exported        INTEGER NOT NULL DEFAULT 0 CHECK (exported IN (0, 1)),
            UNIQUE (serial, counter)
        );

        CREATE TABLE journal_record (
            id           INTEGER PRIMARY KEY,
            kind         INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 6),
            serial       INTEGER NOT NULL,
            counter      INTEGER NOT NULL CHECK (counter BETWEEN 0 AND 65535),
            sequence     INTEGER NOT NULL CHECK (sequence BETWEEN 1 AND 4294967295),
            amount_fen   INTEGER NOT NULL CHECK (amount_fen >= 0),
            deposit_fen  INTEGER NOT NULL CHECK (deposit_fen >= 0),
            record       BLOB NOT NULL CHECK (length(record) = 128),
            batch        INTEGER REFERENCES journal_batch(sequence)
        );
        -- A terminal sequence is used by one money record only (grey snapshots share it with
        -- the purchase that later completes them).
        CREATE UNIQUE INDEX journal_record_sequence ON journal_record(sequence) WHERE kind != 6;
        CREATE INDEX journal_record_unexported ON journal_record(id) WHERE batch IS NULL;
        CREATE INDEX journal_record_batch ON journal_record(batch, id);
        CREATE INDEX journal_record_card ON journal_record(serial, counter);

        -- Records are append-only: once written they never change, and their batch is set
        -- once. This is what makes a re-exported batch byte-identical.
        CREATE TRIGGER journal_record_immutable BEFORE UPDATE ON journal_record
        WHEN OLD.batch IS NOT NULL OR NEW.record IS NOT OLD.record OR NEW.kind IS NOT OLD.kind
            OR NEW.sequence IS NOT OLD.sequence OR NEW.amount_fen IS NOT OLD.amount_fen
            OR NEW.deposit_fen IS NOT OLD.deposit_fen OR NEW.serial IS NOT OLD.serial
            OR NEW.counter IS NOT OLD.counter
        BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END;
        CREATE TRIGGER journal_record_undeletable BEFORE DELETE ON journal_record
        BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END;
        CREATE TRIGGER journal_batch_immutable BEFORE UPDATE ON journal_batch
        WHEN NEW.sequence IS NOT OLD.sequence OR NEW.created_bcd IS NOT OLD.created_bcd
            OR NEW.record_count IS NOT OLD.record_count OR NEW.amount_fen IS NOT OLD.amount_fen
            OR NEW.written < OLD.written
        BEGIN SELECT RAISE(ABORT, 'journal batches are append-only'); END;
        -- Counters only go up.
        CREATE TRIGGER journal_counter_monotonic BEFORE UPDATE ON journal_counter
        WHEN NEW.value <= OLD.value OR NEW.name IS NOT OLD.name
        BEGIN SELECT RAISE(ABORT, 'journal counters only increase'); END;
        """

    /// Version 2: the front-end's acknowledgement of each batch (`onecard terminal sync`):
    /// a batch's records count as uploaded only once it is stored, and it is stored once.
    static let v2 = """
        ALTER TABLE journal_batch ADD COLUMN acknowledged TEXT;
        CREATE TRIGGER journal_batch_acknowledged_once BEFORE UPDATE ON journal_batch
        WHEN OLD.acknowledged IS NOT NULL AND NEW.acknowledged IS NOT OLD.acknowledged
        BEGIN SELECT RAISE(ABORT, 'a batch is acknowledged once'); END;
        """
}
