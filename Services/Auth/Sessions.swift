import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Sessions: 256 random bits, URL-safe base64 without padding (43 characters); only the SHA-256 is stored. A session ends at its absolute expiry
/// (login + SVX_AUTH_SESSION_MAX_MS), after SVX_AUTH_SESSION_IDLE_MS without use, or when revoked. A RECOVERY session
/// (FinishRecovery) expires SVX_AUTH_RECOVERY_WINDOW_MS after its `usable_at` and has no idle timeout: its owner
/// comes back at any time in that window, after a delay of a day.
struct NewSession {
    let token: String
    let sessionID: String
    let expiresAtMs: UInt64
    /// RECOVERY sessions: when the delay ends (0 for FULL sessions).
    var usableAtMs: UInt64 = 0
}

/// Validates tokens against Auth's own tables (Auth's authenticated methods and ValidateSession).
/// `last_seen_at` is written at most once per ``refreshInterval`` per session, not on every call.
final class LocalSessionValidator: SessionValidator {
    let idleMilliseconds: Double
    let refreshIntervalMilliseconds: Double
    let reauthWindowMilliseconds: Double

    init(configuration: AuthConfiguration) {
        idleMilliseconds = Double(configuration.sessionIdle.wholeMilliseconds)
        reauthWindowMilliseconds = Double(configuration.reauthWindow.wholeMilliseconds)
        refreshIntervalMilliseconds = min(5_000, idleMilliseconds / 4)
    }

    /// Tokens are 43 base64url characters; anything much longer is not hashed at all.
    static let maximumTokenLength = 256

    static func tokenHash(_ token: String) -> [UInt8] { HashFunction.sha256.hash(Array(token.utf8)) }

    /// SQL: the session of alias `s` is live: not revoked, not expired, used within the idle timeout (parameter
    /// `idle`, milliseconds). A recovery session has no idle timeout, only its expiry.
    static func livePredicate(_ s: String, idle: String) -> String {
        """
        \(s).revoked_at IS NULL AND \(s).expires_at > now()
        AND (\(s).scope = 'recovery' OR \(s).last_seen_at > now() - \(idle)::float8 * interval '1 millisecond')
        """
    }

    /// Always fresh: these are Auth's own tables.
    func validate(token: String, context: RequestContext, worker: ServiceWorker, fresh _: Bool) throws -> AuthenticatedSession {
        guard !token.isEmpty, token.utf8.count <= Self.maximumTokenLength else { throw RPCStatus.invalidSession }
        let db = worker.database
        // A recovery session counts as recently authenticated from usable_at (the Recovery Key's proof and the
        // delay stand in for the login) until it ends.
        let rows = try db.query(
            """
            SELECT s.session_id, s.user_id, u.username, \(epochMilliseconds("s.expires_at")),
                   s.last_seen_at < now() - $3::float8 * interval '1 millisecond', u.credential_generation,
                   CASE WHEN s.scope = 'recovery' THEN s.usable_at <= now()
                        ELSE s.created_at > now() - $4::float8 * interval '1 millisecond' END,
                   s.scope, COALESCE(\(epochMilliseconds("s.usable_at")), 0)
            FROM auth.sessions s JOIN auth.users u ON u.user_id = s.user_id
            WHERE s.token_sha256 = $1 AND \(Self.livePredicate("s", idle: "$2"))
            """, Self.tokenHash(token), idleMilliseconds, refreshIntervalMilliseconds, reauthWindowMilliseconds)
        guard let row = rows.first else { throw RPCStatus.invalidSession }
        let sessionID = try row.decode(UUID.self, at: 0)
        if try row.decode(Bool.self, at: 4) {
            _ = try db.execute("UPDATE auth.sessions SET last_seen_at = now() WHERE session_id = $1", sessionID)
        }
        let recovery = try row.decode(String.self, at: 7) == "recovery"
        return AuthenticatedSession(
            userID: try row.decode(UUID.self, at: 1).wire, sessionID: sessionID.wire,
            username: try row.decode(String.self, at: 2), expiresAtMs: UInt64(try row.decode(Int64.self, at: 3)),
            credentialGeneration: UInt64(try row.decode(Int64.self, at: 5)),
            recentlyAuthenticated: try row.decode(Bool.self, at: 6), scope: recovery ? .recovery : .full,
            usableAtMs: recovery ? UInt64(max(0, try row.decode(Int64.self, at: 8))) : 0)
    }
}

extension AuthenticatedSession.Scope {
    /// The wire form.
    var wire: Svx_Auth_V1_SessionScope {
        switch self {
        case .full: .full
        case .recovery: .recovery
        }
    }
}

extension AuthService {
    /// A FULL session (FinishLogin). With `audit`, the same statement records the event `audit.event` makes of the new
    /// session's id, after `audit.head` (which this transaction locked: ``AuditTrail/lockHead(_:ifRowsOf:_:on:)``).
    func createSession(
        userID: UUID, recording audit: (event: (String) -> AuditEvent, head: AuditHead)? = nil, on db: PostgresConnection
    ) throws -> NewSession {
        try insertSession(
            userID: userID, scope: "full", usableAt: "NULL", expiresAt: "now() + $5::float8 * interval '1 millisecond'",
            Double(configuration.sessionMax.wholeMilliseconds), recording: audit, on: db)
    }

    /// A RECOVERY session (FinishRecovery): usable after SVX_AUTH_RECOVERY_DELAY_MS, ends
    /// SVX_AUTH_RECOVERY_WINDOW_MS after that.
    func createRecoverySession(userID: UUID, on db: PostgresConnection) throws -> NewSession {
        try insertSession(
            userID: userID, scope: "recovery", usableAt: "now() + $5::float8 * interval '1 millisecond'",
            expiresAt: "now() + ($5::float8 + $6::float8) * interval '1 millisecond'",
            Double(configuration.recoveryDelay.wholeMilliseconds), Double(configuration.recoveryWindow.wholeMilliseconds),
            on: db)
    }

    /// Inserts a session with a fresh token; `usableAt` and `expiresAt` are SQL over `$5` and on (`times`). With
    /// `recording`, the same statement also stores the audit event and moves the user's head (one round trip).
    private func insertSession(
        userID: UUID, scope: String, usableAt: String, expiresAt: String, _ times: Double...,
        recording record: (event: (String) -> AuditEvent, head: AuditHead)? = nil, on db: PostgresConnection
    ) throws -> NewSession {
        // 43 characters: URL-safe base64 without the padding '='.
        let token = String(Base64URL.encode(try SecureRandom.bytes(count: 32)).prefix { $0 != "=" })
        let sessionID = UUID()
        var parameters: [(any PostgresEncodable)?] = [sessionID, userID, LocalSessionValidator.tokenHash(token), scope]
        parameters += times.map { $0 as (any PostgresEncodable)? }
        var sql = """
            INSERT INTO auth.sessions (session_id, user_id, token_sha256, scope, usable_at, expires_at)
            VALUES ($1, $2, $3, $4, \(usableAt), \(expiresAt))
            RETURNING \(epochMilliseconds("expires_at")), COALESCE(\(epochMilliseconds("usable_at")), 0)
            """
        if let record {
            let entry = audit.linkedEntry(record.event(sessionID.wire), userID: userID, after: record.head)
            let stored = try audit.recordSQL(entry, userID: userID, firstPlaceholder: parameters.count + 1)
            sql = "WITH session AS (\(sql)), event AS (\(stored.insertEvent)), head AS (\(stored.moveHead)) SELECT * FROM session"
            parameters += stored.parameters
        }
        let rows = try db.query(sql, parameters: parameters)
        return NewSession(
            token: token, sessionID: sessionID.wire, expiresAtMs: UInt64(try rows[0].decode(Int64.self, at: 0)),
            usableAtMs: UInt64(try rows[0].decode(Int64.self, at: 1)))
    }

    func validateSession(
        _ request: Svx_Auth_V1_ValidateSessionRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_ValidateSessionResponse {
        let session = try sessions.validate(token: request.sessionToken, context: context, worker: worker, fresh: true)
        var response = Svx_Auth_V1_ValidateSessionResponse()
        response.credentialGeneration = session.credentialGeneration
        response.recentlyAuthenticated = session.recentlyAuthenticated
        response.userID = session.userID
        response.sessionID = session.sessionID
        response.expiresAtMs = session.expiresAtMs
        response.username = session.username
        response.scope = session.scope.wire
        response.usableAtMs = session.usableAtMs
        return response
    }

    func logout(
        _: Svx_Auth_V1_LogoutRequest, _ context: RequestContext, _ worker: ServiceWorker, _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_LogoutResponse {
        let userID = try session.userUUID
        try worker.database.transaction { db in
            let ended = try db.execute(
                "UPDATE auth.sessions SET revoked_at = now() WHERE session_id = $1::uuid AND revoked_at IS NULL",
                session.sessionID)
            if ended > 0 {
                try audit.append(
                    AuditEvent("logout", sessionID: session.sessionID, peerAddress: context.peerAddress), userID: userID,
                    on: db)
            }
        }
        context.logger.info("logout", metadata: ["user_id": "\(session.userID)", "session_id": "\(session.sessionID)"])
        return .init()
    }

    func listSessions(
        _: Svx_Auth_V1_ListSessionsRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_ListSessionsResponse {
        let rows = try worker.database.query(
            """
            SELECT s.session_id, \(epochMilliseconds("s.created_at")), \(epochMilliseconds("s.last_seen_at")),
                   \(epochMilliseconds("s.expires_at")), s.scope, COALESCE(\(epochMilliseconds("s.usable_at")), 0)
            FROM auth.sessions s
            WHERE s.user_id = $1::uuid AND \(LocalSessionValidator.livePredicate("s", idle: "$2"))
            ORDER BY s.created_at, s.session_id
            """, session.userID, sessions.idleMilliseconds)
        var response = Svx_Auth_V1_ListSessionsResponse()
        response.sessions = try rows.map { row in
            var item = Svx_Auth_V1_Session()
            item.sessionID = try row.decode(UUID.self, at: 0).wire
            item.createdAtMs = UInt64(try row.decode(Int64.self, at: 1))
            item.lastSeenAtMs = UInt64(try row.decode(Int64.self, at: 2))
            item.expiresAtMs = UInt64(try row.decode(Int64.self, at: 3))
            item.scope = try row.decode(String.self, at: 4) == "recovery" ? .recovery : .full
            item.usableAtMs = UInt64(max(0, try row.decode(Int64.self, at: 5)))
            item.current = item.sessionID == session.sessionID
            return item
        }
        return response
    }

    func revokeSession(
        _ request: Svx_Auth_V1_RevokeSessionRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_RevokeSessionResponse {
        let target = try WireValidation.uuid(request.sessionID, field: "session_id")
        let userID = try session.userUUID
        // Another user's session id is NOT_FOUND, exactly like an unknown one.
        let changed = try worker.database.transaction { db -> Int in
            let changed = try db.execute(
                """
                UPDATE auth.sessions SET revoked_at = now()
                WHERE session_id = $1 AND user_id = $2::uuid AND revoked_at IS NULL AND expires_at > now()
                """, target, session.userID)
            if changed == 1 {
                try audit.append(
                    AuditEvent(
                        "session.revoked", sessionID: session.sessionID, peerAddress: context.peerAddress,
                        subjectType: "session", subjectID: target.wire),
                    userID: userID, on: db)
            }
            return changed
        }
        guard changed == 1 else { throw RPCStatus(.notFound, "session not found", details: ["field": "session_id"]) }
        context.logger.info("session revoked", metadata: ["user_id": "\(session.userID)", "session_id": "\(target.wire)"])
        return .init()
    }

    /// How far one passphrase change may move the generation (abandoned staged changes are skipped over).
    static let maximumGenerationStep: UInt64 = 1_000

    /// Step 2 of a passphrase change (docs/ADR-004-keystore.md): new salt and verifier, and the credential
    /// generation moved from `expected_generation` to `new_generation` (compare-and-set; it never goes down).
    /// Needs a session from a recent login and a credential proof of the current passphrase bound to this
    /// request (so a stolen session token alone cannot take the account). The calling session stays; every
    /// other session of the user and every pending login challenge ends.

    func changeVerifier(
        _ request: Svx_Auth_V1_ChangeVerifierRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_ChangeVerifierResponse {
        let salt = try WireValidation.hex(request.srpSaltHex, field: "srp_salt_hex", bytes: WireValidation.saltLength)
        let verifier = try WireValidation.groupElement(request.srpVerifierHex, field: "srp_verifier_hex")
        try Self.checkGenerationMove(expected: request.expectedGeneration, new: request.newGeneration)
        let proof = try CredentialProof(request.currentCredentials, field: "current_credentials")
        guard session.recentlyAuthenticated else { throw Self.changeNeedsRecentLogin }
        let m2 = try verifyCredentialProof(
            proof, field: "current_credentials", session: session, purpose: AuthRPC.changeVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.changeVerifier(request, userID: session.userID).bytes),
            callerKey: throttle.usernameAndCaller(session.username, Throttle.callerKey(context.peerAddress)),
            context: context, on: worker.database)
        let reauthWindow = Double(configuration.reauthWindow.wholeMilliseconds)
        let userID = try session.userUUID
        let revoked = try worker.database.transaction { db -> [String] in
            // The user's row first, then the session's: the order of every Auth transaction that takes both.
            try lockUser(userID, on: db)
            let fresh = try db.query(
                """
                SELECT created_at > now() - $2::float8 * interval '1 millisecond' FROM auth.sessions
                WHERE session_id = $1::uuid AND revoked_at IS NULL AND expires_at > now() FOR UPDATE
                """, session.sessionID, reauthWindow)
            guard let fresh = fresh.first, try fresh.decode(Bool.self, at: 0) else { throw Self.changeNeedsRecentLogin }
            try moveCredential(
                userID: userID, salt: salt, verifier: verifier, expected: request.expectedGeneration,
                new: request.newGeneration, on: db)
            // Every other session ends, a pending recovery's RECOVERY session too (the recovery credential stays),
            // and every pending challenge of both purposes.
            let revoked = try db.query(
                """
                UPDATE auth.sessions SET revoked_at = now()
                WHERE user_id = $1 AND session_id <> $2::uuid AND revoked_at IS NULL
                RETURNING scope
                """, userID, session.sessionID).map { try $0.decode(String.self, at: 0) }
            _ = try db.execute("DELETE FROM auth.login_challenges WHERE user_id = $1", userID)
            try audit.append(
                AuditEvent(
                    "passphrase.changed", sessionID: session.sessionID, peerAddress: context.peerAddress,
                    details: [
                        "credential_generation": String(request.newGeneration), "revoked_sessions": String(revoked.count),
                        "recovery_ended": String(revoked.contains("recovery")),
                    ]),
                userID: userID, on: db)
            return revoked
        }
        context.logger.info("verifier changed", metadata: [
            "user_id": "\(session.userID)", "credential_generation": "\(request.newGeneration)",
        ])
        if revoked.contains("recovery") {
            context.logger.info("recovery ended by a passphrase change", metadata: [
                "user_id": "\(session.userID)", "session_id": "\(session.sessionID)",
            ])
        }
        var response = Svx_Auth_V1_ChangeVerifierResponse()
        response.revokedSessions = UInt32(clamping: revoked.count)
        response.srpM2Hex = Hex.encode(m2)
        return response
    }

    /// The generations of a passphrase change (ChangeVerifier, CompleteRecovery): `expected` given, `new` above it
    /// by at most ``maximumGenerationStep``. INVALID_ARGUMENT naming the field otherwise.
    static func checkGenerationMove(expected: UInt64, new: UInt64) throws(RPCStatus) {
        guard expected >= 1, expected <= UInt64(Int64.max) else {
            throw RPCStatus(.invalidArgument, "expected_generation is required (the generation your login returned)",
                            details: ["field": "expected_generation"])
        }
        // The Keystore stages max(seen) + 1, so a new generation is never far above the current one; the bound keeps
        // generations far from overflowing.
        guard new > expected, new - expected <= maximumGenerationStep, new <= UInt64(Int64.max) else {
            throw RPCStatus(
                .invalidArgument,
                "new_generation must be greater than expected_generation, by at most \(maximumGenerationStep)",
                details: ["field": "new_generation"])
        }
    }

    /// Locks the user's row (`FOR UPDATE`) for the rest of the transaction: what changes the user's credentials or
    /// sessions takes it first, so that such transactions never wait on each other in a cycle.
    func lockUser(_ userID: UUID, on db: PostgresConnection) throws {
        _ = try db.query("SELECT 1 FROM auth.users WHERE user_id = $1 FOR UPDATE", userID)
    }

    /// The compare-and-set of a passphrase change (ChangeVerifier, CompleteRecovery): the new salt and verifier,
    /// and the credential generation moved from `expected` to `new`, only if it is still `expected` (ABORTED
    /// otherwise).
    func moveCredential(
        userID: UUID, salt: [UInt8], verifier: [UInt8], expected: UInt64, new: UInt64, on db: PostgresConnection
    ) throws {
        let changed = try db.execute(
            """
            UPDATE auth.users SET srp_salt = $2, srp_verifier = $3, credential_generation = $5, updated_at = now()
            WHERE user_id = $1 AND credential_generation = $4
            """, userID, salt, verifier, Int64(expected), Int64(new))
        guard changed == 1 else {
            throw RPCStatus(
                .aborted, "the passphrase was changed by another session: log in again",
                details: ["field": "expected_generation"])
        }
    }

    static let changeNeedsRecentLogin = RPCStatus(
        .failedPrecondition, "changing the passphrase needs a recent login: log in again with the current passphrase")
}
