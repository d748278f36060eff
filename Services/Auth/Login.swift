import Cryppo
import Foundation
import SRP
import SVXProto
import SVXRPC
import SVXService

/// BeginLogin and FinishLogin: SRP-6a (reference/meeco-compat.md §3) with single-use expiring challenges,
/// fake challenges for unknown usernames, and throttling of failures. docs/ADR-002-auth.md.
extension AuthService {
    /// The one answer for every failed login (wrong passphrase or Secret Key, unknown username, unknown,
    /// replayed or expired challenge).
    static let loginFailed = RPCStatus(.unauthenticated, "invalid username or passphrase")

    /// The challenge's SRP b: HMAC-SHA256(challenge key, login id ‖ nonce). Only the nonce is stored, so the
    /// database alone (which also holds the verifiers) cannot finish a login someone else began.
    func ephemeralPrivateValue(loginID: UUID, nonce: [UInt8]) -> [UInt8] {
        let id = withUnsafeBytes(of: loginID.uuid) { Array($0) }
        return HMAC.sha256(key: challengeKey, message: id + nonce)
    }

    func beginLogin(
        _ request: Svx_Auth_V1_BeginLoginRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_BeginLoginResponse {
        let challenge = try beginChallenge(
            .login, username: request.username, aHex: request.srpAHex, context: context, worker: worker)
        var response = Svx_Auth_V1_BeginLoginResponse()
        response.loginID = challenge.loginID.wire
        response.srpSaltHex = Hex.encode(challenge.salt)
        response.srpBHex = Hex.encode(challenge.B)
        return response
    }

    /// A challenge BeginLogin or BeginRecovery made.
    struct BegunChallenge {
        let loginID: UUID
        let salt: [UInt8]
        let B: [UInt8]
        /// nil for a fake challenge (unknown username; for a recovery also a user without a recovery credential).
        let userID: UUID?
    }

    /// BeginLogin and BeginRecovery: the SRP server's first step against the user's credential of `purpose` (the
    /// passphrase's verifier in `auth.users`, or the recovery verifier in `auth.recovery_credentials`), or against
    /// a fake one of that purpose. The per-caller rate (one limiter for both) comes before anything else; then the
    /// failed-proof buckets of `purpose`.
    func beginChallenge(
        _ purpose: ChallengePurpose, username rawUsername: String, aHex: String, context: RequestContext,
        worker: ServiceWorker
    ) throws -> BegunChallenge {
        let username = try WireValidation.username(rawUsername)
        let A = try WireValidation.groupElement(aHex, field: "srp_a_hex")
        let caller = Throttle.callerKey(context.peerAddress)
        // Every BeginLogin costs a modexp and an INSERT, whatever comes of it: a rate per caller, before any of it.
        if let wait = beginLoginLimiter.take(caller) {
            throw RPCStatus(
                .resourceExhausted, "too many login attempts from this address, try again later",
                details: ["retry_after_ms": String(wait)])
        }
        let db = worker.database
        // One round trip: the user's credential (if any) and both failed-proof buckets (checked before any SRP
        // work). A recovery's credential is its own row: a user without one is answered like an unknown username.
        let credential = switch purpose {
        case .login: "SELECT user_id, srp_salt, srp_verifier, credential_generation FROM auth.users WHERE username = $1"
        case .recovery:
            """
            SELECT u.user_id, r.srp_salt, r.srp_verifier, u.credential_generation
            FROM auth.users u JOIN auth.recovery_credentials r ON r.user_id = u.user_id WHERE u.username = $1
            """
        }
        let row = try db.query(
            """
            SELECT k.user_id, k.srp_salt, k.srp_verifier, \(Throttle.columns("bu")), \(Throttle.columns("bc")),
                   k.credential_generation
            FROM (SELECT 1) AS one
            LEFT JOIN (\(credential)) k ON true
            LEFT JOIN auth.throttle_buckets bu ON bu.bucket_key = $2
            LEFT JOIN auth.throttle_buckets bc ON bc.bucket_key = $3
            """, username, throttle.username(username, for: purpose).name,
            throttle.usernameAndCaller(username, caller, for: purpose).name)[0]
        if let throttled = Throttle.verdict([
            (throttle.perUsername, try row.decode(Double?.self, at: 3), try row.decode(Double?.self, at: 4)),
            (throttle.perUsernameAndCaller, try row.decode(Double?.self, at: 5), try row.decode(Double?.self, at: 6)),
        ]) {
            throw throttled
        }
        housekeepingIfDue(context, worker)

        let parameters = WireValidation.parameters
        let userID: UUID?
        let salt: [UInt8]
        let verifier: [UInt8]
        let generation = try row.decode(Int64?.self, at: 7)
        if let knownID = try row.decode(UUID?.self, at: 0) {
            userID = knownID
            salt = try row.decode([UInt8].self, at: 1)
            verifier = try row.decode([UInt8].self, at: 2)
        } else {
            // Unknown: a deterministic fake salt and a B made the same way from a fake verifier.
            let secret = try secrets.load(on: db)
            userID = nil
            salt = FakeCredentials.salt(secret: secret, username: username, for: purpose)
            verifier = try FakeCredentials.verifier(secret: secret, username: username, for: purpose)
        }
        let loginID = UUID()
        let nonce = try SecureRandom.bytes(count: 32)
        var b = ephemeralPrivateValue(loginID: loginID, nonce: nonce)
        defer { secureZero(&b) }
        // The SRP server's first step; FinishLogin (or a credential proof) rebuilds the machine from the row.
        let B = try SRPServer(parameters: parameters, verifier: verifier, privateValue: b).publicKey
        _ = try db.execute(
            """
            INSERT INTO auth.login_challenges
                (login_id, user_id, username, srp_a, srp_b_nonce, srp_b, expires_at, credential_generation, purpose)
            VALUES ($1, $2, $3, $4, $5, $6, now() + $7::float8 * interval '1 millisecond', $8, $9)
            """, loginID, userID, username, A, nonce, B, Double(configuration.challengeTTL.wholeMilliseconds),
            generation, purpose.rawValue)
        return BegunChallenge(loginID: loginID, salt: salt, B: B, userID: userID)
    }

    /// A challenge FinishLogin or FinishRecovery found proved.
    struct ProvedChallenge {
        let userID: UUID
        let username: String
        /// The user's credential generation when the challenge began.
        let generation: Int64?
        /// The verifier the proof was checked against.
        let verifier: [UInt8]
        let M2: [UInt8]
    }

    /// FinishLogin and FinishRecovery up to the proof: consumes the challenge of `purpose` (a challenge of the
    /// other purpose is as unknown as a missing one, and stays), checks the failed-proof buckets of `purpose`,
    /// checks M1 against the credential of `purpose`, and on a wrong proof takes a token from each bucket. Every
    /// failure is `failure`.
    func finishChallenge(
        _ purpose: ChallengePurpose, loginID rawLoginID: String, m1Hex: String, failure: RPCStatus,
        context: RequestContext, worker: ServiceWorker
    ) throws -> ProvedChallenge {
        let loginID = try WireValidation.uuid(rawLoginID, field: "login_id")
        let m1 = try WireValidation.hex(m1Hex, field: "srp_m1_hex", bytes: WireValidation.proofLength)
        let db = worker.database
        let caller = Throttle.callerKey(context.peerAddress)
        let event = purpose == .login ? "login failed" : "recovery failed"
        let credential = switch purpose {
        case .login: "auth.users"
        case .recovery: "auth.recovery_credentials"
        }

        // Single use: the challenge is gone after this statement, whatever the outcome. The same round trip reads
        // the verifier and both failed-proof buckets (checked before any SRP work).
        let rows = try db.query(
            """
            WITH c AS (
                DELETE FROM auth.login_challenges WHERE login_id = $1 AND purpose = $3
                RETURNING user_id, username, srp_a, srp_b_nonce, srp_b, expires_at > now() AS live,
                          credential_generation
            )
            SELECT c.user_id, c.username, c.srp_a, c.srp_b_nonce, c.srp_b, c.live, k.srp_verifier,
                   \(Throttle.columns("bu")), \(Throttle.columns("bc")), c.credential_generation
            FROM c LEFT JOIN \(credential) k ON k.user_id = c.user_id
            LEFT JOIN auth.throttle_buckets bu ON bu.bucket_key = $4::text || c.username
            LEFT JOIN auth.throttle_buckets bc ON bc.bucket_key = $5::text || c.username || '@' || $2
            """, loginID, caller, purpose.rawValue, Throttle.usernamePrefix(purpose),
            Throttle.usernameAndCallerPrefix(purpose))
        guard let row = rows.first, try row.decode(Bool.self, at: 5) else {
            // Unknown, replayed or expired challenge: no guess was checked, and no bucket pays. Charging the
            // caller let anyone behind a shared address lock every user out with random ids (security review M3);
            // the call costs one primary-key DELETE, and the challenges it could consume come from BeginLogin,
            // which is rate-limited per caller.
            context.logger.info("\(event)", metadata: ["reason": "no live challenge"])
            throw failure
        }
        let username = try row.decode(String.self, at: 1)
        let keys = [throttle.username(username, for: purpose), throttle.usernameAndCaller(username, caller, for: purpose)]
        if let throttled = Throttle.verdict([
            (throttle.perUsername, try row.decode(Double?.self, at: 7), try row.decode(Double?.self, at: 8)),
            (throttle.perUsernameAndCaller, try row.decode(Double?.self, at: 9), try row.decode(Double?.self, at: 10)),
        ]) {
            throw throttled
        }

        let userID = try row.decode(UUID?.self, at: 0)
        let storedVerifier = try row.decode([UInt8]?.self, at: 6)
        let verifier: [UInt8]
        if userID != nil, let storedVerifier {
            verifier = storedVerifier
        } else {
            verifier = try FakeCredentials.verifier(secret: try secrets.load(on: db), username: username, for: purpose)
        }
        let M2 = try srpServerProof(
            loginID: loginID, A: try row.decode([UInt8].self, at: 2), B: try row.decode([UInt8].self, at: 4),
            bNonce: try row.decode([UInt8].self, at: 3), verifier: verifier, m1: m1)
        guard let M2, let userID, storedVerifier != nil else {
            try throttle.recordFailure(keys, on: db)
            // In the owner's trail: a guess at an existing user's credential (unknown usernames have no trail).
            if let userID, storedVerifier != nil {
                try db.transaction { db in
                    try audit.append(
                        AuditEvent(purpose == .login ? "login.failed" : "recovery.failed", peerAddress: context.peerAddress),
                        userID: userID, on: db)
                }
            }
            context.logger.info("\(event)", metadata: ["reason": "proof mismatch or unknown user"])
            throw failure
        }
        return ProvedChallenge(
            userID: userID, username: username, generation: try row.decode(Int64?.self, at: 11), verifier: verifier,
            M2: M2)
    }

    func finishLogin(
        _ request: Svx_Auth_V1_FinishLoginRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_FinishLoginResponse {
        let proved = try finishChallenge(
            .login, loginID: request.loginID, m1Hex: request.srpM1Hex, failure: Self.loginFailed, context: context,
            worker: worker)
        let userID = proved.userID
        let generation = proved.generation

        // The session is made only if the passphrase is still the one the challenge began with. The row lock
        // orders this against ChangeVerifier: either the change sees (and revokes) this session, or this sees the
        // new generation and refuses, so a login with the old passphrase never outlives a change.
        let db = worker.database
        // Two statements: the user's row locked if its generation is still the challenge's (with the audit head), then
        // the session inserted with its audit event.
        let session = try db.transaction { db -> NewSession? in
            guard let generation else { return nil }
            let locked = try audit.lockHead(
                userID, ifRowsOf: "SELECT 1 FROM auth.users WHERE user_id = $1 AND credential_generation = $2 FOR SHARE",
                [userID, generation], on: db)
            guard locked.passed else { return nil }
            let event = { (sessionID: String) in
                AuditEvent("login.succeeded", sessionID: sessionID, peerAddress: context.peerAddress)
            }
            return try createSession(userID: userID, recording: locked.head.map { (event, $0) }, on: db)
        }
        guard let session else {
            context.logger.info("login failed", metadata: ["reason": "passphrase changed during the login"])
            throw Self.loginFailed
        }
        context.logger.info("login", metadata: ["user_id": "\(userID.wire)", "session_id": "\(session.sessionID)"])
        var response = Svx_Auth_V1_FinishLoginResponse()
        response.srpM2Hex = Hex.encode(proved.M2)
        response.sessionToken = session.token
        response.sessionID = session.sessionID
        response.userID = userID.wire
        response.expiresAtMs = session.expiresAtMs
        response.credentialGeneration = UInt64(generation ?? 0)
        // The owner sees a recovery under way at every login (and can cancel it).
        if let pending = try pendingRecovery(userID: userID, on: db) { response.pendingRecovery = pending }
        return response
    }
}

/// What a login challenge proves: the passphrase (BeginLogin: FinishLogin and credential proofs) or the Recovery
/// Key (BeginRecovery: FinishRecovery only). Stored in `auth.login_challenges.purpose`.
enum ChallengePurpose: String, Sendable {
    case login
    case recovery
}
