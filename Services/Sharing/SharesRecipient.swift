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
    /// be read before accepting). `include_content`: the slots as well, only while ACTIVE; the fetch is counted under
    /// the row's lock and the `max_content_fetches`-th moves it to CONSUMED in the same transaction, so concurrent
    /// view-once fetches give the content to exactly one.
    func getIncomingShare(
        _ request: Svx_Sharing_V1_GetIncomingShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_GetIncomingShareResponse {
        let shareID = try FieldValidation.uuid(request.shareID, field: "share_id")
        let userID = try session.userUUID
        var response = Svx_Sharing_V1_GetIncomingShareResponse()
        guard request.includeContent else {
            guard let row = try Self.share(worker.database, "s.recipient_id = $1", callerID: userID, shareID: shareID, lock: false)
            else { throw SharingRefusal.shareNotFound(field: "share_id").status }
            response.share = row.wire(viewer: userID)
            if row.state.isLive { Self.putKeys(row, into: &response) }
            return response
        }
        let outcome = try worker.database.transaction { db -> Result<Svx_Sharing_V1_GetIncomingShareResponse, SharingRefusal> in
            guard let row = try Self.share(db, "s.recipient_id = $1", callerID: userID, shareID: shareID, lock: true) else {
                return .failure(.shareNotFound(field: "share_id"))
            }
            var lifecycle = row.lifecycle
            if case .refuse(let refusal) = lifecycle.fetchContent(at: row.now) {
                try Self.store(db, row, lifecycle)
                return .failure(refusal)
            }
            // The fetch stored and the content read in one statement (the content as it was before it: the last
            // permitted fetch then deletes it). A share with no fetch limit commits without waiting for the WAL
            // flush: a crash of PostgreSQL may lose the last moment's fetch counts, never a limited share's.
            let fetched = try db.query(
                SharingQueries.recordContentFetch, row.ownerID, row.shareID, lifecycle.stored.rawValue,
                lifecycle.endReason?.rawValue, Int32(lifecycle.contentFetches),
                lifecycle.maxContentFetches == 0 && lifecycle.stored.isLive ? "off" : "on")
            guard let first = fetched.first else { throw RPCStatus(.internal, "internal error") }
            let slotColumn = SharingQueries.shareColumnCount
            var item = Svx_Sharing_V1_SharedItem()
            item.label = row.itemLabel
            item.templateName = row.templateName
            item.itemVersion = UInt64(max(0, row.itemVersion))
            item.slots = try fetched.compactMap { slotRow in
                guard let slotID = try slotRow.decode(UUID?.self, at: slotColumn) else { return nil }
                var slot = Svx_Sharing_V1_ShareSlot()
                slot.slotID = slotID.wire
                slot.name = try slotRow.decode(String.self, at: slotColumn + 1)
                slot.label = try slotRow.decode(String.self, at: slotColumn + 2)
                slot.slotType = try slotRow.decode(String.self, at: slotColumn + 3)
                slot.ordinal = try slotRow.decode(Int32.self, at: slotColumn + 4)
                slot.encryptedValue = try slotRow.decode(String.self, at: slotColumn + 5)
                slot.encryptedValueVerificationKey = try slotRow.decode(String.self, at: slotColumn + 6)
                slot.valueVerificationHash = try slotRow.decode(String.self, at: slotColumn + 7)
                return slot
            }
            if lifecycle.endsContent(from: row.lifecycle) { try Self.deleteContent(db, row) }
            var answer = Svx_Sharing_V1_GetIncomingShareResponse()
            answer.share = try ShareRow(first).wire(viewer: userID)
            Self.putKeys(row, into: &answer)
            answer.item = item
            return .success(answer)
        }
        response = try outcome.mapError { $0.status }.get()
        if response.share.state == .consumed {
            context.logger.info("share consumed", metadata: ["user_id": "\(session.userID)", "share_id": "\(shareID.wire)"])
        }
        return response
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
        response.share = try decideIncoming(request.shareID, session, worker, accepted: true) { $0.accept(at: $1) }
        context.logger.info("share accepted", metadata: ["user_id": "\(session.userID)", "share_id": "\(response.share.shareID)"])
        return response
    }

    func rejectShare(
        _ request: Svx_Sharing_V1_RejectShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_RejectShareResponse {
        var response = Svx_Sharing_V1_RejectShareResponse()
        response.share = try decideIncoming(request.shareID, session, worker) { $0.reject(at: $1) }
        context.logger.info("share rejected", metadata: ["user_id": "\(session.userID)", "share_id": "\(response.share.shareID)"])
        return response
    }

    /// The recipient deletes its copy; on-shares it made live on until their own end.
    func deleteIncomingShare(
        _ request: Svx_Sharing_V1_DeleteIncomingShareRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_DeleteIncomingShareResponse {
        var response = Svx_Sharing_V1_DeleteIncomingShareResponse()
        response.share = try decideIncoming(request.shareID, session, worker) { $0.delete(at: $1) }
        context.logger.info("share deleted", metadata: ["user_id": "\(session.userID)", "share_id": "\(response.share.shareID)"])
        return response
    }

    /// A transition of the caller's incoming share `text`, decided by `transition` on the row read `FOR UPDATE`,
    /// written (a share found expired is stored as expired even when the answer is a refusal), and answered.
    private func decideIncoming(
        _ text: String, _ session: AuthenticatedSession, _ worker: ServiceWorker, accepted: Bool = false,
        _ transition: (inout ShareLifecycle, DatabaseInstant) -> ShareLifecycle.Decision
    ) throws -> Svx_Sharing_V1_Share {
        let shareID = try FieldValidation.uuid(text, field: "share_id")
        let userID = try session.userUUID
        let outcome = try worker.database.transaction { db -> Result<Svx_Sharing_V1_Share, SharingRefusal> in
            guard let row = try Self.share(db, "s.recipient_id = $1", callerID: userID, shareID: shareID, lock: true) else {
                return .failure(.shareNotFound(field: "share_id"))
            }
            var lifecycle = row.lifecycle
            let decision = transition(&lifecycle, row.now)
            try Self.store(db, row, lifecycle, accepted: accepted && decision == .change)
            if case .refuse(let refusal) = decision { return .failure(refusal) }
            return .success(try Self.reread(db, ownerID: row.ownerID, shareID: row.shareID).wire(viewer: userID))
        }
        return try outcome.mapError { $0.status }.get()
    }
}
