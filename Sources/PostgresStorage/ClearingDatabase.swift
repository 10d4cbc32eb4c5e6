import Foundation
public import Storage

/// Opens the clearing database `--db` names: a SQLite file, or PostgreSQL by URL
/// (`postgresql://…`, ``PostgresURL``).
public enum ClearingDatabase {
    /// Opens (creating the schema if needed) the clearing store at `location`.
    ///
    /// - Throws: ``StorageError`` naming the file or the URL without its password.
    public static func open(_ location: String, snapshotRowsMin: Int = ClearingStore.snapshotRowsMinDefault) throws(StorageError) -> ClearingStore {
        guard PostgresURL.isPostgres(location) else { return try ClearingStore(path: location, snapshotRowsMin: snapshotRowsMin) }
        let url = try PostgresURL(location, environment: ProcessInfo.processInfo.environment)
        let engine = try PostgresEngine(url: url)
        do {
            try PostgresSchema.migrate(engine)
        } catch {
            throw (error as? StorageError) ?? engine.storageError(error, operation: "creating the clearing schema")
                ?? .server(path: engine.location, operation: "creating the clearing schema", state: "?", reason: "\(error)")
        }
        return ClearingStore(engine: engine, snapshotRowsMin: snapshotRowsMin)
    }
}
