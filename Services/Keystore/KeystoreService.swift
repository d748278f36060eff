import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import Synchronization

/// Every Keystore method (handlers by concern: KeyEncryptionKeys, KEKProofs, DataEncryptionKeys, Keypairs,
/// Rotation, SupersededWraps, RecoveryKeys). A RECOVERY session reaches only BeginKEKProof, StagePassphraseChange and
/// GetRecoveryKey (SVXService refuses it everywhere else).
/// docs/ADR-004-keystore.md.
///
/// Concurrency: every write that depends on the KEK version locks the user's `keystore.users` row: creations
/// with FOR NO KEY UPDATE, a rotation or a passphrase change with FOR UPDATE. So a key created while a rotation
/// commits is either part of the rotation or refused as ABORTED, never left wrapped by a KEK that no longer
/// exists; and two creations of one user run one after the other, so they cannot overshoot a quota together.
final class KeystoreService: Sendable {
    let configuration: KeystoreConfiguration
    /// Auth, which checks SetKEKCheck's proof of the current passphrase (VerifyCredentials). nil: no Auth
    /// endpoint, SetKEKCheck answers UNAVAILABLE.
    let auth: PeerClient?
    /// When this process last purged everyone's expired superseded wraps (``sweepIfDue(_:_:)``).
    let lastSweep = Mutex<ContinuousClock.Instant?>(nil)
    /// The users' key-hierarchy events (reference/sharing.md §5b), each appended in its change's transaction.
    let audit = AuditTrail(service: "keystore", schema: "keystore")

    init(configuration: KeystoreConfiguration = .init(), auth: PeerClient?) {
        self.configuration = configuration
        self.auth = auth
    }

    func register(_ routes: ServiceRoutes) {
        routes.registerAuthenticated(KeystoreRPC.createKEK, freshSession: true) { [self] in try createKEK($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.getKEK) { [self] in try getKEK($0, $1, $2, $3) }
        // A usable RECOVERY session may prove the KEK it opened with the recovery key and stage the new passphrase's wrap.
        routes.registerAuthenticated(KeystoreRPC.stagePassphraseChange, freshSession: true, recovery: .afterDelay) { [self] in
            try stagePassphraseChange($0, $1, $2, $3)
        }
        routes.registerAuthenticated(KeystoreRPC.commitPassphraseChange, freshSession: true) { [self] in
            try commitPassphraseChange($0, $1, $2, $3)
        }
        routes.registerAuthenticated(KeystoreRPC.createDEK) { [self] in try createDEK($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.getDEK) { [self] in try getDEK($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.listDEKs) { [self] in try listDEKs($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.deleteDEK) { [self] in try deleteDEK($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.createKeypair) { [self] in try createKeypair($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.getKeypair) { [self] in try getKeypair($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.listKeypairs) { [self] in try listKeypairs($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.deleteKeypair) { [self] in try deleteKeypair($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.rotateKEK, freshSession: true) { [self] in try rotateKEK($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.beginKEKProof, recovery: .afterDelay) { [self] in try beginKEKProof($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.setKEKCheck) { [self] in try setKEKCheck($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.putRecoveryKey, freshSession: true) { [self] in
            try putRecoveryKey($0, $1, $2, $3)
        }
        routes.registerAuthenticated(KeystoreRPC.getRecoveryKey, recovery: .afterDelay) { [self] in try getRecoveryKey($0, $1, $2, $3) }
        routes.registerAuthenticated(KeystoreRPC.deleteRecoveryKey, freshSession: true) { [self] in
            try deleteRecoveryKey($0, $1, $2, $3)
        }
    }

    /// The user's current KEK version, with the row locked: `FOR UPDATE` (`exclusive`, a rotation or a passphrase
    /// change) or `FOR NO KEY UPDATE` (a key's creation: one at a time per user, and none during a rotation); nil
    /// when the user has no KEK yet.
    static func lockedKEKVersion(_ db: PostgresConnection, _ userID: UUID, exclusive: Bool) throws -> Int32? {
        let rows = try db.query(
            "SELECT kek_version FROM keystore.users WHERE user_id = $1 FOR \(exclusive ? "UPDATE" : "NO KEY UPDATE")",
            userID)
        return try rows.first?.decode(Int32.self, at: 0)
    }

    /// Refuses a key wrapped by anything but the current KEK, locking the user's row for the creation of a key.
    static func requireCurrentKEK(_ db: PostgresConnection, _ userID: UUID, _ kekVersion: Int32) throws {
        guard let current = try lockedKEKVersion(db, userID, exclusive: false) else {
            throw RPCStatus(.failedPrecondition, "this user has no KEK yet: create it first (CreateKEK)")
        }
        guard current == kekVersion else {
            throw RPCStatus(
                .aborted, "kek_version \(kekVersion) is not the current KEK (version \(current)): the keys were rotated; unwrap the KEK again",
                details: ["field": "kek_version"])
        }
    }

    /// Refuses one more key of the user in `table` past `quota` (called after ``requireCurrentKEK(_:_:_:)``, with
    /// the user's row locked, so the count cannot change before the caller's INSERT commits).
    static func requireRoom(_ db: PostgresConnection, _ userID: UUID, in table: String, _ quota: UserQuota) throws {
        let used = try db.query("SELECT count(*) FROM keystore.\(table) WHERE user_id = $1", userID)[0]
            .decode(Int64.self, at: 0)
        try quota.check(used: used)
    }

    /// The quotas of DEKs and keypairs per user (review M4; docs/ADR-004-keystore.md, "Quotas").
    var dataKeyQuota: UserQuota { UserQuota(name: "data_keys", limit: Int64(configuration.maximumDataKeys)) }
    var keypairQuota: UserQuota { UserQuota(name: "keypairs", limit: Int64(configuration.maximumKeypairs)) }
    /// Rotations whose replaced key wraps a user may have kept aside at once (docs/ADR-004-keystore.md, "Quotas").
    var keptRotationQuota: UserQuota {
        UserQuota(name: "kept_rotations", limit: Int64(configuration.maximumKeptRotations))
    }

    /// Appends the key-hierarchy event `type` of the caller's on `db`, which is inside the transaction of the change it
    /// records (so the event exists if and only if the change committed). Ids, versions and codes only: never a key, a
    /// wrap, a public key or metadata.
    func recordEvent(
        _ type: String, subject: (type: String, id: String), details: [String: String] = [:],
        _ session: AuthenticatedSession, _ context: RequestContext, on db: PostgresConnection
    ) throws {
        try audit.append(
            AuditEvent(
                type, sessionID: session.sessionID, peerAddress: context.peerAddress, subjectType: subject.type,
                subjectID: subject.id, details: details),
            userID: try session.userUUID, on: db)
    }

    /// The private DEK's external id and the account keypair's external identifier: never deleted.
    static let reservedDEK = "private"
    static let reservedKeypair = "auth"

}

