import Foundation
import SVXProto

/// Who a session belongs to, as Auth sees it at the time of asking (``AccountClient/whoAmI(_:)``).
public struct AccountIdentity: Sendable, Equatable {
    public let username: String
    public let userID: String
    public let sessionID: String
    /// The session's absolute expiry (an idle session can end sooner).
    public let sessionExpiresAt: Date
    /// Which passphrase the user has now (it moves with every passphrase change).
    public let credentialGeneration: UInt64
    /// The session comes from a login recent enough for what needs one (changing the passphrase,
    /// `SVX_AUTH_REAUTH_WINDOW_MS`).
    public let recentlyAuthenticated: Bool

    public init(
        username: String, userID: String, sessionID: String, sessionExpiresAt: Date, credentialGeneration: UInt64,
        recentlyAuthenticated: Bool
    ) {
        self.username = username
        self.userID = userID
        self.sessionID = sessionID
        self.sessionExpiresAt = sessionExpiresAt
        self.credentialGeneration = credentialGeneration
        self.recentlyAuthenticated = recentlyAuthenticated
    }
}

/// One of the user's live sessions (``AccountClient/sessions(_:)``). No token: Auth keeps only their hashes.
public struct SessionInfo: Sendable, Equatable {
    public let id: String
    public let createdAt: Date
    /// When the session was last used, to within Auth's refresh interval (a few seconds).
    public let lastSeenAt: Date
    /// The absolute expiry (an idle session ends sooner).
    public let expiresAt: Date
    /// The session the list was asked with.
    public let isCurrent: Bool

    public init(id: String, createdAt: Date, lastSeenAt: Date, expiresAt: Date, isCurrent: Bool) {
        self.id = id
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
        self.isCurrent = isCurrent
    }
}

/// Conversions from Auth's wire messages to the SDK's types.
enum AuthWire {
    static func identity(_ answer: Svx_Auth_V1_ValidateSessionResponse) -> AccountIdentity {
        AccountIdentity(
            username: answer.username, userID: answer.userID, sessionID: answer.sessionID,
            sessionExpiresAt: Date(wireMilliseconds: answer.expiresAtMs),
            credentialGeneration: answer.credentialGeneration, recentlyAuthenticated: answer.recentlyAuthenticated)
    }

    static func session(_ session: Svx_Auth_V1_Session) -> SessionInfo {
        SessionInfo(
            id: session.sessionID, createdAt: Date(wireMilliseconds: session.createdAtMs),
            lastSeenAt: Date(wireMilliseconds: session.lastSeenAtMs), expiresAt: Date(wireMilliseconds: session.expiresAtMs),
            isCurrent: session.current)
    }
}
