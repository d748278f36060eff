import Foundation
import Logging
import SVXStore
import ServiceLifecycle
import Synchronization

/// Whether the service's database answers, as last seen by ``DatabaseHealthMonitor``.
public final class DatabaseHealth: Sendable {
    private let healthy = Atomic<Bool>(true)
    public init() {}
    public var isHealthy: Bool { healthy.load(ordering: .acquiring) }
    func record(_ value: Bool) { healthy.store(value, ordering: .releasing) }
}

/// Pings the database once a second on a connection of its own (on a thread of its own, since
/// libpq blocks), so that `Health/Check` reads a flag instead of making a round trip.
final class DatabaseHealthMonitor: Service, Sendable {
    let health = DatabaseHealth()
    private let stopped = Atomic<Bool>(false)
    // Used only by the monitor thread once `run()` starts it.
    private let connection: PostgresConnection
    private let logger: Logger

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    func run() async throws {
        let thread = Thread { [self] in
            var wasHealthy = true
            while !stopped.load(ordering: .acquiring) {
                let healthy = connection.ping()
                health.record(healthy)
                if healthy != wasHealthy {
                    healthy ? logger.notice("database reachable again") : logger.error("database unreachable")
                    wasHealthy = healthy
                }
                for _ in 0..<10 where !stopped.load(ordering: .acquiring) { Thread.sleep(forTimeInterval: 0.1) }
            }
        }
        thread.name = "svx-db-health"
        thread.start()
        await withGracefulShutdownHandler {
            while !stopped.load(ordering: .acquiring) {
                try? await Task.sleep(for: .milliseconds(100))
                if Task.isCancelled { break }
            }
        } onGracefulShutdown: { [self] in
            stopped.store(true, ordering: .releasing)
        }
        stopped.store(true, ordering: .releasing)
    }
}
