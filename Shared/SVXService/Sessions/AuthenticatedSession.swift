import SVXProto
import SVXRPC

/// Who is calling an authenticated method: what Auth knows about the session in the envelope.
public struct AuthenticatedSession: Sendable, Equatable {
    public let userID: String
    public let sessionID: String
    public let username: String
    /// The session's absolute expiry, Unix epoch milliseconds.
    public let expiresAtMs: UInt64

    public init(userID: String, sessionID: String, username: String, expiresAtMs: UInt64) {
        self.userID = userID
        self.sessionID = sessionID
        self.username = username
        self.expiresAtMs = expiresAtMs
    }
}

/// Turns a session token into the session it belongs to, on the worker thread of the request.
/// Throws ``RPCStatus``: UNAUTHENTICATED for a missing, unknown, expired or revoked token; UNAVAILABLE when
/// it cannot tell (fail closed).
public protocol SessionValidator: Sendable {
    func validate(token: String, context: RequestContext, worker: ServiceWorker) throws -> AuthenticatedSession
}

/// The Auth service's methods (proto/svx/auth/v1/auth.proto).
public enum AuthRPC {
    public static let reserveUsername = RPCMethod<Svx_Auth_V1_ReserveUsernameRequest, Svx_Auth_V1_ReserveUsernameResponse>("svx.auth.v1.Auth/ReserveUsername")
    public static let register = RPCMethod<Svx_Auth_V1_RegisterRequest, Svx_Auth_V1_RegisterResponse>("svx.auth.v1.Auth/Register")
    public static let beginLogin = RPCMethod<Svx_Auth_V1_BeginLoginRequest, Svx_Auth_V1_BeginLoginResponse>("svx.auth.v1.Auth/BeginLogin")
    public static let finishLogin = RPCMethod<Svx_Auth_V1_FinishLoginRequest, Svx_Auth_V1_FinishLoginResponse>("svx.auth.v1.Auth/FinishLogin")
    public static let logout = RPCMethod<Svx_Auth_V1_LogoutRequest, Svx_Auth_V1_LogoutResponse>("svx.auth.v1.Auth/Logout")
    public static let listSessions = RPCMethod<Svx_Auth_V1_ListSessionsRequest, Svx_Auth_V1_ListSessionsResponse>("svx.auth.v1.Auth/ListSessions")
    public static let revokeSession = RPCMethod<Svx_Auth_V1_RevokeSessionRequest, Svx_Auth_V1_RevokeSessionResponse>("svx.auth.v1.Auth/RevokeSession")
    public static let changeVerifier = RPCMethod<Svx_Auth_V1_ChangeVerifierRequest, Svx_Auth_V1_ChangeVerifierResponse>("svx.auth.v1.Auth/ChangeVerifier")
    public static let validateSession = RPCMethod<Svx_Auth_V1_ValidateSessionRequest, Svx_Auth_V1_ValidateSessionResponse>("svx.auth.v1.Auth/ValidateSession")
}

extension RPCStatus {
    /// The one answer for a missing, unknown, expired or revoked session.
    public static let invalidSession = RPCStatus(.unauthenticated, "invalid or expired session")
}
