import Storage

/// The clearing database's schema on PostgreSQL: the same tables, columns and rules as
/// SQLite's migrations `clearing-v1` … `clearing-v9` (docs/formats.md, "Clearing database"),
/// with PostgreSQL's types (BIGINT, BYTEA) and its triggers as PL/pgSQL functions.
///
/// Migrations are versioned and append-only, as on SQLite: each runs once, in a transaction,
/// and is recorded in `onecard_migration`; a shipped one is never edited.
enum PostgresSchema {
    static let migrations: [(name: String, sql: String)] = [
        ("clearing-pg-v1", v1),
        ("clearing-pg-v2", v2),
    ]

    /// Pages of packed rows compressed with LZ4 where the server has it (PostgreSQL 14 and
    /// later built with it, as Debian's are), out of line still: the server then stores and
    /// WAL-logs half the bytes and cuts half the TOAST chunks, which costs it less than LZ4
    /// does (the 1M-tap day 3.4–3.7 s → 2.7–3.0 s, the pages 164 MB → 72 MB; docs/performance.md).
    /// Rows stored before keep their storage; reading either is the same.
    static let v2 = """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
                ALTER TABLE clearing_page ALTER COLUMN data SET STORAGE EXTENDED;
                ALTER TABLE clearing_page ALTER COLUMN data SET COMPRESSION lz4;
                ALTER TABLE clearing_detail_page ALTER COLUMN data SET STORAGE EXTENDED;
                ALTER TABLE clearing_detail_page ALTER COLUMN data SET COMPRESSION lz4;
                ALTER TABLE clearing_snapshot ALTER COLUMN data SET STORAGE EXTENDED;
                ALTER TABLE clearing_snapshot ALTER COLUMN data SET COMPRESSION lz4;
            END IF;
        END $$;
        """

    /// Applies the migrations the database lacks, under the store's write lock: two
    /// processes starting at once do not both create the schema.
    static func migrate(_ engine: PostgresEngine) throws {
        try engine.write { db in
            try db.execute("CREATE TABLE IF NOT EXISTS onecard_migration (name TEXT PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())")
            let applied = Set(try db.rows("SELECT name FROM onecard_migration").map { try $0.text(0) })
            if applied.isEmpty {
                let foreign = try db.int("""
                    SELECT COUNT(*) FROM information_schema.tables
                    WHERE table_schema = current_schema() AND table_name <> 'onecard_migration'
                    """) ?? 0
                if foreign > 0 {
                    throw StorageError.notAJournal(path: engine.location, reason: "a database with other tables, not a clearing database: give clearing a database of its own")
                }
            }
            for m in migrations where !applied.contains(m.name) {
                for statement in statements(m.sql) { try db.execute(statement) }
                try db.execute("INSERT INTO onecard_migration (name) VALUES (?)", m.name)
            }
        }
    }

    /// `sql` cut at the `;` that end statements (outside quotes and `$$` bodies).
    static func statements(_ sql: String) -> [String] {
        var out: [String] = [], current = ""
        var quoted = false, dollar = false
        let chars = Array(sql)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "-", !quoted, !dollar, i + 1 < chars.count, chars[i + 1] == "-" {
                while i < chars.count, chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "$", !quoted, i + 1 < chars.count, chars[i + 1] == "$" {
                dollar.toggle()
                current += "$$"
                i += 2
                continue
            }
            if c == "'", !dollar { quoted.toggle() }
            if c == ";", !quoted, !dollar {
                let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !s.isEmpty { out.append(s) }
                current = ""
            } else {
                current.append(c)
            }
            i += 1
        }
        let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !s.isEmpty { out.append(s) }
        return out
    }

    static let v1 = """
        CREATE TABLE clearing_meta (
            key TEXT PRIMARY KEY,
            value BIGINT NOT NULL
        );
        INSERT INTO clearing_meta (key, value) VALUES ('hotlistStamp', 0), ('registryStamp', 0);
        CREATE TABLE clearing_run (
            run BIGINT PRIMARY KEY,
            finished TEXT NOT NULL,
            received TEXT NOT NULL,
            business_day TEXT NOT NULL,
            batches BIGINT NOT NULL,
            records BIGINT NOT NULL,
            summary TEXT NOT NULL
        );
        CREATE INDEX clearing_run_day ON clearing_run(business_day);
        CREATE TABLE clearing_batch (
            terminal BIGINT NOT NULL,
            sequence BIGINT NOT NULL,
            run BIGINT NOT NULL REFERENCES clearing_run(run),
            file TEXT NOT NULL,
            created BIGINT NOT NULL,
            outcome TEXT NOT NULL,
            sha256 BYTEA,
            PRIMARY KEY (terminal, sequence)
        );
        CREATE TABLE clearing_page (
            run BIGINT NOT NULL REFERENCES clearing_run(run),
            kind TEXT NOT NULL CHECK (kind IN ('transfers', 'accepted', 'shadows', 'refusals')),
            page BIGINT NOT NULL,
            count BIGINT NOT NULL CHECK (count > 0),
            data BYTEA NOT NULL,
            PRIMARY KEY (run, kind, page)
        );
        CREATE TABLE clearing_detail_page (
            run BIGINT NOT NULL REFERENCES clearing_run(run),
            page BIGINT NOT NULL,
            count BIGINT NOT NULL CHECK (count > 0),
            data BYTEA NOT NULL,
            PRIMARY KEY (run, page)
        );
        CREATE TABLE clearing_gap (
            serial BIGINT NOT NULL,
            offline BIGINT NOT NULL,
            counter BIGINT NOT NULL,
            seen_day BIGINT NOT NULL,
            reported BIGINT NOT NULL,
            PRIMARY KEY (serial, offline, counter)
        );
        CREATE TABLE clearing_account (
            kind BIGINT NOT NULL,
            number BIGINT NOT NULL,
            net BIGINT NOT NULL,
            PRIMARY KEY (kind, number)
        );
        CREATE TABLE clearing_exception (
            id BIGINT PRIMARY KEY,
            run BIGINT NOT NULL,
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
            serial BIGINT PRIMARY KEY,
            since BIGINT NOT NULL,
            reason TEXT NOT NULL,
            added TEXT NOT NULL
        );
        CREATE TABLE settlement_day (
            day TEXT PRIMARY KEY,
            settled_runs TEXT NOT NULL,
            closed TEXT
        );
        CREATE TABLE settlement_transfer (
            id BIGINT PRIMARY KEY,
            day TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('settlement', 'adjustment')),
            data BYTEA NOT NULL
        );
        CREATE INDEX settlement_transfer_day ON settlement_transfer(day);
        CREATE TABLE settlement_decision (
            record TEXT PRIMARY KEY,
            code TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
            officer TEXT NOT NULL,
            reason TEXT NOT NULL,
            decided TEXT NOT NULL,
            adjustment_day TEXT,
            adjustment_fen BIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE clearing_fare (
            terminal BIGINT NOT NULL,
            page BIGINT NOT NULL,
            newest_day BIGINT NOT NULL,
            bits BYTEA NOT NULL CHECK (length(bits) = 512),
            PRIMARY KEY (terminal, page)
        );
        CREATE TABLE clearing_conflict (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            run BIGINT NOT NULL REFERENCES clearing_run(run),
            terminal BIGINT NOT NULL,
            sequence BIGINT NOT NULL,
            file TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            ingested_sha256 TEXT,
            received TEXT NOT NULL,
            records BIGINT NOT NULL
        );
        CREATE TABLE clearing_terminal (
            terminal BIGINT PRIMARY KEY,
            operator BIGINT NOT NULL,
            key_version BIGINT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'retired')),
            changed TEXT NOT NULL
        );
        CREATE TABLE clearing_accepted_load (
            serial BIGINT NOT NULL,
            counter BIGINT NOT NULL,
            record TEXT NOT NULL,
            PRIMARY KEY (serial, counter)
        );
        CREATE TABLE clearing_snapshot (
            run BIGINT NOT NULL,
            page BIGINT NOT NULL,
            count BIGINT NOT NULL,
            data BYTEA NOT NULL,
            PRIMARY KEY (run, page)
        );
        CREATE TABLE clearing_city (
            version BIGINT PRIMARY KEY,
            effective TEXT,
            body BYTEA NOT NULL,
            stored TEXT NOT NULL
        );
        CREATE TABLE clearing_hotlist_change (
            version BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            serial BIGINT NOT NULL,
            listed BIGINT NOT NULL CHECK (listed IN (0, 1)),
            changed TEXT NOT NULL
        );
        CREATE INDEX clearing_hotlist_change_serial ON clearing_hotlist_change(serial, version);
        -- Pages of packed rows are stored out of line as they are: compressing megabytes of dense
        -- rows on every commit would cost the server's core more than it saves on disk.
        ALTER TABLE clearing_page ALTER COLUMN data SET STORAGE EXTERNAL;
        ALTER TABLE clearing_detail_page ALTER COLUMN data SET STORAGE EXTERNAL;
        ALTER TABLE clearing_snapshot ALTER COLUMN data SET STORAGE EXTERNAL;

        -- Rules the database enforces whatever the client: a refusal names what was refused.
        CREATE FUNCTION onecard_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '%', TG_ARGV[0];
        END $$;
        CREATE FUNCTION onecard_refuse_if_closed(d TEXT) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM settlement_day WHERE day = d AND closed IS NOT NULL) THEN
                RAISE EXCEPTION 'the business day is closed' USING DETAIL = d;
            END IF;
        END $$;
        CREATE FUNCTION onecard_closed_run() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM onecard_refuse_if_closed(NEW.business_day);
            RETURN NEW;
        END $$;
        CREATE FUNCTION onecard_closed_day() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.closed IS NOT NULL THEN
                RAISE EXCEPTION 'the business day is closed' USING DETAIL = OLD.day;
            END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        END $$;
        CREATE FUNCTION onecard_closed_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF OLD.kind = 'adjustment' THEN
                    RAISE EXCEPTION 'adjustments are immutable';
                END IF;
                PERFORM onecard_refuse_if_closed(OLD.day);
                RETURN OLD;
            END IF;
            PERFORM onecard_refuse_if_closed(NEW.day);
            RETURN NEW;
        END $$;
        CREATE FUNCTION onecard_bump_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE clearing_meta SET value = value + 1 WHERE key = TG_ARGV[0];
            RETURN NULL;
        END $$;

        -- The ledger is append-only: pages, batches, conflicts, decisions and city versions are never changed or removed.
        CREATE TRIGGER clearing_page_immutable BEFORE UPDATE OR DELETE ON clearing_page
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('ledger pages are immutable');
        CREATE TRIGGER clearing_detail_page_immutable BEFORE UPDATE OR DELETE ON clearing_detail_page
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('ledger pages are immutable');
        CREATE TRIGGER clearing_batch_immutable BEFORE UPDATE OR DELETE ON clearing_batch
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('ingested batches are immutable');
        CREATE TRIGGER clearing_conflict_immutable BEFORE UPDATE OR DELETE ON clearing_conflict
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('conflicts are evidence and immutable');
        CREATE TRIGGER settlement_decision_final BEFORE UPDATE OR DELETE ON settlement_decision
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('decisions are final');
        CREATE TRIGGER clearing_city_immutable BEFORE UPDATE OR DELETE ON clearing_city
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('city versions are immutable');
        CREATE TRIGGER clearing_run_immutable BEFORE UPDATE OR DELETE ON clearing_run
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('clearing runs are immutable');
        CREATE TRIGGER settlement_transfer_immutable BEFORE UPDATE ON settlement_transfer
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('ledger transfers are immutable');
        CREATE TRIGGER clearing_ledger_no_truncate BEFORE TRUNCATE ON clearing_page
            FOR EACH STATEMENT EXECUTE FUNCTION onecard_refuse('ledger pages are immutable');
        CREATE TRIGGER clearing_detail_no_truncate BEFORE TRUNCATE ON clearing_detail_page
            FOR EACH STATEMENT EXECUTE FUNCTION onecard_refuse('ledger pages are immutable');
        CREATE TRIGGER clearing_batch_no_truncate BEFORE TRUNCATE ON clearing_batch
            FOR EACH STATEMENT EXECUTE FUNCTION onecard_refuse('ingested batches are immutable');
        CREATE TRIGGER settlement_no_truncate BEFORE TRUNCATE ON settlement_transfer
            FOR EACH STATEMENT EXECUTE FUNCTION onecard_refuse('ledger transfers are immutable');
        -- A closed business day takes no run, no transfer, and is not reopened.
        CREATE TRIGGER clearing_run_closed_day BEFORE INSERT ON clearing_run
            FOR EACH ROW EXECUTE FUNCTION onecard_closed_run();
        CREATE TRIGGER settlement_day_closed BEFORE UPDATE OR DELETE ON settlement_day
            FOR EACH ROW EXECUTE FUNCTION onecard_closed_day();
        CREATE TRIGGER settlement_transfer_closed_day BEFORE INSERT OR DELETE ON settlement_transfer
            FOR EACH ROW EXECUTE FUNCTION onecard_closed_transfer();
        -- Terminals: a retired one never comes back, none is removed.
        CREATE TRIGGER clearing_terminal_retired BEFORE UPDATE ON clearing_terminal
            FOR EACH ROW WHEN (OLD.status = 'retired') EXECUTE FUNCTION onecard_refuse('a retired terminal stays retired');
        CREATE TRIGGER clearing_terminal_no_delete BEFORE DELETE ON clearing_terminal
            FOR EACH ROW EXECUTE FUNCTION onecard_refuse('registered terminals are kept');
        -- Stamps a running clearing reads to know when to read the hotlist or the registry again.
        CREATE TRIGGER clearing_hotlist_stamp AFTER INSERT OR UPDATE OR DELETE ON clearing_hotlist
            FOR EACH STATEMENT EXECUTE FUNCTION onecard_bump_stamp('hotlistStamp');
        CREATE TRIGGER clearing_terminal_stamp AFTER INSERT OR UPDATE OR DELETE ON clearing_terminal
            FOR EACH STATEMENT EXECUTE FUNCTION onecard_bump_stamp('registryStamp')
        """
}
