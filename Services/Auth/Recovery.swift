import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Account recovery with an offline Recovery Key, Auth's side (docs/ADR-002-auth.md "Recovery",
/// docs/ADR-009-recovery.md): the recovery credential (SRP salt and verifier of P_r, the SRP password the Recovery
/// Key gives), BeginRecovery/FinishRecovery (the SRP of a login against it: the same code, rate limiter and fake
/// answers, buckets of their own), the RECOVERY session they make (the pending recovery: at most one per user),
/// and CompleteRecovery, which replaces the passphrase's verifier, ends every session and deletes the recovery
/// credential in one transaction.
extension AuthService {
    /// The one answer for every failed recovery (wrong Recovery Key, unknown username, a user without a recovery
    /// credential, an unknown, replayed or expired challenge).
    static let recoveryFailed = RPCStatus(.unauthenticated, "invalid username or recovery key")

    /// CompleteRecovery from a FULL session.
    static let recoverySessionRequired = RPCStatus(
        .permissionDenied, "only a recovery session (FinishRecovery) can complete a recovery",
        details: ["reason": "recovery_session_required"])

    func beginRecovery(
        _ request: Svx_Auth_V1_BeginRecoveryRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_BeginRecoveryResponse {
        let challenge = try beginChallenge(
            .recovery, username: request.username, aHex: request.srpAHex, context: context, worker: worker)
        if let userID = challenge.userID {
            context.logger.info("recovery begun", metadata: ["user_id": "\(userID.wire)"])
        }
        var response = Svx_Auth_V1_BeginRecoveryResponse()
        response.loginID = challenge.loginID.wire
        response.srpSaltHex = Hex.encode(challenge.salt)
        response.srpBHex = Hex.encode(challenge.B)
        return response
    }

    func finishRecovery(
        _ request: Svx_Auth_V1_FinishRecoveryRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_FinishRecoveryResponse {
        let proved = try finishChallenge(
            .recovery, loginID: request.loginID, m1Hex: request.srpM1Hex, failure: Self.recoveryFailed,
            context: context, worker: worker)
        let userID = proved.userID
        // Under the user's row lock: the session is made only if the passphrase and the recovery credential are
        // still those the challenge began with (ChangeVerifier, SetRecoveryVerifier and DeleteRecoveryVerifier end
        // a pending recovery; one begun before them must not outlive them). The user's older RECOVERY session, live
        // or not, is revoked first: one pending recovery per user, and its delay starts again.
        let outcome = try worker.database.transaction { db -> (session: NewSession, generation: Int64, replaced: Int)? in
            let current = try db.query(
                "SELECT credential_generation FROM auth.users WHERE user_id = $1 FOR UPDATE", userID)
            guard let current = current.first, let began = proved.generation,
                try current.decode(Int64.self, at: 0) == began
            else { return nil }
            let credential = try db.query(
                "SELECT 1 FROM auth.recovery_credentials WHERE user_id = $1 AND srp_verifier = $2 FOR SHARE",
                userID, proved.verifier)
            guard !credential.isEmpty else { return nil }
            let replaced = try db.execute(
                """
                UPDATE auth.sessions SET revoked_at = now()
                WHERE user_id = $1 AND scope = 'recovery' AND revoked_at IS NULL
                """, userID)
            let session = try createRecoverySession(userID: userID, on: db)
            try audit.append(
                AuditEvent(
                    "recovery.started", sessionID: session.sessionID, peerAddress: context.peerAddress,
                    details: ["usable_at_ms": String(session.usableAtMs), "replaced_pending": String(replaced > 0)]),
                userID: userID, on: db)
            return (session, began, replaced)
        }
        guard let outcome else {
            context.logger.info("recovery failed", metadata: ["reason": "credentials changed during the recovery"])
            throw Self.recoveryFailed
        }
        context.logger.info("recovery finished", metadata: [
            "user_id": "\(userID.wire)", "session_id": "\(outcome.session.sessionID)",
            "usable_at_ms": "\(outcome.session.usableAtMs)", "replaced_pending": "\(outcome.replaced > 0)",
        ])
        var response = Svx_Auth_V1_FinishRecoveryResponse()
        response.srpM2Hex = Hex.encode(proved.M2)
        response.sessionToken = outcome.session.token
        response.sessionID = outcome.session.sessionID
        response.userID = userID.wire
        response.usableAtMs = outcome.session.usableAtMs
        response.expiresAtMs = outcome.session.expiresAtMs
        response.credentialGeneration = UInt64(outcome.generation)
        return response
    }

    /// The user's pending recovery: its live RECOVERY session, if any.
    func pendingRecovery(userID: UUID, on db: PostgresConnection) throws -> Svx_Auth_V1_PendingRecovery? {
        let rows = try db.query(
            """
            SELECT s.session_id, \(epochMilliseconds("s.created_at")), \(epochMilliseconds("s.usable_at")),
                   \(epochMilliseconds("s.expires_at"))
            FROM auth.sessions s
            WHERE s.user_id = $1 AND s.scope = 'recovery' AND \(LocalSessionValidator.livePredicate("s", idle: "$2"))
            """, userID, sessions.idleMilliseconds)
        guard let row = rows.first else { return nil }
        var pending = Svx_Auth_V1_PendingRecovery()
        pending.sessionID = try row.decode(UUID.self, at: 0).wire
        pending.startedAtMs = UInt64(max(0, try row.decode(Int64.self, at: 1)))
        pending.usableAtMs = UInt64(max(0, try row.decode(Int64.self, at: 2)))
        pending.expiresAtMs = UInt64(max(0, try row.decode(Int64.self, at: 3)))
        return pending
    }

    /// Ends the user's pending recovery, inside a transaction that holds the user's row: its RECOVERY session is
    /// revoked and its recovery challenges dropped. Returns the ids of the revoked sessions that were still live.
    func endPendingRecovery(userID: UUID, on db: PostgresConnection) throws -> [String] {
        let rows = try db.query(
            """
            UPDATE auth.sessions SET revoked_at = now()
            WHERE user_id = $1 AND scope = 'recovery' AND revoked_at IS NULL
            RETURNING session_id, expires_at > now()
            """, userID)
        _ = try db.execute("DELETE FROM auth.login_challenges WHERE user_id = $1 AND purpose = 'recovery'", userID)
        return try rows.compactMap { row in try row.decode(Bool.self, at: 1) ? try row.decode(UUID.self, at: 0).wire : nil }
    }

    /// Inside a transaction holding the user's row: `session` is still live and from a login within
    /// SVX_AUTH_REAUTH_WINDOW_MS (FAILED_PRECONDITION `reauthentication_required` otherwise).
    func requireRecentLogin(_ session: AuthenticatedSession, on db: PostgresConnection) throws {
        let fresh = try db.query(
            """
            SELECT s.created_at > now() - $2::float8 * interval '1 millisecond' FROM auth.sessions s
            WHERE s.session_id = $1::uuid AND s.scope = 'full' AND \(LocalSessionValidator.livePredicate("s", idle: "$3"))
            FOR SHARE
            """, session.sessionID, Double(configuration.reauthWindow.wholeMilliseconds), sessions.idleMilliseconds)
        guard let fresh = fresh.first else { throw RPCStatus.invalidSession }
        guard try fresh.decode(Bool.self, at: 0) else { throw RPCStatus.reauthenticationRequired }
    }

    /// Enrols or replaces the recovery credential. Like ChangeVerifier: a recent login, and a credential proof of the
    /// current passphrase bound to this request. Replacing it ends a pending recovery.
    func setRecoveryVerifier(
        _ request: Svx_Auth_V1_SetRecoveryVerifierRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_SetRecoveryVerifierResponse {
        let salt = try WireValidation.hex(request.srpSaltHex, field: "srp_salt_hex", bytes: WireValidation.saltLength)
        let verifier = try WireValidation.groupElement(request.srpVerifierHex, field: "srp_verifier_hex")
        let proof = try CredentialProof(request.currentCredentials, field: "current_credentials")
        guard session.recentlyAuthenticated else { throw RPCStatus.reauthenticationRequired }
        let m2 = try verifyCredentialProof(
            proof, field: "current_credentials", session: session, purpose: AuthRPC.setRecoveryVerifier.name,
            requestDigest: HashFunction.sha256.hash(
                ProofTranscript.setRecoveryVerifier(request, userID: session.userID).bytes),
            callerKey: throttle.usernameAndCaller(session.username, Throttle.callerKey(context.peerAddress)),
            context: context, on: worker.database)
        let userID = try session.userUUID
        let (replaced, ended) = try worker.database.transaction { db -> (Bool, [String]) in
            try lockUser(userID, on: db)
            try requireRecentLogin(session, on: db)
            let existed = try !db.query("SELECT 1 FROM auth.recovery_credentials WHERE user_id = $1", userID).isEmpty
            _ = try db.execute(
                """
                INSERT INTO auth.recovery_credentials (user_id, srp_salt, srp_verifier) VALUES ($1, $2, $3)
                ON CONFLICT (user_id) DO UPDATE
                    SET srp_salt = EXCLUDED.srp_salt, srp_verifier = EXCLUDED.srp_verifier, created_at = now()
                """, userID, salt, verifier)
            let ended = try endPendingRecovery(userID: userID, on: db)
            try audit.append(
                AuditEvent(
                    "recovery.enabled", sessionID: session.sessionID, peerAddress: context.peerAddress,
                    details: ["replaced": String(existed)]),
                userID: userID, on: db)
            try recordEnded(ended, by: "SetRecoveryVerifier", session: session, context: context, on: db)
            return (existed, ended)
        }
        context.logger.info("recovery verifier set", metadata: [
            "user_id": "\(session.userID)", "session_id": "\(session.sessionID)", "replaced": "\(replaced)",
        ])
        logEnded(ended, by: "SetRecoveryVerifier", session: session, context: context)
        var response = Svx_Auth_V1_SetRecoveryVerifierResponse()
        response.srpM2Hex = Hex.encode(m2)
        response.replaced = replaced
        return response
    }

    /// Removes the recovery credential and ends a pending recovery. A recent login. Idempotent.
    func deleteRecoveryVerifier(
        _: Svx_Auth_V1_DeleteRecoveryVerifierRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_DeleteRecoveryVerifierResponse {
        guard session.recentlyAuthenticated else { throw RPCStatus.reauthenticationRequired }
        let userID = try session.userUUID
        let (removed, ended) = try worker.database.transaction { db -> (Bool, [String]) in
            try lockUser(userID, on: db)
            try requireRecentLogin(session, on: db)
            let removed = try db.execute("DELETE FROM auth.recovery_credentials WHERE user_id = $1", userID) > 0
            let ended = try endPendingRecovery(userID: userID, on: db)
            if removed {
                try audit.append(
                    AuditEvent("recovery.disabled", sessionID: session.sessionID, peerAddress: context.peerAddress),
                    userID: userID, on: db)
            }
            try recordEnded(ended, by: "DeleteRecoveryVerifier", session: session, context: context, on: db)
            return (removed, ended)
        }
        context.logger.info("recovery verifier deleted", metadata: [
            "user_id": "\(session.userID)", "session_id": "\(session.sessionID)", "removed": "\(removed)",
        ])
        logEnded(ended, by: "DeleteRecoveryVerifier", session: session, context: context)
        var response = Svx_Auth_V1_DeleteRecoveryVerifierResponse()
        response.removed = removed
        return response
    }

    func getRecoveryStatus(
        _: Svx_Auth_V1_GetRecoveryStatusRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_GetRecoveryStatusResponse {
        let userID = try session.userUUID
        let db = worker.database
        var response = Svx_Auth_V1_GetRecoveryStatusResponse()
        if let row = try db.query(
            "SELECT \(epochMilliseconds("created_at")) FROM auth.recovery_credentials WHERE user_id = $1", userID
        ).first {
            response.enrolled = true
            response.enrolledAtMs = UInt64(max(0, try row.decode(Int64.self, at: 0)))
        }
        if let pending = try pendingRecovery(userID: userID, on: db) { response.pending = pending }
        return response
    }

    /// Ends the user's pending recovery (from any of the user's sessions, the RECOVERY one included); the recovery
    /// credential stays. Idempotent.
    func cancelRecovery(
        _: Svx_Auth_V1_CancelRecoveryRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_CancelRecoveryResponse {
        let userID = try session.userUUID
        let ended = try worker.database.transaction { db -> [String] in
            try lockUser(userID, on: db)
            let ended = try endPendingRecovery(userID: userID, on: db)
            try recordEnded(ended, by: "CancelRecovery", session: session, context: context, on: db)
            return ended
        }
        logEnded(ended, by: "CancelRecovery", session: session, context: context)
        var response = Svx_Auth_V1_CancelRecoveryResponse()
        response.cancelled = !ended.isEmpty
        return response
    }

    /// Completes a recovery from its usable RECOVERY session: the passphrase's new salt and verifier with the
    /// generation moved (the compare-and-set of ChangeVerifier), and in the same transaction every session of the
    /// user revoked (this one too), the recovery credential deleted (single use) and every pending challenge
    /// dropped. It needs a fresh proof of the Recovery Key bound to this request (`recovery_credentials`, checked like a
    /// credential proof against the recovery verifier, throttled like FinishRecovery): the session's token alone, taken
    /// from the wire, a file or any service it was sent to, cannot complete a recovery.
    func completeRecovery(
        _ request: Svx_Auth_V1_CompleteRecoveryRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_CompleteRecoveryResponse {
        guard session.scope == .recovery else { throw Self.recoverySessionRequired }
        let salt = try WireValidation.hex(request.srpSaltHex, field: "srp_salt_hex", bytes: WireValidation.saltLength)
        let verifier = try WireValidation.groupElement(request.srpVerifierHex, field: "srp_verifier_hex")
        try Self.checkGenerationMove(expected: request.expectedGeneration, new: request.newGeneration)
        let proof = try CredentialProof(request.recoveryCredentials, field: "recovery_credentials", credential: .recovery)
        // The proof is checked (its challenge consumed, a failure charged) before the transaction, as ChangeVerifier
        // does; the transaction then finds the recovery still pending and the credential still there, or refuses.
        let m2 = try verifyCredentialProof(
            proof, field: "recovery_credentials", session: session, purpose: AuthRPC.completeRecovery.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.completeRecovery(request, userID: session.userID).bytes),
            callerKey: throttle.usernameAndCaller(session.username, Throttle.callerKey(context.peerAddress), for: .recovery),
            credential: .recovery, context: context, on: worker.database)
        let userID = try session.userUUID
        let revoked = try worker.database.transaction { db -> Int in
            try lockUser(userID, on: db)
            // Still this user's pending recovery, and usable (cancelled, replaced or ended meanwhile: the session
            // is gone).
            let live = try db.query(
                """
                SELECT 1 FROM auth.sessions s
                WHERE s.session_id = $1::uuid AND s.user_id = $2 AND s.scope = 'recovery' AND s.usable_at <= now()
                  AND \(LocalSessionValidator.livePredicate("s", idle: "$3"))
                FOR UPDATE
                """, session.sessionID, userID, sessions.idleMilliseconds)
            guard !live.isEmpty else { throw RPCStatus.invalidSession }
            guard try db.execute("DELETE FROM auth.recovery_credentials WHERE user_id = $1", userID) == 1 else {
                throw RPCStatus.invalidSession
            }
            try moveCredential(
                userID: userID, salt: salt, verifier: verifier, expected: request.expectedGeneration,
                new: request.newGeneration, on: db)
            let revoked = try db.execute(
                "UPDATE auth.sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", userID)
            _ = try db.execute("DELETE FROM auth.login_challenges WHERE user_id = $1", userID)
            try audit.append(
                AuditEvent(
                    "recovery.completed", sessionID: session.sessionID, peerAddress: context.peerAddress,
                    details: [
                        "credential_generation": String(request.newGeneration), "revoked_sessions": String(revoked),
                    ]),
                userID: userID, on: db)
            return revoked
        }
        context.logger.info("recovery completed", metadata: [
            "user_id": "\(session.userID)", "session_id": "\(session.sessionID)",
            "credential_generation": "\(request.newGeneration)",
        ])
        var response = Svx_Auth_V1_CompleteRecoveryResponse()
        response.revokedSessions = UInt32(clamping: revoked)
        response.srpM2Hex = Hex.encode(m2)
        return response
    }

    /// Records in the user's trail, inside the transaction that ended them, the pending recoveries `ended` by `method`.
    private func recordEnded(
        _ ended: [String], by method: String, session: AuthenticatedSession, context: RequestContext,
        on db: PostgresConnection
    ) throws {
        let userID = try session.userUUID
        for recoverySession in ended {
            try audit.append(
                AuditEvent(
                    "recovery.cancelled", sessionID: session.sessionID, peerAddress: context.peerAddress,
                    subjectType: "session", subjectID: recoverySession, details: ["by": method]),
                userID: userID, on: db)
        }
    }

    private func logEnded(_ ended: [String], by event: String, session: AuthenticatedSession, context: RequestContext) {
        for recoverySession in ended {
            context.logger.info("recovery cancelled", metadata: [
                "user_id": "\(session.userID)", "session_id": "\(session.sessionID)",
                "recovery_session_id": "\(recoverySession)", "by": "\(event)",
            ])
        }
    }
}
