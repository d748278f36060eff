import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC

/// The KEK check (docs/ADR-004-keystore.md, "Proving possession of the KEK"): an Ed25519 key derived from the
/// KEK, whose public half the Keystore stores. What replaces keys (StagePassphraseChange, RotateKEK) carries a
/// signature by it over the request and a fresh nonce, so a stolen session alone cannot replace keys. Invisible to
/// the Cryppo formats: nothing about the wraps changes.
public enum KEKCheck {
    /// The HMAC message that derives the check key's seed from the KEK.
    public static let label = "svx-kek-check-v1"

    /// The signing key: Ed25519 with seed HMAC-SHA256(KEK, "svx-kek-check-v1").
    public static func signingKey(for kek: SymmetricKey) throws -> Ed25519SigningKey {
        var key = kek.bytes
        defer { secureZero(&key) }
        var seed = HMAC.sha256(key: key, message: Array(label.utf8))
        defer { secureZero(&seed) }
        return try Ed25519SigningKey(seed: seed)
    }

    /// The KEK check the Keystore stores for `kek`: the signing key's 32-byte public key.
    public static func publicKey(for kek: SymmetricKey) throws -> [UInt8] { try signingKey(for: kek).publicKey }
}

/// The current passphrase, kept to prove it to Auth inside a request that a session alone must not be able to make
/// (a credential proof, docs/ADR-002-auth.md): ChangeVerifier, and the Keystore's SetKEKCheck for a KEK that
/// predates KEK checks. The SRP password is derived (PBKDF2) only when it is needed.
public struct CurrentCredentials: Sendable {
    public let account: AccountClient
    public let secretKey: SecretKey
    let passphrase: String

    public init(account: AccountClient, secretKey: SecretKey, passphrase: String) {
        self.account = account
        self.secretKey = secretKey
        self.passphrase = passphrase
    }

    public var username: String { secretKey.username }

    /// A login with these credentials.
    public func logIn() async throws -> AuthenticatedSession {
        try await account.logIn(secretKey: secretKey, passphrase: passphrase)
    }

    /// Begins a credential proof: BeginLogin for this username and the client's M1. The request it goes into
    /// names the returned ``PendingCredentialProof/loginID`` in its transcript before the proof is finished.
    public func beginProof() async throws -> PendingCredentialProof {
        try await account.beginCredentialProof(
            username: secretKey.username, srpPassword: try secretKey.srpPassword(passphrase: passphrase))
    }
}

/// A credential proof between BeginLogin and the request that carries it.
public struct PendingCredentialProof: Sendable {
    public let loginID: String
    let m1: [UInt8]
    var srp: SRPClient

    /// The proof for the request of method `purpose` whose transcript has SHA-256 `requestDigest`: M1 and the
    /// binding HMAC-SHA256(K, ``ProofTranscript/credentialBinding(purpose:requestDigest:)``).
    public func proof(purpose: String, requestDigest: [UInt8]) throws -> Svx_Auth_V1_CredentialProof {
        guard var K = srp.unverifiedSessionKey else {
            throw SVXClientError(.invalidInput, "the credential proof has no SRP session key")
        }
        defer { secureZero(&K) }
        var proof = Svx_Auth_V1_CredentialProof()
        proof.loginID = loginID
        proof.srpM1Hex = Hex.encode(m1)
        proof.bindingHex = Hex.encode(
            HMAC.sha256(key: K, message: ProofTranscript.credentialBinding(purpose: purpose, requestDigest: requestDigest)))
        return proof
    }

    /// Checks Auth's M2 for this exchange: Auth knew the verifier the proof was checked against.
    public mutating func verifyServerProof(_ m2Hex: String) throws {
        do {
            _ = try srp.verify(serverProof: try Hex.decode(m2Hex))
        } catch {
            throw SVXClientError(
                .serverProofMismatch, "the server could not prove it checked your passphrase against your verifier")
        }
    }
}

extension AccountClient {
    /// BeginLogin for `username` and the client's M1, for a credential proof (nothing is sent to FinishLogin: the
    /// request that carries the proof consumes the challenge).
    public func beginCredentialProof(username: String, srpPassword: [UInt8]) async throws -> PendingCredentialProof {
        let (srp, challenge, m1) = try await beginLogin(username: username, srpPassword: srpPassword)
        return PendingCredentialProof(loginID: challenge.loginID, m1: m1, srp: srp)
    }
}

extension KeyringClient {
    /// A fresh single-use nonce from the Keystore for one KEK proof.
    public func beginKEKProof(session: AuthenticatedSession) async throws -> KEKProofChallenge {
        KeystoreWire.challenge(
            try await keystore.call(KeystoreRPC.beginKEKProof, .init(), sessionToken: session.token, timeout: timeout))
    }

    /// Stores `kek` (version `kekVersion`) wrapped by `pdk` under a new credential generation, proved by the KEK (a
    /// signature over the request and a fresh nonce): step 2 of a passphrase change, and of a recovery. Returns the
    /// generation the Keystore staged it under (above the session's, or the answer is refused).
    public func stagePassphraseChange(
        session: AuthenticatedSession, kek: SymmetricKey, kekVersion: UInt32, pdk: SymmetricKey
    ) async throws -> UInt64 {
        var request = Svx_Keystore_V1_StagePassphraseChangeRequest()
        request.kekVersion = kekVersion
        var kekBytes = kek.bytes
        defer { secureZero(&kekBytes) }
        request.wrappedKek = try Cryppo.encrypt(kekBytes, key: pdk)
        request.derivation = Self.derivationArtefacts
        let challenge = try await beginKEKProof(session: session)
        request.kekProof.challengeID = challenge.challengeID
        request.kekProof.signature = Data(
            try KEKCheck.signingKey(for: kek).sign(
                ProofTranscript.stagePassphraseChange(request, userID: session.userID, nonce: challenge.nonce).bytes))
        let response = try await keystore.call(
            KeystoreRPC.stagePassphraseChange, request, sessionToken: session.token, timeout: timeout)
        guard response.credentialGeneration > session.credentialGeneration else {
            throw SVXClientError(.malformedResponse, "the keystore staged the change under an old credential generation")
        }
        return response.credentialGeneration
    }

    /// Sets the KEK check of `kek` (version `kekVersion`) with a proof of the current passphrase: for a KEK made
    /// before KEK checks existed, or to repair a check that does not match the KEK.
    public func setKEKCheck(
        session: AuthenticatedSession, kek: SymmetricKey, kekVersion: UInt32, credentials: CurrentCredentials
    ) async throws {
        guard credentials.username == session.username else {
            throw SVXClientError(.invalidInput, "these credentials belong to \(credentials.username), the session to \(session.username)")
        }
        var request = Svx_Keystore_V1_SetKEKCheckRequest()
        request.kekVersion = kekVersion
        request.kekCheck = Data(try KEKCheck.publicKey(for: kek))
        var pending = try await credentials.beginProof()
        request.currentCredentials.loginID = pending.loginID
        request.currentCredentials = try pending.proof(
            purpose: KeystoreRPC.setKEKCheck.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.setKEKCheck(request, userID: session.userID).bytes))
        let response = try await keystore.call(KeystoreRPC.setKEKCheck, request, sessionToken: session.token, timeout: timeout)
        try pending.verifyServerProof(response.srpM2Hex)
    }
}
