import Cryppo
import Foundation

/// Every decision about an invitation, as a value without I/O: the handlers read the invitation's row (locked where a
/// race matters) and the database clock, build this from them, ask it, and write what it answers; the unit tests
/// (SharingTests) ask it the same questions with no database (docs/ADR-008-sharing.md, "State decisions").
///
/// `PENDING → ACCEPTED` (``accept(_:at:)``) · `PENDING → REVOKED` (``revoke(at:)``) · `PENDING → EXPIRED` (time:
/// ``state(at:)`` says so at once; ``expire(at:)`` is housekeeping writing it down and dropping the token hash). The
/// other states are terminal, and a terminal invitation opens for nobody.
struct InvitationLifecycle: Equatable, Sendable {
    /// The states as stored (`sharing.invitations.state`) and on the wire (InvitationState).
    enum State: Int32, Sendable, Equatable, CaseIterable {
        case pending = 1
        case accepted = 2
        case revoked = 3
        case expired = 4

        var name: String {
            switch self {
            case .pending: "pending"
            case .accepted: "accepted"
            case .revoked: "revoked"
            case .expired: "expired"
            }
        }
    }

    /// The state as stored: a pending invitation past its expiry stays stored as pending until housekeeping.
    private(set) var stored: State
    let inviterID: UUID
    /// SHA-256 of the token's 32 bytes while stored as pending; nil from the moment it leaves that state.
    private(set) var tokenSHA256: [UInt8]?
    /// Only this username may accept (nil: whoever holds the code).
    let intendedUsername: String?
    let expiresAt: DatabaseInstant

    init(stored: State, inviterID: UUID, tokenSHA256: [UInt8]?, intendedUsername: String?, expiresAt: DatabaseInstant) {
        self.stored = stored
        self.inviterID = inviterID
        self.tokenSHA256 = tokenSHA256
        self.intendedUsername = intendedUsername
        self.expiresAt = expiresAt
    }

    /// What the invitation is at `now` by the database clock: a pending one whose expiry has come is EXPIRED.
    func state(at now: DatabaseInstant) -> State {
        stored == .pending && expiresAt <= now ? .expired : stored
    }

    /// Whether the token whose SHA-256 is `presented` opens the invitation at `now` (GetInvitation, and the first
    /// step of an acceptance): it must be pending and unexpired, and the hashes equal (compared in constant time).
    /// Anything else is ``SharingRefusal/invitationNotFound``, whatever the reason.
    func open(presenting presented: [UInt8], at now: DatabaseInstant) throws(SharingRefusal) {
        guard state(at: now) == .pending, let tokenSHA256, ConstantTime.equals(presented, tokenSHA256) else {
            throw .invitationNotFound
        }
    }

    /// What an acceptance must know besides the invitation, read in the same transaction with both users locked.
    struct Acceptance: Equatable, Sendable {
        var callerID: UUID
        var callerUsername: String
        /// SHA-256 of the token the caller presented.
        var presentedTokenSHA256: [UInt8]
        /// Whether the caller and the inviter have an active connection.
        var alreadyConnected: Bool
        /// Active connections of each side now.
        var inviterConnections: Int
        var inviteeConnections: Int
        var maximumConnections: Int
    }

    enum AcceptAction: Equatable, Sendable {
        /// Make the connection (one row per side) and store the invitation as ACCEPTED, without its token hash.
        case connect
        /// Change nothing: the invitation stays as it is.
        case refuse(SharingRefusal)
    }

    /// `PENDING → ACCEPTED`, in this order: the token must open it (else NOT_FOUND, whatever the reason), the caller
    /// must not be the inviter (`self_connection`), must be the intended username if one is set
    /// (`not_intended_recipient`), must not be connected with the inviter already (`already_connected`), and neither
    /// side may be at the connection quota. A refusal leaves the invitation pending.
    mutating func accept(_ acceptance: Acceptance, at now: DatabaseInstant) -> AcceptAction {
        do {
            try open(presenting: acceptance.presentedTokenSHA256, at: now)
        } catch {
            return .refuse(error)
        }
        if acceptance.callerID == inviterID { return .refuse(.selfConnection) }
        if let intendedUsername, intendedUsername != acceptance.callerUsername { return .refuse(.notIntendedRecipient) }
        if acceptance.alreadyConnected { return .refuse(.alreadyConnected) }
        if acceptance.inviteeConnections >= acceptance.maximumConnections {
            return .refuse(.connectionQuota(.invitee, limit: acceptance.maximumConnections))
        }
        if acceptance.inviterConnections >= acceptance.maximumConnections {
            return .refuse(.connectionQuota(.inviter, limit: acceptance.maximumConnections))
        }
        stored = .accepted
        tokenSHA256 = nil
        return .connect
    }

    enum RevokeAction: Equatable, Sendable {
        /// Store the invitation as REVOKED, without its token hash.
        case revoke
        case refuse(SharingRefusal)
    }

    /// `PENDING → REVOKED` by the inviter (the handler reads only the caller's own invitations). An invitation that
    /// is no longer pending, expired ones included, is `not_pending`.
    mutating func revoke(at now: DatabaseInstant) -> RevokeAction {
        let state = state(at: now)
        guard state == .pending else { return .refuse(.invitationNotPending(state)) }
        stored = .revoked
        tokenSHA256 = nil
        return .revoke
    }

    /// `PENDING → EXPIRED` as stored, once its time has come (housekeeping): true when this changed anything, then
    /// the token hash is gone too.
    mutating func expire(at now: DatabaseInstant) -> Bool {
        guard stored == .pending, state(at: now) == .expired else { return false }
        stored = .expired
        tokenSHA256 = nil
        return true
    }

    /// Whether an inviter with `pending` live invitations may make one more (`limit` at most); when not, the refusal
    /// says when the earliest of them (`earliestExpiry`) expires.
    static func admitNewInvitation(
        pending: Int, limit: Int, earliestExpiry: DatabaseInstant?, at now: DatabaseInstant
    ) throws(SharingRefusal) {
        guard pending >= limit else { return }
        let waitMicroseconds = max(0, (earliestExpiry ?? now) - now)
        throw .pendingInvitationQuota(limit: limit, retryAfterMs: (waitMicroseconds + 999) / 1000)
    }
}
