import Cryppo
import Foundation
import SVXRPC
import SVXService
import SVXStore
import Synchronization
import SVXContracts

/// What every Auth handler shares: the configuration, the throttles, the server secret, and the session store.
final class AuthService: Sendable {
    let configuration: AuthConfiguration
    /// Failed logins (PostgreSQL, every replica).
    let throttle: Throttle
    /// ReserveUsername calls per caller (this process).
    let reserveLimiter: CallerRateLimiter
    /// BeginLogin calls per caller (this process).
    let beginLoginLimiter: CallerRateLimiter
    let secrets = ServerSecrets()
    let sessions: LocalSessionValidator
    /// The users' security events in this service (reference/sharing.md §5b), each in its change's transaction.
    let audit = AuditTrail(service: "auth", schema: "auth")
    /// Derives each challenge's SRP b from its stored nonce (docs/ADR-002-auth.md); never in the database.
    let challengeKey: [UInt8]
    private let housekeepingCounter = Atomic<Int>(0)

    init(configuration: AuthConfiguration) {
        self.configuration = configuration
        throttle = Throttle(
            perUsername: TokenBucket(
                burst: configuration.throttleBurst, refillMilliseconds: configuration.throttleRefill.wholeMilliseconds),
            perUsernameAndCaller: TokenBucket(
                burst: configuration.callerThrottleBurst,
                refillMilliseconds: configuration.callerThrottleRefill.wholeMilliseconds))
        reserveLimiter = CallerRateLimiter(bucket: TokenBucket(
            burst: configuration.reserveThrottleBurst,
            refillMilliseconds: configuration.reserveThrottleRefill.wholeMilliseconds))
        beginLoginLimiter = CallerRateLimiter(bucket: TokenBucket(
            burst: configuration.beginLoginThrottleBurst,
            refillMilliseconds: configuration.beginLoginThrottleRefill.wholeMilliseconds))
        sessions = LocalSessionValidator(configuration: configuration)
        // Without a configured key, one per process: logins begun before a restart, or on another replica, fail.
        challengeKey = configuration.challengeKey ?? ((try? SecureRandom.bytes(count: 32)) ?? [])
        precondition(challengeKey.count == 32, "no random bytes for the challenge key")
    }

    /// Every Auth method (handlers by concern: Registration, Login, Sessions, CredentialProofs, Recovery).
    func register(_ routes: ServiceRoutes) {
        routes.register(AuthRPC.reserveUsername) { [self] in try reserveUsername($0, $1, $2) }
        routes.register(AuthRPC.register) { [self] in try register($0, $1, $2) }
        routes.register(AuthRPC.beginLogin) { [self] in try beginLogin($0, $1, $2) }
        routes.register(AuthRPC.finishLogin) { [self] in try finishLogin($0, $1, $2) }
        routes.register(AuthRPC.validateSession) { [self] in try validateSession($0, $1, $2) }
        routes.registerAuthenticated(AuthRPC.logout, recovery: .anyTime) { [self] in try logout($0, $1, $2, $3) }
        routes.registerAuthenticated(AuthRPC.listSessions) { [self] in try listSessions($0, $1, $2, $3) }
        routes.registerAuthenticated(AuthRPC.revokeSession) { [self] in try revokeSession($0, $1, $2, $3) }
        routes.registerAuthenticated(AuthRPC.changeVerifier) { [self] in try changeVerifier($0, $1, $2, $3) }
        routes.registerAuthenticated(AuthRPC.verifyCredentials, peers: ["keystore"]) { [self] in try verifyCredentials($0, $1, $2, $3) }
        // Account recovery (Recovery.swift): a RECOVERY session reaches only the methods registered for recovery (anyTime: its own status, cancel and logout; afterDelay: completing it).
        routes.register(AuthRPC.beginRecovery) { [self] in try beginRecovery($0, $1, $2) }
        routes.register(AuthRPC.finishRecovery) { [self] in try finishRecovery($0, $1, $2) }
        routes.registerAuthenticated(AuthRPC.setRecoveryVerifier) { [self] in try setRecoveryVerifier($0, $1, $2, $3) }
        routes.registerAuthenticated(AuthRPC.deleteRecoveryVerifier) { [self] in
            try deleteRecoveryVerifier($0, $1, $2, $3)
        }
        routes.registerAuthenticated(AuthRPC.getRecoveryStatus, recovery: .anyTime) { [self] in
            try getRecoveryStatus($0, $1, $2, $3)
        }
        routes.registerAuthenticated(AuthRPC.cancelRecovery, recovery: .anyTime) { [self] in
            try cancelRecovery($0, $1, $2, $3)
        }
        routes.registerAuthenticated(AuthRPC.completeRecovery, freshSession: true, recovery: .afterDelay) { [self] in
            try completeRecovery($0, $1, $2, $3)
        }
    }

    /// Every 500th call (per process) deletes what has expired: challenges, reservations, old sessions, full
    /// throttle buckets. Failures are logged, never fail the request.
    func housekeepingIfDue(_ context: RequestContext, _ worker: ServiceWorker) {
        guard housekeepingCounter.add(1, ordering: .relaxed).newValue % 500 == 0 else { return }
        do {
            let db = worker.database
            _ = try db.execute("DELETE FROM auth.login_challenges WHERE expires_at < now()")
            _ = try db.execute("DELETE FROM auth.username_reservations WHERE reserved_until < now()")
            _ = try db.execute(
                """
                DELETE FROM auth.sessions WHERE expires_at < now() - interval '1 day'
                OR revoked_at < now() - interval '1 day'
                OR (scope = 'full' AND last_seen_at < now() - $1::float8 * interval '1 millisecond' - interval '1 day')
                """, Double(configuration.sessionIdle.wholeMilliseconds))
            try throttle.sweep(on: db)
        } catch {
            context.logger.warning("auth housekeeping failed", metadata: ["error_type": "\(type(of: error))"])
        }
    }
}

