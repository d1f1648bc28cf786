import Core
import Foundation

extension RunStore {
    /// The stores of the SQLite file at `path` (created and migrated to the current schema if needed).
    package init(path: String) throws {
        let database = try SQLiteDatabase(path: path)
        self.init(repositories: SQLiteRepositoryStore(database), queue: SQLiteRunQueue(database),
                  records: SQLiteRunRecords(database), deliveries: SQLiteDeliveryQueue(database))
    }
}
