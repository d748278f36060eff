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
    /// A change of a connection that has ended, or a share over one.
    case connectionEnded
    /// A share the caller cannot reach in the role asked (recipient, sender or owner): unknown, another user's, or
    /// one the caller holds in another role. One answer for all, naming the request field.
    case shareNotFound(field: String)
    /// AcceptShare or RejectShare of a share that is not pending (it is `state`).
    case shareNotPending(ShareLifecycle.State)
    /// RevokeShare or DeleteIncomingShare of a share that has ended (it is `state`).
    case shareNotLive(ShareLifecycle.State)
    /// DeleteIncomingShare of a pending share: it is rejected, not deleted.
    case deletePending
    /// Content of a share that is not active (it is `state`).
    case contentUnavailable(ShareLifecycle.State)
    /// An on-share of a share that is not active (it is `state`).
    case parentNotActive(ShareLifecycle.State)
    /// An on-share of a share whose sharing mode is OWNER.
    case onsharingNotPermitted
    /// An on-share deeper than ShareLifecycle.maximumDepth.
    case depthExceeded
    /// An on-share to the item's owner or to a recipient of the chain (the recipient named by `field`).
    case recipientHasItem(String)
    /// A request field that breaks a rule of a new share (INVALID_ARGUMENT naming `field`).
    case invalid(String, String)
    /// The sender has `limit` live outgoing shares.
    case shareQuota(limit: Int)
    /// The recipient named by `field` has `limit` live incoming shares.
    case incomingShareQuota(limit: Int, field: String)
    /// The item has `limit` live shares, on-shares included.
    case itemShareQuota(limit: Int)

    /// The one message of NOT_FOUND for an invitation, whatever the reason.
    static let invitationNotFoundMessage = "invitation not found"
    /// The one message of NOT_FOUND for a share, whatever the reason.
    static let shareNotFoundMessage = "share not found"

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
        case .shareNotFound(let field):
            RPCStatus(.notFound, Self.shareNotFoundMessage, details: ["field": field])
        case .shareNotPending(let state):
            RPCStatus(
                .failedPrecondition, "the share is \(state.name), not pending acceptance",
                details: ["reason": "not_pending", "state": state.name])
        case .shareNotLive(let state):
            RPCStatus(
                .failedPrecondition, "the share is \(state.name): it has ended",
                details: ["reason": "not_live", "state": state.name])
        case .deletePending:
            RPCStatus(
                .failedPrecondition, "the share is pending acceptance: reject it instead of deleting it",
                details: ["reason": "acceptance_pending", "state": ShareLifecycle.State.pendingAcceptance.name])
        case .contentUnavailable(let state):
            RPCStatus(
                .failedPrecondition,
                state == .pendingAcceptance
                    ? "the share is pending acceptance: accept it first" : "the share is \(state.name): no content",
                details: ["reason": state.contentRefusalReason, "state": state.name])
        case .parentNotActive(let state):
            RPCStatus(
                .failedPrecondition, "the share to on-share is \(state.name), not active",
                details: ["reason": "share_not_active", "state": state.name, "field": "parent_share_id"])
        case .onsharingNotPermitted:
            RPCStatus(
                .permissionDenied, "the share to on-share does not permit on-sharing",
                details: ["reason": "onsharing_not_permitted", "field": "parent_share_id"])
        case .depthExceeded:
            RPCStatus(
                .failedPrecondition, "a chain of on-shares is at most \(ShareLifecycle.maximumDepth) shares deep",
                details: ["reason": "depth_exceeded", "field": "parent_share_id"])
        case .recipientHasItem(let field):
            RPCStatus(
                .failedPrecondition, "the recipient already holds this item (its owner or a recipient of the chain)",
                details: ["reason": "recipient_has_item", "field": field])
        case .invalid(let field, let message):
            FieldValidation.invalid(field, message)
        case .shareQuota(let limit):
            RPCStatus(
                .resourceExhausted,
                "quota exceeded: shares (limit \(limit) live outgoing shares per user): revoke some first",
                details: ["quota": "shares", "limit": String(limit)])
        case .incomingShareQuota(let limit, let field):
            RPCStatus(
                .resourceExhausted,
                "quota exceeded: incoming_shares (limit \(limit) live incoming shares per user): this recipient cannot receive more",
                details: ["quota": "incoming_shares", "limit": String(limit), "field": field])
        case .itemShareQuota(let limit):
            RPCStatus(
                .resourceExhausted,
                "quota exceeded: item_shares (limit \(limit) live shares of one item, on-shares included): revoke some first",
                details: ["quota": "item_shares", "limit": String(limit)])
        }
    }
}
