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
public final class RemoteSessionValidator: SessionValidator {
    public static let maximumCacheTTL: Duration = .milliseconds(500)

    private let client: RPCClient
    private let cacheTTL: Duration
    private let callTimeout: Duration
    private let capacity: Int
    private let cache = Mutex<[[UInt8]: Entry]>([:])

    private struct Entry {
        let until: ContinuousClock.Instant
        /// nil: Auth said UNAUTHENTICATED.
        let session: AuthenticatedSession?
    }

    public init(
        authEndpoint: String, cacheTTL: Duration = .milliseconds(500), callTimeout: Duration = .seconds(2),
        capacity: Int = 10_000
    ) throws {
        precondition(cacheTTL <= Self.maximumCacheTTL && capacity > 0)
        client = try RPCClient(endpoint: authEndpoint, configuration: .init(defaultTimeout: callTimeout))
        self.cacheTTL = cacheTTL
        self.callTimeout = callTimeout
        self.capacity = capacity
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
        guard !token.isEmpty else { throw RPCStatus.invalidSession }
        let key = HashFunction.sha256.hash(Array(token.utf8))
        let now = ContinuousClock.now
        if !fresh, let entry = cache.withLock({ $0[key] }), entry.until > now {
            guard let session = entry.session else { throw RPCStatus.invalidSession }
            return session
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
                recentlyAuthenticated: response.recentlyAuthenticated)
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
        var until = now + cacheTTL
        if let session {
            // Never cache past the session's absolute expiry.
            let remaining = Int64(session.expiresAtMs) - Int64(Date().timeIntervalSince1970 * 1000)
            until = min(until, now + .milliseconds(max(0, remaining)))
        }
        let entry = Entry(until: until, session: session)
        cache.withLock { cache in
            if cache.count >= capacity {
                let now = ContinuousClock.now
                cache = cache.filter { $0.value.until > now }
                // Still full of live entries: start over rather than grow (they are at most 500 ms old anyway).
                if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            }
            cache[key] = entry
        }
        guard let session else { throw RPCStatus.invalidSession }
        return session
    }
}
