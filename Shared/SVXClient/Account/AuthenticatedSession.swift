import Foundation

/// A logged-in session, as the client keeps it. The token is a bearer secret: whoever holds it acts
/// as the user until it expires or is revoked, so it is stored only with owner-only permissions.
public struct AuthenticatedSession: Sendable, Codable, Equatable {
    public var username: String
    public var userID: String
    public var sessionID: String
    public var token: String
    /// Absolute expiry given by Auth at login (an idle session can end sooner).
    public var expiresAt: Date

    public init(username: String, userID: String, sessionID: String, token: String, expiresAt: Date) {
        self.username = username
        self.userID = userID
        self.sessionID = sessionID
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// A failure on the client's side of a flow (the server's answers arrive as `RPCStatus`).
public struct SVXClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable { case serverProofMismatch, malformedResponse, invalidInput }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// Sign-up registered the account but its first login failed: the Secret Key must still reach the
/// user (without it the account can never be used), who can then log in as usual.
public struct SignUpLoginFailed: Error, Sendable, CustomStringConvertible {
    public let secretKey: String
    public let underlying: any Error
    public init(secretKey: String, underlying: any Error) {
        self.secretKey = secretKey
        self.underlying = underlying
    }
    public var description: String { "registered, but the first login failed: \(underlying)" }
}
