import City
import Clearing
import ClearingIngest
import Foundation
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Storage
import StoreTestSupport
import Testing
import UploadBatch

/// The real engine of `store`, with a switch that makes every call fail as a lost server does
/// (a PostgreSQL primary killed, a failover not yet done).
final class SeveredEngine: SQLEngine, @unchecked Sendable {
    let inner: any SQLEngine
    private let lock = NSLock()
    private var severed = false
    private var severAtWrite = false
    init(_ inner: any SQLEngine) { self.inner = inner }
    var location: String { inner.location }
    /// From the next write on (a run's commit), every call fails, until ``restore()``.
    func severAtNextWrite() { lock.withLock { severAtWrite = true } }
    func restore() { lock.withLock { (severed, severAtWrite) = (false, false) } }
    private func check(writing: Bool) throws {
        let down = lock.withLock {
            if writing && severAtWrite { severed = true }
            return severed
        }
        if down { throw StorageError.unreachable(path: location, operation: "a test", reason: "the server is down") }
    }
    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T { try check(writing: false); return try inner.read(body) }
    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T { try check(writing: true); return try inner.write(body) }
    func registryStamp(_ session: any SQLSession) throws -> Int64 { try inner.registryStamp(session) }
    func storageError(_ error: any Error, operation: String) -> StorageError? { inner.storageError(error, operation: operation) }
}

@Suite("A running clearing whose database is lost (a crash, a failover) loses nothing and invents nothing")
struct LostDatabaseTests {
    @Test("an upload whose commit failed while the database was down is cleared for real once it is back, not answered as a replay of nothing")
    func commitLostThenBack() throws {
        try withTempDir { dir in
            let opened = try TestBackend.open(dir + "/c.sqlite")
            let severed = SeveredEngine(opened.engine)
            let store = ClearingStore(engine: severed)
            try UploadFixture.prepare(store)
            let ingestor = try UploadFixture.ingestor(store)
            let upload = { UploadFixture.upload($0) }
            var d = Day()
            let received = BCDDateTime(iso: "2026-11-29T23:30:00")!
            let loads = Day.batch(Day.counter, 1, [d.load(cardA, 5000, at: "2026-11-29T07:00:00")])
            // The server goes at the commit: the run is posted in memory, its commit fails, and so
            // does rebuilding the engine from the store.
            severed.severAtNextWrite()
            #expect(throws: StorageError.self) { try ingestor.clear([upload(loads)], received: received) }
            // Still down at the next call: refused again, nothing answered from memory.
            #expect(throws: StorageError.self) { try ingestor.clear([upload(loads)], received: received) }
            severed.restore()
            let r = try ingestor.clear([upload(loads)], received: received)
            guard case .cleared(let outcome, let replayed) = r[0] else { Issue.record("not cleared: \(r)"); return }
            #expect(!replayed, "answered as a replay of a batch the database never stored")
            #expect(outcome.accepted == 1)
            #expect(try store.batchKeys().count == 1)
            #expect(try store.runNumbers().count == 1)
        }
    }
}
