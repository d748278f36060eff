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
    /// Which passphrase the login proved (Auth's FinishLogin); the KEK is fetched wrapped for this generation.
    /// 0 in a session saved before generations existed: log in again.
    public var credentialGeneration: UInt64
    /// The highest KEK version this client has opened for the user (0: none yet). ``KeyringClient`` refuses a
    /// lower one: a Keystore serving old wraps back (a rollback) is noticed. A client carries it from one session
    /// of the user to the next (``remembering(_:)``).
    public var highestKEKVersion: UInt32
    /// Set by a login when someone holds a recovery session of this user (docs/ADR-009-recovery.md): the owner
    /// should be told, and can cancel it (``RecoveryClient/cancel(session:)``). Not kept with the session.
    public var pendingRecovery: PendingRecovery? = nil

    public init(
        username: String, userID: String, sessionID: String, token: String, expiresAt: Date,
        credentialGeneration: UInt64, highestKEKVersion: UInt32 = 0
    ) {
        self.username = username
        self.userID = userID
        self.sessionID = sessionID
        self.token = token
        self.expiresAt = expiresAt
        self.credentialGeneration = credentialGeneration
        self.highestKEKVersion = highestKEKVersion
    }

    /// This session, knowing what `earlier` (a previous session of the same user, if it is one) had seen.
    public func remembering(_ earlier: AuthenticatedSession?) -> AuthenticatedSession {
        guard let earlier, earlier.userID == userID else { return self }
        var session = self
        session.highestKEKVersion = max(highestKEKVersion, earlier.highestKEKVersion)
        return session
    }

    /// This session, having opened KEK version `kekVersion`.
    public func remembering(kekVersion: UInt32) -> AuthenticatedSession {
        var session = self
        session.highestKEKVersion = max(highestKEKVersion, kekVersion)
        return session
    }

    private enum CodingKeys: String, CodingKey {
        case username, userID, sessionID, token, expiresAt, credentialGeneration, highestKEKVersion
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        username = try container.decode(String.self, forKey: .username)
        userID = try container.decode(String.self, forKey: .userID)
        sessionID = try container.decode(String.self, forKey: .sessionID)
        token = try container.decode(String.self, forKey: .token)
        expiresAt = try container.decode(Date.self, forKey: .expiresAt)
        credentialGeneration = try container.decodeIfPresent(UInt64.self, forKey: .credentialGeneration) ?? 0
        highestKEKVersion = try container.decodeIfPresent(UInt32.self, forKey: .highestKEKVersion) ?? 0
    }
}

/// A failure on the client's side of a flow (the server's answers arrive as `RPCStatus`).
public struct SVXClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case serverProofMismatch, malformedResponse, invalidInput
        /// A wrapped key did not open with the key that should wrap it (wrong passphrase, or tampered data).
        case keyUnwrapFailed
        /// The keystore's state does not allow the step (e.g. the hierarchy is incomplete in a way the client
        /// cannot repair).
        case keystoreInconsistent
        /// A name given to the client (a node, a slot) names nothing the caller can see.
        case notFound
        /// A name given to the client names more than one thing: the caller must give an id.
        case ambiguous
        /// What the server returned contradicts what the client itself encrypted alongside it (an attachment's
        /// size, name or digest): the server's copy was altered or mixed up, and nothing was written.
        case integrityFailed
        /// A public key the server handed over is not the one the invitation secret vouches for (sharing.md §2.2):
        /// the server, or someone in its place, swapped a key. Nothing was accepted or shared over it.
        case keyVerificationFailed
        /// A shared value does not match the owner's verification hash (sharing.md §2.7): the server, or whoever
        /// shared it on, changed it. The message names the slots; nothing of the share is shown.
        case valueVerificationFailed
        /// A keypair the user asked to delete is published by its active connections or pending invitations
        /// (sharing.md §6); nothing was deleted.
        case keypairInUse
    }
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
