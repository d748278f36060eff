import Foundation

/// Where an invitation stands (proto/svx/sharing/v1/sharing.proto). Expiry is judged by the service's database clock.
public enum InvitationState: String, Sendable, Equatable, CaseIterable {
    case pending, accepted, revoked, expired
}

/// Where a connection stands: ended by either side (both sides end together).
public enum ConnectionState: String, Sendable, Equatable, CaseIterable {
    case active, ended
}

/// Which side of the invitation a user of a connection was.
public enum ConnectionRole: String, Sendable, Equatable {
    case inviter, invitee
}

/// An invitation as its inviter sees it, its name decrypted.
public struct SharingInvitation: Sendable, Equatable {
    public let id: String
    public let inviterID: String
    /// The inviter's connection keypair in its Keystore.
    public let keypairID: String
    /// The inviter's own name for the person invited; nil when it was not decrypted (no keys given, or it does not
    /// open with the private DEK).
    public let recipientName: String?
    /// Only this user may accept; nil: anyone holding the code.
    public let intendedUsername: String?
    public let state: InvitationState
    public let expiresAt: Date
    public let createdAt: Date
    /// When it was accepted or revoked.
    public let decidedAt: Date?
    public let acceptedByUserID: String?
    public let acceptedByUsername: String?
    /// The inviter's side of the connection, once accepted.
    public let connectionID: String?
}

/// A new invitation and its code, which exists only here: show ``code`` to the inviter once
/// (``InvitationCode/text``); the service keeps only the token's SHA-256 and never sees the secret.
public struct CreatedInvitation: Sendable {
    public let invitation: SharingInvitation
    public let code: InvitationCode
}

/// What an invitee learns from an invitation code before accepting, the inviter's key already checked against the
/// code's secret (``SharingClient/checkInvitation(session:code:)``).
public struct InvitationPreview: Sendable, Equatable {
    public let inviterID: String
    public let inviterUsername: String
    /// The inviter's public key (SPKI PEM) and its fingerprint, vouched for by the code.
    public let inviterPublicKeyPEM: String
    public let inviterKey: KeyFingerprint
    public let inviterProof: String
    public let expiresAt: Date
    public let intendedUsername: String?
}

/// The outcome of checking a connection's two public keys against its invitation secret (sharing.md §2.2).
public enum ConnectionKeyCheck: Sendable, Equatable {
    /// Both proofs match the keys as stored: the keys are the ones the two users exchanged.
    case verified
    /// A proof does not match (a key was swapped or a proof altered), or the keys or the secret cannot be read:
    /// nothing may be shared over this connection. The text says what failed.
    case mismatch(String)
    /// Not checked: the keys to open the invitation secret were not given.
    case notChecked

    public var isVerified: Bool { self == .verified }
}

/// One side of a connection as its owner sees it: its name decrypted and its keys checked.
public struct SharingConnection: Sendable, Equatable {
    public let id: String
    public let otherUserID: String
    public let otherUsername: String
    /// The owner's own name for the other user; nil when it was not decrypted.
    public let name: String?
    public let role: ConnectionRole
    public let state: ConnectionState
    public let invitationID: String
    public let createdAt: Date
    public let endedAt: Date?
    /// The owner's connection keypair in its Keystore.
    public let ownKeypairID: String
    /// The fingerprints of the two public keys as the service holds them (nil: not an RSA public key).
    public let ownKey: KeyFingerprint?
    public let otherKey: KeyFingerprint?
    /// The other user's public key as the service holds it (what a share's DEK will be encrypted to).
    public let otherPublicKeyPEM: String
    public let keyCheck: ConnectionKeyCheck

    /// The name to show: the owner's own, else the other user's username.
    public var displayName: String { name ?? otherUsername }

    /// The code both users see for this connection's keys (nil when a key cannot be read). The same on both sides
    /// only when neither key was swapped: compare it by voice or side by side.
    public var safetyCode: SafetyCode? {
        guard let ownKey, let otherKey else { return nil }
        return SafetyCode(ownKey, otherKey)
    }
}

/// A connection just deleted (both sides ended), with the count of shares revoked with it.
public struct DeletedConnection: Sendable, Equatable {
    public let connection: SharingConnection
    public let revokedShares: Int
}

/// Where the caller's sharing publishes one of its keypairs (``SharingClient/keypairUse(session:keypairID:maximumPages:)``).
public struct KeypairUse: Sendable, Equatable {
    /// The caller's active connections whose own key it is.
    public let activeConnectionIDs: [String]
    /// The caller's pending invitations that publish it.
    public let pendingInvitationIDs: [String]
    /// Whether deleting the keypair would break a connection (its messages could no longer be opened).
    public var inUse: Bool { !activeConnectionIDs.isEmpty || !pendingInvitationIDs.isEmpty }

    public init(activeConnectionIDs: [String], pendingInvitationIDs: [String]) {
        self.activeConnectionIDs = activeConnectionIDs
        self.pendingInvitationIDs = pendingInvitationIDs
    }
}
