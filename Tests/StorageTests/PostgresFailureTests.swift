import Foundation
import PostgresStorage
import Storage
import StoreTestSupport
import Testing

@Suite("PostgreSQL: a connection lost under a running call", .enabled(if: TestBackend.isPostgres, "the PostgreSQL pass of scripts/test.sh runs it (ONECARD_TEST_BACKEND=postgresql)"))
struct PostgresFailureTests {
    @Test("the server drops the store's connection in the middle of a streamed read: the call fails with 'cannot be reached' at once, and the next call connects again (found by scripts/failover-test.sh: settle hung for ever)")
    func lostMidRead() throws {
        try withTempDir { dir in
            let location = try TestBackend.location(for: dir + "/c.sqlite")
            let store = try TestBackend.open(location)
            for v in 1...3 { try store.addCity(Data("city \(v)".utf8), effective: nil) }
            let pid = try #require(try store.engine.read { db in try db.int("SELECT pg_backend_pid()") })
            let admin = try PostgresEngine(url: try PostgresURL(location))
            let outcome = Locked<String?>(nil)
            let finished = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                do {
                    try store.engine.read { db in
                        try db.forEach("SELECT version FROM clearing_city ORDER BY version", []) { _ in
                            // The server ends this connection (as a crash or a failover does), and the
                            // socket is gone before the cursor is fetched again or closed.
                            _ = try admin.read { a in try a.int("SELECT CAST(pg_terminate_backend(CAST(? AS INTEGER)) AS INTEGER)", pid) }
                            Thread.sleep(forTimeInterval: 0.5)
                        }
                    }
                    outcome.withLock { $0 = "returned" }
                } catch {
                    // As the store reports it (what settle or serve print).
                    let reported = store.engine.storageError(error, operation: "a streamed read").map { "\($0)" } ?? "\(error)"
                    outcome.withLock { $0 = reported }
                }
                finished.signal()
            }
            guard finished.wait(timeout: .now() + 20) == .success else {
                Issue.record("the read still waits 20 s after its connection was dropped")
                return
            }
            let message = try #require(outcome.withLock { $0 })
            #expect(message.contains("cannot be reached"), "\(message)")
            #expect(!message.contains("returned"))
            // The next call reconnects by itself.
            #expect(try store.cityVersions().count == 3)
        }
    }
}
