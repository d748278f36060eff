import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// RotateKEK: a new KEK version and every DEK and private key re-wrapped by it, in one transaction, proved by
/// the current KEK (a stolen session cannot replace the wraps with garbage). The DEKs themselves do not change,
/// so everything they encrypted stays readable. The replaced wraps are kept aside for the retention.
/// docs/ADR-004-keystore.md.
extension KeystoreService {
    private struct Rewrap: Encodable {
        let id: String
        let wrapped: String
    }

    private static func rewraps(
        _ keys: [Svx_Keystore_V1_RewrappedKey], field: String, validate: (String, String) throws(RPCStatus) -> String
    ) throws(RPCStatus) -> [UUID: String] {
        var result: [UUID: String] = [:]
        result.reserveCapacity(keys.count)
        for key in keys {
            let id = try FieldValidation.uuid(key.id, field: "\(field).id")
            let wrapped = try validate(key.wrappedKey, "\(field).wrapped_key")
            guard result.updateValue(wrapped, forKey: id) == nil else {
                throw FieldValidation.invalid("\(field).id", "\(field) lists \(id.wire) twice")
            }
        }
        return result
    }

    /// The rewrapped keys as a JSON array for `jsonb_to_recordset` (one UPDATE for all of them).
    private static func json(_ keys: [UUID: String]) throws -> String {
        let data = try JSONEncoder().encode(keys.map { Rewrap(id: $0.key.wire, wrapped: $0.value) })
        return String(decoding: data, as: UTF8.self)
    }

    /// Refuses unless `submitted` is exactly the user's set of keys (read with the rows locked).
    private static func requireSameKeys(_ stored: [UUID], _ submitted: [UUID: String], what: String) throws {
        guard stored.count == submitted.count, stored.allSatisfy({ submitted[$0] != nil }) else {
            throw RPCStatus(
                .aborted,
                "the \(what) changed since they were listed (\(stored.count) stored, \(submitted.count) submitted): list and re-wrap them again")
        }
    }

    /// A user with a recovery key must give the new KEK wrapped by its public key (else the recovery key would open
    /// the old KEK, which opens nothing after the rotation); a user without one must not (the client's view is
    /// stale). Called with the user's row locked; returns whether the user has a recovery key (its row locked too).
    private static func requireRecoveryWrapIfEnrolled(
        _ db: PostgresConnection, userID: UUID, _ recoveryWrap: String?, madeFor digest: [UInt8]?
    ) throws -> Bool {
        let stored = try db.query(
            "SELECT public_key_pem FROM keystore.recovery_keys WHERE user_id = $1 FOR UPDATE", userID
        ).first.map { try $0.decode(String.self, at: 0) }
        let enrolled = stored != nil
        if let stored, let digest, HashFunction.sha256.hash(Array(stored.utf8)) != digest {
            throw RPCStatus(
                .aborted, "the recovery key was replaced since it was read: read it (GetRecoveryKey) and rotate again",
                details: ["field": "recovery_public_key_sha256"])
        }
        if enrolled, recoveryWrap == nil {
            throw RPCStatus(
                .failedPrecondition,
                "this user has a recovery key: kek_recovery_wrap (the new KEK wrapped by its public key, GetRecoveryKey) is required",
                details: ["reason": "recovery_wrap_required", "field": "kek_recovery_wrap"])
        }
        if !enrolled, recoveryWrap != nil {
            throw RPCStatus(
                .aborted, "this user has no recovery key (any more): rotate without kek_recovery_wrap",
                details: ["field": "kek_recovery_wrap"])
        }
        return enrolled
    }

    /// Refuses a rotation when the user already has ``keptRotationQuota`` rotations' key wraps kept aside (one KEK
    /// version each), with `retry_after_ms` until the oldest are purged (called with the user's row locked).
    private func requireRoomToKeepWraps(_ db: PostgresConnection, userID: UUID) throws {
        let kept = try db.query(
            """
            SELECT count(DISTINCT kek_version),
                   coalesce((EXTRACT(EPOCH FROM (min(superseded_at) + $2::float8 * interval '1 day' - now())) * 1000)::bigint, 0)
            FROM keystore.superseded_key_wraps WHERE user_id = $1
            """, userID, Double(configuration.wrapRetentionDays))[0]
        let used = try kept.decode(Int64.self, at: 0)
        let oldestPurgedInMilliseconds = try kept.decode(Int64.self, at: 1)
        do throws(RPCStatus) {
            try keptRotationQuota.check(used: used)
        } catch var refusal {
            refusal.details["retry_after_ms"] = String(max(1, oldestPurgedInMilliseconds))
            throw refusal
        }
    }

    func rotateKEK(
        _ request: Svx_Keystore_V1_RotateKEKRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_RotateKEKResponse {
        let expected = try KeyValidation.kekVersion(request.expectedKekVersion, field: "expected_kek_version")
        let generation = try KeyValidation.generation(request.credentialGeneration)
        let wrappedKEK = try KeyValidation.wrappedKey(request.wrappedKek, field: "wrapped_kek")
        let derivation = try KeyValidation.derivation(request.hasDerivation ? request.derivation : nil)
        let deks = try Self.rewraps(request.deks, field: "deks", validate: KeyValidation.wrappedKey)
        let keypairs = try Self.rewraps(request.keypairs, field: "keypairs", validate: KeyValidation.wrappedPrivateKey)
        let newCheck = try KeyValidation.kekCheck(request.newKekCheck, field: "new_kek_check")
        let recoveryWrap = request.kekRecoveryWrap.isEmpty ? nil : try KeyValidation.kekRecoveryWrap(request.kekRecoveryWrap)
        // The recovery public key's MAC by the new KEK travels with the recovery wrap, and only with it.
        let recoveryMAC: [UInt8]? = try recoveryWrap.map { _ throws(RPCStatus) in
            try KeyValidation.recoveryPublicKeyMAC(request.recoveryPublicKeyMac, field: "recovery_public_key_mac")
        }
        let recoveryKeyDigest: [UInt8]? = try recoveryWrap.map { _ throws(RPCStatus) in
            guard request.recoveryPublicKeySha256.count == 32 else {
                throw RPCStatus(
                    .invalidArgument,
                    "recovery_public_key_sha256 must be the 32-byte SHA-256 of the recovery public key the wrap was made for",
                    details: ["field": "recovery_public_key_sha256"])
            }
            return Array(request.recoveryPublicKeySha256)
        }
        if recoveryWrap == nil {
            for (field, value) in [
                ("recovery_public_key_mac", request.recoveryPublicKeyMac),
                ("recovery_public_key_sha256", request.recoveryPublicKeySha256),
            ] where !value.isEmpty {
                throw RPCStatus(.invalidArgument, "\(field) comes only with kek_recovery_wrap", details: ["field": field])
            }
        }
        let proof = try KeyValidation.kekProof(request.hasKekProof ? request.kekProof : nil)
        guard session.recentlyAuthenticated else { throw RPCStatus.reauthenticationRequired }
        let userID = try session.userUUID
        let current = try Self.sessionGeneration(session)
        guard generation == current else {
            throw RPCStatus(
                .aborted, "the passphrase changed (credential generation \(current), not \(generation)): log in again",
                details: ["field": "credential_generation"])
        }
        guard expected < Int32.max else { throw FieldValidation.invalid("expected_kek_version", "no KEK version after this one") }
        let newVersion = expected + 1
        let nonce = try Self.consumeKEKProofChallenge(worker.database, userID: userID, challengeID: proof.challengeID)
        let transcript = ProofTranscript.rotateKEK(request, userID: session.userID, nonce: nonce)

        try worker.database.transaction { db in
            let version = try Self.lockUserProvingKEK(
                db, userID: userID, signature: proof.signature, transcript: transcript)
            guard version == expected else {
                throw RPCStatus(
                    .aborted, "the KEK is at version \(version), not \(expected): another rotation committed first",
                    details: ["field": "expected_kek_version"])
            }
            let pending = try db.query(
                "SELECT 1 FROM keystore.kek_wraps w WHERE \(Self.liveStagedWrap) LIMIT 1",
                userID, generation, Self.stagedWrapLifetimeMilliseconds)
            guard pending.isEmpty else {
                // Its wrap holds this KEK: after the rotation it would open nothing.
                throw RPCStatus(
                    .failedPrecondition,
                    "a passphrase change is in progress: finish it (or change the passphrase again) before rotating",
                    details: ["reason": "passphrase_change_pending"])
            }
            try Self.requireSameKeys(
                try db.query(
                    "SELECT dek_id FROM keystore.data_encryption_keys WHERE user_id = $1 FOR UPDATE", userID
                ).map { try $0.decode(UUID.self, at: 0) }, deks, what: "DEKs")
            try Self.requireSameKeys(
                try db.query("SELECT keypair_id FROM keystore.keypairs WHERE user_id = $1 FOR UPDATE", userID)
                    .map { try $0.decode(UUID.self, at: 0) }, keypairs, what: "keypairs")
            let enrolled = try Self.requireRecoveryWrapIfEnrolled(db, userID: userID, recoveryWrap, madeFor: recoveryKeyDigest)
            // The wraps being replaced, and the old KEK's wraps below, are kept aside (not deleted) for the retention:
            // the expired ones go first, then at most the quota of rotations' key wraps are kept (a rotation of a
            // user without keys or a recovery key keeps none).
            _ = try Self.purgeSupersededWraps(db, userID: userID, retentionDays: configuration.wrapRetentionDays)
            if !deks.isEmpty || !keypairs.isEmpty || enrolled {
                try requireRoomToKeepWraps(db, userID: userID)
            }
            try Self.supersedeKeyWraps(db, userID: userID)
            if !deks.isEmpty {
                _ = try db.execute(
                    """
                    UPDATE keystore.data_encryption_keys d SET wrapped_dek = r.wrapped, kek_version = $3, updated_at = now()
                    FROM jsonb_to_recordset($2::jsonb) AS r(id uuid, wrapped text)
                    WHERE d.user_id = $1 AND d.dek_id = r.id
                    """, userID, try Self.json(deks), newVersion)
            }
            if !keypairs.isEmpty {
                _ = try db.execute(
                    """
                    UPDATE keystore.keypairs k SET wrapped_private_key = r.wrapped, kek_version = $3, updated_at = now()
                    FROM jsonb_to_recordset($2::jsonb) AS r(id uuid, wrapped text)
                    WHERE k.user_id = $1 AND k.keypair_id = r.id
                    """, userID, try Self.json(keypairs), newVersion)
            }
            if let recoveryWrap, let recoveryMAC {
                _ = try db.execute(
                    """
                    UPDATE keystore.recovery_keys
                    SET kek_recovery_wrap = $2, kek_version = $3, public_key_mac = $4, updated_at = now()
                    WHERE user_id = $1
                    """, userID, recoveryWrap, newVersion, recoveryMAC)
            }
            // The old KEK's wraps leave use in the same transaction (with the old check, before it moves).
            _ = try Self.supersedeKEKWraps(db, userID: userID, where: "true", [], reason: .rotated)
            _ = try Self.insertWrap(
                db, userID: userID, generation: generation, kekVersion: newVersion, wrappedKEK: wrappedKEK,
                derivation: derivation)
            _ = try db.execute(
                "UPDATE keystore.users SET kek_version = $2, kek_check = $3, rotated_at = now() WHERE user_id = $1",
                userID, newVersion, newCheck)
            try recordEvent(
                "kek.rotated", subject: ("kek", "\(newVersion)"),
                details: [
                    "kek_version": "\(newVersion)", "previous_kek_version": "\(expected)", "deks": "\(deks.count)",
                    "keypairs": "\(keypairs.count)", "recovery_wrap": recoveryWrap != nil ? "true" : "false",
                ], session, context, on: db)
        }
        context.logger.info("kek rotated", metadata: [
            "user_id": "\(session.userID)", "kek_version": "\(newVersion)", "deks": "\(deks.count)",
            "keypairs": "\(keypairs.count)", "recovery_wrap": "\(recoveryWrap != nil)",
        ])
        var response = Svx_Keystore_V1_RotateKEKResponse()
        response.kekVersion = UInt32(newVersion)
        response.rewrappedDeks = UInt32(deks.count)
        response.rewrappedKeypairs = UInt32(keypairs.count)
        return response
    }
}
