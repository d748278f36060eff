import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL

/// Connections: ListConnections, GetConnection, RenameConnection, DeleteConnection. A caller reaches only its own side
/// of a connection (`user_id` is always the caller); another user's connection ids are NOT_FOUND like unknown ones.
extension SharingService {
    /// The columns ``connection(_:)`` decodes (of `sharing.connections`, unqualified).
    static let connectionColumns = SharingQueries.connectionColumns

    static func connection(_ row: PostgresRow) throws -> Svx_Sharing_V1_Connection {
        var connection = Svx_Sharing_V1_Connection()
        connection.connectionID = try row.decode(UUID.self, at: 0).wire
        connection.otherUserID = try row.decode(UUID.self, at: 1).wire
        connection.otherUsername = try row.decode(String.self, at: 2)
        connection.ownKeypairID = try row.decode(UUID.self, at: 3).wire
        connection.ownPublicKeyPem = try row.decode(String.self, at: 4)
        connection.otherPublicKeyPem = try row.decode(String.self, at: 5)
        connection.otherKeySha256 = try row.decode(String.self, at: 6)
        connection.otherProof = try row.decode(String.self, at: 7)
        connection.ownProof = try row.decode(String.self, at: 8)
        connection.encryptedRecipientName = try row.decode(String.self, at: 9)
        connection.encryptedKeySecret = try row.decode(String.self, at: 10)
        connection.role = .init(rawValue: Int(try row.decode(Int32.self, at: 11))) ?? .unspecified
        connection.state = .init(rawValue: Int(try row.decode(Int32.self, at: 12))) ?? .unspecified
        connection.invitationID = try row.decode(UUID.self, at: 13).wire
        connection.createdAtMs = UInt64(max(0, try row.decode(Int64.self, at: 14)))
        connection.endedAtMs = UInt64(max(0, try row.decode(Int64?.self, at: 15) ?? 0))
        return connection
    }

    /// The caller's side `connectionID`.
    static func connection(_ db: PostgresConnection, userID: UUID, connectionID: UUID) throws -> Svx_Sharing_V1_Connection {
        let rows = try db.query(SharingQueries.connectionByID, userID, connectionID)
        guard let row = rows.first else { throw connectionNotFound }
        return try connection(row)
    }

    /// The one answer for another user's connection id and for an unknown one.
    static let connectionNotFound = RPCStatus.notFound("connection", field: "connection_id")

    func listConnections(
        _ request: Svx_Sharing_V1_ListConnectionsRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_ListConnectionsResponse {
        let state = try SharingValidation.connectionState(request.state)
        let pageSize = try FieldValidation.pageSize(request.pageSize)
        let before = try FieldValidation.pageToken(request.pageToken)
        sweepIfDue(context, worker)
        let rows = try worker.database.query(
            """
            SELECT \(Self.connectionColumns) FROM sharing.connections
            WHERE user_id = $1 AND ($2::uuid IS NULL OR connection_id < $2::uuid) AND ($3::int IS NULL OR state = $3::int)
            ORDER BY connection_id DESC LIMIT $4
            """, try session.userUUID, before, state?.rawValue, pageSize + 1)
        var response = Svx_Sharing_V1_ListConnectionsResponse()
        response.connections = try rows.prefix(pageSize).map(Self.connection)
        if rows.count > pageSize, let last = response.connections.last { response.nextPageToken = last.connectionID }
        return response
    }

    func getConnection(
        _ request: Svx_Sharing_V1_GetConnectionRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_GetConnectionResponse {
        let id = try FieldValidation.uuid(request.connectionID, field: "connection_id")
        var response = Svx_Sharing_V1_GetConnectionResponse()
        response.connection = try Self.connection(worker.database, userID: try session.userUUID, connectionID: id)
        return response
    }

    /// The caller's own name for the other side; an ended connection may be renamed too (the name is the caller's
    /// label of its history).
    func renameConnection(
        _ request: Svx_Sharing_V1_RenameConnectionRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_RenameConnectionResponse {
        let id = try FieldValidation.uuid(request.connectionID, field: "connection_id")
        let name = try SharingValidation.encryptedName(request.encryptedRecipientName)
        let rows = try worker.database.query(
            """
            UPDATE sharing.connections SET encrypted_recipient_name = $3 WHERE user_id = $1 AND connection_id = $2
            RETURNING \(Self.connectionColumns)
            """, try session.userUUID, id, name)
        guard let row = rows.first else { throw Self.connectionNotFound }
        var response = Svx_Sharing_V1_RenameConnectionResponse()
        response.connection = try Self.connection(row)
        return response
    }

    /// Ends both sides (ConnectionLifecycle.end): under both users' locks, with both rows read `FOR UPDATE`, so a
    /// delete from each side at once ends it once and the second is `connection_ended`. Every live share sent over
    /// it, in either direction, is revoked in the same transaction (reason `connection_ended`; on-shares made from
    /// them `parent_revoked`), and CreateShare, which runs under the sender's lock, cannot slip one in meanwhile.
    func deleteConnection(
        _ request: Svx_Sharing_V1_DeleteConnectionRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_DeleteConnectionResponse {
        let id = try FieldValidation.uuid(request.connectionID, field: "connection_id")
        let userID = try session.userUUID
        let actor = try SharingActor(session, context)
        let outcome = try worker.database.transaction { db in try audited(db, by: actor) {
            events -> Result<(Svx_Sharing_V1_Connection, Int), SharingRefusal> in
            // Who the other side is never changes: read it first, lock both users, then read both rows locked.
            let sides = try db.query(
                "SELECT other_user_id, other_connection_id FROM sharing.connections WHERE user_id = $1 AND connection_id = $2",
                userID, id)
            guard let side = sides.first else { throw Self.connectionNotFound }
            let otherUserID = try side.decode(UUID.self, at: 0)
            let otherConnectionID = try side.decode(UUID.self, at: 1)
            try Self.lockUsers(db, [userID, otherUserID])
            let rows = try db.query(
                """
                SELECT user_id, state FROM sharing.connections
                WHERE (user_id = $1 AND connection_id = $2) OR (user_id = $3 AND connection_id = $4)
                ORDER BY user_id FOR UPDATE
                """, userID, id, otherUserID, otherConnectionID)
            var states: [UUID: ConnectionLifecycle.State] = [:]
            for row in rows {
                states[try row.decode(UUID.self, at: 0)] = ConnectionLifecycle.State(rawValue: try row.decode(Int32.self, at: 1))
            }
            guard let own = states[userID] else { throw Self.connectionNotFound }
            var lifecycle = ConnectionLifecycle(own: own, other: states[otherUserID])
            switch lifecycle.end() {
            case .refuse(let refusal):
                return .failure(refusal)
            case .end(let otherSide):
                let ended = ConnectionLifecycle.State.ended.rawValue
                _ = try db.execute(
                    """
                    UPDATE sharing.connections SET state = $3, ended_at = now(), ended_by = $1
                    WHERE user_id = $1 AND connection_id = $2
                    """, userID, id, ended)
                if otherSide {
                    _ = try db.execute(
                        """
                        UPDATE sharing.connections SET state = $3, ended_at = now(), ended_by = $4
                        WHERE user_id = $1 AND connection_id = $2
                        """, otherUserID, otherConnectionID, ended, userID)
                }
                // `connection.ended` on each side ended, naming who ended it; then the shares' ends.
                for (side, connectionID, other) in [(userID, id, otherUserID), (otherUserID, otherConnectionID, userID)]
                where side == userID || otherSide {
                    events.record(
                        "connection.ended", for: side, subjectType: "connection", subjectID: connectionID,
                        details: ["other_user_id": other.wire, "ended_by": userID.wire])
                }
                let roots = try db.query(
                    """
                    SELECT owner_id, share_id FROM sharing.shares
                    WHERE (sender_id = $1 AND sender_connection_id = $2) OR (sender_id = $3 AND sender_connection_id = $4)
                    """, userID, id, otherUserID, otherConnectionID
                ).map { (ownerID: try $0.decode(UUID.self, at: 0), shareID: try $0.decode(UUID.self, at: 1)) }
                let revoked = try Self.revokeTrees(db, roots: roots, rootReason: .connectionEnded, events: events)
                return .success((try Self.connection(db, userID: userID, connectionID: id), revoked))
            }
        } }
        let (connection, revoked) = try outcome.mapError { $0.status }.get()
        context.logger.info(
            "connection ended",
            metadata: ["user_id": "\(session.userID)", "connection_id": "\(id.wire)", "revoked_shares": "\(revoked)"])
        var response = Svx_Sharing_V1_DeleteConnectionResponse()
        response.connection = connection
        response.revokedShares = UInt32(revoked)
        return response
    }
}
