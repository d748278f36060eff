import Foundation
import SVXRPC
import SVXService
import SVXStore

/// What time does to Sharing's rows (docs/ADR-008-sharing.md, "Housekeeping"): a pending invitation whose time has
/// come is answered as expired at once (InvitationLifecycle.state(at:)), and stored as expired, its token hash
/// dropped, by the first of: its inviter's next CreateInvitation, ListInvitations or RevokeInvitation of it, or the
/// sweep every process runs at its first request and then every ``sweepInterval``. A live share whose time has come
/// is likewise answered as expired at once (ShareLifecycle.state(at:)), and stored as expired, its ciphertext
/// dropped, by the first change or content fetch of it or by the sweep. The sweep also deletes invitations settled
/// (accepted, revoked, expired), connections ended and share tombstones ended more than ``retention`` ago.
extension SharingService {
    static let sweepInterval: Duration = .seconds(600)
    /// How long settled invitations and ended connections are kept, as SQL.
    static let retention = "30 days"
    /// Invitations stored as expired per statement (the sweep repeats up to ``sweepRounds`` times).
    static let expiryBatch = 500
    static let sweepRounds = 20

    /// Stores as expired, without their token hashes, the pending invitations whose time has come: the inviter's
    /// (`inviterID`) or anyone's (nil, at most ``expiryBatch``). Each row is decided by
    /// ``InvitationLifecycle/expire(at:)``; rows locked by a request in flight are left for later. Each expiry is an
    /// `invitation.expired` on its inviter's chain (`events`). Returns how many.
    @discardableResult
    static func expireInvitations(_ db: PostgresConnection, inviterID: UUID?, events: SharingAuditEvents) throws -> Int {
        let rows = try db.query(
            """
            SELECT \(InvitationRow.columns) FROM sharing.invitations
            WHERE ($1::uuid IS NULL OR inviter_id = $1::uuid) AND state = 1 AND expires_at <= now()
            ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
            """, inviterID, expiryBatch)
        var expired: [(inviterID: UUID, invitationID: UUID)] = []
        for row in rows {
            let invitation = try InvitationRow(row)
            var lifecycle = invitation.lifecycle
            if lifecycle.expire(at: invitation.now) { expired.append((lifecycle.inviterID, invitation.invitationID)) }
        }
        try storeExpired(db, expired, events: events)
        return expired.count
    }

    /// Stores as expired up to ``expiryBatch`` live shares whose time has come, each decided by
    /// ``ShareLifecycle/expire(at:)``, their slots and wrapped keys dropped; rows locked by a request in flight are
    /// left for later. Each expiry is a `share.expired` on both sides' chains (`events`). Returns how many.
    @discardableResult
    static func expireShares(_ db: PostgresConnection, events: SharingAuditEvents) throws -> Int {
        let rows = try db.query(
            """
            SELECT \(ShareRow.columns) FROM sharing.shares s
            WHERE s.state IN (1, 2) AND s.expires_at <= now()
            ORDER BY s.expires_at LIMIT $1 FOR UPDATE OF s SKIP LOCKED
            """, expiryBatch)
        var expired = 0
        for row in try rows.map(ShareRow.init) {
            var lifecycle = row.lifecycle
            if lifecycle.expire(at: row.now) {
                try store(db, row, lifecycle, events: events)
                expired += 1
            }
        }
        return expired
    }

    /// Writes what ``InvitationLifecycle/expire(at:)`` decided for `invitations` (rows the caller has locked), and an
    /// `invitation.expired` on each inviter's chain.
    static func storeExpired(
        _ db: PostgresConnection, _ invitations: [(inviterID: UUID, invitationID: UUID)], events: SharingAuditEvents
    ) throws {
        guard !invitations.isEmpty else { return }
        for invitation in invitations {
            events.record(
                "invitation.expired", for: invitation.inviterID, subjectType: "invitation", subjectID: invitation.invitationID,
                attributed: false)
        }
        _ = try db.execute(
            """
            UPDATE sharing.invitations SET state = $3, token_sha256 = NULL
            WHERE (inviter_id, invitation_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) AND state = 1
            """, uuidArrayLiteral(invitations.map(\.inviterID)), uuidArrayLiteral(invitations.map(\.invitationID)),
            InvitationLifecycle.State.expired.rawValue)
    }

    /// Everyone's housekeeping, at the first request of the process and then at most once per ``sweepInterval``. A
    /// failure is logged and never fails the request.
    func sweepIfDue(_ context: RequestContext, _ worker: ServiceWorker) {
        let now = ContinuousClock.now
        let due = lastSweep.withLock { last -> Bool in
            if let last, now - last < Self.sweepInterval { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            var expired = 0
            for _ in 0..<Self.sweepRounds {
                let batch = try worker.database.transaction { db in
                    try audited(db, by: nil) { events in try Self.expireInvitations(db, inviterID: nil, events: events) }
                }
                expired += batch
                if batch < Self.expiryBatch { break }
            }
            var sharesExpired = 0
            for _ in 0..<Self.sweepRounds {
                let batch = try worker.database.transaction { db in
                    try audited(db, by: nil) { events in try Self.expireShares(db, events: events) }
                }
                sharesExpired += batch
                if batch < Self.expiryBatch { break }
            }
            let invitations = try worker.database.execute(
                """
                DELETE FROM sharing.invitations
                WHERE state <> 1 AND coalesce(decided_at, expires_at) < now() - interval '\(Self.retention)'
                """)
            let connections = try worker.database.execute(
                "DELETE FROM sharing.connections WHERE state = 2 AND ended_at < now() - interval '\(Self.retention)'")
            let tombstones = try worker.database.execute(
                "DELETE FROM sharing.shares WHERE state NOT IN (1, 2) AND ended_at < now() - interval '\(Self.retention)'")
            let fileWindows = try worker.database.execute(
                "DELETE FROM sharing.consumed_share_files WHERE readable_until <= now()")
            if expired + invitations + connections + sharesExpired + tombstones + fileWindows > 0 {
                context.logger.info(
                    "sharing housekeeping",
                    metadata: [
                        "invitations_expired": "\(expired)", "invitations_deleted": "\(invitations)",
                        "connections_deleted": "\(connections)", "shares_expired": "\(sharesExpired)",
                        "share_tombstones_deleted": "\(tombstones)",
                        "consumed_file_windows_closed": "\(fileWindows)",
                    ])
            }
        } catch {
            context.logger.warning("sharing housekeeping failed", metadata: ["error_type": "\(type(of: error))"])
        }
    }
}
