import Foundation
import Logging

/// One ``PostgresConnection`` per worker index, for a server whose worker threads each own a connection.
///
/// ``connection(worker:)`` creates worker `i`'s connection on first use (or all of them at start with
/// `eager: true`) and returns the same connection every later time. Only worker `i`'s thread may use it.
/// ``ping()`` uses a separate connection of its own, so a health check never touches a worker's connection.
public final class PostgresPool: @unchecked Sendable {
    // @unchecked Sendable: the slots are read and written under `lock`, the health connection under `healthLock`
    // (so a slow health check never delays a worker).
    // The connections themselves are handed out one per worker index; each is then used by that worker only.

    /// The connection string every connection uses.
    public let conninfo: String
    /// The number of worker slots.
    public let size: Int
    private let logger: Logger
    private let applicationName: String
    private let lock = NSLock()
    private let healthLock = NSLock()
    private var slots: [PostgresConnection?]
    private var healthConnection: PostgresConnection?

    /// Creates a pool of `size` slots.
    ///
    /// - Parameter eager: connect every slot now (throws if PostgreSQL cannot be reached) instead of on first use.
    public init(conninfo: String, size: Int, logger: Logger, applicationName: String = "svx", eager: Bool = false) throws {
        precondition(size > 0, "a pool needs at least one slot")
        self.conninfo = conninfo
        self.size = size
        self.logger = logger
        self.applicationName = applicationName
        self.slots = Array(repeating: nil, count: size)
        if eager {
            for worker in 0..<size { _ = try connection(worker: worker) }
        }
    }

    /// The connection of worker `worker` (0 ..< size), created on first use.
    ///
    /// - Throws: ``DatabaseError`` (``DatabaseError/Kind/connectionLost``) when the first connect fails; the next
    ///   call tries again.
    public func connection(worker: Int) throws -> PostgresConnection {
        precondition(worker >= 0 && worker < size, "worker index \(worker) outside 0..<\(size)")
        lock.lock()
        defer { lock.unlock() }
        if let existing = slots[worker] { return existing }
        var workerLogger = logger
        workerLogger[metadataKey: "db_worker"] = "\(worker)"
        let created = try PostgresConnection(conninfo: conninfo, logger: workerLogger, applicationName: applicationName)
        slots[worker] = created
        return created
    }

    /// Whether PostgreSQL answers `SELECT 1`, on the pool's own health connection (reconnecting if needed).
    public func ping() -> Bool {
        healthLock.lock()
        defer { healthLock.unlock() }
        if healthConnection == nil {
            healthConnection = try? PostgresConnection(
                conninfo: conninfo, logger: logger, applicationName: applicationName, connectTimeout: 5)
        }
        return healthConnection?.ping() ?? false
    }

    /// Closes every connection. Call after the workers have stopped.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        for slot in slots { slot?.close() }
        slots = Array(repeating: nil, count: size)
        healthLock.withLock {
            healthConnection?.close()
            healthConnection = nil
        }
    }
}
