import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL

/// Shares, the recipient's side: ListIncomingShares, GetIncomingShare, AcceptShare, RejectShare,
/// DeleteIncomingShare. A caller reaches only shares it received (`recipient_id` is always the caller); any other
/// share id is NOT_FOUND with one message. Recipient reads touch only Sharing's tables.
extension SharingService {
    func listIncomingShares(
        _ request: Svx_Sharing_V1_ListIncomingSharesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_ListIncomingSharesResponse {
        let state = try SharingValidation.shareState(request.state)
        let connectionID =
            request.connectionID.isEmpty ? nil : try FieldValidation.uuid(request.connectionID, field: "connection_id")
        guard request.updatedSinceMs <= SharingValidation.latestExpiryMilliseconds else {
            throw FieldValidation.invalid("updated_since_ms", "updated_since_ms is after the year 9999")
        }
        let since = request.updatedSinceMs == 0 ? nil : Int64(request.updatedSinceMs)
        let pageSize = try FieldValidation.pageSize(request.pageSize)
        let before = try FieldValidation.pageToken(request.pageToken)
        let userID = try session.userUUID
        sweepIfDue(context, worker)
        writeContentFetches(context, worker, force: true)
        // "Updated since" counts an expiry by time as an update at its expiry.
        let rows = try worker.database.query(
            """
            SELECT \(ShareRow.columns) FROM sharing.shares s
            WHERE s.recipient_id = $1 AND ($2::uuid IS NULL OR s.share_id < $2::uuid)
              AND ($3::uuid IS NULL OR s.recipient_connection_id = $3::uuid)
              AND ($4::bigint IS NULL OR s.updated_at >= 'epoch'::timestamptz + $4::bigint * interval '1 millisecond'
                   OR (s.state IN (1, 2) AND s.expires_at <= now()
                       AND s.expires_at >= 'epoch'::timestamptz + $4::bigint * interval '1 millisecond'))
              AND \(Self.shareStateFilter(state))
            ORDER BY s.share_id DESC LIMIT $5
            """, userID, before, connectionID, since, pageSize + 1)
        var response = Svx_Sharing_V1_ListIncomingSharesResponse()
        response.shares = try rows.prefix(pageSize).map { try ShareRow($0).wire(viewer: userID) }
        if rows.count > pageSize, let last = response.shares.last { response.nextPageToken = last.shareID }
        return response
    }

    /// The caller's incoming share: the wrapped DEK and the terms while it is live (pending ones too, so terms can
    /// be read before accepting). `include_content`: the slots as well, only while ACTIVE. A fetch of an active share
    /// with no fetch limit is one read (the share and its slots in one statement) and is counted in memory
    /// (ContentFetchLog); any other is decided on the locked row: counted in the transaction that serves it, the
    /// `max_content_fetches`-th moving it to CONSUMED, so concurrent view-once fetches give the content to exactly one.
    func getIncomingShare(
        _ request: Svx_Sharing_V1_GetIncomingShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_GetIncomingShareResponse {
        let shareID = try FieldValidation.uuid(request.shareID, field: "share_id")
        let userID = try session.userUUID
        var response = Svx_Sharing_V1_GetIncomingShareResponse()
        guard request.includeContent else {
            writeContentFetches(context, worker, force: true)
            guard let row = try Self.share(worker.database, "s.recipient_id = $1", callerID: userID, shareID: shareID, lock: false)
            else { throw SharingRefusal.shareNotFound(field: "share_id").status }
            response.share = row.wire(viewer: userID)
            if row.state.isLive { Self.putKeys(row, into: &response) }
            return response
        }
        // Most fetches change nothing but a count: the share and its slots in one read, the fetch counted in memory.
        let read = try worker.database.query(SharingQueries.incomingShareWithSlots, userID, shareID)
        guard let first = read.first else { throw SharingRefusal.shareNotFound(field: "share_id").status }
        let current = try ShareRow(first)
        let actor = try SharingActor(session, context)
        if current.lifecycle.fetchOnlyCounts(at: current.now) {
            let due = contentFetches.record(ShareParties(current), by: actor, at: current.now)
            response.share = current.wire(viewer: userID)
            response.share.contentFetches += 1
            response.share.lastFetchedAtMs = UInt64(max(0, current.now / 1000))
            if response.share.firstFetchedAtMs == 0 { response.share.firstFetchedAtMs = response.share.lastFetchedAtMs }
            Self.putKeys(current, into: &response)
            response.item = try Self.sharedItem(current, slots: read)
            if due { writeContentFetches(context, worker, force: false) }
            return response
        }
        let outcome = try worker.database.transaction { db in try audited(db, by: actor) {
            events -> Result<Svx_Sharing_V1_GetIncomingShareResponse, SharingRefusal> in
            guard let row = try Self.share(db, "s.recipient_id = $1", callerID: userID, shareID: shareID, lock: true) else {
                return .failure(.shareNotFound(field: "share_id"))
            }
            var lifecycle = row.lifecycle
            if case .refuse(let refusal) = lifecycle.fetchContent(at: row.now) {
                try Self.store(db, row, lifecycle, events: events)
                return .failure(refusal)
            }
            // The fetch on both chains, then (the last permitted fetch) the share consumed.
            events.shareFetched(ShareParties(row), by: actor, at: row.now)
            events.shareTransition(row, from: row.lifecycle, to: lifecycle)
            // The fetch stored and the content read in one statement (the content as it was before it: the last
            // permitted fetch then deletes it).
            let fetched = try db.query(
                SharingQueries.recordContentFetch, row.ownerID, row.shareID, lifecycle.stored.rawValue,
                lifecycle.endReason?.rawValue, Int32(lifecycle.contentFetches))
            guard let first = fetched.first else { throw RPCStatus(.internal, "internal error") }
            let item = try Self.sharedItem(row, slots: fetched)
            if lifecycle.endsContent(from: row.lifecycle) {
                // A view-once share's files stay readable a while after its one view (SharedAttachments.swift).
                if lifecycle.stored == .consumed {
                    _ = try db.execute(
                        SharingQueries.openConsumedFileWindow, row.ownerID, row.shareID, Self.consumedFileWindowSeconds)
                }
                try Self.deleteContent(db, row)
            }
            var answer = Svx_Sharing_V1_GetIncomingShareResponse()
            answer.share = try ShareRow(first).wire(viewer: userID)
            Self.putKeys(row, into: &answer)
            answer.item = item
            return .success(answer)
        } }
        response = try outcome.mapError { $0.status }.get()
        if response.share.state == .consumed {
            context.logger.info("share consumed", metadata: ["user_id": "\(session.userID)", "share_id": "\(shareID.wire)"])
        }
        return response
    }

    /// The content of `row` from rows whose columns after the share's are its slots' (SharingQueries
    /// .incomingShareWithSlots, .recordContentFetch); a row with a NULL slot id is no slot.
    private static func sharedItem(_ row: ShareRow, slots rows: [PostgresRow]) throws -> Svx_Sharing_V1_SharedItem {
        let column = SharingQueries.shareColumnCount
        var item = Svx_Sharing_V1_SharedItem()
        item.label = row.itemLabel
        item.templateName = row.templateName
        item.itemVersion = UInt64(max(0, row.itemVersion))
        item.slots = try rows.compactMap { slotRow in
            guard let slotID = try slotRow.decode(UUID?.self, at: column) else { return nil }
            var slot = Svx_Sharing_V1_ShareSlot()
            slot.slotID = slotID.wire
            slot.name = try slotRow.decode(String.self, at: column + 1)
            slot.label = try slotRow.decode(String.self, at: column + 2)
            slot.slotType = try slotRow.decode(String.self, at: column + 3)
            slot.ordinal = try slotRow.decode(Int32.self, at: column + 4)
            slot.encryptedValue = try slotRow.decode(String.self, at: column + 5)
            slot.encryptedValueVerificationKey = try slotRow.decode(String.self, at: column + 6)
            slot.valueVerificationHash = try slotRow.decode(String.self, at: column + 7)
            slot.attachmentID = try slotRow.decode(UUID?.self, at: column + 8)?.wire ?? ""
            slot.encryptedAttachmentDek = try slotRow.decode(String.self, at: column + 9)
            return slot
        }
        return item
    }

    private static func putKeys(_ row: ShareRow, into response: inout Svx_Sharing_V1_GetIncomingShareResponse) {
        response.encryptedDek = row.encryptedDEK ?? ""
        response.encryptedTerms = row.encryptedTerms ?? ""
        response.encryptedTermsKey = row.encryptedTermsKey ?? ""
    }

    func acceptShare(
        _ request: Svx_Sharing_V1_AcceptShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_AcceptShareResponse {
        var response = Svx_Sharing_V1_AcceptShareResponse()
        response.share = try decideIncoming(request.shareID, session, context, worker, accepted: true) { $0.accept(at: $1) }
        context.logger.info("share accepted", metadata: ["user_id": "\(session.userID)", "share_id": "\(response.share.shareID)"])
        return response
    }

    func rejectShare(
        _ request: Svx_Sharing_V1_RejectShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_RejectShareResponse {
        var response = Svx_Sharing_V1_RejectShareResponse()
        response.share = try decideIncoming(request.shareID, session, context, worker) { $0.reject(at: $1) }
        context.logger.info("share rejected", metadata: ["user_id": "\(session.userID)", "share_id": "\(response.share.shareID)"])
        return response
    }

    /// The recipient deletes its copy; on-shares it made live on until their own end.
    func deleteIncomingShare(
        _ request: Svx_Sharing_V1_DeleteIncomingShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_DeleteIncomingShareResponse {
        var response = Svx_Sharing_V1_DeleteIncomingShareResponse()
        response.share = try decideIncoming(request.shareID, session, context, worker) { $0.delete(at: $1) }
        context.logger.info("share deleted", metadata: ["user_id": "\(session.userID)", "share_id": "\(response.share.shareID)"])
        return response
    }

    /// A transition of the caller's incoming share `text`, decided by `transition` on the row read `FOR UPDATE`,
    /// written (a share found expired is stored as expired even when the answer is a refusal) with its audit events,
    /// and answered.
    private func decideIncoming(
        _ text: String, _ session: AuthenticatedSession, _ context: RequestContext, _ worker: ServiceWorker,
        accepted: Bool = false,
        _ transition: (inout ShareLifecycle, DatabaseInstant) -> ShareLifecycle.Decision
    ) throws -> Svx_Sharing_V1_Share {
        let shareID = try FieldValidation.uuid(text, field: "share_id")
        let userID = try session.userUUID
        let actor = try SharingActor(session, context)
        let outcome = try worker.database.transaction { db in try audited(db, by: actor) {
            events -> Result<Svx_Sharing_V1_Share, SharingRefusal> in
            guard let row = try Self.share(db, "s.recipient_id = $1", callerID: userID, shareID: shareID, lock: true) else {
                return .failure(.shareNotFound(field: "share_id"))
            }
            var lifecycle = row.lifecycle
            let decision = transition(&lifecycle, row.now)
            try Self.store(db, row, lifecycle, events: events, accepted: accepted && decision == .change)
            if case .refuse(let refusal) = decision { return .failure(refusal) }
            return .success(try Self.reread(db, ownerID: row.ownerID, shareID: row.shareID).wire(viewer: userID))
        } }
        return try outcome.mapError { $0.status }.get()
    }
}
