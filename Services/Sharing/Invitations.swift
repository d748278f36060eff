import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL

/// An invitation's row as read, with the database clock of the statement that read it.
struct InvitationRow {
    let invitationID: UUID
    let inviterUsername: String
    let inviterKeypairID: UUID
    let inviterPublicKeyPEM: String
    let inviterKeySHA256: String
    let inviterProof: String
    let encryptedRecipientName: String
    let encryptedKeySecret: String
    let createdAtMs: Int64
    let decidedAtMs: Int64?
    let acceptedBy: UUID?
    let acceptedByUsername: String?
    let connectionID: UUID?
    /// What the decisions are made on.
    let lifecycle: InvitationLifecycle
    /// The database clock when the row was read.
    let now: DatabaseInstant

    /// The columns ``init(_:)`` decodes (of `sharing.invitations`, unqualified).
    static let columns = SharingQueries.invitationColumns

    init(_ row: PostgresRow) throws {
        invitationID = try row.decode(UUID.self, at: 0)
        inviterUsername = try row.decode(String.self, at: 2)
        inviterKeypairID = try row.decode(UUID.self, at: 3)
        inviterPublicKeyPEM = try row.decode(String.self, at: 4)
        inviterKeySHA256 = try row.decode(String.self, at: 5)
        inviterProof = try row.decode(String.self, at: 6)
        encryptedRecipientName = try row.decode(String.self, at: 7)
        encryptedKeySecret = try row.decode(String.self, at: 8)
        guard let state = InvitationLifecycle.State(rawValue: try row.decode(Int32.self, at: 10)) else {
            throw try row.cell(at: 10).error("unknown invitation state")
        }
        lifecycle = InvitationLifecycle(
            stored: state, inviterID: try row.decode(UUID.self, at: 1), tokenSHA256: try row.decode([UInt8]?.self, at: 11),
            intendedUsername: try row.decode(String?.self, at: 9), expiresAt: try row.decode(Int64.self, at: 12))
        createdAtMs = try row.decode(Int64.self, at: 13)
        decidedAtMs = try row.decode(Int64?.self, at: 14)
        acceptedBy = try row.decode(UUID?.self, at: 15)
        acceptedByUsername = try row.decode(String?.self, at: 16)
        connectionID = try row.decode(UUID?.self, at: 17)
        now = try row.decode(Int64.self, at: 18)
    }

    /// The invitation as its inviter sees it: the state at the time it was read (EXPIRED at once when its time has
    /// come), never the token or its hash.
    var wire: Svx_Sharing_V1_Invitation {
        var invitation = Svx_Sharing_V1_Invitation()
        invitation.invitationID = invitationID.wire
        invitation.inviterID = lifecycle.inviterID.wire
        invitation.inviterKeypairID = inviterKeypairID.wire
        invitation.inviterPublicKeyPem = inviterPublicKeyPEM
        invitation.inviterProof = inviterProof
        invitation.encryptedRecipientName = encryptedRecipientName
        invitation.encryptedKeySecret = encryptedKeySecret
        invitation.intendedUsername = lifecycle.intendedUsername ?? ""
        invitation.state = .init(rawValue: Int(lifecycle.state(at: now).rawValue)) ?? .unspecified
        invitation.expiresAtMs = UInt64(max(0, lifecycle.expiresAt / 1000))
        invitation.createdAtMs = UInt64(max(0, createdAtMs))
        invitation.decidedAtMs = UInt64(max(0, decidedAtMs ?? 0))
        invitation.acceptedByUserID = acceptedBy?.wire ?? ""
        invitation.acceptedByUsername = acceptedByUsername ?? ""
        invitation.connectionID = connectionID?.wire ?? ""
        return invitation
    }
}

/// Invitations: CreateInvitation, GetInvitation, AcceptInvitation, ListInvitations, RevokeInvitation.
extension SharingService {
    func createInvitation(
        _ request: Svx_Sharing_V1_CreateInvitationRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_CreateInvitationResponse {
        let valid = try SharingValidation.newInvitation(request, caller: session.username)
        let userID = try session.userUUID
        let fingerprint = try confirmOwnKey(valid.key, context)
        sweepIfDue(context, worker)
        var token = try SecureRandom.bytes(count: SharingValidation.tokenBytes)
        defer { secureZero(&token) }
        let invitationID = try TimeOrderedID.make()
        let actor = try SharingActor(session, context)
        let row = try SharingRefusal.answering {
            try worker.database.transaction { db in try audited(db, by: actor) { events in
                try Self.lockUsers(db, [userID])
                try Self.expireInvitations(db, inviterID: userID, events: events)
                let room = try db.query(
                    """
                    SELECT count(*), \(Self.epochMicroseconds("min(expires_at)")), \(Self.epochMicroseconds("now()"))
                    FROM sharing.invitations WHERE inviter_id = $1 AND state = 1 AND expires_at > now()
                    """, userID)[0]
                try InvitationLifecycle.admitNewInvitation(
                    pending: try room.decode(Int.self, at: 0), limit: maximumPendingInvitations,
                    earliestExpiry: try room.decode(Int64?.self, at: 1), at: try room.decode(Int64.self, at: 2))
                let inserted = try db.query(
                    """
                    INSERT INTO sharing.invitations (inviter_id, invitation_id, token_sha256, inviter_username,
                        inviter_keypair_id, inviter_public_key_pem, inviter_key_sha256, encrypted_recipient_name,
                        encrypted_key_secret, inviter_proof, intended_username, state, expires_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, now() + $12::bigint * interval '1 millisecond')
                    RETURNING \(InvitationRow.columns)
                    """, userID, invitationID, HashFunction.sha256.hash(token), session.username, valid.key.keypairID,
                    valid.key.pem, fingerprint, valid.encryptedName, valid.encryptedKeySecret, valid.inviterProof,
                    valid.intendedUsername, valid.expiresInMilliseconds)
                events.record(
                    "invitation.created", for: userID, subjectType: "invitation", subjectID: invitationID,
                    details: ["keypair_id": valid.key.keypairID.wire])
                return try InvitationRow(inserted[0])
            } }
        }
        context.logger.info(
            "invitation created", metadata: ["user_id": "\(session.userID)", "invitation_id": "\(invitationID.wire)"])
        var response = Svx_Sharing_V1_CreateInvitationResponse()
        response.invitation = row.wire
        response.token = Base58.encode(token)
        return response
    }

    /// The invitation `reference` names, if its token opens it now; NOT_FOUND with one message otherwise.
    func getInvitation(
        _ request: Svx_Sharing_V1_GetInvitationRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_GetInvitationResponse {
        let reference = try SharingValidation.invitationReference(
            inviterID: request.inviterID, invitationID: request.invitationID, token: request.token)
        let row = try SharingRefusal.answering { () throws -> InvitationRow in
            let rows = try worker.database.query(
                "SELECT \(InvitationRow.columns) FROM sharing.invitations WHERE inviter_id = $1 AND invitation_id = $2",
                reference.inviterID, reference.invitationID)
            guard let row = try rows.first.map(InvitationRow.init) else { throw SharingRefusal.invitationNotFound }
            try row.lifecycle.open(presenting: reference.presentedTokenSHA256, at: row.now)
            return row
        }
        var response = Svx_Sharing_V1_GetInvitationResponse()
        response.inviterPublicKeyPem = row.inviterPublicKeyPEM
        response.inviterProof = row.inviterProof
        response.inviterUsername = row.inviterUsername
        response.expiresAtMs = UInt64(max(0, row.lifecycle.expiresAt / 1000))
        response.intendedUsername = row.lifecycle.intendedUsername ?? ""
        return response
    }

    func acceptInvitation(
        _ request: Svx_Sharing_V1_AcceptInvitationRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_AcceptInvitationResponse {
        let valid = try SharingValidation.acceptance(request)
        let reference = valid.invitation
        let userID = try session.userUUID
        let fingerprint = try confirmOwnKey(valid.key, context)
        sweepIfDue(context, worker)
        let inviterConnectionID = try TimeOrderedID.make()
        let inviteeConnectionID = try TimeOrderedID.make()
        let actor = try SharingActor(session, context)
        let connection: Svx_Sharing_V1_Connection
        do {
            connection = try SharingRefusal.answering {
                try worker.database.transaction { db in try audited(db, by: actor) { events in
                    try Self.lockUsers(db, [userID, reference.inviterID])
                    let rows = try db.query(SharingQueries.invitationForUpdate, reference.inviterID, reference.invitationID)
                    guard let row = try rows.first.map(InvitationRow.init) else { throw SharingRefusal.invitationNotFound }
                    let pair = try db.query(SharingQueries.acceptanceCounts, reference.inviterID, userID)[0]
                    var lifecycle = row.lifecycle
                    let acceptance = InvitationLifecycle.Acceptance(
                        callerID: userID, callerUsername: session.username,
                        presentedTokenSHA256: reference.presentedTokenSHA256,
                        alreadyConnected: try pair.decode(Bool.self, at: 2),
                        inviterConnections: try pair.decode(Int.self, at: 0),
                        inviteeConnections: try pair.decode(Int.self, at: 1),
                        maximumConnections: maximumConnections)
                    switch lifecycle.accept(acceptance, at: row.now) {
                    case .refuse(let refusal):
                        throw refusal
                    case .connect:
                        Self.recordConnection(
                            events, invitationID: reference.invitationID, inviter: (reference.inviterID, inviterConnectionID),
                            invitee: (userID, inviteeConnectionID))
                        return try Self.connect(
                            db, row, stored: lifecycle.stored,
                            inviter: (reference.inviterID, inviterConnectionID),
                            invitee: (userID, inviteeConnectionID, session.username, valid, fingerprint))
                    }
                } }
            }
        } catch let error as DatabaseError where error.kind == .uniqueViolation {
            // The pair's unique active connection: the check above runs under both users' locks, so only a writer
            // that takes no lock could get here; answered as the check would have.
            throw SharingRefusal.alreadyConnected.status
        }
        context.logger.info(
            "invitation accepted",
            metadata: [
                "user_id": "\(session.userID)", "invitation_id": "\(reference.invitationID.wire)",
                "connection_id": "\(inviteeConnectionID.wire)",
            ])
        var response = Svx_Sharing_V1_AcceptInvitationResponse()
        response.connection = connection
        return response
    }

    /// The events of an acceptance: `invitation.accepted` and `connection.created` on the inviter's chain,
    /// `connection.created` on the invitee's (the invitation is the inviter's; the invitee's event names it).
    private static func recordConnection(
        _ events: SharingAuditEvents, invitationID: UUID, inviter: (userID: UUID, connectionID: UUID),
        invitee: (userID: UUID, connectionID: UUID)
    ) {
        events.record(
            "invitation.accepted", for: inviter.userID, subjectType: "invitation", subjectID: invitationID,
            details: ["accepted_by": invitee.userID.wire, "connection_id": inviter.connectionID.wire])
        for (side, other, role) in [(inviter, invitee, "inviter"), (invitee, inviter, "invitee")] {
            events.record(
                "connection.created", for: side.userID, subjectType: "connection", subjectID: side.connectionID,
                details: ["other_user_id": other.userID.wire, "invitation_id": invitationID.wire, "role": role])
        }
    }

    /// Writes an acceptance: both sides' connection rows, and the invitation as `stored` (ACCEPTED) without its token
    /// hash. Returns the invitee's side.
    private static func connect(
        _ db: PostgresConnection, _ invitation: InvitationRow, stored: InvitationLifecycle.State,
        inviter: (userID: UUID, connectionID: UUID),
        invitee: (userID: UUID, connectionID: UUID, username: String, request: SharingValidation.Acceptance, fingerprint: String)
    ) throws -> Svx_Sharing_V1_Connection {
        let insert = SharingQueries.insertConnection
        let key = invitee.request.key
        _ = try db.execute(
            insert, inviter.userID, inviter.connectionID, invitee.userID, invitee.username, invitee.connectionID,
            invitation.invitationID, ConnectionLifecycle.Role.inviter.rawValue, invitation.inviterKeypairID,
            invitation.inviterPublicKeyPEM, invitation.inviterProof, key.keypairID, key.pem, invitee.fingerprint,
            invitee.request.inviteeProof, invitation.encryptedRecipientName, invitation.encryptedKeySecret)
        _ = try db.execute(
            insert, invitee.userID, invitee.connectionID, inviter.userID, invitation.inviterUsername, inviter.connectionID,
            invitation.invitationID, ConnectionLifecycle.Role.invitee.rawValue, key.keypairID, key.pem,
            invitee.request.inviteeProof, invitation.inviterKeypairID, invitation.inviterPublicKeyPEM,
            invitation.inviterKeySHA256, invitation.inviterProof, invitee.request.encryptedName,
            invitee.request.encryptedKeySecret)
        _ = try db.execute(
            SharingQueries.markInvitationAccepted, inviter.userID, invitation.invitationID, stored.rawValue, invitee.userID, invitee.username,
            inviter.connectionID)
        return try connection(db, userID: invitee.userID, connectionID: invitee.connectionID)
    }

    func listInvitations(
        _ request: Svx_Sharing_V1_ListInvitationsRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_ListInvitationsResponse {
        let state = try SharingValidation.invitationState(request.state)
        let pageSize = try FieldValidation.pageSize(request.pageSize)
        let before = try FieldValidation.pageToken(request.pageToken)
        let userID = try session.userUUID
        sweepIfDue(context, worker)
        // The caller's own invitations whose time has come are stored as expired first (their token hashes go).
        let actor = try SharingActor(session, context)
        _ = try worker.database.transaction { db in
            try audited(db, by: actor) { events in try Self.expireInvitations(db, inviterID: userID, events: events) }
        }
        // The filter is the state as answered (InvitationLifecycle.state(at:)), at the statement's own clock.
        let filter = switch state {
        case nil: "true"
        case .pending?: "state = 1 AND expires_at > now()"
        case .expired?: "(state = 4 OR (state = 1 AND expires_at <= now()))"
        case let other?: "state = \(other.rawValue)"
        }
        let rows = try worker.database.query(
            """
            SELECT \(InvitationRow.columns) FROM sharing.invitations
            WHERE inviter_id = $1 AND ($2::uuid IS NULL OR invitation_id < $2::uuid) AND \(filter)
            ORDER BY invitation_id DESC LIMIT $3
            """, userID, before, pageSize + 1)
        var response = Svx_Sharing_V1_ListInvitationsResponse()
        response.invitations = try rows.prefix(pageSize).map { try InvitationRow($0).wire }
        if rows.count > pageSize, let last = response.invitations.last { response.nextPageToken = last.invitationID }
        return response
    }

    func revokeInvitation(
        _ request: Svx_Sharing_V1_RevokeInvitationRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_RevokeInvitationResponse {
        let invitationID = try FieldValidation.uuid(request.invitationID, field: "invitation_id")
        let userID = try session.userUUID
        // The refusal comes after the commit: an expired invitation found here is stored as expired all the same.
        let actor = try SharingActor(session, context)
        let outcome = try worker.database.transaction { db in try audited(db, by: actor) {
            events -> Result<InvitationRow, SharingRefusal> in
            let rows = try db.query(
                """
                SELECT \(InvitationRow.columns) FROM sharing.invitations
                WHERE inviter_id = $1 AND invitation_id = $2 FOR UPDATE
                """, userID, invitationID)
            guard let row = try rows.first.map(InvitationRow.init) else { return .failure(.invitationNotFound) }
            var lifecycle = row.lifecycle
            switch lifecycle.revoke(at: row.now) {
            case .revoke:
                let updated = try db.query(
                    """
                    UPDATE sharing.invitations SET state = $3, token_sha256 = NULL, decided_at = now()
                    WHERE inviter_id = $1 AND invitation_id = $2 RETURNING \(InvitationRow.columns)
                    """, userID, invitationID, lifecycle.stored.rawValue)
                events.record("invitation.revoked", for: userID, subjectType: "invitation", subjectID: invitationID)
                return .success(try InvitationRow(updated[0]))
            case .refuse(let refusal):
                if lifecycle.expire(at: row.now) {
                    try Self.storeExpired(db, [(userID, invitationID)], events: events)
                }
                return .failure(refusal)
            }
        } }
        let row = try outcome.mapError { $0.status }.get()
        context.logger.info(
            "invitation revoked", metadata: ["user_id": "\(session.userID)", "invitation_id": "\(invitationID.wire)"])
        var response = Svx_Sharing_V1_RevokeInvitationResponse()
        response.invitation = row.wire
        return response
    }
}
