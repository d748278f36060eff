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

    public init(
        userID: String, sessionID: String, username: String, expiresAtMs: UInt64, credentialGeneration: UInt64,
        recentlyAuthenticated: Bool
    ) {
        self.userID = userID
        self.sessionID = sessionID
        self.username = username
        self.expiresAtMs = expiresAtMs
        self.credentialGeneration = credentialGeneration
        self.recentlyAuthenticated = recentlyAuthenticated
    }
}

/// Turns a session token into the session it belongs to, on the worker thread of the request.
/// Throws ``RPCStatus``: UNAUTHENTICATED for a missing, unknown, expired or revoked token; UNAVAILABLE when
/// it cannot tell (fail closed).
public protocol SessionValidator: Sendable {
    /// `fresh`: ask Auth now, never a cached answer (for methods that act on the credential generation).
    func validate(token: String, context: RequestContext, worker: ServiceWorker, fresh: Bool) throws -> AuthenticatedSession
}

extension AuthenticatedSession {
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
