import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// The KEK and its wraps per credential generation: CreateKEK, GetKEK, and the two Keystore steps of a
/// passphrase change (StagePassphraseChange, CommitPassphraseChange). docs/ADR-004-keystore.md.
extension KeystoreService {
    /// A user cannot pile up more unfinished passphrase changes than this.
    static let maximumKEKWraps = 16

    static let wrapColumns = """
        credential_generation, kek_version, wrapped_kek, derivation_algorithm, derivation_salt_source,
        derivation_iterations, derivation_key_length, derivation_version, \(epochMilliseconds("created_at"))
        """

    static func keyEncryptionKey(_ row: PostgresRow, from start: Int = 0) throws -> Svx_Keystore_V1_KeyEncryptionKey {
        var kek = Svx_Keystore_V1_KeyEncryptionKey()
        kek.credentialGeneration = UInt64(try row.decode(Int64.self, at: start))
        kek.kekVersion = UInt32(try row.decode(Int32.self, at: start + 1))
        kek.wrappedKek = try row.decode(String.self, at: start + 2)
        kek.derivation.algorithm = try row.decode(String.self, at: start + 3)
        kek.derivation.saltSource = try row.decode(String.self, at: start + 4)
        kek.derivation.iterations = UInt32(try row.decode(Int32.self, at: start + 5))
        kek.derivation.keyLength = UInt32(try row.decode(Int32.self, at: start + 6))
        kek.derivation.version = UInt32(try row.decode(Int32.self, at: start + 7))
        kek.createdAtMs = UInt64(try row.decode(Int64.self, at: start + 8))
        return kek
    }

    /// A staged wrap whose ChangeVerifier has not come within this long never will: Auth wants a login at most
    /// `SVX_AUTH_REAUTH_WINDOW_MS` old (at most one hour) and the stage happens after that login. Two hours leave
    /// room for clock skew between the services' databases.
    static let stagedWrapLifetimeMilliseconds: Double = 2 * 3_600_000

    static func insertWrap(
        _ db: PostgresConnection, userID: UUID, generation: Int64, kekVersion: Int32, wrappedKEK: String,
        derivation: Svx_Keystore_V1_DerivationArtefacts, stagedFrom: Int64? = nil
    ) throws -> Svx_Keystore_V1_KeyEncryptionKey {
        let rows = try db.query(
            """
            INSERT INTO keystore.kek_wraps (user_id, credential_generation, kek_version, wrapped_kek,
                derivation_algorithm, derivation_salt_source, derivation_iterations, derivation_key_length,
                derivation_version, staged_from)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            RETURNING \(wrapColumns)
            """, userID, generation, kekVersion, wrappedKEK, derivation.algorithm, derivation.saltSource,
            Int32(derivation.iterations), Int32(derivation.keyLength), Int32(derivation.version), stagedFrom)
        return try keyEncryptionKey(rows[0])
    }

    /// Takes out of use the wraps that can never be used again, Auth being at `current` (a lower bound: it only
    /// grows), with the user's row locked:
    /// - wraps of earlier generations, but only while the wrap of `current` exists (otherwise the old wrap may be
    ///   the last copy of the KEK that the owner's passphrase opens: it is kept for recovery);
    /// - staged wraps whose `staged_from` Auth has left (their compare-and-set can no longer succeed);
    /// - staged wraps older than ``stagedWrapLifetimeMilliseconds`` (Auth would refuse their ChangeVerifier).
    /// They are kept aside for the retention (``supersedeKEKWraps(_:userID:where:_:reason:)``), and what was kept
    /// longer is purged. Returns how many left use.
    func deleteDeadWraps(_ db: PostgresConnection, userID: UUID, current: Int64) throws -> Int {
        let removed = try Self.supersedeKEKWraps(
            db, userID: userID,
            where: """
                (w.credential_generation < $2 AND EXISTS (
                    SELECT 1 FROM keystore.kek_wraps c WHERE c.user_id = $1 AND c.credential_generation = $2))
                OR (w.credential_generation > $2 AND w.staged_from IS NOT NULL AND w.staged_from < $2)
                OR (w.credential_generation > $2 AND w.staged_from IS NOT NULL
                    AND w.created_at < now() - $3::float8 * interval '1 millisecond')
                """, [current, Self.stagedWrapLifetimeMilliseconds], reason: .passphraseChanged)
        _ = try Self.purgeSupersededWraps(db, userID: userID, retentionDays: configuration.wrapRetentionDays)
        return removed
    }

    /// The SQL condition of a staged wrap that may still become current (`w` the wraps, $1 the user, $2 Auth's
    /// current generation, $3 the staged-wrap lifetime in ms).
    static let liveStagedWrap = """
        w.user_id = $1 AND w.credential_generation > $2
        AND (w.staged_from IS NULL OR w.staged_from >= $2)
        AND w.created_at >= now() - $3::float8 * interval '1 millisecond'
        """

    static func sessionGeneration(_ session: AuthenticatedSession) throws -> Int64 {
        guard session.credentialGeneration >= 1, session.credentialGeneration <= UInt64(Int64.max) else {
            throw RPCStatus(.unavailable, "authentication service gave no credential generation, try again")
        }
        return Int64(session.credentialGeneration)
    }

    func createKEK(
        _ request: Svx_Keystore_V1_CreateKEKRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_CreateKEKResponse {
        let wrapped = try KeyValidation.wrappedKey(request.wrappedKek, field: "wrapped_kek")
        let derivation = try KeyValidation.derivation(request.hasDerivation ? request.derivation : nil)
        let check = try KeyValidation.kekCheck(request.kekCheck, field: "kek_check")
        let userID = try session.userUUID
        let generation = try Self.sessionGeneration(session)
        let kek = try worker.database.transaction { db in
            let created = try db.execute(
                """
                INSERT INTO keystore.users (user_id, kek_version, kek_check) VALUES ($1, 1, $2)
                ON CONFLICT (user_id) DO NOTHING
                """, userID, check)
            guard created == 1 else { throw RPCStatus(.alreadyExists, "this user already has a KEK") }
            let kek = try Self.insertWrap(
                db, userID: userID, generation: generation, kekVersion: 1, wrappedKEK: wrapped, derivation: derivation)
            try recordEvent(
                "kek.created", subject: ("kek", "1"), details: ["kek_version": "1", "credential_generation": "\(generation)"],
                session, context, on: db)
            return kek
        }
        context.logger.info("kek created", metadata: ["user_id": "\(session.userID)"])
        var response = Svx_Keystore_V1_CreateKEKResponse()
        response.kek = kek
        return response
    }

    func getKEK(
        _ request: Svx_Keystore_V1_GetKEKRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_GetKEKResponse {
        let userID = try session.userUUID
        let generation = request.credentialGeneration == 0
            ? try Self.sessionGeneration(session)
            : try KeyValidation.generation(request.credentialGeneration)
        sweepIfDue(context, worker)
        let rows = try worker.database.query(
            """
            SELECT \(Self.wrapColumns),
                   EXISTS (SELECT 1 FROM keystore.kek_wraps w WHERE \(Self.liveStagedWrap)),
                   (SELECT kek_check FROM keystore.users u WHERE u.user_id = $1)
            FROM keystore.kek_wraps WHERE user_id = $1 AND credential_generation = $2
            """, userID, generation, Self.stagedWrapLifetimeMilliseconds)
        guard let row = rows.first else {
            throw RPCStatus.notFound("KEK for credential generation \(generation)", field: "credential_generation")
        }
        var response = Svx_Keystore_V1_GetKEKResponse()
        response.kek = try Self.keyEncryptionKey(row)
        response.passphraseChangePending = try row.decode(Bool.self, at: 9)
        response.kekCheck = Data(try row.decode([UInt8]?.self, at: 10) ?? [])
        return response
    }

    /// Step 1: the current KEK wrapped by the new PDK, under a generation above every one used so far (so a
    /// generation is never reused, and an abandoned staged change is passed over, never revived). Needs a proof
    /// of possession of the current KEK: a stolen session cannot stage a wrap that opens nothing. A RECOVERY
    /// session may stage too (it opened the KEK with the recovery key): only while the user has a recovery key,
    /// which the stage marks spent by the new generation (``markRecoveryKeySpent(_:userID:generation:)``).
    func stagePassphraseChange(
        _ request: Svx_Keystore_V1_StagePassphraseChangeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_StagePassphraseChangeResponse {
        let kekVersion = try KeyValidation.kekVersion(request.kekVersion)
        let wrapped = try KeyValidation.wrappedKey(request.wrappedKek, field: "wrapped_kek")
        let derivation = try KeyValidation.derivation(request.hasDerivation ? request.derivation : nil)
        let proof = try KeyValidation.kekProof(request.hasKekProof ? request.kekProof : nil)
        guard session.recentlyAuthenticated else { throw RPCStatus.reauthenticationRequired }
        let userID = try session.userUUID
        let current = try Self.sessionGeneration(session)
        let nonce = try Self.consumeKEKProofChallenge(worker.database, userID: userID, challengeID: proof.challengeID)
        let transcript = ProofTranscript.stagePassphraseChange(request, userID: session.userID, nonce: nonce)
        let staged = try worker.database.transaction { db -> Int64 in
            let version = try Self.lockUserProvingKEK(
                db, userID: userID, signature: proof.signature, transcript: transcript)
            try Self.requireCurrentKEKVersion(kekVersion, current: version)
            let removed = try deleteDeadWraps(db, userID: userID, current: current)
            let existing = try db.query(
                "SELECT count(*)::bigint, coalesce(max(credential_generation), 0) FROM keystore.kek_wraps WHERE user_id = $1",
                userID)[0]
            guard try existing.decode(Int64.self, at: 0) < Int64(Self.maximumKEKWraps) else {
                throw RPCStatus(
                    .resourceExhausted,
                    "too many passphrase changes in progress: finish one, or wait two hours for the unfinished ones to expire")
            }
            // Above every generation seen, so none is ever reused; generations are bounded far below Int64.max.
            let (generation, overflow) = max(try existing.decode(Int64.self, at: 1), current).addingReportingOverflow(1)
            guard !overflow else { throw RPCStatus(.failedPrecondition, "no credential generation is left for this user") }
            if session.scope == .recovery {
                try Self.markRecoveryKeySpent(db, userID: userID, generation: generation)
            }
            _ = try Self.insertWrap(
                db, userID: userID, generation: generation, kekVersion: kekVersion, wrappedKEK: wrapped,
                derivation: derivation, stagedFrom: current)
            var details = [
                "credential_generation": "\(generation)", "staged_from": "\(current)", "kek_version": "\(kekVersion)",
                "recovery": session.scope == .recovery ? "true" : "false",
            ]
            if removed > 0 { details["removed_wraps"] = "\(removed)" }
            try recordEvent(
                "passphrase_change.staged", subject: ("credential_generation", "\(generation)"), details: details,
                session, context, on: db)
            return generation
        }
        context.logger.info("passphrase change staged", metadata: [
            "user_id": "\(session.userID)", "credential_generation": "\(staged)",
            "recovery": "\(session.scope == .recovery)",
        ])
        var response = Svx_Keystore_V1_StagePassphraseChangeResponse()
        response.credentialGeneration = UInt64(staged)
        return response
    }

    /// Step 3 (and part of every login): Auth is at `credential_generation` (asked just now), so every wrap of
    /// an earlier generation can go. Nothing is deleted unless the wrap of Auth's current generation exists. A
    /// recovery key spent by exactly Auth's current generation (a RECOVERY session staged it and the recovery
    /// completed) is deleted in the same transaction.
    func commitPassphraseChange(
        _ request: Svx_Keystore_V1_CommitPassphraseChangeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_CommitPassphraseChangeResponse {
        let generation = try KeyValidation.generation(request.credentialGeneration)
        let userID = try session.userUUID
        let current = try Self.sessionGeneration(session)
        guard current >= generation else {
            throw RPCStatus(
                .failedPrecondition,
                "Auth is at credential generation \(current), not \(generation): change the verifier first",
                details: ["field": "credential_generation"])
        }
        sweepIfDue(context, worker)
        // Most logins find nothing to delete: look without locking first.
        let look = try worker.database.query(
            """
            SELECT EXISTS (SELECT 1 FROM keystore.users WHERE user_id = $1),
                   EXISTS (SELECT 1 FROM keystore.kek_wraps w WHERE w.user_id = $1 AND w.credential_generation <> $2
                           AND NOT (\(Self.liveStagedWrap)))
                   OR EXISTS (SELECT 1 FROM keystore.recovery_keys WHERE user_id = $1 AND spent_by_generation = $2)
            """, userID, current, Self.stagedWrapLifetimeMilliseconds)[0]
        guard try look.decode(Bool.self, at: 0) else {
            throw RPCStatus(.failedPrecondition, "this user has no KEK yet: create it first (CreateKEK)")
        }
        let (removed, recoveryKeySpent) = try !look.decode(Bool.self, at: 1) ? (0, false) : try worker.database.transaction {
            db -> (Int, Bool) in
            guard try Self.lockedKEKVersion(db, userID, exclusive: true) != nil else {
                throw RPCStatus(.failedPrecondition, "this user has no KEK yet: create it first (CreateKEK)")
            }
            let live = try db.query(
                "SELECT 1 FROM keystore.kek_wraps WHERE user_id = $1 AND credential_generation = $2", userID, current)
            guard !live.isEmpty else {
                throw RPCStatus(
                    .failedPrecondition, "there is no KEK wrap for the current credential generation \(current)",
                    details: ["field": "credential_generation"])
            }
            // Wraps of earlier generations go only now that the current one's exists: that is the commit of a change.
            let earlier = try db.query(
                "SELECT count(*) FROM keystore.kek_wraps WHERE user_id = $1 AND credential_generation < $2", userID, current
            )[0].decode(Int64.self, at: 0)
            let removed = try deleteDeadWraps(db, userID: userID, current: current)
            let spent = try Self.deleteSpentRecoveryKey(db, userID: userID, generation: current)
            let subject = ("credential_generation", "\(current)")
            if earlier > 0 {
                try recordEvent(
                    "passphrase_change.committed", subject: subject,
                    details: ["credential_generation": "\(current)", "removed_wraps": "\(removed)"], session, context, on: db)
            } else if removed > 0 {
                // Only staged wraps that can never become current (abandoned or expired changes).
                try recordEvent(
                    "passphrase_change.discarded", subject: subject,
                    details: ["credential_generation": "\(current)", "removed_wraps": "\(removed)"], session, context, on: db)
            }
            if spent {
                try recordEvent(
                    "recovery_key.spent", subject: ("recovery_key", ""), details: ["credential_generation": "\(current)"],
                    session, context, on: db)
            }
            return (removed, spent)
        }
        if recoveryKeySpent {
            context.logger.notice("recovery key spent", metadata: [
                "user_id": "\(session.userID)", "credential_generation": "\(current)",
            ])
        }
        if removed > 0 {
            context.logger.info("passphrase change committed", metadata: [
                "user_id": "\(session.userID)", "credential_generation": "\(generation)", "removed_wraps": "\(removed)",
            ])
        }
        var response = Svx_Keystore_V1_CommitPassphraseChangeResponse()
        response.removedWraps = UInt32(clamping: removed)
        return response
    }
}
