import GRDB

/// The clearing database's schema (docs/formats.md, "Clearing database"). Migrations are
/// append-only: a shipped migration is never edited.
enum ClearingSchema {
    static func register(_ m: inout DatabaseMigrator) {
        m.registerMigration("clearing-v1") { db in
            try db.execute(sql: """
                CREATE TABLE clearing_meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value BLOB NOT NULL
                );
                CREATE TABLE clearing_run (
                    run INTEGER PRIMARY KEY,
                    finished TEXT NOT NULL,
                    received TEXT NOT NULL,
                    business_day TEXT NOT NULL,
                    batches INTEGER NOT NULL,
                    records INTEGER NOT NULL,
                    summary TEXT NOT NULL
                );
                CREATE TABLE clearing_batch (
                    terminal INTEGER NOT NULL,
                    sequence INTEGER NOT NULL,
                    run INTEGER NOT NULL REFERENCES clearing_run(run),
                    file TEXT NOT NULL,
                    created INTEGER NOT NULL,
                    outcome TEXT NOT NULL,
                    PRIMARY KEY (terminal, sequence)
                );
                CREATE TABLE clearing_page (
                    run INTEGER NOT NULL REFERENCES clearing_run(run),
                    kind TEXT NOT NULL CHECK (kind IN ('transfers', 'accepted', 'shadows', 'refusals')),
                    page INTEGER NOT NULL,
                    count INTEGER NOT NULL CHECK (count > 0),
                    data BLOB NOT NULL,
                    PRIMARY KEY (run, kind, page)
                );
                CREATE INDEX clearing_run_day ON clearing_run(business_day);
                CREATE TABLE clearing_gap (
                    serial INTEGER NOT NULL,
                    offline INTEGER NOT NULL,
                    counter INTEGER NOT NULL,
                    seen_day INTEGER NOT NULL,
                    reported INTEGER NOT NULL,
                    PRIMARY KEY (serial, offline, counter)
                );
                CREATE TABLE clearing_account (
                    kind INTEGER NOT NULL,
                    number INTEGER NOT NULL,
                    net INTEGER NOT NULL,
                    PRIMARY KEY (kind, number)
                );
                CREATE TABLE clearing_exception (
                    id INTEGER PRIMARY KEY,
                    run INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    card TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    record TEXT,
                    opened TEXT NOT NULL,
                    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
                    officer TEXT,
                    reason TEXT,
                    decided TEXT
                );
                CREATE TABLE clearing_hotlist (
                    serial INTEGER PRIMARY KEY,
                    since INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    added TEXT NOT NULL
                );
                -- The ledger is append-only: pages and batches are never changed or removed.
                CREATE TRIGGER clearing_page_no_update BEFORE UPDATE ON clearing_page
                    BEGIN SELECT RAISE(ABORT, 'ledger pages are immutable'); END;
                CREATE TRIGGER clearing_page_no_delete BEFORE DELETE ON clearing_page
                    BEGIN SELECT RAISE(ABORT, 'ledger pages are immutable'); END;
                CREATE TRIGGER clearing_batch_no_update BEFORE UPDATE ON clearing_batch
                    BEGIN SELECT RAISE(ABORT, 'ingested batches are immutable'); END;
                CREATE TRIGGER clearing_batch_no_delete BEFORE DELETE ON clearing_batch
                    BEGIN SELECT RAISE(ABORT, 'ingested batches are immutable'); END;
                """)
        }

        m.registerMigration("clearing-v2") { db in
            try db.execute(sql: """
                -- Accepted records' details (Packing.detailBytes rows), for settlement's clearing files.
                CREATE TABLE clearing_detail_page (
                    run INTEGER NOT NULL REFERENCES clearing_run(run),
                    page INTEGER NOT NULL,
                    count INTEGER NOT NULL CHECK (count > 0),
                    data BLOB NOT NULL,
                    PRIMARY KEY (run, page)
                );
                CREATE TRIGGER clearing_detail_page_no_update BEFORE UPDATE ON clearing_detail_page
                    BEGIN SELECT RAISE(ABORT, 'ledger pages are immutable'); END;
                CREATE TRIGGER clearing_detail_page_no_delete BEFORE DELETE ON clearing_detail_page
                    BEGIN SELECT RAISE(ABORT, 'ledger pages are immutable'); END;
                -- A business day settled at least once; closed (ISO 8601) once `settle --close` ran.
                CREATE TABLE settlement_day (
                    day TEXT PRIMARY KEY NOT NULL,
                    settled_runs TEXT NOT NULL,
                    closed TEXT
                );
                CREATE TRIGGER settlement_day_closed BEFORE UPDATE ON settlement_day WHEN OLD.closed IS NOT NULL
                    BEGIN SELECT RAISE(ABORT, 'the business day is closed'); END;
                CREATE TRIGGER settlement_day_no_delete BEFORE DELETE ON settlement_day WHEN OLD.closed IS NOT NULL
                    BEGIN SELECT RAISE(ABORT, 'the business day is closed'); END;
                -- Settlement postings (kind 'settlement', replaced while the day is open) and officers'
                -- adjustments (kind 'adjustment', never removed). One packed transfer (Packing.transferBytes) each.
                CREATE TABLE settlement_transfer (
                    id INTEGER PRIMARY KEY,
                    day TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('settlement', 'adjustment')),
                    data BLOB NOT NULL
                );
                CREATE INDEX settlement_transfer_day ON settlement_transfer(day);
                CREATE TRIGGER settlement_transfer_no_update BEFORE UPDATE ON settlement_transfer
                    BEGIN SELECT RAISE(ABORT, 'ledger transfers are immutable'); END;
                CREATE TRIGGER settlement_transfer_delete BEFORE DELETE ON settlement_transfer
                    WHEN OLD.kind = 'adjustment' OR EXISTS (SELECT 1 FROM settlement_day WHERE day = OLD.day AND closed IS NOT NULL)
                    BEGIN SELECT RAISE(ABORT, 'transfers of a closed day and adjustments are immutable'); END;
                CREATE TRIGGER settlement_transfer_insert BEFORE INSERT ON settlement_transfer
                    WHEN EXISTS (SELECT 1 FROM settlement_day WHERE day = NEW.day AND closed IS NOT NULL)
                    BEGIN SELECT RAISE(ABORT, 'the business day is closed'); END;
                -- Officers' decisions on refused records (`terminal/batch#index`), the audit trail.
                CREATE TABLE settlement_decision (
                    record TEXT PRIMARY KEY NOT NULL,
                    code TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
                    officer TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    decided TEXT NOT NULL,
                    adjustment_day TEXT,
                    adjustment_fen INTEGER NOT NULL DEFAULT 0
                );
                CREATE TRIGGER settlement_decision_no_update BEFORE UPDATE ON settlement_decision
                    BEGIN SELECT RAISE(ABORT, 'decisions are final'); END;
                CREATE TRIGGER settlement_decision_no_delete BEFORE DELETE ON settlement_decision
                    BEGIN SELECT RAISE(ABORT, 'decisions are final'); END;
                """)
        }

        m.registerMigration("clearing-v3") { db in
            try db.execute(sql: """
                -- The SHA-256 of each ingested batch file: the same (terminal, sequence) with other
                -- bytes is a conflict. NULL for batches ingested before this migration.
                ALTER TABLE clearing_batch ADD COLUMN sha256 BLOB;
                -- Accepted fare identities (terminal, terminal sequence): a 4096-bit page of
                -- sequences per row, with the newest record day in it (for the retention).
                CREATE TABLE clearing_fare (
                    terminal INTEGER NOT NULL,
                    page INTEGER NOT NULL,
                    newest_day INTEGER NOT NULL,
                    bits BLOB NOT NULL CHECK (length(bits) = 512),
                    PRIMARY KEY (terminal, page)
                );
                -- Batches refused whole because their (terminal, sequence) was taken by other bytes.
                CREATE TABLE clearing_conflict (
                    id INTEGER PRIMARY KEY,
                    run INTEGER NOT NULL REFERENCES clearing_run(run),
                    terminal INTEGER NOT NULL,
                    sequence INTEGER NOT NULL,
                    file TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    ingested_sha256 TEXT,
                    received TEXT NOT NULL,
                    records INTEGER NOT NULL
                );
                CREATE TRIGGER clearing_conflict_no_update BEFORE UPDATE ON clearing_conflict
                    BEGIN SELECT RAISE(ABORT, 'conflicts are evidence and immutable'); END;
                CREATE TRIGGER clearing_conflict_no_delete BEFORE DELETE ON clearing_conflict
                    BEGIN SELECT RAISE(ABORT, 'conflicts are evidence and immutable'); END;
                """)
        }

        m.registerMigration("clearing-v4") { db in
            try db.execute(sql: """
                -- The terminals clearing accepts batches from: operator, upload key version, status.
                CREATE TABLE clearing_terminal (
                    terminal INTEGER PRIMARY KEY,
                    operator INTEGER NOT NULL,
                    key_version INTEGER NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'retired')),
                    changed TEXT NOT NULL
                );
                -- A retired terminal never comes back: its number is not reused.
                CREATE TRIGGER clearing_terminal_retired BEFORE UPDATE ON clearing_terminal WHEN OLD.status = 'retired'
                    BEGIN SELECT RAISE(ABORT, 'a retired terminal stays retired'); END;
                CREATE TRIGGER clearing_terminal_no_delete BEFORE DELETE ON clearing_terminal
                    BEGIN SELECT RAISE(ABORT, 'registered terminals are kept'); END;
                """)
        }
        m.registerMigration("clearing-v5") { db in
            try db.execute(sql: """
                -- Loads an officer accepted as adjustments: the same load uploaded later is refused 03.
                CREATE TABLE clearing_accepted_load (
                    serial INTEGER NOT NULL,
                    counter INTEGER NOT NULL,
                    record TEXT NOT NULL,
                    PRIMARY KEY (serial, counter)
                );
                """)
        }
        m.registerMigration("clearing-v6") { db in
            try db.execute(sql: """
                -- Every card shadow as of the end of a run (only the newest is kept): startup reads it
                -- and the shadow pages of later runs, never the whole history.
                CREATE TABLE clearing_snapshot (
                    run INTEGER NOT NULL,
                    page INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (run, page)
                );
                """)
        }
        m.registerMigration("clearing-v7") { db in
            try db.execute(sql: """
                -- Every city file ever stored, with the first business day it is in force (NULL: from the
                -- beginning). Settling a day uses the version in force that day; versions are kept.
                CREATE TABLE clearing_city (
                    version INTEGER PRIMARY KEY,
                    effective TEXT,
                    body BLOB NOT NULL,
                    stored TEXT NOT NULL
                );
                CREATE TRIGGER clearing_city_no_update BEFORE UPDATE ON clearing_city
                    BEGIN SELECT RAISE(ABORT, 'city versions are immutable'); END;
                CREATE TRIGGER clearing_city_no_delete BEFORE DELETE ON clearing_city
                    BEGIN SELECT RAISE(ABORT, 'city versions are kept'); END;
                INSERT INTO clearing_city (version, effective, body, stored)
                    SELECT 1, NULL, value, strftime('%Y-%m-%dT%H:%M:%SZ', 'now') FROM clearing_meta WHERE key = 'city';
                DELETE FROM clearing_meta WHERE key = 'city';
                -- Every change to the hotlist's membership, numbered: the hotlist's version is the last
                -- change's, and a terminal at version N gets the changes after N as a delta.
                CREATE TABLE clearing_hotlist_change (
                    version INTEGER PRIMARY KEY,
                    serial INTEGER NOT NULL,
                    listed INTEGER NOT NULL CHECK (listed IN (0, 1)),
                    changed TEXT NOT NULL
                );
                CREATE INDEX clearing_hotlist_change_serial ON clearing_hotlist_change(serial, version);
                INSERT INTO clearing_hotlist_change (serial, listed, changed) SELECT serial, 1, added FROM clearing_hotlist ORDER BY serial;
                """)
        }
        m.registerMigration("clearing-v8") { db in
            try db.execute(sql: """
                -- Moves on with every write to the hotlist (a card added, removed, a new time): a running
                -- clearing reads the list again when it moved, before its next run.
                INSERT INTO clearing_meta (key, value) VALUES ('hotlistStamp', 0);
                CREATE TRIGGER clearing_hotlist_stamp_insert AFTER INSERT ON clearing_hotlist
                    BEGIN UPDATE clearing_meta SET value = value + 1 WHERE key = 'hotlistStamp'; END;
                CREATE TRIGGER clearing_hotlist_stamp_update AFTER UPDATE ON clearing_hotlist
                    BEGIN UPDATE clearing_meta SET value = value + 1 WHERE key = 'hotlistStamp'; END;
                CREATE TRIGGER clearing_hotlist_stamp_delete AFTER DELETE ON clearing_hotlist
                    BEGIN UPDATE clearing_meta SET value = value + 1 WHERE key = 'hotlistStamp'; END;
                """)
        }
        m.registerMigration("clearing-v9") { db in
            try db.execute(sql: """
                -- Runs are the ledger's index: never changed or removed, and none lands in a closed day
                -- (the same rules as PostgreSQL's schema, enforced by the database whatever the client).
                CREATE TRIGGER clearing_run_no_update BEFORE UPDATE ON clearing_run
                    BEGIN SELECT RAISE(ABORT, 'clearing runs are immutable'); END;
                CREATE TRIGGER clearing_run_no_delete BEFORE DELETE ON clearing_run
                    BEGIN SELECT RAISE(ABORT, 'clearing runs are immutable'); END;
                CREATE TRIGGER clearing_run_closed_day BEFORE INSERT ON clearing_run
                    WHEN EXISTS (SELECT 1 FROM settlement_day WHERE day = NEW.business_day AND closed IS NOT NULL)
                    BEGIN SELECT RAISE(ABORT, 'the business day is closed'); END;
                """)
        }
    }
}
