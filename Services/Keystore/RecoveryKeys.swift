import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// The recovery key of a user: PutRecoveryKey, GetRecoveryKey, DeleteRecoveryKey, and what a passphrase change
/// made by a RECOVERY session does to it. An RSA-4096 keypair made by the client: the private key wrapped by a key
/// derived from the offline Recovery Key, the KEK wrapped by the public key (so RotateKEK can re-wrap the new KEK
/// without the Recovery Key). docs/ADR-004-keystore.md, "Recovery key"; docs/ADR-009-recovery.md.
extension KeystoreService {
    static let recoveryKeyColumns = """
        public_key_pem, wrapped_private_key, kek_recovery_wrap, kek_version, \(epochMilliseconds("created_at")), public_key_mac
        """

    static let noRecoveryKey = RPCStatus(.notFound, "no recovery key")

    /// PutRecoveryKey: enrols or replaces the user's recovery key. Like StagePassphraseChange it needs a session from a
    /// recent login and a proof of possession of the current KEK (whoever holds only a session cannot plant a key
    /// that opens nothing, or one whose private half it knows).
    func putRecoveryKey(
        _ request: Svx_Keystore_V1_PutRecoveryKeyRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_PutRecoveryKeyResponse {
        let publicKeyPEM = try KeyValidation.recoveryPublicKeyPEM(request.publicKeyPem)
        let wrappedPrivateKey = try KeyValidation.wrappedRecoveryPrivateKey(request.wrappedPrivateKey)
        let kekRecoveryWrap = try KeyValidation.kekRecoveryWrap(request.kekRecoveryWrap)
        let kekVersion = try KeyValidation.kekVersion(request.kekVersion)
        let publicKeyMAC = try KeyValidation.recoveryPublicKeyMAC(request.publicKeyMac, field: "public_key_mac")
        let proof = try KeyValidation.kekProof(request.hasKekProof ? request.kekProof : nil)
        guard session.recentlyAuthenticated else { throw RPCStatus.reauthenticationRequired }
        let userID = try session.userUUID
        let nonce = try Self.consumeKEKProofChallenge(worker.database, userID: userID, challengeID: proof.challengeID)
        let transcript = ProofTranscript.putRecoveryKey(request, userID: session.userID, nonce: nonce)
        let replaced = try worker.database.transaction { db -> Bool in
            let version = try Self.lockUserProvingKEK(
                db, userID: userID, signature: proof.signature, transcript: transcript)
            try Self.requireCurrentKEKVersion(kekVersion, current: version)
            // xmax = 0: the row was inserted, not updated.
            let replaced = try db.query(
                """
                INSERT INTO keystore.recovery_keys
                    (user_id, public_key_pem, wrapped_private_key, kek_recovery_wrap, kek_version, public_key_mac)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (user_id) DO UPDATE SET
                    public_key_pem = EXCLUDED.public_key_pem, wrapped_private_key = EXCLUDED.wrapped_private_key,
                    kek_recovery_wrap = EXCLUDED.kek_recovery_wrap, kek_version = EXCLUDED.kek_version,
                    public_key_mac = EXCLUDED.public_key_mac,
                    created_at = now(), updated_at = now(), spent_by_generation = NULL
                RETURNING xmax <> 0
                """, userID, publicKeyPEM, wrappedPrivateKey, kekRecoveryWrap, kekVersion, publicKeyMAC
            )[0].decode(Bool.self, at: 0)
            try recordEvent(
                "recovery_key.set", subject: ("recovery_key", ""),
                details: ["kek_version": "\(kekVersion)", "replaced": replaced ? "true" : "false"], session, context, on: db)
            return replaced
        }
        context.logger.notice("recovery key stored", metadata: [
            "user_id": "\(session.userID)", "kek_version": "\(kekVersion)", "replaced": "\(replaced)",
        ])
        var response = Svx_Keystore_V1_PutRecoveryKeyResponse()
        response.replaced = replaced
        return response
    }

    /// GetRecoveryKey: the user's recovery key and the current KEK check (the client checks the KEK it opens against
    /// it). Also answers a usable RECOVERY session: that is what it is for.
    func getRecoveryKey(
        _ request: Svx_Keystore_V1_GetRecoveryKeyRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_GetRecoveryKeyResponse {
        let userID = try session.userUUID
        let rows = try worker.database.query(
            """
            SELECT \(Self.recoveryKeyColumns), (SELECT kek_check FROM keystore.users u WHERE u.user_id = $1)
            FROM keystore.recovery_keys WHERE user_id = $1
            """, userID)
        guard let row = rows.first else { throw Self.noRecoveryKey }
        var key = Svx_Keystore_V1_RecoveryKey()
        key.publicKeyPem = try row.decode(String.self, at: 0)
        key.wrappedPrivateKey = try row.decode(String.self, at: 1)
        key.kekRecoveryWrap = try row.decode(String.self, at: 2)
        key.kekVersion = UInt32(try row.decode(Int32.self, at: 3))
        key.createdAtMs = UInt64(try row.decode(Int64.self, at: 4))
        key.publicKeyMac = Data(try row.decode([UInt8].self, at: 5))
        key.kekCheck = Data(try row.decode([UInt8]?.self, at: 6) ?? [])
        var response = Svx_Keystore_V1_GetRecoveryKeyResponse()
        response.recoveryKey = key
        return response
    }

    /// DeleteRecoveryKey: needs a session from a recent login (a stolen older session cannot take the owner's way
    /// back). Idempotent. Auth's recovery verifier is the client's to delete (DeleteRecoveryVerifier).
    func deleteRecoveryKey(
        _ request: Svx_Keystore_V1_DeleteRecoveryKeyRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_DeleteRecoveryKeyResponse {
        guard session.recentlyAuthenticated else { throw RPCStatus.reauthenticationRequired }
        let userID = try session.userUUID
        let removed = try worker.database.transaction { db -> Bool in
            // The user's row first, as every writer of the user's keys locks it (a rotation re-wraps the recovery key).
            _ = try Self.lockedKEKVersion(db, userID, exclusive: false)
            let removed = try db.execute("DELETE FROM keystore.recovery_keys WHERE user_id = $1", userID) > 0
            if removed { try recordEvent("recovery_key.deleted", subject: ("recovery_key", ""), session, context, on: db) }
            return removed
        }
        if removed { context.logger.notice("recovery key deleted", metadata: ["user_id": "\(session.userID)"]) }
        var response = Svx_Keystore_V1_DeleteRecoveryKeyResponse()
        response.removed = removed
        return response
    }

    /// A passphrase change staged by a RECOVERY session (in its transaction, the user's row locked): the user must
    /// have a recovery key (that is what opened the KEK the stage proved), and it is marked spent by `generation`, so
    /// the CommitPassphraseChange that finds Auth at exactly that generation deletes it.
    static func markRecoveryKeySpent(_ db: PostgresConnection, userID: UUID, generation: Int64) throws {
        let marked = try db.execute(
            "UPDATE keystore.recovery_keys SET spent_by_generation = $2, updated_at = now() WHERE user_id = $1",
            userID, generation)
        guard marked == 1 else {
            throw RPCStatus(
                .failedPrecondition, "this user has no recovery key: a recovery session cannot change the passphrase",
                details: ["reason": "no_recovery_key"])
        }
    }

    /// Deletes the recovery key spent by the passphrase change that made `generation` current (Auth is there):
    /// exactly that generation, so a recovery stage abandoned at a lower generation never costs the user a key a later
    /// normal change commits past. Returns whether it went.
    static func deleteSpentRecoveryKey(_ db: PostgresConnection, userID: UUID, generation: Int64) throws -> Bool {
        try db.execute(
            "DELETE FROM keystore.recovery_keys WHERE user_id = $1 AND spent_by_generation = $2", userID, generation) > 0
    }
}
