import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import Synchronization

/// Every Vault method (handlers by concern: VaultUsers, Templates, Items, Attachments, Entities, Outlines; the calls to
/// Classification in ClassificationPeer, to Sharing in SharingPeer). docs/ADR-005-vault.md.
final class VaultService: Sendable {
    private let housekeepingCounter = Atomic<Int>(0)
    /// The Classification service (nil when `SVX_CLASSIFICATION_ENDPOINT` is `none`): ListItems filters by node
    /// through it, and deletions tell it what to forget (ClassificationPeer.swift).
    let classification: PeerClient?
    /// The Sharing service (nil when `SVX_SHARING_ENDPOINT` is `none`): deletions of items and slots end their shares
    /// (SharingPeer.swift).
    let sharing: PeerClient?
    /// The per-user quotas (docs/ADR-005-vault.md, "Quotas").
    let quotas: (items: UserQuota, attachmentBytes: UserQuota, unfinishedAttachments: UserQuota)
    /// The users' security events in this service (reference/sharing.md §5b): deletions of items, attachments added to
    /// and removed from them, each appended in its change's transaction.
    let audit = AuditTrail(service: "vault", schema: "vault")

    init(classification: PeerClient?, sharing: PeerClient? = nil, configuration: VaultConfiguration = .init()) {
        self.classification = classification
        self.sharing = sharing
        quotas = (
            UserQuota(name: "items", limit: configuration.maxItems),
            UserQuota(name: "attachment_bytes", limit: configuration.maxAttachmentBytes),
            UserQuota(name: "unfinished_uploads", limit: configuration.maxUnfinishedAttachments))
    }

    /// The user's usage (vault.user_usage, kept by triggers), read inside a write's transaction after the write: the
    /// trigger's update locked the row until commit, so this count includes every committed write of the user and
    /// this one, and no concurrent write of the user can pass its check against the same count.
    static func usage(_ db: PostgresConnection, userID: UUID) throws -> (items: Int64, attachmentBytes: Int64, unfinished: Int64) {
        guard let row = try db.query(
            "SELECT items, attachment_bytes, unfinished_attachments FROM vault.user_usage WHERE user_id = $1", userID).first
        else { return (0, 0, 0) }
        return (try row.decode(Int64.self, at: 0), try row.decode(Int64.self, at: 1), try row.decode(Int64.self, at: 2))
    }

    /// Appends the caller's events on `db`, which is inside the transaction of the change they record (so they exist if
    /// and only if it committed): two statements for all of them. Ids only: never a label, a name, a value or metadata.
    func recordEvents(
        _ events: [(type: String, subject: (type: String, id: String), details: [String: String])],
        _ session: AuthenticatedSession, _ context: RequestContext, on db: PostgresConnection
    ) throws {
        let userID = try session.userUUID
        try audit.append(contentsOf: auditEvents(events, session, context).map { ($0, userID) }, on: db)
    }

    /// The audit events of the caller's session and address.
    func auditEvents(
        _ events: [(type: String, subject: (type: String, id: String), details: [String: String])],
        _ session: AuthenticatedSession, _ context: RequestContext
    ) -> [AuditEvent] {
        events.map { event in
            AuditEvent(
                event.type, sessionID: session.sessionID, peerAddress: context.peerAddress,
                subjectType: event.subject.type, subjectID: event.subject.id, details: event.details)
        }
    }

    func register(_ routes: ServiceRoutes) {
        routes.registerAuthenticated(VaultRPC.getVaultUser) { [self] in try getVaultUser($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.putVaultUser) { [self] in try putVaultUser($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.listTemplates) { [self] in try listTemplates($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.getTemplate) { [self] in try getTemplate($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.createTemplate) { [self] in try createTemplate($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.deleteTemplate) { [self] in try deleteTemplate($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.createItem) { [self] in try createItem($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.getItem) { [self] in try getItem($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.listItems) { [self] in try listItems($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.updateItem) { [self] in try updateItem($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.deleteItem) { [self] in try deleteItem($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.checkEntities, peers: ["classification"]) { [self] in try checkEntities($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.createAttachment) { [self] in try createAttachment($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.uploadAttachmentBlock) { [self] in try uploadAttachmentBlock($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.finishAttachment) { [self] in try finishAttachment($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.getAttachment) { [self] in try getAttachment($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.getAttachmentBlock) { [self] in try getAttachmentBlock($0, $1, $2, $3) }
        routes.registerAuthenticated(VaultRPC.getItemOutlines, peers: ["sharing"]) { [self] in try getItemOutlines($0, $1, $2, $3) }
        // Another user's rows on Sharing's word: refused outright over plain TCP, where Sharing cannot be told apart.
        routes.registerAuthenticated(VaultRPC.getSharedAttachmentBlock, peers: ["sharing"], identityRequired: true) { [self] in
            try getSharedAttachmentBlock($0, $1, $2, $3)
        }
    }


    /// Every 500th attachment creation (per process) deletes the attachments no slot has taken within a day
    /// (uploads given up, or never put in a slot). Failures are logged, never fail the request.
    func housekeepingIfDue(_ context: RequestContext, _ worker: ServiceWorker) {
        guard housekeepingCounter.add(1, ordering: .relaxed).newValue % 500 == 0 else { return }
        do {
            // At most 100 at a time: the request that happens to run this stays short.
            let removed = try worker.database.execute(
                """
                DELETE FROM vault.attachments WHERE (user_id, attachment_id) IN (
                    SELECT a.user_id, a.attachment_id FROM vault.attachments a
                    WHERE a.created_at < now() - interval '1 day'
                      AND NOT EXISTS (SELECT 1 FROM vault.slots s
                                      WHERE s.user_id = a.user_id AND s.attachment_id = a.attachment_id)
                    LIMIT 100 FOR UPDATE SKIP LOCKED)
                """)
            if removed > 0 { context.logger.info("unreferenced attachments deleted", metadata: ["count": "\(removed)"]) }
        } catch {
            context.logger.warning("vault housekeeping failed", metadata: ["error_type": "\(type(of: error))"])
        }
    }
}

