import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL
import Synchronization

/// Every Sharing method (handlers by concern: Invitations, Connections, Shares, ShareUpdates, SharesRecipient and
/// SharedEntityDeletions (what the Vault calls when it deletes); the Keystore
/// check in KeystorePeer and the Vault's outlines in VaultPeer; the decisions in InvitationLifecycle,
/// ConnectionLifecycle and ShareLifecycle; housekeeping in Housekeeping).
/// docs/ADR-008-sharing.md.
///
/// Concurrency: a change that counts a user's rows against a cap, or that joins or parts two users, runs under the
/// advisory lock of each user involved (``lockUsers(_:_:)``), taken before any row lock; the invitation or
/// connection rows it decides on are then read `FOR UPDATE`. So two acceptances of one invitation run one after the
/// other (the second finds it accepted: NOT_FOUND), the caps cannot be overrun by concurrent calls, and two
/// acceptances between the same two users cannot both connect them.
final class SharingService: Sendable {
    let configuration: SharingConfiguration
    /// The Keystore, asked with the caller's session whether the keypair and public key a caller names are its own
    /// (KeystorePeer.swift); nil when `SVX_KEYSTORE_ENDPOINT` is `none` (CreateInvitation and AcceptInvitation then
    /// answer UNAVAILABLE).
    let keystore: PeerClient?
    /// The Vault, asked with the caller's session for the outline of an item the caller shares (VaultPeer.swift); nil
    /// when `SVX_VAULT_ENDPOINT` is `none` (CreateShare of an owned item then answers UNAVAILABLE).
    let vault: PeerClient?
    /// When this process last ran everyone's housekeeping (``sweepIfDue(_:_:)``).
    let lastSweep = Mutex<ContinuousClock.Instant?>(nil)
    /// Content fetches of unlimited shares not yet written to their rows (ContentFetchLog.swift).
    let contentFetches = ContentFetchLog()
    /// The users' audit trail in the `sharing` schema (SharingAudit.swift, docs/ADR-010-audit.md): every change is
    /// recorded on the chain of each user it concerns, in the change's own transaction.
    let audit: AuditTrail

    init(
        configuration: SharingConfiguration = .init(), keystore: PeerClient?, vault: PeerClient? = nil,
        audit: AuditTrail = AuditTrail(service: "sharing", schema: "sharing")
    ) {
        self.configuration = configuration
        self.keystore = keystore
        self.vault = vault
        self.audit = audit
    }

    func register(_ routes: ServiceRoutes) {
        routes.registerAuthenticated(SharingRPC.createInvitation) { [self] in try createInvitation($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.getInvitation) { [self] in try getInvitation($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.acceptInvitation) { [self] in try acceptInvitation($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.listInvitations) { [self] in try listInvitations($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.revokeInvitation) { [self] in try revokeInvitation($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.listConnections) { [self] in try listConnections($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.getConnection) { [self] in try getConnection($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.renameConnection) { [self] in try renameConnection($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.deleteConnection) { [self] in try deleteConnection($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.createShare) { [self] in try createShare($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.listOutgoingShares) { [self] in try listOutgoingShares($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.listItemShares) { [self] in try listItemShares($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.revokeShare) { [self] in try revokeShare($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.updateShares) { [self] in try updateShares($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.listIncomingShares) { [self] in try listIncomingShares($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.getIncomingShare) { [self] in try getIncomingShare($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.acceptShare) { [self] in try acceptShare($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.rejectShare) { [self] in try rejectShare($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.deleteIncomingShare) { [self] in try deleteIncomingShare($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.getSharedAttachmentBlock) { [self] in try getSharedAttachmentBlock($0, $1, $2, $3) }
        routes.registerAuthenticated(SharingRPC.forgetSharedEntities, peers: ["vault"]) { [self] in try forgetSharedEntities($0, $1, $2, $3) }
    }

    /// Takes the advisory lock of every user of `userIDs` for the rest of the transaction, in ascending order of the
    /// lock keys, so that two transactions locking the same users never wait for each other in a cycle. Users not
    /// involved are never held up.
    static func lockUsers(_ db: PostgresConnection, _ userIDs: [UUID]) throws {
        let keys = try db.query(SharingQueries.userLockKeys, uuidArrayLiteral(userIDs)).map { try $0.decode(Int64.self, at: 0) }
        for key in keys { _ = try db.query(SharingQueries.userLock, key) }
    }

    /// Microseconds since the Unix epoch of a timestamptz, as SQL: the database clock at its own resolution, for the
    /// decisions (``DatabaseInstant``).
    static func epochMicroseconds(_ column: String) -> String { SharingQueries.epochMicroseconds(column) }

    /// The caps (docs/ADR-008-sharing.md, "Caps").
    var maximumPendingInvitations: Int { configuration.maximumPendingInvitations }
    var maximumConnections: Int { configuration.maximumConnections }
    var maximumShares: Int { configuration.maximumShares }
    var maximumSharesPerItem: Int { configuration.maximumSharesPerItem }
}

extension SharingRefusal {
    /// Runs `body`, turning a refusal into the status the caller gets.
    static func answering<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let refusal as SharingRefusal {
            throw refusal.status
        }
    }
}
