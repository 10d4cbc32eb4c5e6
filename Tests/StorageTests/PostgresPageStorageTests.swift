import Clearing
import Foundation
import OneCardCore
import OneCardTestSupport
import Storage
import StoreTestSupport
import Testing
import UploadBatch

/// How PostgreSQL stores the clearing database's pages of rows (migration `clearing-pg-v2`).
@Suite("PostgreSQL: pages of rows stored compressed", .enabled(if: TestBackend.isPostgres, "the PostgreSQL pass of scripts/test.sh runs it (ONECARD_TEST_BACKEND=postgresql)"))
struct PostgresPageStorageTests {
    @Test("the page columns are LZ4-compressed, out of line, and a run's pages read back as written")
    func lz4Pages() throws {
        try withTempDir { dir in
            let store = try TestBackend.open(try TestBackend.location(for: dir + "/c.sqlite"))
            for table in ["clearing_page", "clearing_detail_page", "clearing_snapshot"] {
                let row = try #require(try store.engine.read { db in
                    try db.row("""
                        SELECT CAST(attstorage AS TEXT), CAST(attcompression AS TEXT) FROM pg_attribute
                        WHERE attrelid = CAST(CAST(? AS TEXT) AS regclass) AND attname = 'data'
                        """, table)
                })
                #expect(try row.text(0) == "x", "\(table): storage")
                #expect(try row.text(1) == "l", "\(table): compression")
            }
            let migrations = try store.engine.read { db in try db.rows("SELECT name FROM onecard_migration ORDER BY name").map { try $0.text(0) } }
            #expect(migrations == ["clearing-pg-v1", "clearing-pg-v2"])
            // Rows that compress (a day's transfers) read back byte for byte.
            let engine = ClearingEngine(config: ClearingConfig(city: Day.city, tacMaster: Day.tacMaster), state: try store.loadState())
            var d = Day()
            var loads: [BatchRecord] = []
            for i in 0..<3000 { loads.append(d.load(CardSerial(rawValue: 0x2000_0000_0002_0000 + UInt64(i)), 1000, at: "2026-11-29T07:00:00")) }
            let r = engine.run([Day.batch(Day.counter, 1, loads)])
            try store.commit(r, files: ["l"], engine: engine, received: BCDDateTime(iso: "2026-11-29T23:30:00")!, businessDay: BCDDate("2026-11-29")!)
            var stored: [UInt8] = []
            try store.forEachPage("transfers") { stored += $0 }
            #expect(stored.count == 3000 * Packing.transferBytes)
            #expect(stored == r.packedTransfers)
        }
    }
}
