import GRDB

/// The city's issuer registry (docs/formats.md, "Issuer database"), as append-only SQL
/// migrations: one file for every service counter and top-up agent of the city; each counter's
/// records are in its own journal, joined to the registry by the pending/finish protocol.
enum IssuerSchema {
    /// Registers the registry migrations, in order.
    static func register(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("issuer-v1") { db in
            try db.execute(sql: v1)
        }
        migrator.registerMigration("issuer-v2") { db in
            // A counter operation journaled before the card is credited or blocked (grey-first),
            // one per card, until it is finished or the card proves it never happened.
            try db.execute(sql: """
                CREATE TABLE issuer_pending (
                    serial INTEGER PRIMARY KEY,
                    record BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("issuer-v3") { db in
            // One registry for the city: a closure is named by its counter and that counter's
            // sequence (two counters number their records independently).
            try db.execute(sql: """
                CREATE TABLE issuer_closure_v3 (
                    serial        INTEGER PRIMARY KEY REFERENCES issuer_card(serial),
                    kind          TEXT NOT NULL CHECK (kind IN ('refund', 'replacement')),
                    balance_fen   INTEGER NOT NULL CHECK (balance_fen >= 0),
                    deposit_fen   INTEGER NOT NULL CHECK (deposit_fen >= 0),
                    to_serial     INTEGER UNIQUE REFERENCES issuer_card(serial),
                    terminal      INTEGER NOT NULL,
                    sequence      INTEGER NOT NULL,
                    at_bcd        INTEGER NOT NULL,
                    UNIQUE (terminal, sequence),
                    CHECK ((kind = 'replacement') = (to_serial IS NOT NULL))
                );
                INSERT INTO issuer_closure_v3 (serial, kind, balance_fen, deposit_fen, to_serial, terminal, sequence, at_bcd)
                    SELECT serial, kind, balance_fen, deposit_fen, to_serial, 0, sequence, at_bcd FROM issuer_closure;
                DROP TABLE issuer_closure;
                ALTER TABLE issuer_closure_v3 RENAME TO issuer_closure;
                CREATE TRIGGER issuer_closure_undeletable BEFORE DELETE ON issuer_closure
                BEGIN SELECT RAISE(ABORT, 'closures are permanent'); END;
                CREATE TRIGGER issuer_closure_immutable BEFORE UPDATE ON issuer_closure
                BEGIN SELECT RAISE(ABORT, 'closures are permanent'); END;
                """)
        }
    }

    /// Version 1: the card registry and the once-only closures (refund or replacement).
    static let v1 = """
        CREATE TABLE issuer_card (
            serial       INTEGER PRIMARY KEY,
            card_type    INTEGER NOT NULL CHECK (card_type BETWEEN 1 AND 4),
            status       TEXT NOT NULL DEFAULT 'active'
                         CHECK (status IN ('active', 'refunded', 'replaced', 'blocked')),
            deposit_fen  INTEGER NOT NULL CHECK (deposit_fen >= 0),
            issued_bcd   INTEGER NOT NULL,
            replaced_by  INTEGER UNIQUE REFERENCES issuer_card(serial),
            CHECK ((status = 'replaced') = (replaced_by IS NOT NULL)),
            CHECK (replaced_by IS NOT serial)
        );

        -- One row per card ever refunded or replaced: the primary key is the once-only rule,
        -- and a replacement's balance moves exactly once (to_serial is unique as well).
        CREATE TABLE issuer_closure (
            serial        INTEGER PRIMARY KEY REFERENCES issuer_card(serial),
            kind          TEXT NOT NULL CHECK (kind IN ('refund', 'replacement')),
            balance_fen   INTEGER NOT NULL CHECK (balance_fen >= 0),
            deposit_fen   INTEGER NOT NULL CHECK (deposit_fen >= 0),
            to_serial     INTEGER UNIQUE REFERENCES issuer_card(serial),
            sequence      INTEGER NOT NULL UNIQUE,
            at_bcd        INTEGER NOT NULL,
            CHECK ((kind = 'replacement') = (to_serial IS NOT NULL))
        );

        -- Status only moves forward: active → blocked, active/blocked → refunded/replaced.
        CREATE TRIGGER issuer_card_status BEFORE UPDATE OF status ON issuer_card
        WHEN NOT (
            (OLD.status = 'active' AND NEW.status IN ('blocked', 'refunded', 'replaced'))
            OR (OLD.status = 'blocked' AND NEW.status IN ('refunded', 'replaced'))
            OR NEW.status = OLD.status)
        BEGIN SELECT RAISE(ABORT, 'card status only moves forward'); END;
        CREATE TRIGGER issuer_closure_undeletable BEFORE DELETE ON issuer_closure
        BEGIN SELECT RAISE(ABORT, 'closures are permanent'); END;
        CREATE TRIGGER issuer_closure_immutable BEFORE UPDATE ON issuer_closure
        BEGIN SELECT RAISE(ABORT, 'closures are permanent'); END;
        """
}
