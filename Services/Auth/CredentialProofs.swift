import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Credential proofs: the current passphrase proved inside a request, by an SRP-6a exchange begun with BeginLogin
/// and bound to that request (docs/ADR-002-auth.md, "Credential proofs"). A session alone, however fresh, cannot
/// make one: ChangeVerifier needs one, and other services ask for one through VerifyCredentials (the Keystore's
/// SetKEKCheck).
extension AuthService {
    /// A ``Svx_Auth_V1_CredentialProof`` whose fields have the right shapes.
    struct CredentialProof {
        let loginID: UUID
        let m1: [UInt8]
        let binding: [UInt8]

        init(_ proof: Svx_Auth_V1_CredentialProof, field: String, credential: ChallengePurpose = .login) throws(RPCStatus) {
            guard !proof.loginID.isEmpty || !proof.srpM1Hex.isEmpty || !proof.bindingHex.isEmpty else {
                throw WireValidation.invalid(
                    "\(field).login_id",
                    credential == .login
                        ? "\(field) is required: prove the current passphrase (BeginLogin, then M1 and the binding)"
                        : "\(field) is required: prove the Recovery Key (BeginRecovery, then M1 and the binding)")
            }
            loginID = try WireValidation.uuid(proof.loginID, field: "\(field).login_id")
            m1 = try WireValidation.hex(proof.srpM1Hex, field: "\(field).srp_m1_hex", bytes: WireValidation.proofLength)
            binding = try WireValidation.hex(proof.bindingHex, field: "\(field).binding_hex", bytes: 32)
        }
    }

    /// The one answer for a credential proof that does not hold, whatever the reason (wrong passphrase, another
    /// user's challenge, an unknown, used or expired one, a binding for another request).
    static func credentialsNotProved(field: String, credential: ChallengePurpose = .login) -> RPCStatus {
        RPCStatus(
            .permissionDenied,
            credential == .login
                ? "the current passphrase was not proved (wrong passphrase, or an unknown, used or expired login challenge)"
                : "the Recovery Key was not proved (wrong key, or an unknown, used or expired recovery challenge)",
            details: ["field": field])
    }

    /// SRP-6a, server side, for a challenge already consumed: the ``SRPServer`` that BeginLogin's challenge was,
    /// rebuilt from what BeginLogin stored (b derived again from the nonce, B as stored), checks A and M1 in constant
    /// time. `alsoCheck` gets K for one more check (a credential proof's binding); both checks always run. Returns
    /// M2 when everything matches, nil when the proof does not hold (u = 0 never matches). K stays in the machine
    /// and is wiped there.
    func srpServerProof(
        loginID: UUID, A: [UInt8], B: [UInt8], bNonce: [UInt8], verifier: [UInt8], m1: [UInt8],
        alsoCheck: ([UInt8]) -> Bool = { _ in true }
    ) throws -> [UInt8]? {
        var b = ephemeralPrivateValue(loginID: loginID, nonce: bNonce)
        defer { secureZero(&b) }
        var server = try SRPServer(parameters: WireValidation.parameters, verifier: verifier, privateValue: b, publicKey: B)
        defer { server.wipeSessionKey() }
        do {
            return try server.verify(clientPublicKey: A, clientProof: m1, alsoRequiring: alsoCheck)
        } catch let error as SRPError where error.code == .proofMismatch || error.code == .illegalParameter {
            return nil
        }
    }

    /// Checks `proof` for the user of `session` and the request of method `purpose` whose transcript has SHA-256
    /// `requestDigest`. The challenge is consumed only if it is this user's (another user's stays, and the answer
    /// is the same as for an unknown one). Throttled like a login: the buckets of `throttleKeys` are checked first,
    /// and a wrong proof takes a token from each; a missing or expired challenge takes one from `callerKey` only
    /// (no guess was checked). Returns M2. Every failure is ``credentialsNotProved(field:)``.
    ///
    /// `credential`: `.login` proves the passphrase (a BeginLogin challenge, the user's verifier, the login buckets);
    /// `.recovery` proves the Recovery Key (a BeginRecovery challenge, the recovery verifier, the recovery buckets).
    /// A challenge of the other purpose is as unknown as a missing one, and stays.
    func verifyCredentialProof(
        _ proof: CredentialProof, field: String, session: AuthenticatedSession, purpose: String, requestDigest: [UInt8],
        callerKey: Throttle.Key?, credential: ChallengePurpose = .login, context: RequestContext,
        on db: PostgresConnection
    ) throws -> [UInt8] {
        let userID = try session.userUUID
        let keys = [throttle.username(session.username, for: credential)] + [callerKey].compactMap { $0 }
        try throttle.check(keys, on: db)
        let verifiers = credential == .login ? "auth.users" : "auth.recovery_credentials"
        // Single use, and only the caller's own challenge of that purpose: consumed (or not) by this one statement.
        let rows = try db.query(
            """
            WITH c AS (
                DELETE FROM auth.login_challenges WHERE login_id = $1 AND user_id = $2 AND purpose = $3
                RETURNING srp_a, srp_b_nonce, srp_b, expires_at > now() AS live, credential_generation
            )
            SELECT c.srp_a, c.srp_b_nonce, c.srp_b, c.live AND c.credential_generation = u.credential_generation,
                   k.srp_verifier
            FROM c JOIN auth.users u ON u.user_id = $2 JOIN \(verifiers) k ON k.user_id = $2
            """, proof.loginID, userID, credential.rawValue)
        guard let row = rows.first, try row.decode(Bool?.self, at: 3) == true else {
            if let callerKey { try throttle.recordFailure([callerKey], on: db) }
            context.logger.info("credential proof failed", metadata: [
                "user_id": "\(session.userID)", "purpose": "\(purpose)", "reason": "no live challenge",
            ])
            throw Self.credentialsNotProved(field: field, credential: credential)
        }
        let expectedBinding = ProofTranscript.credentialBinding(purpose: purpose, requestDigest: requestDigest)
        let m2 = try srpServerProof(
            loginID: proof.loginID, A: try row.decode([UInt8].self, at: 0), B: try row.decode([UInt8].self, at: 2),
            bNonce: try row.decode([UInt8].self, at: 1), verifier: try row.decode([UInt8].self, at: 4), m1: proof.m1,
            alsoCheck: { K in ConstantTime.equals(HMAC.sha256(key: K, message: expectedBinding), proof.binding) })
        guard let m2 else {
            try throttle.recordFailure(keys, on: db)
            context.logger.info("credential proof failed", metadata: [
                "user_id": "\(session.userID)", "purpose": "\(purpose)", "reason": "proof or binding mismatch",
            ])
            throw Self.credentialsNotProved(field: field, credential: credential)
        }
        return m2
    }

    /// VerifyCredentials: a credential proof for a request another service received (it calls with the caller's
    /// session). Only the username's bucket is throttled: the caller address is the other service's.
    func verifyCredentials(
        _ request: Svx_Auth_V1_VerifyCredentialsRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Auth_V1_VerifyCredentialsResponse {
        let proof = try CredentialProof(request.proof, field: "proof")
        let purpose = request.purpose
        guard !purpose.isEmpty, purpose.utf8.count <= 128,
            purpose.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f })
        else {
            throw WireValidation.invalid("purpose", "purpose must be 1...128 printable ASCII characters (a method name)")
        }
        guard request.requestDigest.count == 32 else {
            throw WireValidation.invalid("request_digest", "request_digest must be 32 bytes (a SHA-256)")
        }
        let m2 = try verifyCredentialProof(
            proof, field: "proof", session: session, purpose: purpose, requestDigest: Array(request.requestDigest),
            callerKey: nil, context: context, on: worker.database)
        context.logger.info("credentials verified", metadata: ["user_id": "\(session.userID)", "purpose": "\(purpose)"])
        var response = Svx_Auth_V1_VerifyCredentialsResponse()
        response.srpM2Hex = Hex.encode(m2)
        return response
    }
}
