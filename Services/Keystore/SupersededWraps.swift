import Foundation
import SVXRPC
import SVXService
import SVXStore

/// Wraps that leave use are moved aside, not deleted: KEK wraps dropped by a rotation or by the cleanup of a
/// passphrase change, and the DEK and private-key wraps a rotation replaces. They are kept
/// `SVX_KEYSTORE_WRAP_RETENTION_DAYS` for an operator's restore (docs/ADR-004-keystore.md, "Superseded wraps"),
/// then purged: per user whenever that user's wraps change, and for everyone at the first request of a process
/// and then at most once an hour.
extension KeystoreService {
    enum SupersededReason: String {
        case rotated
        case passphraseChanged = "passphrase_changed"
    }

    /// The columns a KEK wrap keeps when it is moved aside (`g` the deleted rows, `u` the user's row).
    private static let supersededKEKColumns = """
        user_id, credential_generation, kek_version, wrapped_kek, derivation_algorithm, derivation_salt_source,
        derivation_iterations, derivation_key_length, derivation_version, staged_from, kek_check, created_at, reason
        """

    /// Deletes the user's KEK wraps that match `condition` (SQL over `w`, the user's id is `$1`, then `parameters`
    /// from `$2`) and keeps them aside with the user's current KEK check. Returns how many went.
    static func supersedeKEKWraps(
        _ db: PostgresConnection, userID: UUID, where condition: String, _ parameters: [(any PostgresEncodable)?],
        reason: SupersededReason
    ) throws -> Int {
        let reasonParameter = parameters.count + 2
        return try db.execute(
            """
            WITH gone AS (
                DELETE FROM keystore.kek_wraps w WHERE w.user_id = $1 AND (\(condition)) RETURNING w.*
            )
            INSERT INTO keystore.superseded_kek_wraps (\(supersededKEKColumns))
            SELECT g.user_id, g.credential_generation, g.kek_version, g.wrapped_kek, g.derivation_algorithm,
                   g.derivation_salt_source, g.derivation_iterations, g.derivation_key_length, g.derivation_version,
                   g.staged_from, u.kek_check, g.created_at, $\(reasonParameter)
            FROM gone g JOIN keystore.users u ON u.user_id = g.user_id
            """, parameters: [userID as (any PostgresEncodable)?] + parameters + [reason.rawValue])
    }

    /// Keeps aside every DEK and private-key wrap of the user as it is now, and the KEK's recovery wrap and the recovery
    /// public key's MAC by that KEK (key id: the user's; the MAC in hex), before a rotation replaces them (the rows are
    /// locked by the caller).
    static func supersedeKeyWraps(_ db: PostgresConnection, userID: UUID) throws {
        _ = try db.execute(
            """
            INSERT INTO keystore.superseded_key_wraps (user_id, key_kind, key_id, kek_version, wrapped_key)
            SELECT user_id, 'dek', dek_id, kek_version, wrapped_dek FROM keystore.data_encryption_keys WHERE user_id = $1
            UNION ALL
            SELECT user_id, 'private_key', keypair_id, kek_version, wrapped_private_key FROM keystore.keypairs WHERE user_id = $1
            UNION ALL
            SELECT user_id, 'recovery_wrap', user_id, kek_version, kek_recovery_wrap FROM keystore.recovery_keys WHERE user_id = $1
            UNION ALL
            SELECT user_id, 'recovery_mac', user_id, kek_version, encode(public_key_mac, 'hex')
            FROM keystore.recovery_keys WHERE user_id = $1
            """, userID)
    }

    /// Purges what has been kept longer than the retention: one user's (`userID`) or everyone's (nil).
    static func purgeSupersededWraps(_ db: PostgresConnection, userID: UUID?, retentionDays: Int) throws -> Int {
        var purged = 0
        for table in ["superseded_kek_wraps", "superseded_key_wraps"] {
            purged += try db.execute(
                """
                DELETE FROM keystore.\(table)
                WHERE ($1::uuid IS NULL OR user_id = $1::uuid) AND superseded_at < now() - $2::float8 * interval '1 day'
                """, userID, Double(retentionDays))
        }
        return purged
    }

    /// How often a process purges everyone's expired superseded wraps and KEK proof nonces.
    static let sweepInterval: Duration = .seconds(3_600)

    /// Everyone's expired superseded wraps and KEK proof nonces go, at the first request of the process and then
    /// at most once per ``sweepInterval``. A failure is logged and never fails the request.
    func sweepIfDue(_ context: RequestContext, _ worker: ServiceWorker) {
        let now = ContinuousClock.now
        let due = lastSweep.withLock { last -> Bool in
            if let last, now - last < Self.sweepInterval { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            let purged = try Self.purgeSupersededWraps(
                worker.database, userID: nil, retentionDays: configuration.wrapRetentionDays)
            _ = try worker.database.execute("DELETE FROM keystore.kek_proof_challenges WHERE expires_at <= now()")
            if purged > 0 { context.logger.info("superseded wraps purged", metadata: ["purged": "\(purged)"]) }
        } catch {
            context.logger.warning("keystore sweep failed", metadata: ["error_type": "\(type(of: error))"])
        }
    }
}
