import Foundation
import SVXRPC
import SVXService

/// An instant of the database clock: microseconds since the Unix epoch (timestamptz's own resolution), so that a
/// comparison made here is exactly the one PostgreSQL would make.
typealias DatabaseInstant = Int64

/// Every refusal a state decision of Sharing makes (``InvitationLifecycle``, ``ConnectionLifecycle``), with the status
/// the caller gets for it (docs/ADR-008-sharing.md, "Answers").
enum SharingRefusal: Error, Equatable, Sendable {
    /// An unknown invitation, another user's, a wrong or missing token, or one that is no longer pending (accepted,
    /// revoked, expired): one answer for all, so that nothing tells them apart.
    case invitationNotFound
    /// The inviter accepting its own invitation.
    case selfConnection
    /// An invitation meant for another username.
    case notIntendedRecipient
    /// The two users already have an active connection.
    case alreadyConnected
    /// The inviter (`.inviter`) or the caller (`.invitee`) has `limit` active connections already.
    case connectionQuota(ConnectionLifecycle.Role, limit: Int)
    /// The inviter has `limit` pending invitations; the earliest expires in `retryAfterMs`.
    case pendingInvitationQuota(limit: Int, retryAfterMs: Int64)
    /// RevokeInvitation of the inviter's own invitation that is no longer pending (it is `state`).
    case invitationNotPending(InvitationLifecycle.State)
    /// A change of a connection that has ended.
    case connectionEnded

    /// The one message of NOT_FOUND for an invitation, whatever the reason.
    static let invitationNotFoundMessage = "invitation not found"

    var status: RPCStatus {
        switch self {
        case .invitationNotFound:
            RPCStatus(.notFound, Self.invitationNotFoundMessage, details: ["field": "invitation_id"])
        case .selfConnection:
            RPCStatus(
                .failedPrecondition, "this is your own invitation: it is for someone else to accept",
                details: ["reason": "self_connection"])
        case .notIntendedRecipient:
            RPCStatus(
                .failedPrecondition, "this invitation is meant for another user",
                details: ["reason": "not_intended_recipient"])
        case .alreadyConnected:
            RPCStatus(.alreadyExists, "you are already connected with this user", details: ["reason": "already_connected"])
        case .connectionQuota(let role, let limit):
            RPCStatus(
                .resourceExhausted,
                role == .invitee
                    ? "quota exceeded: connections (limit \(limit) per user): end a connection first"
                    : "quota exceeded: the inviter has the most connections a user may have (\(limit))",
                details: ["quota": "connections", "limit": String(limit), "party": role == .invitee ? "invitee" : "inviter"])
        case .pendingInvitationQuota(let limit, let retryAfterMs):
            RPCStatus(
                .resourceExhausted,
                "quota exceeded: pending_invitations (limit \(limit) per user): revoke one or wait for one to expire",
                details: ["quota": "pending_invitations", "limit": String(limit), "retry_after_ms": String(max(1, retryAfterMs))])
        case .invitationNotPending(let state):
            RPCStatus(
                .failedPrecondition, "the invitation is \(state.name), no longer pending",
                details: ["reason": "not_pending", "state": state.name])
        case .connectionEnded:
            RPCStatus(.failedPrecondition, "the connection has ended", details: ["reason": "connection_ended"])
        }
    }
}
