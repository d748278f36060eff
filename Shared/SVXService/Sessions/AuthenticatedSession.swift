import Foundation
import SVXProto
import SVXRPC

/// Who is calling an authenticated method: what Auth knows about the session in the envelope.
public struct AuthenticatedSession: Sendable, Equatable {
    public let userID: String
    public let sessionID: String
    public let username: String
    /// The session's absolute expiry, Unix epoch milliseconds.
    public let expiresAtMs: UInt64
    /// The user's credential generation when Auth answered (docs/ADR-004-keystore.md). It only ever grows, so
    /// even a cached answer is a lower bound of the current one.
    public let credentialGeneration: UInt64
    /// The session's login is recent (Auth's `SVX_AUTH_REAUTH_WINDOW_MS`): required by what replaces or destroys keys.
    public let recentlyAuthenticated: Bool
    /// What the session may do: a ``Scope/recovery`` session (Auth's FinishRecovery) reaches only the methods
    /// registered for recovery (``RecoveryAccess``; docs/ADR-009-recovery.md).
    public let scope: Scope
    /// Recovery sessions: when the recovery delay ends, Unix epoch milliseconds (0 for full sessions).
    public let usableAtMs: UInt64

    /// What a session may do.
    public enum Scope: Sendable, Equatable {
        /// Everything its user may.
        case full
        /// Only the methods of an account recovery, and only after the recovery delay.
        case recovery
    }

    public init(
        userID: String, sessionID: String, username: String, expiresAtMs: UInt64, credentialGeneration: UInt64,
        recentlyAuthenticated: Bool, scope: Scope = .full, usableAtMs: UInt64 = 0
    ) {
        self.userID = userID
        self.sessionID = sessionID
        self.username = username
        self.expiresAtMs = expiresAtMs
        self.credentialGeneration = credentialGeneration
        self.recentlyAuthenticated = recentlyAuthenticated
        self.scope = scope
        self.usableAtMs = usableAtMs
    }
}

/// Whether a RECOVERY session may call a method (docs/ADR-009-recovery.md). Full sessions are never affected.
public enum RecoveryAccess: Sendable, Equatable {
    /// Not part of a recovery: PERMISSION_DENIED `recovery_session` (every method unless it says otherwise).
    case refused
    /// Part of a recovery once its delay has ended: before, FAILED_PRECONDITION `recovery_delay` with `retry_after_ms`.
    case afterDelay
    /// A recovery session may always call it (its own status, cancel, logout: nothing that reads or changes keys).
    case anyTime
}

/// Turns a session token into the session it belongs to, on the worker thread of the request.
/// Throws ``RPCStatus``: UNAUTHENTICATED for a missing, unknown, expired or revoked token; UNAVAILABLE when
/// it cannot tell (fail closed).
public protocol SessionValidator: Sendable {
    /// `fresh`: ask Auth now, never a cached answer (for methods that act on the credential generation).
    func validate(token: String, context: RequestContext, worker: ServiceWorker, fresh: Bool) throws -> AuthenticatedSession
}

extension AuthenticatedSession {
    /// Whether this session may run a method registered with `access`: full sessions always; recovery sessions only
    /// methods registered for recovery, the ``RecoveryAccess/afterDelay`` ones only from ``usableAtMs`` (`nowMs`: Unix
    /// epoch milliseconds). Throws the refusal.
    public func admit(_ access: RecoveryAccess, nowMs: UInt64) throws(RPCStatus) {
        guard scope == .recovery else { return }
        switch access {
        case .refused: throw .recoverySessionRefused
        case .anyTime: return
        case .afterDelay: if nowMs < usableAtMs { throw .recoveryDelay(remainingMs: usableAtMs - nowMs) }
        }
    }

    /// ``userID`` as a UUID, for queries (Auth vouched for it; anything else is Auth's fault: UNAVAILABLE).
    public var userUUID: UUID {
        get throws(RPCStatus) {
            guard let id = UUID(uuidString: userID) else {
                throw RPCStatus(.unavailable, "authentication service gave an unusable answer, try again")
            }
            return id
        }
    }
}

extension RPCStatus {
    /// The one answer for a missing, unknown, expired or revoked session.
    public static let invalidSession = RPCStatus(.unauthenticated, "invalid or expired session")

    /// The answer when a recovery session calls a method that is not part of a recovery.
    public static let recoverySessionRefused = RPCStatus(
        .permissionDenied, "a recovery session can only complete the account's recovery",
        details: ["reason": "recovery_session"])

    /// The answer when a recovery session is used before its delay has ended.
    public static func recoveryDelay(remainingMs: UInt64) -> RPCStatus {
        RPCStatus(
            .failedPrecondition, "the recovery can continue only once its waiting period has ended",
            details: ["reason": "recovery_delay", "retry_after_ms": String(remainingMs)])
    }

    /// The answer when a method needs a recent login and the session's is older.
    public static let reauthenticationRequired = RPCStatus(
        .failedPrecondition, "this needs a recent login: log in again and retry",
        details: ["reason": "reauthentication_required"])
}

/// The shape of the session tokens Auth mints at FinishLogin: 32 random bytes as unpadded base64url, 43 characters.
public enum SessionToken {
    /// Characters in a token.
    public static let length = 43

    /// Whether `token` could be a token Auth minted (length and alphabet; nothing about whether it is live).
    public static func isWellFormed(_ token: String) -> Bool {
        var count = 0
        for byte in token.utf8 {
            count += 1
            guard count <= length else { return false }
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                continue
            default:
                return false
            }
        }
        return count == length
    }

    /// The screen of every authenticated method (``ServiceRoutes/registerAuthenticated(_:freshSession:_:)``): a
    /// missing or malformed token is answered UNAUTHENTICATED before the request is queued, so it costs no worker,
    /// no decoding and no call to Auth.
    public static let screen: RequestScreen = { token in
        if token.isEmpty { return RPCStatus(.unauthenticated, "missing session token") }
        return isWellFormed(token) ? nil : .invalidSession
    }
}
