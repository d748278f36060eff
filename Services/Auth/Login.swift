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
        let username = try WireValidation.username(request.username)
        let A = try WireValidation.groupElement(request.srpAHex, field: "srp_a_hex")
        let caller = Throttle.callerKey(context.peerAddress)
        // Every BeginLogin costs a modexp and an INSERT, whatever comes of it: a rate per caller, before any of it.
        if let wait = beginLoginLimiter.take(caller) {
            throw RPCStatus(
                .resourceExhausted, "too many login attempts from this address, try again later",
                details: ["retry_after_ms": String(wait)])
        }
        let db = worker.database
        // One round trip: the user (if any) and both failed-login buckets (checked before any SRP work).
        let row = try db.query(
            """
            SELECT u.user_id, u.srp_salt, u.srp_verifier, \(Throttle.columns("bu")), \(Throttle.columns("bc")),
                   u.credential_generation
            FROM (SELECT 1) AS one
            LEFT JOIN auth.users u ON u.username = $1
            LEFT JOIN auth.throttle_buckets bu ON bu.bucket_key = $2
            LEFT JOIN auth.throttle_buckets bc ON bc.bucket_key = $3
            """, username, throttle.username(username).name, throttle.usernameAndCaller(username, caller).name)[0]
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
            salt = FakeCredentials.salt(secret: secret, username: username)
            verifier = try FakeCredentials.verifier(secret: secret, username: username)
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
                (login_id, user_id, username, srp_a, srp_b_nonce, srp_b, expires_at, credential_generation)
            VALUES ($1, $2, $3, $4, $5, $6, now() + $7::float8 * interval '1 millisecond', $8)
            """, loginID, userID, username, A, nonce, B, Double(configuration.challengeTTL.wholeMilliseconds),
            generation)
        var response = Svx_Auth_V1_BeginLoginResponse()
        response.loginID = loginID.wire
        response.srpSaltHex = Hex.encode(salt)
        response.srpBHex = Hex.encode(B)
        return response
    }

    func finishLogin(
        _ request: Svx_Auth_V1_FinishLoginRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_FinishLoginResponse {
        let loginID = try WireValidation.uuid(request.loginID, field: "login_id")
        let m1 = try WireValidation.hex(request.srpM1Hex, field: "srp_m1_hex", bytes: WireValidation.proofLength)
        let db = worker.database
        let caller = Throttle.callerKey(context.peerAddress)

        // Single use: the challenge is gone after this statement, whatever the outcome. The same round trip reads
        // the verifier and both failed-login buckets (checked before any SRP work).
        let rows = try db.query(
            """
            WITH c AS (
                DELETE FROM auth.login_challenges WHERE login_id = $1
                RETURNING user_id, username, srp_a, srp_b_nonce, srp_b, expires_at > now() AS live,
                          credential_generation
            )
            SELECT c.user_id, c.username, c.srp_a, c.srp_b_nonce, c.srp_b, c.live, u.srp_verifier,
                   \(Throttle.columns("bu")), \(Throttle.columns("bc")), c.credential_generation
            FROM c LEFT JOIN auth.users u ON u.user_id = c.user_id
            LEFT JOIN auth.throttle_buckets bu ON bu.bucket_key = 'u:' || c.username
            LEFT JOIN auth.throttle_buckets bc
                ON bc.bucket_key = '\(Throttle.usernameAndCallerPrefix)' || c.username || '@' || $2
            """, loginID, caller)
        guard let row = rows.first, try row.decode(Bool.self, at: 5) else {
            // Unknown, replayed or expired challenge: no guess was checked, and no bucket pays. Charging the
            // caller let anyone behind a shared address lock every user out with random ids (security review M3);
            // the call costs one primary-key DELETE, and the challenges it could consume come from BeginLogin,
            // which is rate-limited per caller.
            context.logger.info("login failed", metadata: ["reason": "no live challenge"])
            throw Self.loginFailed
        }
        let username = try row.decode(String.self, at: 1)
        let keys = [throttle.username(username), throttle.usernameAndCaller(username, caller)]
        if let throttled = Throttle.verdict([
            (throttle.perUsername, try row.decode(Double?.self, at: 7), try row.decode(Double?.self, at: 8)),
            (throttle.perUsernameAndCaller, try row.decode(Double?.self, at: 9), try row.decode(Double?.self, at: 10)),
        ]) {
            throw throttled
        }

        let userID = try row.decode(UUID?.self, at: 0)
        let storedVerifier = try row.decode([UInt8]?.self, at: 6)
        let verifier: [UInt8]
        if let userID, let storedVerifier {
            _ = userID
            verifier = storedVerifier
        } else {
            verifier = try FakeCredentials.verifier(secret: try secrets.load(on: db), username: username)
        }
        let M2 = try srpServerProof(
            loginID: loginID, A: try row.decode([UInt8].self, at: 2), B: try row.decode([UInt8].self, at: 4),
            bNonce: try row.decode([UInt8].self, at: 3), verifier: verifier, m1: m1)
        guard let M2, let userID, storedVerifier != nil else {
            try throttle.recordFailure(keys, on: db)
            context.logger.info("login failed", metadata: ["reason": "proof mismatch or unknown user"])
            throw Self.loginFailed
        }

        // The session is made only if the passphrase is still the one the challenge began with. The row lock
        // orders this against ChangeVerifier: either the change sees (and revokes) this session, or this sees the
        // new generation and refuses, so a login with the old passphrase never outlives a change.
        let generation = try row.decode(Int64?.self, at: 11)
        let session = try db.transaction { db -> NewSession? in
            let current = try db.query(
                "SELECT credential_generation FROM auth.users WHERE user_id = $1 FOR SHARE", userID)
            guard let current = current.first, let generation, try current.decode(Int64.self, at: 0) == generation else {
                return nil
            }
            return try createSession(userID: userID, on: db)
        }
        guard let session else {
            context.logger.info("login failed", metadata: ["reason": "passphrase changed during the login"])
            throw Self.loginFailed
        }
        context.logger.info("login", metadata: ["user_id": "\(userID.wire)", "session_id": "\(session.sessionID)"])
        var response = Svx_Auth_V1_FinishLoginResponse()
        response.srpM2Hex = Hex.encode(M2)
        response.sessionToken = session.token
        response.sessionID = session.sessionID
        response.userID = userID.wire
        response.expiresAtMs = session.expiresAtMs
        response.credentialGeneration = UInt64(generation ?? 0)
        return response
    }
}
