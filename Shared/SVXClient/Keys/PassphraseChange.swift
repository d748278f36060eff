import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC

/// A passphrase change without re-encrypting anything: the KEK is re-wrapped by the new PDK and Auth gets a new
/// SRP verifier. Three steps over two services; a stop after any of them never locks the user out
/// (docs/ADR-004-keystore.md):
///
/// 1. ``begin(secretKey:currentPassphrase:highestKEKVersion:progress:)``: a fresh login with the current
///    passphrase (Auth wants a recent login for step 3) and the keys unlocked with it (and the KEK check set, if
///    the account predates KEK checks).
/// 2. ``stage(_:newPassphrase:)``: the Keystore stores the KEK wrapped by the new PDK under a new credential
///    generation, proved by the KEK (a KEKProof). Stopped here: the old passphrase still works; the staged wrap
///    is never used.
/// 3. ``changeVerifier(_:)``: Auth's verifier and generation move to the new ones (compare-and-set), proved by
///    the current passphrase (a credential proof bound to the new verifier). Stopped here: the new passphrase
///    works (its wrap is in the Keystore), the old one is refused; the next login finishes step 4.
/// 4. ``commit(_:)``: the Keystore drops the wraps of earlier generations.
///
/// ``run(secretKey:currentPassphrase:newPassphrase:progress:)`` does all four; it succeeds once step 3 has (step 4
/// is best effort). If step 3 fails with UNAVAILABLE or DEADLINE_EXCEEDED its outcome is unknown: the new
/// passphrase may or may not be the one Auth accepts now; whichever it is, it opens the keys.
public struct PassphraseChange: Sendable {
    public let account: AccountClient
    public let keyring: KeyringClient

    public init(account: AccountClient, keyring: KeyringClient) {
        self.account = account
        self.keyring = keyring
    }

    public struct Begun: Sendable {
        public let secretKey: SecretKey
        public let session: AuthenticatedSession
        public let keys: UnlockedKeys
        /// The current passphrase, for step 3's credential proof.
        let credentials: CurrentCredentials
    }

    public struct Staged: Sendable {
        public let begun: Begun
        public let newPassphrase: String
        public let newGeneration: UInt64
    }

    public struct Changed: Sendable {
        /// The session of step 1, now at the new generation (Auth ended every other session of the user).
        public let session: AuthenticatedSession
        public let keys: UnlockedKeys
        public let revokedSessions: Int
    }

    public func run(
        secretKey: SecretKey, currentPassphrase: String, newPassphrase: String, highestKEKVersion: UInt32 = 0,
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> Changed {
        let begun = try await begin(
            secretKey: secretKey, currentPassphrase: currentPassphrase, highestKEKVersion: highestKEKVersion,
            progress: progress)
        let staged = try await stage(begun, newPassphrase: newPassphrase)
        let changed = try await changeVerifier(staged)
        // Done once Auth took it: the commit only tidies up, and the next login does it if this one fails.
        try? await commit(changed)
        return changed
    }

    /// `highestKEKVersion`: the highest KEK version this client has seen for the user (a lower one is refused).
    public func begin(
        secretKey: SecretKey, currentPassphrase: String, highestKEKVersion: UInt32 = 0,
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> Begun {
        let credentials = CurrentCredentials(account: account, secretKey: secretKey, passphrase: currentPassphrase)
        var session = try await credentials.logIn()
        session.highestKEKVersion = highestKEKVersion
        let keys = try await keyring.unlock(
            session: session, pdk: try secretKey.passphraseDerivedKey(passphrase: currentPassphrase),
            credentials: credentials, progress: progress)
        return Begun(
            secretKey: secretKey, session: session.remembering(kekVersion: keys.kekVersion), keys: keys,
            credentials: credentials)
    }

    public func stage(_ begun: Begun, newPassphrase: String) async throws -> Staged {
        guard !newPassphrase.isEmpty else { throw SVXClientError(.invalidInput, "the new passphrase is empty") }
        let generation = try await keyring.stagePassphraseChange(
            session: begun.session, kek: begun.keys.kek, kekVersion: begun.keys.kekVersion,
            pdk: try begun.secretKey.passphraseDerivedKey(passphrase: newPassphrase))
        return Staged(begun: begun, newPassphrase: newPassphrase, newGeneration: generation)
    }

    public func changeVerifier(_ staged: Staged) async throws -> Changed {
        let begun = staged.begun
        let password = try begun.secretKey.srpPassword(passphrase: staged.newPassphrase)
        var request = Svx_Auth_V1_ChangeVerifierRequest()
        (request.srpSaltHex, request.srpVerifierHex) = try account.newVerifier(
            username: begun.secretKey.username, srpPassword: password)
        request.expectedGeneration = begun.session.credentialGeneration
        request.newGeneration = staged.newGeneration
        // Proof of the current passphrase, bound to this new verifier: a session alone cannot change it.
        var pending = try await begun.credentials.beginProof()
        request.currentCredentials.loginID = pending.loginID
        request.currentCredentials = try pending.proof(
            purpose: AuthRPC.changeVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.changeVerifier(request, userID: begun.session.userID).bytes))
        let response = try await account.auth.call(
            AuthRPC.changeVerifier, request, sessionToken: begun.session.token, timeout: account.timeout)
        // Auth answered OK; its M2 shows it checked the proof against the real verifier (not someone in between).
        try pending.verifyServerProof(response.srpM2Hex)
        var session = begun.session
        session.credentialGeneration = staged.newGeneration
        let keys = UnlockedKeys(
            credentialGeneration: staged.newGeneration, kekVersion: begun.keys.kekVersion, kek: begun.keys.kek,
            privateDEKID: begun.keys.privateDEKID, privateDEK: begun.keys.privateDEK,
            authKeypairID: begun.keys.authKeypairID, authPrivateKey: begun.keys.authPrivateKey,
            authPublicKeyPEM: begun.keys.authPublicKeyPEM, kekCheckVerified: begun.keys.kekCheckVerified)
        return Changed(session: session, keys: keys, revokedSessions: Int(response.revokedSessions))
    }

    public func commit(_ changed: Changed) async throws {
        var request = Svx_Keystore_V1_CommitPassphraseChangeRequest()
        request.credentialGeneration = changed.session.credentialGeneration
        _ = try await keyring.keystore.call(
            KeystoreRPC.commitPassphraseChange, request, sessionToken: changed.session.token, timeout: keyring.timeout)
    }
}
