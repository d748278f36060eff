import Cryppo
import Foundation
import SVXProto
import SVXRPC
import Synchronization
import SVXContracts

/// Validates session tokens with Auth's ValidateSession over RPC, with a short cache so that a burst of calls
/// with one session costs Auth one call. An entry lives at most ``cacheTTL`` (≤ 500 ms), so a logout or revoke
/// is seen by every service within one second. Anything but a clear answer from Auth is UNAVAILABLE: a service
/// never lets a call through that Auth did not vouch for (fail closed).
///
/// Tokens that cannot be Auth's (``SessionToken/isWellFormed(_:)``) are refused without asking. Auth's "no" is cached
/// apart from its "yes", in a small table that is emptied when full: a flood of unknown tokens (anyone can make them)
/// never pushes out the sessions of real users, whose table only drops entries that have expired.
public final class RemoteSessionValidator: SessionValidator {
    public static let maximumCacheTTL: Duration = .milliseconds(500)

    private let client: RPCClient
    private let cacheTTL: Duration
    private let callTimeout: Duration
    private let capacity: Int
    private let negativeCapacity: Int
    private let cache = Mutex(Caches())

    private struct Caches {
        /// Sessions Auth vouched for, by token hash.
        var positive: [[UInt8]: Entry] = [:]
        /// Tokens Auth refused (UNAUTHENTICATED), by token hash: `until` only.
        var negative: [[UInt8]: ContinuousClock.Instant] = [:]
    }

    private struct Entry {
        let until: ContinuousClock.Instant
        let session: AuthenticatedSession
    }

    /// `capacity`: sessions cached at once (when full of live ones, a new answer is simply not cached);
    /// `negativeCapacity`: refused tokens cached at once.
    public init(
        authEndpoint: String, cacheTTL: Duration = .milliseconds(500), callTimeout: Duration = .seconds(2),
        capacity: Int = 10_000, negativeCapacity: Int = 1024,
        transport: TransportSecurity, keyPair: CurveKeyPair? = nil
    ) throws {
        precondition(cacheTTL <= Self.maximumCacheTTL && capacity > 0 && negativeCapacity > 0)
        client = try RPCClient(
            service: "auth", endpoint: authEndpoint, transport: transport, keyPair: keyPair,
            configuration: .init(defaultTimeout: callTimeout))
        self.cacheTTL = cacheTTL
        self.callTimeout = callTimeout
        self.capacity = capacity
        self.negativeCapacity = negativeCapacity
    }

    public func close() { client.close() }

    public func validate(
        token: String, context: RequestContext, worker: ServiceWorker, fresh: Bool
    ) throws -> AuthenticatedSession {
        try validate(token: token, context: context, fresh: fresh)
    }

    /// The same without a worker (the remote check needs no database). `fresh` skips the cache (the answer is
    /// still cached for the calls after it).
    public func validate(token: String, context: RequestContext, fresh: Bool = false) throws -> AuthenticatedSession {
        guard SessionToken.isWellFormed(token) else { throw RPCStatus.invalidSession }
        let key = HashFunction.sha256.hash(Array(token.utf8))
        let now = ContinuousClock.now
        if !fresh {
            let (session, refused) = cache.withLock { cache in
                (cache.positive[key].flatMap { $0.until > now ? $0.session : nil },
                 cache.negative[key].map { $0 > now } ?? false)
            }
            if let session { return session }
            if refused { throw RPCStatus.invalidSession }
        }

        var request = Svx_Auth_V1_ValidateSessionRequest()
        request.sessionToken = token
        // Never wait past the caller's own deadline.
        let timeout = min(callTimeout, max(.milliseconds(1), context.deadline - now))
        let session: AuthenticatedSession?
        do {
            let response = try client.callBlocking(
                AuthRPC.validateSession, request, timeout: timeout, traceParent: context.traceParent)
            session = AuthenticatedSession(
                userID: response.userID, sessionID: response.sessionID, username: response.username,
                expiresAtMs: response.expiresAtMs, credentialGeneration: response.credentialGeneration,
                recentlyAuthenticated: response.recentlyAuthenticated,
                scope: response.scope == .full ? .full : .recovery,
                // A scope this build does not know is treated as a recovery session that never becomes usable.
                usableAtMs: response.scope == .recovery || response.scope == .full ? response.usableAtMs : .max)
        } catch let status as RPCStatus where status.code == .unauthenticated {
            session = nil
        } catch let status as RPCStatus {
            context.logger.warning("session validation failed: auth unreachable", metadata: ["code": "\(status.code.name)"])
            throw RPCStatus(.unavailable, "authentication service unavailable, try again")
        } catch {
            context.logger.warning("session validation failed", metadata: ["error_type": "\(type(of: error))"])
            throw RPCStatus(.unavailable, "authentication service unavailable, try again")
        }

        // Counted from before the call: an answer is never trusted longer than cacheTTL after Auth could
        // have given it, however slow the call was (a revoke is seen everywhere within cacheTTL + one call).
        let until = now + cacheTTL
        guard let session else {
            cache.withLock { cache in
                if cache.negative.count >= negativeCapacity { cache.negative.removeAll(keepingCapacity: true) }
                cache.negative[key] = until
            }
            throw RPCStatus.invalidSession
        }
        // Never cache past the session's absolute expiry.
        let remaining = Int64(session.expiresAtMs) - Int64(Date().timeIntervalSince1970 * 1000)
        let entry = Entry(until: min(until, now + .milliseconds(max(0, remaining))), session: session)
        cache.withLock { cache in
            cache.negative[key] = nil
            if cache.positive.count >= capacity {
                let now = ContinuousClock.now
                cache.positive = cache.positive.filter { $0.value.until > now }
            }
            // Still full of live sessions (each at most 500 ms old): this one is not cached; none is pushed out.
            if cache.positive.count < capacity { cache.positive[key] = entry }
        }
        return session
    }
}
