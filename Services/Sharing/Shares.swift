import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL

/// Shares, the sender's and the owner's side: CreateShare, ListOutgoingShares, ListItemShares, RevokeShare
/// (sharing.md §2.3-2.5). The decisions are ShareLifecycle's; the shapes SharingValidation's.
///
/// Concurrency: CreateShare runs under the advisory locks of the sender, the item's owner and every recipient (the
/// caps on each; and DeleteConnection, which takes both users' locks, so a share never goes over a connection being
/// ended); the parent of an on-share is read
/// `FOR SHARE`, so a revocation of it either comes first (the on-share is refused) or waits and then finds the
/// on-share to cascade to. Revocations lock their whole tree in one order.
extension SharingService {
    /// What is shared of an item: every slot of the share (metadata from the Vault or from the parent share) and
    /// which of them carry a value.
    struct SharedSlot {
        let slotID: UUID
        let name: String
        let label: String
        let slotType: String
        let ordinal: Int32
        /// Whether the slot travels with a value (an attachment slot's value is its file's name).
        let valued: Bool
        /// An attachment slot's file (the Vault's attachment id), which travels with its key; nil for none (any other
        /// slot, an empty attachment slot, or one of a share written before files travelled in shares).
        let attachmentID: UUID?
        /// An on-share: the owner's hash, copied from the parent.
        let parentHash: String?
    }

    /// The item being shared, as the Vault outlined it (an owned item) or as the parent share holds it.
    struct SharedItem {
        let ownerID: UUID
        let itemID: UUID
        let itemVersion: Int64
        let label: String
        let templateName: String
        let slots: [SharedSlot]
    }

    static let attachmentSlotType = "attachment"

    func createShare(
        _ request: Svx_Sharing_V1_CreateShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_CreateShareResponse {
        let valid = try SharingValidation.newShare(request)
        let userID = try session.userUUID
        // An owned item: its outline from the Vault, before any lock is taken.
        var owned: SharedItem?
        if let itemID = valid.itemID {
            let outline = try itemOutline(itemID, context)
            guard Int64(clamping: outline.version) == valid.expectedItemVersion else {
                throw RPCStatus(
                    .aborted, "the item has changed since it was encrypted (version \(outline.version)): encrypt it again",
                    details: ["reason": "item_version_changed", "field": "expected_item_version"])
            }
            owned = try Self.ownedItem(outline, ownerID: userID, slotID: valid.slotID)
        }
        sweepIfDue(context, worker)
        let shareIDs = try valid.recipients.map { _ in try TimeOrderedID.make() }
        let actor = try SharingActor(session, context)
        let rows = try SharingRefusal.answering {
            try worker.database.transaction { db in try audited(db, by: actor) { events -> [ShareRow] in
                // Every user whose caps this counts: the sender, the item's owner, each recipient. Who they are never
                // changes (a connection's other side, a share's owner), so they are read before the locks.
                let involved = try Self.usersInvolved(
                    db, senderID: userID, parentShareID: valid.parentShareID,
                    connectionIDs: valid.recipients.map(\.connectionID))
                try Self.lockUsers(db, involved)
                // An owned item deleted (or a slot removed) since the Vault outlined it: refused, nothing written.
                if let owned {
                    try Self.refuseForgotten(db, ownerID: userID, itemID: owned.itemID, slotIDs: owned.slots.map(\.slotID))
                }
                var parent: (row: ShareRow, facts: ShareLifecycle.Parent, item: SharedItem)?
                if let parentShareID = valid.parentShareID {
                    parent = try Self.parentShare(db, recipientID: userID, shareID: parentShareID)
                }
                // Once the locks are held: a parent that expired while this waited for them is found expired.
                let now = try Self.decisionClock(db)
                let admission = try ShareLifecycle.admit(valid.lifecycleRequest, parent: parent?.facts, at: now)
                guard let item = owned ?? parent?.item else { throw RPCStatus(.internal, "internal error") }
                let slots = admission.slotID.map { id in item.slots.filter { $0.slotID == id } } ?? item.slots
                let carried = slots.map { SharingValidation.CarriedSlot(slotID: $0.slotID, valued: $0.valued, attachmentID: $0.attachmentID) }
                let live = try db.query(SharingQueries.liveOutgoingShares, userID)[0].decode(Int.self, at: 0)
                guard live + valid.recipients.count <= maximumShares else {
                    throw SharingRefusal.shareQuota(limit: maximumShares)
                }
                let itemLive = try db.query(SharingQueries.liveItemShares, item.ownerID, item.itemID)[0].decode(Int.self, at: 0)
                guard itemLive + valid.recipients.count <= maximumSharesPerItem else {
                    throw SharingRefusal.itemShareQuota(limit: maximumSharesPerItem)
                }
                let connections = try valid.recipients.map { try Self.recipientConnection(db, senderID: userID, $0) }
                let incoming = try Self.liveIncomingShares(db, recipientIDs: connections.map(\.otherUserID))
                var written: [ShareRow] = []
                for (recipient, (shareID, connection)) in zip(valid.recipients, zip(shareIDs, connections)) {
                    guard incoming[connection.otherUserID, default: 0] < maximumShares else {
                        throw SharingRefusal.incomingShareQuota(limit: maximumShares, field: "\(recipient.field).connection_id")
                    }
                    try ShareLifecycle.admitRecipient(
                        connection.otherUserID, parent: parent?.facts, field: "\(recipient.field).connection_id")
                    let values = try SharingValidation.matchSlots(recipient, expected: carried)
                    try Self.insertShare(
                        db, shareID: shareID, item: item, admission: admission, valid: valid, parentShareID: parent?.row.shareID,
                        sender: (userID, session.username), connection: connection, recipient: recipient)
                    try Self.insertShareSlots(db, ownerID: item.ownerID, shareID: shareID, slots: slots, values: values)
                    written.append(try Self.reread(db, ownerID: item.ownerID, shareID: shareID))
                }
                for share in written { events.shareCreated(share) }
                return written
            } }
        }
        context.logger.info(
            "shares created",
            metadata: [
                "user_id": "\(session.userID)", "count": "\(rows.count)",
                "on_share": "\(valid.parentShareID != nil)",
            ])
        var response = Svx_Sharing_V1_CreateShareResponse()
        response.shares = rows.map { $0.wire(viewer: userID) }
        return response
    }

    /// The users a CreateShare counts against their caps, for ``lockUsers(_:_:)``: the sender, the owner of the
    /// parent share's item (an on-share), and the other side of each connection named. Ids that name nothing of the
    /// sender's are left out here; the checks under the locks refuse them.
    static func usersInvolved(
        _ db: PostgresConnection, senderID: UUID, parentShareID: UUID?, connectionIDs: [UUID]
    ) throws -> [UUID] {
        var users = [senderID]
        if let parentShareID {
            users += try db.query(SharingQueries.incomingShareOwner, senderID, parentShareID).map { try $0.decode(UUID.self, at: 0) }
        }
        users += try db.query(SharingQueries.connectionsOtherUsers, senderID, uuidArrayLiteral(connectionIDs)).map { try $0.decode(UUID.self, at: 0) }
        return users
    }

    /// The live (pending or active, unexpired) incoming shares of each of `recipientIDs` (absent: none).
    static func liveIncomingShares(_ db: PostgresConnection, recipientIDs: [UUID]) throws -> [UUID: Int] {
        var counts: [UUID: Int] = [:]
        for row in try db.query(SharingQueries.liveIncomingShares, uuidArrayLiteral(recipientIDs)) {
            counts[try row.decode(UUID.self, at: 0)] = try row.decode(Int.self, at: 1)
        }
        return counts
    }

    /// The shared slots of an owned item as the Vault outlined it: the one slot asked for (INVALID_ARGUMENT
    /// `slot_id` when it is not this item's) or every slot; an attachment slot with the file the Vault says it holds.
    static func ownedItem(_ outline: Svx_Vault_V1_ItemOutline, ownerID: UUID, slotID: UUID?) throws -> SharedItem {
        var slots: [SharedSlot] = []
        for slot in outline.slots {
            guard let id = UUID(uuidString: slot.slotID) else { throw RPCStatus(.internal, "internal error") }
            var attachmentID: UUID?
            if !slot.attachmentID.isEmpty {
                guard slot.slotType == attachmentSlotType, let file = UUID(uuidString: slot.attachmentID) else {
                    throw RPCStatus(.internal, "internal error")
                }
                attachmentID = file
            }
            slots.append(SharedSlot(
                slotID: id, name: slot.name, label: slot.label, slotType: slot.slotType, ordinal: slot.ordinal,
                valued: slot.hasValue_p, attachmentID: attachmentID, parentHash: nil))
        }
        if let slotID, !slots.contains(where: { $0.slotID == slotID }) {
            throw FieldValidation.invalid("slot_id", "slot_id is not a slot of this item")
        }
        guard let itemID = UUID(uuidString: outline.itemID) else { throw RPCStatus(.internal, "internal error") }
        return SharedItem(
            ownerID: ownerID, itemID: itemID, itemVersion: Int64(clamping: outline.version), label: outline.label,
            templateName: outline.templateName, slots: slots)
    }

    /// The caller's incoming share an on-share is made from, read `FOR SHARE`, with its slots and the holders of the
    /// item up its chain (the owner and every recipient). Not the caller's: NOT_FOUND naming `parent_share_id`.
    static func parentShare(_ db: PostgresConnection, recipientID: UUID, shareID: UUID) throws
        -> (row: ShareRow, facts: ShareLifecycle.Parent, item: SharedItem)
    {
        let rows = try db.query(
            "SELECT \(ShareRow.columns) FROM sharing.shares s WHERE s.recipient_id = $1 AND s.share_id = $2 FOR SHARE OF s",
            recipientID, shareID)
        guard let row = try rows.first.map(ShareRow.init) else {
            throw SharingRefusal.shareNotFound(field: "parent_share_id")
        }
        let slots = try db.query(
            """
            SELECT slot_id, name, label, slot_type, ordinal, encrypted_value IS NOT NULL, value_verification_hash,
                   attachment_id
            FROM sharing.share_slots WHERE owner_id = $1 AND share_id = $2
            """, row.ownerID, row.shareID
        ).map { slot in
            SharedSlot(
                slotID: try slot.decode(UUID.self, at: 0), name: try slot.decode(String.self, at: 1),
                label: try slot.decode(String.self, at: 2), slotType: try slot.decode(String.self, at: 3),
                ordinal: try slot.decode(Int32.self, at: 4), valued: try slot.decode(Bool.self, at: 5),
                attachmentID: try slot.decode(UUID?.self, at: 7), parentHash: try slot.decode(String?.self, at: 6))
        }
        // The recipients up the chain (the tombstones of ended shares included, for 30 days).
        let holders = try db.query(
            """
            WITH RECURSIVE chain(owner_id, share_id, parent_share_id, recipient_id) AS (
                SELECT owner_id, share_id, parent_share_id, recipient_id FROM sharing.shares
                WHERE owner_id = $1 AND share_id = $2
                UNION
                SELECT p.owner_id, p.share_id, p.parent_share_id, p.recipient_id FROM sharing.shares p
                JOIN chain c ON p.owner_id = c.owner_id AND p.share_id = c.parent_share_id
            )
            SELECT recipient_id FROM chain
            """, row.ownerID, row.shareID
        ).map { try $0.decode(UUID.self, at: 0) }
        let facts = ShareLifecycle.Parent(
            lifecycle: row.lifecycle, sharingMode: row.sharingMode, depth: row.depth, slotID: row.slotID,
            slotIDs: Set(slots.map(\.slotID)),
            holders: Set(holders + [row.ownerID]))
        let item = SharedItem(
            ownerID: row.ownerID, itemID: row.itemID, itemVersion: row.itemVersion, label: row.itemLabel,
            templateName: row.templateName, slots: slots)
        return (row, facts, item)
    }

    /// The side of an active connection of the sender a recipient names, read `FOR SHARE`.
    struct RecipientConnection {
        let connectionID: UUID
        let otherUserID: UUID
        let otherUsername: String
        let otherConnectionID: UUID
        let otherKeypairID: UUID
        let otherPublicKeyPEM: String
        let otherKeySHA256: String
    }

    /// The connection `recipient` names, checked: the sender's own (else NOT_FOUND, as for an unknown one), active
    /// (`connection_ended`), with the key the sender encrypted for (`recipient_key_changed`), and the wrapped DEK
    /// and terms key as long as that key's modulus (INVALID_ARGUMENT naming them).
    static func recipientConnection(
        _ db: PostgresConnection, senderID: UUID, _ recipient: SharingValidation.ShareRecipientInput
    ) throws -> RecipientConnection {
        let rows = try db.query(SharingQueries.recipientConnection, senderID, recipient.connectionID)
        guard let row = rows.first else {
            throw RPCStatus.notFound("connection", field: "\(recipient.field).connection_id")
        }
        guard try row.decode(Int32.self, at: 6) == ConnectionLifecycle.State.active.rawValue else {
            throw RPCStatus(
                .failedPrecondition, "the connection has ended",
                details: ["reason": "connection_ended", "field": "\(recipient.field).connection_id"])
        }
        let connection = RecipientConnection(
            connectionID: recipient.connectionID, otherUserID: try row.decode(UUID.self, at: 0),
            otherUsername: try row.decode(String.self, at: 1), otherConnectionID: try row.decode(UUID.self, at: 2),
            otherKeypairID: try row.decode(UUID.self, at: 3), otherPublicKeyPEM: try row.decode(String.self, at: 4),
            otherKeySHA256: try row.decode(String.self, at: 5))
        guard ConstantTime.equals(Array(recipient.keySHA256.utf8), Array(connection.otherKeySHA256.utf8)) else {
            throw RPCStatus(
                .failedPrecondition,
                "the connection's key is not the one you encrypted for: verify the connection again before sharing",
                details: ["reason": "recipient_key_changed", "field": "\(recipient.field).recipient_key_sha256"])
        }
        let modulusBytes: Int
        do {
            modulusBytes = (try RSAPublicKey(pem: connection.otherPublicKeyPEM).bits + 7) / 8
        } catch {
            throw RPCStatus(.internal, "internal error")
        }
        try FieldValidation.rsaString(
            recipient.encryptedDEK, field: "\(recipient.field).encrypted_dek", modulusBytes: modulusBytes)
        if let termsKey = recipient.encryptedTermsKey {
            try FieldValidation.rsaString(
                termsKey, field: "\(recipient.field).encrypted_terms_key", modulusBytes: modulusBytes)
        }
        return connection
    }

    private static func insertShare(
        _ db: PostgresConnection, shareID: UUID, item: SharedItem, admission: ShareLifecycle.Admission,
        valid: SharingValidation.NewShare, parentShareID: UUID?, sender: (id: UUID, username: String),
        connection: RecipientConnection, recipient: SharingValidation.ShareRecipientInput
    ) throws {
        _ = try db.execute(
            SharingQueries.insertShare, item.ownerID, shareID, item.itemID, admission.slotID, sender.id, sender.username,
            connection.otherUserID, connection.otherUsername, connection.connectionID, connection.otherConnectionID,
            parentShareID, Int32(admission.depth), connection.otherKeypairID, connection.otherPublicKeyPEM,
            connection.otherKeySHA256, recipient.encryptedDEK, item.itemVersion, item.label, item.templateName,
            valid.sharingMode.rawValue, admission.lifecycle.acceptanceRequired, admission.lifecycle.stored.rawValue,
            recipient.encryptedTerms, recipient.encryptedTermsKey, admission.lifecycle.expiresAt,
            Int32(admission.lifecycle.maxContentFetches))
    }

    /// Every slot of a new share in one statement: metadata for all, the value fields for the valued ones (the
    /// sender's hash on an owned item, the parent's on an on-share), and the file and its key for those holding one
    /// (`values` as ``SharingValidation/matchSlots(_:expected:)`` checked them).
    static func insertShareSlots(
        _ db: PostgresConnection, ownerID: UUID, shareID: UUID, slots: [SharedSlot],
        values: [UUID: SharingValidation.ShareSlotValue]
    ) throws {
        guard !slots.isEmpty else { return }
        let records = slots.map { slot in
            let sent = values[slot.slotID]
            let value = slot.valued ? sent?.value : nil
            let file = slot.attachmentID != nil ? sent?.file : nil
            return SharingQueries.ShareSlotRecord(
                slotID: slot.slotID.wire, name: slot.name, label: slot.label, slotType: slot.slotType,
                ordinal: slot.ordinal, encryptedValue: value?.encryptedValue, verificationKey: value?.verificationKey,
                verificationHash: value == nil ? nil : (sent?.hash ?? slot.parentHash),
                attachmentID: file?.attachmentID.wire, encryptedAttachmentDEK: file?.encryptedDEK)
        }
        _ = try db.execute(
            SharingQueries.insertShareSlots, ownerID, shareID, String(decoding: try JSONEncoder().encode(records), as: UTF8.self))
    }

    func listOutgoingShares(
        _ request: Svx_Sharing_V1_ListOutgoingSharesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_ListOutgoingSharesResponse {
        let itemID = request.itemID.isEmpty ? nil : try FieldValidation.uuid(request.itemID, field: "item_id")
        let connectionID =
            request.connectionID.isEmpty ? nil : try FieldValidation.uuid(request.connectionID, field: "connection_id")
        let state = try SharingValidation.shareState(request.state)
        let pageSize = try FieldValidation.pageSize(request.pageSize)
        let before = try FieldValidation.pageToken(request.pageToken)
        let userID = try session.userUUID
        sweepIfDue(context, worker)
        writeContentFetches(context, worker, force: true)
        if request.staleOnly {
            return try listStaleShares(
                userID: userID, itemID: itemID, connectionID: connectionID, state: state, pageSize: pageSize, before: before,
                context, worker)
        }
        let rows = try worker.database.query(
            """
            SELECT \(ShareRow.columns) FROM sharing.shares s
            WHERE s.sender_id = $1 AND ($2::uuid IS NULL OR s.share_id < $2::uuid)
              AND ($3::uuid IS NULL OR s.item_id = $3::uuid) AND ($4::uuid IS NULL OR s.sender_connection_id = $4::uuid)
              AND \(Self.shareStateFilter(state))
            ORDER BY s.share_id DESC LIMIT $5
            """, userID, before, itemID, connectionID, pageSize + 1)
        var response = Svx_Sharing_V1_ListOutgoingSharesResponse()
        response.shares = try rows.prefix(pageSize).map { try ShareRow($0).wire(viewer: userID) }
        if rows.count > pageSize, let last = response.shares.last { response.nextPageToken = last.shareID }
        return response
    }

    /// ListOutgoingShares with `stale_only`: the live shares of the caller's own items (on-shares its recipients made
    /// included: the owner re-encrypts those too) whose `item_version` is behind the item's version in the Vault,
    /// with the same filters and pages. `connection_id` is the sender's side, so it keeps the caller's own shares
    /// over that connection only.
    private func listStaleShares(
        userID: UUID, itemID: UUID?, connectionID: UUID?, state: ShareLifecycle.State?, pageSize: Int, before: UUID?,
        _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Sharing_V1_ListOutgoingSharesResponse {
        var response = Svx_Sharing_V1_ListOutgoingSharesResponse()
        let stale = try staleItemVersions(worker.database, ownerID: userID, itemID: itemID, context)
        guard !stale.isEmpty else { return response }
        let rows = try worker.database.query(
            """
            SELECT \(ShareRow.columns) FROM sharing.shares s
            JOIN unnest($2::uuid[], $3::bigint[]) AS v(item_id, version) ON s.item_id = v.item_id AND s.item_version < v.version
            WHERE s.owner_id = $1 AND ($4::uuid IS NULL OR s.share_id < $4::uuid)
              AND ($5::uuid IS NULL OR s.sender_connection_id = $5::uuid)
              AND s.state IN (1, 2) AND (s.expires_at IS NULL OR s.expires_at > now()) AND \(Self.shareStateFilter(state))
            ORDER BY s.share_id DESC LIMIT $6
            """, userID, uuidArrayLiteral(stale.map(\.itemID)), "{\(stale.map { String($0.version) }.joined(separator: ","))}",
            before, connectionID, pageSize + 1)
        response.shares = try rows.prefix(pageSize).map { try ShareRow($0).wire(viewer: userID) }
        if rows.count > pageSize, let last = response.shares.last { response.nextPageToken = last.shareID }
        return response
    }

    /// Every live share of the caller's own item, on-shares included, with the key each recipient's DEK is wrapped
    /// with. An item that is not the caller's has none (an empty list, as for an item never shared).
    func listItemShares(
        _ request: Svx_Sharing_V1_ListItemSharesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_ListItemSharesResponse {
        let itemID = try FieldValidation.uuid(request.itemID, field: "item_id")
        let pageSize = try FieldValidation.pageSize(request.pageSize)
        let before = try FieldValidation.pageToken(request.pageToken)
        let userID = try session.userUUID
        writeContentFetches(context, worker, force: true)
        let rows = try worker.database.query(
            """
            SELECT \(ShareRow.columns) FROM sharing.shares s
            WHERE s.owner_id = $1 AND s.item_id = $2 AND ($3::uuid IS NULL OR s.share_id < $3::uuid)
              AND s.state IN (1, 2) AND (s.expires_at IS NULL OR s.expires_at > now())
            ORDER BY s.share_id DESC LIMIT $4
            """, userID, itemID, before, pageSize + 1)
        var response = Svx_Sharing_V1_ListItemSharesResponse()
        response.shares = try rows.prefix(pageSize).map { row in
            let share = try ShareRow(row)
            var itemShare = Svx_Sharing_V1_ItemShare()
            itemShare.share = share.wire(viewer: userID)
            itemShare.recipientPublicKeyPem = share.recipientPublicKeyPEM
            return itemShare
        }
        if rows.count > pageSize, let last = response.shares.last { response.nextPageToken = last.share.shareID }
        return response
    }

    /// By the share's sender or the item's owner; every live on-share below it is revoked in the same transaction,
    /// also when the share itself has already ended (then FAILED_PRECONDITION `not_live` only if nothing was revoked).
    /// The recipient, and anyone else, gets NOT_FOUND like an unknown id.
    func revokeShare(
        _ request: Svx_Sharing_V1_RevokeShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_RevokeShareResponse {
        let shareID = try FieldValidation.uuid(request.shareID, field: "share_id")
        let userID = try session.userUUID
        // The refusal comes after the commit: a share found expired is stored as expired all the same.
        let actor = try SharingActor(session, context)
        let outcome = try worker.database.transaction { db in try audited(db, by: actor) {
            events -> Result<(ShareRow, Int), SharingRefusal> in
            guard let row = try Self.share(db, "(s.sender_id = $1 OR s.owner_id = $1)", callerID: userID, shareID: shareID, lock: true)
            else { return .failure(.shareNotFound(field: "share_id")) }
            var lifecycle = row.lifecycle
            if case .refuse(let refusal) = lifecycle.revoke(at: row.now) {
                // Already ended (or found expired): its on-shares may still be live (the recipient deleted or used up
                // its copy after on-sharing it). They are revoked all the same; `not_live` only when none was.
                try Self.store(db, row, lifecycle, events: events)
                let revoked = try Self.revokeTrees(
                    db, roots: [(row.ownerID, row.shareID)], rootReason: .revoked, events: events)
                guard revoked > 0 else { return .failure(refusal) }
                return .success((try Self.reread(db, ownerID: row.ownerID, shareID: row.shareID), revoked))
            }
            let revoked = try Self.revokeTrees(db, roots: [(row.ownerID, row.shareID)], rootReason: .revoked, events: events)
            return .success((try Self.reread(db, ownerID: row.ownerID, shareID: row.shareID), revoked))
        } }
        let (row, revoked) = try outcome.mapError { $0.status }.get()
        context.logger.info(
            "share revoked", metadata: ["user_id": "\(session.userID)", "share_id": "\(shareID.wire)", "revoked": "\(revoked)"])
        var response = Svx_Sharing_V1_RevokeShareResponse()
        response.share = row.wire(viewer: userID)
        response.revoked = UInt32(revoked)
        return response
    }
}
