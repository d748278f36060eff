import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL

/// A share's row as read (alias `s`), with the database clock of the statement that read it, or, for a row read
/// under a lock, of a statement run once the lock was held (``SharingService/share(_:_:callerID:shareID:lock:)``).
struct ShareRow {
    let ownerID: UUID
    let shareID: UUID
    let itemID: UUID
    let slotID: UUID?
    let senderID: UUID
    let senderUsername: String
    let recipientID: UUID
    let recipientUsername: String
    let senderConnectionID: UUID
    let recipientConnectionID: UUID
    let parentShareID: UUID?
    let depth: Int
    let itemLabel: String
    let templateName: String
    let itemVersion: Int64
    let sharingMode: ShareLifecycle.SharingMode
    let firstFetchedAtMs: Int64?
    let lastFetchedAtMs: Int64?
    let createdAtMs: Int64
    let acceptedAtMs: Int64?
    let updatedAtMs: Int64
    let endedAtMs: Int64?
    let recipientKeypairID: UUID
    let recipientKeySHA256: String
    let encryptedDEK: String?
    let encryptedTerms: String?
    let encryptedTermsKey: String?
    let recipientPublicKeyPEM: String
    let dekGeneration: Int
    /// Whether the recipient, and the sender, have an active connection with the item's owner (an on-share shows
    /// the owner only to those who know them).
    let recipientKnowsOwner: Bool
    let senderKnowsOwner: Bool
    /// What the decisions are made on.
    let lifecycle: ShareLifecycle
    /// The database clock the decisions are made at: `statement_timestamp()` of the statement that read the row, or
    /// of one run after it once the row was locked, never the transaction's start (`now()`): a read that waited for
    /// a lock past the share's expiry finds it expired.
    var now: DatabaseInstant

    /// The columns ``init(_:)`` decodes (of `sharing.shares` as `s`).
    static let columns = SharingQueries.shareColumns

    init(_ row: PostgresRow) throws {
        ownerID = try row.decode(UUID.self, at: 0)
        shareID = try row.decode(UUID.self, at: 1)
        itemID = try row.decode(UUID.self, at: 2)
        slotID = try row.decode(UUID?.self, at: 3)
        senderID = try row.decode(UUID.self, at: 4)
        senderUsername = try row.decode(String.self, at: 5)
        recipientID = try row.decode(UUID.self, at: 6)
        recipientUsername = try row.decode(String.self, at: 7)
        senderConnectionID = try row.decode(UUID.self, at: 8)
        recipientConnectionID = try row.decode(UUID.self, at: 9)
        parentShareID = try row.decode(UUID?.self, at: 10)
        depth = Int(try row.decode(Int32.self, at: 11))
        itemLabel = try row.decode(String.self, at: 12)
        templateName = try row.decode(String.self, at: 13)
        itemVersion = try row.decode(Int64.self, at: 14)
        guard let mode = ShareLifecycle.SharingMode(rawValue: try row.decode(Int32.self, at: 15)) else {
            throw try row.cell(at: 15).error("unknown sharing mode")
        }
        sharingMode = mode
        guard let state = ShareLifecycle.State(rawValue: try row.decode(Int32.self, at: 17)) else {
            throw try row.cell(at: 17).error("unknown share state")
        }
        let endReason = try row.decode(String?.self, at: 18).flatMap(ShareLifecycle.EndReason.init(rawValue:))
        lifecycle = ShareLifecycle(
            stored: state, endReason: endReason, acceptanceRequired: try row.decode(Bool.self, at: 16),
            expiresAt: try row.decode(Int64?.self, at: 19), maxContentFetches: Int(try row.decode(Int32.self, at: 20)),
            contentFetches: Int(try row.decode(Int32.self, at: 21)))
        firstFetchedAtMs = try row.decode(Int64?.self, at: 22)
        lastFetchedAtMs = try row.decode(Int64?.self, at: 23)
        createdAtMs = try row.decode(Int64.self, at: 24)
        acceptedAtMs = try row.decode(Int64?.self, at: 25)
        updatedAtMs = try row.decode(Int64.self, at: 26)
        endedAtMs = try row.decode(Int64?.self, at: 27)
        recipientKeypairID = try row.decode(UUID.self, at: 28)
        recipientKeySHA256 = try row.decode(String.self, at: 29)
        encryptedDEK = try row.decode(String?.self, at: 30)
        encryptedTerms = try row.decode(String?.self, at: 31)
        encryptedTermsKey = try row.decode(String?.self, at: 32)
        recipientPublicKeyPEM = try row.decode(String.self, at: 33)
        dekGeneration = Int(try row.decode(Int32.self, at: 34))
        recipientKnowsOwner = try row.decode(Bool.self, at: 35)
        senderKnowsOwner = try row.decode(Bool.self, at: 36)
        now = try row.decode(Int64.self, at: 37)
    }

    /// The state now: a live share past its expiry is EXPIRED at once.
    var state: ShareLifecycle.State { lifecycle.state(at: now) }

    /// The share as `viewer` (its sender, its recipient or the item's owner) sees it: the state now, each side's
    /// connection id only to that side, the owner only to those connected with them; never its content.
    func wire(viewer: UUID) -> Svx_Sharing_V1_Share {
        var share = Svx_Sharing_V1_Share()
        share.shareID = shareID.wire
        let ownerKnown = viewer == ownerID || (viewer == recipientID && recipientKnowsOwner)
            || (viewer == senderID && senderKnowsOwner) || depth == 1
        share.ownerID = ownerKnown ? ownerID.wire : ""
        share.senderID = senderID.wire
        share.senderUsername = senderUsername
        share.recipientID = recipientID.wire
        share.recipientUsername = recipientUsername
        if viewer == senderID { share.senderConnectionID = senderConnectionID.wire }
        if viewer == recipientID { share.recipientConnectionID = recipientConnectionID.wire }
        share.itemID = itemID.wire
        share.slotID = slotID?.wire ?? ""
        share.parentShareID = parentShareID?.wire ?? ""
        share.depth = UInt32(depth)
        share.itemLabel = itemLabel
        share.templateName = templateName
        share.itemVersion = UInt64(max(0, itemVersion))
        share.sharingMode = .init(rawValue: Int(sharingMode.rawValue)) ?? .unspecified
        share.acceptanceRequired = lifecycle.acceptanceRequired
        let state = state
        share.state = .init(rawValue: Int(state.rawValue)) ?? .unspecified
        share.expiresAtMs = UInt64(max(0, (lifecycle.expiresAt ?? 0) / 1000))
        share.maxContentFetches = UInt32(lifecycle.maxContentFetches)
        share.contentFetches = UInt32(lifecycle.contentFetches)
        share.firstFetchedAtMs = UInt64(max(0, firstFetchedAtMs ?? 0))
        share.lastFetchedAtMs = UInt64(max(0, lastFetchedAtMs ?? 0))
        share.createdAtMs = UInt64(max(0, createdAtMs))
        share.acceptedAtMs = UInt64(max(0, acceptedAtMs ?? 0))
        share.updatedAtMs = UInt64(max(0, updatedAtMs))
        if state == .expired, lifecycle.stored.isLive {
            // Expired by time, not yet stored so: it ended when its time came.
            share.endedAtMs = UInt64(max(0, (lifecycle.expiresAt ?? 0) / 1000))
            share.endReason = ShareLifecycle.EndReason.expired.rawValue
        } else {
            share.endedAtMs = UInt64(max(0, endedAtMs ?? 0))
            share.endReason = lifecycle.endReason?.rawValue ?? ""
        }
        share.recipientKeypairID = recipientKeypairID.wire
        share.recipientKeySha256 = recipientKeySHA256
        return share
    }
}

extension SharingService {
    /// The SQL condition (on `s`) of a list's state filter, as answered (ShareLifecycle.state(at:)) at the
    /// statement's own clock.
    static func shareStateFilter(_ state: ShareLifecycle.State?) -> String {
        switch state {
        case nil: "true"
        case .pendingAcceptance?: "s.state = 1 AND (s.expires_at IS NULL OR s.expires_at > now())"
        case .active?: "s.state = 2 AND (s.expires_at IS NULL OR s.expires_at > now())"
        case .expired?: "(s.state = 4 OR (s.state IN (1, 2) AND s.expires_at <= now()))"
        case let other?: "s.state = \(other.rawValue)"
        }
    }

    /// The one share of `shareID` that `condition` (on `s`, `$1` the caller, `$2` the share) lets the caller reach,
    /// locked `FOR UPDATE` when `lock` (its ``ShareRow/now`` then the clock read by the same statement once the lock
    /// is held, SharingQueries.shareByID).
    static func share(
        _ db: PostgresConnection, _ condition: String, callerID: UUID, shareID: UUID, lock: Bool
    ) throws -> ShareRow? {
        guard let found = try db.query(SharingQueries.shareByID(reachedBy: condition, lock: lock), callerID, shareID).first
        else { return nil }
        var row = try ShareRow(found)
        // The statement's clock was read before any wait for the lock: decide at the clock of the lock held.
        if lock { row.now = try found.decode(Int64.self, at: SharingQueries.shareColumnCount) }
        return row
    }

    /// The database clock now, for decisions on rows this transaction has locked: `statement_timestamp()` of a
    /// statement of its own, so that no wait for a lock before it is left out.
    static func decisionClock(_ db: PostgresConnection) throws -> DatabaseInstant {
        try db.query(SharingQueries.statementClock)[0].decode(Int64.self, at: 0)
    }

    /// The share of `ownerID`, `shareID` as it is now.
    static func reread(_ db: PostgresConnection, ownerID: UUID, shareID: UUID) throws -> ShareRow {
        let rows = try db.query(SharingQueries.shareByOwner, ownerID, shareID)
        guard let row = rows.first else { throw RPCStatus(.internal, "internal error") }
        return try ShareRow(row)
    }

    /// Writes what ShareLifecycle decided for `row` (`lifecycle`, changed from `row.lifecycle`): state, end reason
    /// and fetch count; `accepted` and `fetched` stamp those times. Leaving the live states drops the ciphertext at
    /// once: the wrapped DEK, the terms, and every share_slots row of the share. A change of state is recorded on both
    /// sides' chains (`events`, SharingAuditEvents.shareTransition).
    static func store(
        _ db: PostgresConnection, _ row: ShareRow, _ lifecycle: ShareLifecycle, events: SharingAuditEvents,
        accepted: Bool = false, fetched: Bool = false
    ) throws {
        guard lifecycle != row.lifecycle else { return }
        events.shareTransition(row, from: row.lifecycle, to: lifecycle)
        _ = try db.execute(
            """
            UPDATE sharing.shares SET state = $3, end_reason = $4, content_fetches = $5,
                ended_at = CASE WHEN $3 IN (1, 2) THEN NULL ELSE coalesce(ended_at, now()) END,
                encrypted_dek = CASE WHEN $3 IN (1, 2) THEN encrypted_dek END,
                encrypted_terms = CASE WHEN $3 IN (1, 2) THEN encrypted_terms END,
                encrypted_terms_key = CASE WHEN $3 IN (1, 2) THEN encrypted_terms_key END,
                accepted_at = CASE WHEN $6 THEN now() ELSE accepted_at END,
                first_fetched_at = CASE WHEN $7 THEN coalesce(first_fetched_at, now()) ELSE first_fetched_at END,
                last_fetched_at = CASE WHEN $7 THEN now() ELSE last_fetched_at END,
                updated_at = now()
            WHERE owner_id = $1 AND share_id = $2
            """, row.ownerID, row.shareID, lifecycle.stored.rawValue, lifecycle.endReason?.rawValue,
            Int32(lifecycle.contentFetches), accepted, fetched)
        if lifecycle.endsContent(from: row.lifecycle) { try deleteContent(db, row) }
    }

    /// Deletes every share_slots row of an ended share.
    static func deleteContent(_ db: PostgresConnection, _ row: ShareRow) throws {
        _ = try db.execute(SharingQueries.deleteShareSlots, row.ownerID, row.shareID)
    }

    /// Revokes every live share of the trees rooted at `roots` (each root for `rootReason`, every on-share below it
    /// for `parent_revoked`), in the caller's transaction, rows locked in one order (owner, share) so that two
    /// revocations never wait for each other in a cycle. The search walks through ended shares too (an on-share of a
    /// share its recipient deleted is still revoked with the tree). Shares found expired by time are stored as expired
    /// instead. Each share ended here is a `share.revoked` (with its reason) or `share.expired` on both sides' chains
    /// (`events`). Returns how many were revoked.
    ///
    /// The search is repeated until a pass finds no live share left: under READ COMMITTED a pass sees only what was
    /// committed when it began, so an on-share committed while the pass waited for its parent's lock is found by the
    /// next one. A share locked here gets no new on-share (CreateShare reads the parent `FOR SHARE`, waits, and then
    /// finds it revoked), so each further pass can only find a deeper share: at most ShareLifecycle.maximumDepth + 1
    /// passes find any.
    static func revokeTrees(
        _ db: PostgresConnection, roots: [(ownerID: UUID, shareID: UUID)], rootReason: ShareLifecycle.EndReason,
        events: SharingAuditEvents
    ) throws -> Int {
        guard !roots.isEmpty else { return 0 }
        let rootIDs = Set(roots.map(\.shareID))
        // The files of consumed shares in the trees are not readable any more either (SharedAttachments.swift).
        _ = try db.execute(
            """
            WITH RECURSIVE tree(owner_id, share_id) AS (
                SELECT * FROM unnest($1::uuid[], $2::uuid[])
                UNION
                SELECT c.owner_id, c.share_id FROM sharing.shares c
                JOIN tree t ON c.owner_id = t.owner_id AND c.parent_share_id = t.share_id
            )
            DELETE FROM sharing.consumed_share_files f USING tree t WHERE f.owner_id = t.owner_id AND f.share_id = t.share_id
            """, uuidArrayLiteral(roots.map(\.ownerID)), uuidArrayLiteral(roots.map(\.shareID)))
        var revoked = 0
        for _ in 0...(ShareLifecycle.maximumDepth + 1) {
            let rows = try db.query(
                """
                WITH RECURSIVE tree(owner_id, share_id) AS (
                    SELECT * FROM unnest($1::uuid[], $2::uuid[])
                    UNION
                    SELECT c.owner_id, c.share_id FROM sharing.shares c
                    JOIN tree t ON c.owner_id = t.owner_id AND c.parent_share_id = t.share_id
                )
                SELECT \(ShareRow.columns) FROM sharing.shares s
                WHERE (s.owner_id, s.share_id) IN (SELECT owner_id, share_id FROM tree) AND s.state IN (1, 2)
                ORDER BY s.owner_id, s.share_id FOR UPDATE OF s
                """, uuidArrayLiteral(roots.map(\.ownerID)), uuidArrayLiteral(roots.map(\.shareID)))
            guard !rows.isEmpty else { return revoked }
            // Every row of this pass leaves the live states (revoked, or expired): the next pass does not find it.
            let now = try decisionClock(db)
            for row in try rows.map(ShareRow.init) {
                var lifecycle = row.lifecycle
                let reason: ShareLifecycle.EndReason = rootIDs.contains(row.shareID) ? rootReason : .parentRevoked
                if lifecycle.revoke(at: now, reason: reason) == .change { revoked += 1 }
                try store(db, row, lifecycle, events: events)
            }
        }
        throw RPCStatus(.internal, "internal error")
    }
}
