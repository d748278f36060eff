import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL

/// ForgetSharedEntities: what the Vault calls, with the owner's session, inside its own transaction before it deletes
/// items or removes slots (sharing.md §2.6, T19; docs/ADR-008-sharing.md, "Deletions in the Vault"). It never calls
/// out, so the Vault → Sharing call can never come back to the Vault.
///
/// In one transaction, under the owner's advisory lock:
/// - every live share of a listed item, on-shares included (each share row of an item carries its owner), is revoked
///   with end reason `item_deleted` and loses its ciphertext;
/// - every live single-slot share of a listed slot likewise (its on-shares are single-slot shares of the same slot);
/// - every other share of the item (a whole-item copy, the owner's or an on-share) loses the listed slots' rows.
///
/// Every share revoked here is itself a share of the deleted item or slot, so each ends `item_deleted`, never
/// `parent_revoked`. Only the caller's own shares are reached (`owner_id` is the caller): another user's ids, and
/// unknown ones, change nothing and are not told apart. A retry after a lost answer revokes and drops nothing more.
///
/// Every id is also kept for an hour as a tombstone (`sharing.forgotten_entities`): CreateShare of an owned item
/// reads the item's outline from the Vault before it takes the owner's lock, so a deletion can slip in between;
/// under the lock it refuses an item or slot forgotten meanwhile (FAILED_PRECONDITION `recently_deleted`). The
/// owner's live tombstones are capped (``tombstoneQuota``): a client can call this with any ids.
extension SharingService {
    /// At most this many item ids, and as many slot ids, a call (the Vault sends one item, or an update's removed slots).
    static let maximumForgottenIDs = 1_000
    /// How long a forgotten id refuses CreateShare: far beyond any request's deadline (ADR-006's choice).
    static let forgottenFor = SharingQueries.tombstoneLifetime
    /// The live tombstones one owner may hold (quota `tombstones`): 100 000 deletions within the hour; a client
    /// forgetting random ids in a loop is stopped there (about 10 MB of rows and index).
    static let tombstoneQuota = UserQuota(name: "tombstones", limit: 100_000)

    func forgetSharedEntities(
        _ request: Svx_Sharing_V1_ForgetSharedEntitiesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_ForgetSharedEntitiesResponse {
        let itemIDs = try SharingValidation.forgottenIDs(request.itemIds, field: "item_ids", maximum: Self.maximumForgottenIDs)
        let slotIDs = try SharingValidation.forgottenIDs(request.slotIds, field: "slot_ids", maximum: Self.maximumForgottenIDs)
        let ownerID = try session.userUUID
        var response = Svx_Sharing_V1_ForgetSharedEntitiesResponse()
        guard !itemIDs.isEmpty || !slotIDs.isEmpty else { return response }
        let actor = try SharingActor(session, context)
        let (revoked, dropped) = try worker.database.transaction { db in try audited(db, by: actor) { events -> (Int, Int) in
            try Self.lockUsers(db, [ownerID])
            try Self.addTombstones(db, ownerID: ownerID, ids: Set(itemIDs).union(slotIDs))
            let items = uuidArrayLiteral(itemIDs)
            let slots = uuidArrayLiteral(slotIDs)
            // The items whose shares change: those listed, and those whose shares hold a listed slot.
            let slotItems: [UUID] = try slotIDs.isEmpty ? [] : db.query(
                """
                SELECT DISTINCT s.item_id FROM sharing.shares s
                WHERE s.owner_id = $1 AND (s.slot_id = ANY($2::uuid[]) OR EXISTS (
                    SELECT 1 FROM sharing.share_slots ss
                    WHERE ss.owner_id = s.owner_id AND ss.share_id = s.share_id AND ss.slot_id = ANY($2::uuid[])))
                """, ownerID, slots
            ).map { try $0.decode(UUID.self, at: 0) }
            let touched = uuidArrayLiteral(Set(itemIDs).union(slotItems))
            try Self.lockLiveShares(db, ownerID: ownerID, itemsLiteral: touched)
            // Every live share of the items is now locked and none can be added (on-shares read their parent
            // FOR SHARE; the owner's own shares need the owner's lock): the roots below are all there will be.
            let roots = try db.query(
                """
                SELECT owner_id, share_id FROM sharing.shares
                WHERE owner_id = $1 AND state IN (1, 2) AND (item_id = ANY($2::uuid[]) OR slot_id = ANY($3::uuid[]))
                ORDER BY share_id
                """, ownerID, items, slots
            ).map { (ownerID: try $0.decode(UUID.self, at: 0), shareID: try $0.decode(UUID.self, at: 1)) }
            let revoked = try Self.revokeTrees(db, roots: roots, rootReason: .itemDeleted, events: events)
            // What is left of the removed slots: their rows in whole-item copies (the revoked shares' rows are gone).
            let dropped = try slotIDs.isEmpty ? 0 : db.execute(
                "DELETE FROM sharing.share_slots WHERE owner_id = $1 AND slot_id = ANY($2::uuid[])", ownerID, slots)
            return (revoked, dropped)
        } }
        context.logger.info(
            "shared entities forgotten",
            metadata: [
                "user_id": "\(session.userID)", "items": "\(itemIDs.count)", "slots": "\(slotIDs.count)",
                "revoked_shares": "\(revoked)", "dropped_slot_rows": "\(dropped)",
            ])
        response.revokedShares = UInt32(clamping: revoked)
        response.droppedSlotRows = UInt32(clamping: dropped)
        return response
    }

    /// Keeps `ids` as the owner's tombstones for ``forgottenFor`` (a retry renews them), under the owner's lock:
    /// expired ones go first, then the live ones besides `ids` are counted against ``tombstoneQuota``. Past it:
    /// RESOURCE_EXHAUSTED with `retry_after_ms` (until the oldest live one expires), nothing written; the Vault's
    /// deletion that asked fails closed (nothing deleted anywhere).
    static func addTombstones(_ db: PostgresConnection, ownerID: UUID, ids: Set<UUID>) throws {
        let literal = uuidArrayLiteral(ids)
        _ = try db.execute(
            """
            DELETE FROM sharing.forgotten_entities
            WHERE owner_id = $1 AND forgotten_at <= now() - interval '\(forgottenFor)'
            """, ownerID)
        let live = try db.query(
            """
            SELECT count(*),
                   coalesce((EXTRACT(EPOCH FROM (min(forgotten_at) + interval '\(forgottenFor)' - now())) * 1000)::bigint, 0)
            FROM sharing.forgotten_entities WHERE owner_id = $1 AND NOT (entity_id = ANY($2::uuid[]))
            """, ownerID, literal)[0]
        let used = try live.decode(Int64.self, at: 0)
        let oldestExpiresInMilliseconds = try live.decode(Int64.self, at: 1)
        do throws(RPCStatus) {
            try tombstoneQuota.check(used: used, adding: Int64(ids.count))
        } catch var refusal {
            // Room comes back as the oldest live tombstone expires.
            refusal.details["retry_after_ms"] = String(max(1, oldestExpiresInMilliseconds))
            throw refusal
        }
        _ = try db.execute(
            """
            INSERT INTO sharing.forgotten_entities (owner_id, entity_id)
            SELECT $1, unnest($2::uuid[]) ON CONFLICT (owner_id, entity_id) DO UPDATE SET forgotten_at = now()
            """, ownerID, literal)
    }

    /// Refuses a share of the owner's item when the item or one of `slotIDs` (the outline the share was built from)
    /// was forgotten within ``forgottenFor``: FAILED_PRECONDITION `recently_deleted`. Called under the owner's lock,
    /// so a ForgetSharedEntities either committed before (its tombstone is seen) or runs after (and revokes the share).
    static func refuseForgotten(_ db: PostgresConnection, ownerID: UUID, itemID: UUID, slotIDs: [UUID]) throws {
        let forgotten = try db.query(SharingQueries.recentlyForgotten, ownerID, uuidArrayLiteral([itemID] + slotIDs))
        guard forgotten.isEmpty else {
            throw RPCStatus(
                .failedPrecondition, "the item, or one of its slots, was just deleted: read the item again",
                details: ["reason": "recently_deleted", "field": "item_id"])
        }
    }

    /// Locks every live share of the owner's items `itemsLiteral` (a uuid[] literal) `FOR UPDATE`, in one order, and
    /// repeats until a pass finds none it had not locked: under READ COMMITTED a pass sees only what was committed
    /// when it began, so an on-share committed while the pass waited for its parent's lock is found by the next one.
    /// A share locked here gets no new on-share (CreateShare reads the parent `FOR SHARE` and waits), and a new share
    /// of the owner's needs the owner's lock, held by the caller: each further pass can only find a deeper on-share,
    /// so at most ShareLifecycle.maximumDepth + 1 passes find any (the bound of ``revokeTrees(_:roots:rootReason:events:)``).
    static func lockLiveShares(_ db: PostgresConnection, ownerID: UUID, itemsLiteral: String) throws {
        var locked: Set<UUID> = []
        for _ in 0...(ShareLifecycle.maximumDepth + 1) {
            let ids = try db.query(
                """
                SELECT share_id FROM sharing.shares
                WHERE owner_id = $1 AND item_id = ANY($2::uuid[]) AND state IN (1, 2)
                ORDER BY owner_id, share_id FOR UPDATE
                """, ownerID, itemsLiteral
            ).map { try $0.decode(UUID.self, at: 0) }
            guard !ids.allSatisfy(locked.contains) else { return }
            locked.formUnion(ids)
        }
        throw RPCStatus(.internal, "internal error")
    }
}
