import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL

/// The owner's update of its shares (sharing.md §1.6, §2.3 UpdateShares, §2.7 "Owner update", §4 T18): after the
/// owner changes an item in the Vault, its client re-encrypts every live share of the item (on-shares included)
/// under fresh DEKs and sends them here. Staleness is computed, not queued (sharing.md §2.1 (e)): a share is stale
/// while its `item_version` is behind the item's version in the Vault (``SharingService/staleItemVersions``).
///
/// Concurrency: UpdateShares runs in one transaction under the owner's advisory lock and reads the shares it changes
/// `FOR UPDATE` in the order (owner, share) every revocation locks in; the Vault is asked before the transaction, so
/// no lock is held while it answers.
extension SharingService {
    func updateShares(
        _ request: Svx_Sharing_V1_UpdateSharesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_UpdateSharesResponse {
        let valid = try SharingValidation.shareUpdates(request)
        let userID = try session.userUUID
        // The Vault answers for the caller's own items only: anyone else's item is NOT_FOUND like an unknown one.
        let outline = try itemOutline(valid.itemID, context)
        guard Int64(clamping: outline.version) == valid.expectedItemVersion else {
            throw RPCStatus(
                .aborted, "the item has changed since it was encrypted (version \(outline.version)): encrypt it again",
                details: ["reason": "item_version_changed", "field": "expected_item_version"])
        }
        let item = try Self.ownedItem(outline, ownerID: userID, slotID: nil)
        sweepIfDue(context, worker)
        let actor = try SharingActor(session, context)
        let (updated, skipped) = try SharingRefusal.answering {
            try worker.database.transaction { db in try audited(db, by: actor) { events -> ([ShareRow], [(UUID, String)]) in
                try Self.lockUsers(db, [userID])
                // The item, or a slot of it, deleted since the Vault outlined it (its ForgetSharedEntities commits
                // before the Vault's change does): refused, so a removed slot never comes back into a share.
                try Self.refuseForgotten(db, ownerID: userID, itemID: valid.itemID, slotIDs: item.slots.map(\.slotID))
                let found = try db.query(
                    SharingQueries.itemSharesForUpdate, userID, valid.itemID, uuidArrayLiteral(valid.shares.map(\.shareID))
                ).map(ShareRow.init)
                let rows = Dictionary(uniqueKeysWithValues: found.map { ($0.shareID, $0) })
                // Once the locks are held: a share that expired while this waited for them is found expired.
                let now = try Self.decisionClock(db)
                var updated: [ShareRow] = []
                var skipped: [(UUID, String)] = []
                for input in valid.shares {
                    // Not a share of this item of the caller's: the answer of an unknown id.
                    guard let row = rows[input.shareID] else {
                        throw SharingRefusal.shareNotFound(field: "\(input.field).share_id")
                    }
                    switch try Self.updateShare(
                        db, row, input, item: item, version: valid.expectedItemVersion, at: now, events: events)
                    {
                    case .updated: updated.append(try Self.reread(db, ownerID: row.ownerID, shareID: row.shareID))
                    case .skipped(let reason): skipped.append((row.shareID, reason))
                    }
                }
                // One `share.updated` on the owner's chain for the call, when it re-keyed any share.
                if !updated.isEmpty {
                    events.record(
                        "share.updated", for: userID, subjectType: "item", subjectID: valid.itemID,
                        details: [
                            "item_version": String(valid.expectedItemVersion), "updated": String(updated.count),
                            "share_ids": updated.map(\.shareID.wire).joined(separator: ","),
                        ])
                }
                return (updated, skipped)
            } }
        }
        context.logger.info(
            "shares updated",
            metadata: ["user_id": "\(session.userID)", "updated": "\(updated.count)", "skipped": "\(skipped.count)"])
        var response = Svx_Sharing_V1_UpdateSharesResponse()
        response.updated = updated.map { $0.wire(viewer: userID) }
        response.skipped = skipped.map { shareID, reason in
            var skip = Svx_Sharing_V1_SkippedShare()
            skip.shareID = shareID.wire
            skip.reason = reason
            return skip
        }
        return response
    }

    /// What became of one share of an UpdateShares.
    enum ShareUpdateOutcome: Equatable {
        case updated
        /// Left as it was, for `reason`: the state of a share that has ended (`expired`, `revoked`, ...),
        /// `slot_removed` (a single-slot share whose slot the item no longer has), `newer_version` (the share already
        /// holds a later version than the one sent: another client's update came first).
        case skipped(String)
    }

    /// One share of an UpdateShares, locked by the caller: a live share gets the new DEK, its slots rebuilt from the
    /// item's outline with the values sent (every valued slot of what it shares, no other: INVALID_ARGUMENT naming
    /// the field), `dek_generation` + 1 and the item's version, label and template. A share found expired is stored
    /// as expired (`share.expired` on both sides' chains, `events`) and skipped.
    static func updateShare(
        _ db: PostgresConnection, _ row: ShareRow, _ input: SharingValidation.ShareUpdateInput, item: SharedItem,
        version: Int64, at now: DatabaseInstant, events: SharingAuditEvents
    ) throws -> ShareUpdateOutcome {
        var lifecycle = row.lifecycle
        if lifecycle.expire(at: now) { try store(db, row, lifecycle, events: events) }
        guard lifecycle.stored.isLive else { return .skipped(lifecycle.stored.name) }
        // What the share covers, as the item is now: its one slot, or every slot.
        var slots = item.slots
        if let slotID = row.slotID {
            if let wider = input.slots.first(where: { $0.slotID != slotID }) {
                throw FieldValidation.invalid(
                    "\(input.field).slots",
                    "\(input.field).slots names slot \(wider.slotID.wire): share \(row.shareID.wire) holds slot \(slotID.wire) only")
            }
            slots = item.slots.filter { $0.slotID == slotID }
            guard !slots.isEmpty else { return .skipped("slot_removed") }
        }
        let values = try SharingValidation.matchSlots(
            input.slots, field: input.field,
            expected: slots.map { SharingValidation.CarriedSlot(slotID: $0.slotID, valued: $0.valued, attachmentID: $0.attachmentID) })
        let modulusBytes: Int
        do {
            modulusBytes = (try RSAPublicKey(pem: row.recipientPublicKeyPEM).bits + 7) / 8
        } catch {
            throw RPCStatus(.internal, "internal error")
        }
        try FieldValidation.rsaString(input.encryptedDEK, field: "\(input.field).encrypted_dek", modulusBytes: modulusBytes)
        // Never back to an older version: a client that read the item before another client's update and sync.
        guard row.itemVersion <= version else { return .skipped("newer_version") }
        _ = try db.execute(
            SharingQueries.rekeyShare, row.ownerID, row.shareID, input.encryptedDEK, version, item.label, item.templateName)
        _ = try db.execute(SharingQueries.deleteShareSlots, row.ownerID, row.shareID)
        try insertShareSlots(db, ownerID: row.ownerID, shareID: row.shareID, slots: slots, values: values)
        return .updated
    }

    /// The versions, in the caller's Vault, of the caller's items that have a live share whose `item_version` is
    /// behind (`itemID`: that item only). The items are asked of the Vault with the caller's session, at most 100 a
    /// call; an item the Vault no longer has is left out (its shares are the Vault's to end). Bounded by the
    /// caller's live shares (at most `SVX_SHARING_MAX_SHARES`, so at most that many items).
    func staleItemVersions(
        _ db: PostgresConnection, ownerID: UUID, itemID: UUID?, _ context: RequestContext
    ) throws -> [(itemID: UUID, version: Int64)] {
        let shared = try db.query(
            """
            SELECT s.item_id, min(s.item_version) FROM sharing.shares s
            WHERE s.owner_id = $1 AND ($2::uuid IS NULL OR s.item_id = $2::uuid) AND s.state IN (1, 2)
              AND (s.expires_at IS NULL OR s.expires_at > now())
            GROUP BY s.item_id ORDER BY s.item_id
            """, ownerID, itemID
        ).map { (itemID: try $0.decode(UUID.self, at: 0), oldest: try $0.decode(Int64.self, at: 1)) }
        var stale: [(itemID: UUID, version: Int64)] = []
        var start = 0
        while start < shared.count {
            let batch = Array(shared[start..<min(start + Self.maximumOutlinesPerCall, shared.count)])
            let outlines = try itemOutlines(batch.map(\.itemID), context)
            for (item, outline) in zip(batch, outlines) where outline.found {
                let version = Int64(clamping: outline.version)
                if item.oldest < version { stale.append((item.itemID, version)) }
            }
            start += batch.count
        }
        return stale
    }
}
