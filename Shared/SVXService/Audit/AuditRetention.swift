import Foundation
import Logging
import SVXStore
import ServiceLifecycle
import Synchronization

/// Retention of a service's audit trail (`SVX_AUDIT_RETENTION_DAYS`): a minute after start and then every hour, on a
/// connection and a thread of its own (libpq blocks), deletes the events older than the retention with
/// ``AuditTrail/prune(before:maxUsers:on:)``, which keeps each cut chain's anchor. A failure is logged and tried again
/// at the next round; it never stops the service.
final class AuditRetentionService: Service, Sendable {
    static let firstDelay: TimeInterval = 60
    static let interval: TimeInterval = 3600
    /// Users cut per statement, and statements per round (a round that hits the bound goes on at the next one).
    static let usersPerStatement = 1000
    static let statementsPerRound = 100

    private let trail: AuditTrail
    private let retentionDays: Int
    private let databaseURL: String
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    init(trail: AuditTrail, retentionDays: Int, databaseURL: String, logger: Logger) {
        self.trail = trail
        self.retentionDays = retentionDays
        self.databaseURL = databaseURL
        self.logger = logger
    }

    func run() async throws {
        let thread = Thread { [self] in
            var connection: PostgresConnection?
            var wait = Self.firstDelay
            while sleep(wait) {
                wait = Self.interval
                do {
                    let db = try connection ?? PostgresConnection(conninfo: databaseURL, logger: logger)
                    connection = db
                    pruneOnce(db)
                } catch {
                    connection = nil
                    logger.warning("audit retention: no database connection", metadata: ["error": "\(error)"])
                }
            }
        }
        thread.name = "svx-audit-retention"
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

    /// Sleeps `seconds` in steps of 100 ms; false once the service is stopping.
    private func sleep(_ seconds: TimeInterval) -> Bool {
        for _ in 0..<Int(seconds * 10) {
            if stopped.load(ordering: .acquiring) { return false }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return !stopped.load(ordering: .acquiring)
    }

    private func pruneOnce(_ db: PostgresConnection) {
        let cutoff = Date().addingTimeInterval(-Double(retentionDays) * 86_400)
        var users = 0
        do {
            for _ in 0..<Self.statementsPerRound where !stopped.load(ordering: .acquiring) {
                let cut = try trail.prune(before: cutoff, maxUsers: Self.usersPerStatement, on: db)
                users += cut
                if cut < Self.usersPerStatement { break }
            }
            if users > 0 { logger.info("audit retention", metadata: ["users_pruned": "\(users)"]) }
        } catch {
            logger.warning("audit retention failed", metadata: ["error": "\(error)"])
        }
    }
}
