import Foundation
import SVXRPC
import SVXService
import SVXStore

/// Who made a change: the events of a change on the actor's own chain carry its session id and peer address; the
/// events the same change writes on another user's chain carry neither (a user never learns another's session or
/// address from its trail).
struct SharingActor: Sendable, Equatable {
    let userID: UUID
    let sessionID: String
    let peerAddress: String

    init(_ session: AuthenticatedSession, _ context: RequestContext) throws {
        userID = try session.userUUID
        sessionID = session.sessionID
        peerAddress = context.peerAddress
    }

    init(userID: UUID, sessionID: String, peerAddress: String) {
        self.userID = userID
        self.sessionID = sessionID
        self.peerAddress = peerAddress
    }
}

/// Who a share concerns, as its audit events name them (ids that never change for the life of the share).
struct ShareParties: Sendable, Equatable {
    let ownerID: UUID
    let shareID: UUID
    let senderID: UUID
    let recipientID: UUID
    let itemID: UUID
    let parentShareID: UUID?

    init(_ row: ShareRow) {
        self.init(
            ownerID: row.ownerID, shareID: row.shareID, senderID: row.senderID, recipientID: row.recipientID,
            itemID: row.itemID, parentShareID: row.parentShareID)
    }

    init(ownerID: UUID, shareID: UUID, senderID: UUID, recipientID: UUID, itemID: UUID, parentShareID: UUID?) {
        self.ownerID = ownerID
        self.shareID = shareID
        self.senderID = senderID
        self.recipientID = recipientID
        self.itemID = itemID
        self.parentShareID = parentShareID
    }

    /// What every share event names: its sender, its recipient, its item and (an on-share) its parent share, as the
    /// share itself shows them to both sides; never the owner of an on-share (shown only to those connected with it).
    var details: [String: String] {
        var details = ["sender_id": senderID.wire, "recipient_id": recipientID.wire, "item_id": itemID.wire]
        if let parentShareID { details["parent_share_id"] = parentShareID.wire }
        return details
    }
}

/// The audit events of one Sharing transaction (docs/ADR-010-audit.md, "Sharing"), gathered while its writes are
/// made and appended at its end by ``SharingService/audited(_:by:_:)`` in one `AuditTrail.append(contentsOf:on:)`
/// call, which takes the users' head rows in the order of their ids. Made inside the transaction's body, so a body
/// run again after a serialisation failure starts with none. Ids and codes only: never a name, a label, a term, a
/// key, a wrapped key or a ciphertext.
final class SharingAuditEvents {
    let actor: SharingActor?
    private(set) var entries: [(event: AuditEvent, userID: UUID)] = []

    init(actor: SharingActor?) {
        self.actor = actor
    }

    /// One event on `userID`'s chain about `subjectType` `subjectID`; the actor's session and peer address when
    /// `userID` is the actor and the event is its doing (`attributed`; an expiry is not).
    func record(
        _ type: String, for userID: UUID, subjectType: String, subjectID: UUID, details: [String: String] = [:],
        attributed: Bool = true
    ) {
        record(
            type, for: userID, by: attributed ? actor : nil, subjectType: subjectType, subjectID: subjectID, details: details)
    }

    private func record(
        _ type: String, for userID: UUID, by actor: SharingActor?, subjectType: String, subjectID: UUID,
        details: [String: String]
    ) {
        let own = actor?.userID == userID
        entries.append((
            AuditEvent(
                type, sessionID: own ? actor?.sessionID ?? "" : "", peerAddress: own ? actor?.peerAddress ?? "" : "",
                subjectType: subjectType, subjectID: subjectID.wire, details: details),
            userID))
    }

    /// A content fetch, `share.fetched`: on the recipient's chain with the session and peer address of the fetch
    /// (`fetcher`), on the sender's without; `fetched_at_ms` is the database clock of the fetch (microseconds
    /// `fetchedAt`), which for a fetch written with a batch (ContentFetchLog) is earlier than the event's own time.
    func shareFetched(_ share: ShareParties, by fetcher: SharingActor, at fetchedAt: DatabaseInstant) {
        var details = share.details
        details["fetched_at_ms"] = String(fetchedAt / 1000)
        for (userID, role) in [(share.senderID, "sender"), (share.recipientID, "recipient")] {
            details["role"] = role
            record("share.fetched", for: userID, by: fetcher, subjectType: "share", subjectID: share.shareID, details: details)
        }
    }

    /// A new share: `share.created` on the sender's chain, `share.received` on the recipient's, with the state it
    /// starts in (`pending_acceptance` or `active`).
    func shareCreated(_ share: ShareRow) {
        var details = ShareParties(share).details
        details["state"] = share.lifecycle.stored.name
        details["role"] = "sender"
        record("share.created", for: share.senderID, subjectType: "share", subjectID: share.shareID, details: details)
        details["role"] = "recipient"
        record("share.received", for: share.recipientID, subjectType: "share", subjectID: share.shareID, details: details)
    }

    /// `type` about a share on both sides' chains (the sender's, `role` sender, and the recipient's, `role`
    /// recipient), and on the item owner's when the owner made the change and is neither side (the owner revoking an
    /// on-share, or deleting the item), with ``ShareParties/details``, `extra` and the `role` of the chain's user.
    /// An expiry is time's doing, not the actor's: its events carry no session (`attributed` false).
    func share(_ type: String, _ share: ShareParties, details extra: [String: String] = [:], attributed: Bool = true) {
        var details = share.details.merging(extra) { $1 }
        for (userID, role) in [(share.senderID, "sender"), (share.recipientID, "recipient")] {
            details["role"] = role
            record(
                type, for: userID, by: attributed ? actor : nil, subjectType: "share", subjectID: share.shareID,
                details: details)
        }
        guard attributed else { return }
        if let actor, actor.userID == share.ownerID, actor.userID != share.senderID, actor.userID != share.recipientID {
            details["role"] = "owner"
            record(type, for: actor.userID, subjectType: "share", subjectID: share.shareID, details: details)
        }
    }

    /// The event of a share's stored state going from `before` to `after` (nothing when the state stayed):
    /// `share.accepted|rejected|expired|revoked|deleted|consumed`, a revocation with its `reason` (`revoked`,
    /// `parent_revoked`, `connection_ended`, `item_deleted`).
    func shareTransition(_ share: ShareRow, from before: ShareLifecycle, to after: ShareLifecycle) {
        guard after.stored != before.stored else { return }
        let type: String
        switch after.stored {
        case .pendingAcceptance: return
        case .active: type = "share.accepted"
        case .rejected: type = "share.rejected"
        case .expired: type = "share.expired"
        case .revoked: type = "share.revoked"
        case .deleted: type = "share.deleted"
        case .consumed: type = "share.consumed"
        }
        var details: [String: String] = [:]
        if after.stored == .revoked, let reason = after.endReason { details["reason"] = reason.rawValue }
        self.share(type, ShareParties(share), details: details, attributed: after.stored != .expired)
    }

    /// Appends the events gathered, if any, in the caller's transaction: one call, after every other write.
    func append(to trail: AuditTrail, on db: PostgresConnection) throws {
        guard !entries.isEmpty else { return }
        try trail.append(contentsOf: entries, on: db)
    }
}

extension SharingService {
    /// Runs `body` (inside a transaction of `db`) with a new ``SharingAuditEvents`` of `actor`, then appends what it
    /// gathered, in the same transaction, after the body's writes. A body that throws appends nothing (and its
    /// transaction rolls back); one that returns a refusal to be answered after the commit appends what it stored
    /// (a share or an invitation found expired).
    func audited<T>(_ db: PostgresConnection, by actor: SharingActor?, _ body: (SharingAuditEvents) throws -> T) throws -> T {
        let events = SharingAuditEvents(actor: actor)
        let result = try body(events)
        try events.append(to: audit, on: db)
        return result
    }
}
