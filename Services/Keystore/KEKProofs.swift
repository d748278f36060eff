import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Proving possession of the current KEK (docs/ADR-004-keystore.md): BeginKEKProof hands out single-use nonces,
/// StagePassphraseChange and RotateKEK check a signature by the KEK check key over their request and a nonce, and
/// SetKEKCheck sets the check of a KEK that predates checks, proved by the current passphrase (Auth checks it).
/// A session alone, however fresh, can do none of this: a stolen token cannot replace keys with garbage.
extension KeystoreService {
    /// How long a nonce from BeginKEKProof can be used: the client asks for it right before the request it signs.
    static let kekProofLifetimeMilliseconds: Double = 120_000
    /// Unused nonces a user may hold at once (a client in a loop cannot grow the table).
    static let maximumOpenKEKProofs = 8

    /// The one answer for a KEK proof that does not hold, whatever the reason (unknown, used, expired or another
    /// user's challenge, a signature by another key or over another request).
    static let kekProofRefused = RPCStatus(
        .permissionDenied,
        "the KEK proof does not hold: sign this request with the current KEK's check key and a fresh nonce (BeginKEKProof)",
        details: ["field": "kek_proof"])

    static let kekCheckMissing = RPCStatus(
        .failedPrecondition,
        "this KEK has no KEK check yet: log in again (the client sets it with a proof of your passphrase, SetKEKCheck)",
        details: ["reason": "kek_check_missing"])

    func beginKEKProof(
        _ request: Svx_Keystore_V1_BeginKEKProofRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_BeginKEKProofResponse {
        let userID = try session.userUUID
        let challengeID = UUID()
        let nonce = try SecureRandom.bytes(count: 32)
        let expiresAtMs = try worker.database.transaction { db -> Int64 in
            // The user's row, locked: concurrent BeginKEKProofs count the open nonces one after the other.
            let user = try db.query("SELECT kek_check FROM keystore.users WHERE user_id = $1 FOR UPDATE", userID)
            guard let row = user.first else {
                throw RPCStatus(.failedPrecondition, "this user has no KEK yet: create it first (CreateKEK)")
            }
            guard try row.decode([UInt8]?.self, at: 0) != nil else { throw Self.kekCheckMissing }
            _ = try db.execute("DELETE FROM keystore.kek_proof_challenges WHERE user_id = $1 AND expires_at <= now()", userID)
            let open = try db.query(
                """
                SELECT count(*)::bigint,
                       coalesce((EXTRACT(EPOCH FROM (min(expires_at) - now())) * 1000)::bigint, 0)
                FROM keystore.kek_proof_challenges WHERE user_id = $1
                """, userID)[0]
            guard try open.decode(Int64.self, at: 0) < Int64(Self.maximumOpenKEKProofs) else {
                throw RPCStatus(
                    .resourceExhausted, "too many unused KEK proof nonces: use one, or wait for them to expire",
                    details: ["retry_after_ms": String(max(1, try open.decode(Int64.self, at: 1)))])
            }
            return try db.query(
                """
                INSERT INTO keystore.kek_proof_challenges (user_id, challenge_id, nonce, expires_at)
                VALUES ($1, $2, $3, now() + $4::float8 * interval '1 millisecond')
                RETURNING \(epochMilliseconds("expires_at"))
                """, userID, challengeID, nonce, Self.kekProofLifetimeMilliseconds)[0].decode(Int64.self, at: 0)
        }
        var response = Svx_Keystore_V1_BeginKEKProofResponse()
        response.challengeID = challengeID.wire
        response.nonce = Data(nonce)
        response.expiresAtMs = UInt64(expiresAtMs)
        return response
    }

    /// Consumes the caller's challenge `challengeID` in a statement of its own (committed before the request's
    /// transaction, so it is used up even if the request fails later) and returns its nonce. Another user's
    /// challenge is not touched and is refused like an unknown one.
    static func consumeKEKProofChallenge(_ db: PostgresConnection, userID: UUID, challengeID: UUID) throws -> [UInt8] {
        let rows = try db.query(
            """
            DELETE FROM keystore.kek_proof_challenges WHERE user_id = $1 AND challenge_id = $2
            RETURNING nonce, expires_at > now()
            """, userID, challengeID)
        guard let row = rows.first, try row.decode(Bool.self, at: 1) else { throw kekProofRefused }
        return try row.decode([UInt8].self, at: 0)
    }

    /// In a transaction: locks the user's row `FOR UPDATE`, checks the KEK proof `signature` over `transcript` against
    /// the stored KEK check, and returns the current KEK version. A user without a KEK is FAILED_PRECONDITION.
    static func lockUserProvingKEK(
        _ db: PostgresConnection, userID: UUID, signature: [UInt8], transcript: ProofTranscript
    ) throws -> Int32 {
        let user = try db.query("SELECT kek_version, kek_check FROM keystore.users WHERE user_id = $1 FOR UPDATE", userID)
        guard let user = user.first else {
            throw RPCStatus(.failedPrecondition, "this user has no KEK yet: create it first (CreateKEK)")
        }
        try requireKEKProof(signature: signature, transcript: transcript, check: try user.decode([UInt8]?.self, at: 1))
        return try user.decode(Int32.self, at: 0)
    }

    /// The answer when a request names a KEK version that is not the current one (a rotation came between).
    static func requireCurrentKEKVersion(_ kekVersion: Int32, current version: Int32) throws {
        guard version == kekVersion else {
            throw RPCStatus(
                .aborted, "kek_version \(kekVersion) is not the current KEK (version \(version)): unwrap the KEK again",
                details: ["field": "kek_version"])
        }
    }

    /// Checks `signature` over `transcript` against the user's KEK check `check` (read with the user's row
    /// locked). No check: FAILED_PRECONDITION `kek_check_missing`.
    static func requireKEKProof(signature: [UInt8], transcript: ProofTranscript, check: [UInt8]?) throws {
        guard let check else { throw kekCheckMissing }
        guard Ed25519.isValidSignature(signature, of: transcript.bytes, publicKey: check) else { throw kekProofRefused }
    }

    /// Auth names the fields of its own request (`proof.*`); in SetKEKCheck's they are `current_credentials.*`.
    static func namingCredentialFields(_ status: RPCStatus) -> RPCStatus {
        guard let field = status.details["field"], field.hasPrefix("proof") else { return status }
        var details = status.details
        details["field"] = "current_credentials" + field.dropFirst("proof".count)
        return RPCStatus(status.code, status.message, details: details)
    }

    /// SetKEKCheck: the KEK check of a KEK that has none (created before KEK checks), or the repair of a wrong
    /// one, proved by the current passphrase: Auth checks the credential proof (and consumes its challenge)
    /// before anything is locked here.
    func setKEKCheck(
        _ request: Svx_Keystore_V1_SetKEKCheckRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_SetKEKCheckResponse {
        let kekVersion = try KeyValidation.kekVersion(request.kekVersion)
        let check = try KeyValidation.kekCheck(request.kekCheck, field: "kek_check")
        guard request.hasCurrentCredentials else {
            throw FieldValidation.invalid(
                "current_credentials.login_id",
                "current_credentials is required: prove the current passphrase (Auth's BeginLogin, then M1 and the binding)")
        }
        let userID = try session.userUUID
        guard let auth else { throw RPCStatus(.unavailable, "the authentication service is not configured") }
        var verify = Svx_Auth_V1_VerifyCredentialsRequest()
        verify.proof = request.currentCredentials
        verify.purpose = KeystoreRPC.setKEKCheck.name
        verify.requestDigest = Data(HashFunction.sha256.hash(ProofTranscript.setKEKCheck(request, userID: session.userID).bytes))
        let verified: Svx_Auth_V1_VerifyCredentialsResponse
        do {
            verified = try auth.call(AuthRPC.verifyCredentials, verify, context: context)
        } catch {
            throw Self.namingCredentialFields(error)
        }
        let replaced = try worker.database.transaction { db -> Bool in
            let rows = try db.query("SELECT kek_version, kek_check FROM keystore.users WHERE user_id = $1 FOR UPDATE", userID)
            guard let row = rows.first else {
                throw RPCStatus(.failedPrecondition, "this user has no KEK yet: create it first (CreateKEK)")
            }
            let version = try row.decode(Int32.self, at: 0)
            guard version == kekVersion else {
                throw RPCStatus(
                    .aborted, "kek_version \(kekVersion) is not the current KEK (version \(version)): unwrap the KEK again",
                    details: ["field": "kek_version"])
            }
            let previous = try row.decode([UInt8]?.self, at: 1)
            let replaced = previous.map { !ConstantTime.equals($0, check) } ?? false
            // The same check again changes nothing and records nothing.
            guard previous == nil || replaced else { return false }
            _ = try db.execute("UPDATE keystore.users SET kek_check = $2 WHERE user_id = $1", userID, check)
            try recordEvent(
                "kek_check.set", subject: ("kek", "\(version)"),
                details: ["kek_version": "\(version)", "replaced": replaced ? "true" : "false"], session, context, on: db)
            return replaced
        }
        context.logger.notice("kek check set", metadata: [
            "user_id": "\(session.userID)", "kek_version": "\(kekVersion)", "replaced": "\(replaced)",
        ])
        var response = Svx_Keystore_V1_SetKEKCheckResponse()
        response.srpM2Hex = verified.srpM2Hex
        response.replaced = replaced
        return response
    }
}
