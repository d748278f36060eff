import Foundation
import Logging
import SVXRPC
import SVXStore

/// What one worker thread owns: its index and its own PostgreSQL connection. Handlers receive it
/// with every request; it never crosses to another thread.
public struct ServiceWorker {
    public let index: Int
    public let database: PostgresConnection
}

/// The methods of one service. Wraps ``RPCRouter`` so that database errors reach the caller as
/// the status codes of DESIGN.md (unique violation → ALREADY_EXISTS, serialization failure that
/// outlived its retries → ABORTED, lost connection → UNAVAILABLE), never as raw SQL text.
public final class ServiceRoutes: Sendable {
    let router: RPCRouter<ServiceWorker>
    let sessionValidator: (any SessionValidator)?
    /// Whether the server knows which peer service calls (CURVE, ``RequestContext/peerService``): then a method meant
    /// for peers refuses every other caller. Over plain TCP nobody can be told from a peer, and those methods take any
    /// caller with a session (the service warns at start).
    let peersAreIdentified: Bool

    init(router: RPCRouter<ServiceWorker>, sessionValidator: (any SessionValidator)? = nil, peersAreIdentified: Bool = false) {
        self.router = router
        self.sessionValidator = sessionValidator
        self.peersAreIdentified = peersAreIdentified
    }

    public func register<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ handler: @escaping @Sendable (Request, RequestContext, ServiceWorker) throws -> Response
    ) {
        router.register(method) { request, context, worker in
            try Self.mappingDatabaseErrors(context) { try handler(request, context, worker) }
        }
    }

    /// Runs `body`; a ``DatabaseError`` becomes the status of DESIGN.md.
    static func mappingDatabaseErrors<T>(_ context: RequestContext, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            throw RPCStatus(databaseError: error, logger: context.logger)
        }
    }

    /// Registers a method answered at once by the thread that reads the request, without a pool worker (see
    /// `RPCRouter.registerInline`): only for handlers that read memory and finish in microseconds, such as
    /// `Health/Check`, which must answer even while every worker waits on the database.
    public func registerInline<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ handler: @escaping @Sendable (Request, RequestContext) throws -> Response
    ) {
        router.registerInline(method, handler)
    }
}

extension ServiceRoutes {
    /// Registers a method that requires a session: the envelope's session token is validated first (with Auth
    /// over RPC in every service but Auth, briefly cached; against Auth's own tables in Auth). A missing,
    /// unknown, expired or revoked token is UNAUTHENTICATED and the handler never runs; when Auth cannot answer,
    /// UNAVAILABLE (fail closed). `freshSession`: Auth is asked on every call, never a cached answer (methods
    /// that act on the credential generation). `recovery`: whether a RECOVERY session (docs/ADR-009-recovery.md) may
    /// call it (``RecoveryAccess``); by default it is refused (PERMISSION_DENIED `recovery_session`) before the handler
    /// runs.
    ///
    /// What a refused call costs is kept small, since anyone can send one: a token that does not have the shape of
    /// Auth's tokens (``SessionToken/isWellFormed(_:)``) is answered by the thread that read the request, before it
    /// is queued; the session is checked before the payload is decoded.
    ///
    /// `peers`: a method meant only for those services' peer calls (they forward the user's session). Any other caller
    /// (a user's client, another service) is PERMISSION_DENIED, whatever token it carries, before its session is
    /// checked; over plain TCP, where no caller is identified, the check is skipped (``peersAreIdentified``), unless
    /// `identityRequired`: then every call is refused over plain TCP. A method that reads another user's rows on its
    /// peer's word (the Vault's GetSharedAttachmentBlock) must fail closed so.
    public func registerAuthenticated<Request, Response>(
        _ method: RPCMethod<Request, Response>, freshSession: Bool = false, recovery: RecoveryAccess = .refused,
        peers: Set<String>? = nil, identityRequired: Bool = false,
        _ handler: @escaping @Sendable (Request, RequestContext, ServiceWorker, AuthenticatedSession) throws -> Response
    ) {
        let validator = sessionValidator
        let identified = peersAreIdentified
        let requiredPeers = identified || identityRequired ? peers : nil
        router.register(
            method, screen: SessionToken.screen,
            admit: { context, worker in
                if let requiredPeers, !requiredPeers.contains(context.peerService ?? "") {
                    context.logger.warning("peer-only method refused", metadata: [
                        "method": "\(method.name)", "caller_service": "\(context.peerService ?? "none")",
                    ])
                    throw RPCStatus(
                        .permissionDenied,
                        identified
                            ? "this method is for svx services only"
                            : "this method needs its caller's CURVE identity, and this service runs with SVX_TRANSPORT=plaintext")
                }
                guard let validator else {
                    context.logger.error("authenticated method without a session validator")
                    throw RPCStatus(.unavailable, "authentication service unavailable, try again")
                }
                let session = try Self.mappingDatabaseErrors(context) {
                    try validator.validate(token: context.sessionToken, context: context, worker: worker, fresh: freshSession)
                }
                try session.admit(recovery, nowMs: UInt64(Date().timeIntervalSince1970 * 1000))
                return session
            },
            { request, context, worker, session in
                try Self.mappingDatabaseErrors(context) { try handler(request, context, worker, session) }
            })
    }
}

extension RPCStatus {
    /// The status a caller sees for a database error. The SQL message is logged (it never holds
    /// parameter values), the caller gets a generic one.
    public init(databaseError error: DatabaseError, logger: Logger) {
        switch error.kind {
        case .uniqueViolation:
            self.init(.alreadyExists, "already exists")
        case .serializationFailure, .deadlockDetected:
            self.init(.aborted, "concurrent update, try again")
        case .connectionLost:
            logger.warning("database connection lost", metadata: ["sqlstate": "\(error.sqlState ?? "-")"])
            self.init(.unavailable, "database unavailable, try again")
        default:
            logger.error("database error", metadata: ["sqlstate": "\(error.sqlState ?? "-")", "error": "\(error.message)"])
            self.init(.internal, "internal error")
        }
    }
}
