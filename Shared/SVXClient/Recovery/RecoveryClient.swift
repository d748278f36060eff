import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC

/// Account recovery with an offline Recovery Key (docs/ADR-009-recovery.md, reference/sharing.md §5a). Every piece
/// of crypto happens here; Auth and the Keystore see only an SRP verifier of a 256-bit secret, a private key
/// wrapped by a key derived from it, and the KEK wrapped for that keypair's public key.
///
/// - ``enrol(session:keys:credentials:progress:)`` makes a Recovery Key, shown to the user once: the Keystore gets
///   the recovery keypair (and the KEK wrapped for it), then Auth the recovery credential.
/// - ``begin(recoveryKey:)`` proves the Recovery Key to Auth and gets a RECOVERY session, usable after Auth's delay;
///   the owner sees it at every login and can ``cancel(session:)`` it.
/// - ``complete(_:recoveryKey:newPassphrase:keepSecretKey:progress:)`` opens the KEK with the Recovery Key, wraps it
///   for a new Secret Key and passphrase (the KEK stays: nothing is re-encrypted), moves Auth to them, and logs in
///   (its steps: ``stage(_:recoveryKey:newPassphrase:)``, ``completeAtAuth(_:)``, ``logIn(_:progress:)``).
public struct RecoveryClient: Sendable {
    /// Bits of the recovery keypair (the Keystore accepts exactly 4096).
    public static let keypairBits = 4096

    public let account: AccountClient
    public let keyring: KeyringClient

    public init(account: AccountClient, keyring: KeyringClient) {
        self.account = account
        self.keyring = keyring
    }

    // MARK: Enrolment

    /// Enrols a new Recovery Key (replacing the previous one, which stops working) and returns it: show it to the user
    /// once. `session` must come from a recent login, `keys` opened with it, `credentials` the current passphrase
    /// (Auth wants a proof of it). The Keystore step comes first: a stop between the two leaves no usable Recovery
    /// Key (the new one was never shown), and `enrol` can simply run again.
    public func enrol(
        session: AuthenticatedSession, keys: UnlockedKeys, credentials: CurrentCredentials,
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> RecoveryKey {
        guard credentials.username == session.username else {
            throw SVXClientError(.invalidInput, "these credentials belong to \(credentials.username), the session to \(session.username)")
        }
        let recoveryKey = try RecoveryKey.generate(username: session.username)
        progress(.generatingRecoveryKeypair(bits: Self.keypairBits))
        let privateKey = try await Task.detached { try RSAPrivateKey.generate(bits: Self.keypairBits) }.value
        progress(.keypairGenerated)
        let publicKey = try privateKey.publicKey

        var put = Svx_Keystore_V1_PutRecoveryKeyRequest()
        put.publicKeyPem = try privateKey.publicKeyPEM
        var pem = Array(try privateKey.pem.utf8)
        defer { secureZero(&pem) }
        put.wrappedPrivateKey = try Cryppo.encrypt(pem, key: try recoveryKey.wrappingKey())
        var kek = keys.kek.bytes
        defer { secureZero(&kek) }
        put.kekRecoveryWrap = try Cryppo.encrypt(kek, publicKey: publicKey)
        put.kekVersion = keys.kekVersion
        put.publicKeyMac = Data(try RecoveryKeyMAC.mac(publicKey: publicKey, kek: keys.kek))
        let challenge = try await keyring.beginKEKProof(session: session)
        put.kekProof.challengeID = challenge.challengeID
        put.kekProof.signature = Data(
            try KEKCheck.signingKey(for: keys.kek).sign(
                ProofTranscript.putRecoveryKey(put, userID: session.userID, nonce: challenge.nonce).bytes))
        _ = try await keyring.keystore.call(
            KeystoreRPC.putRecoveryKey, put, sessionToken: session.token, timeout: keyring.timeout)

        var set = Svx_Auth_V1_SetRecoveryVerifierRequest()
        (set.srpSaltHex, set.srpVerifierHex) = try account.newVerifier(
            username: session.username, srpPassword: try recoveryKey.srpPassword)
        // Proof of the current passphrase, bound to this verifier: a stolen session alone cannot enrol its own.
        var pending = try await credentials.beginProof()
        set.currentCredentials.loginID = pending.loginID
        set.currentCredentials = try pending.proof(
            purpose: AuthRPC.setRecoveryVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.setRecoveryVerifier(set, userID: session.userID).bytes))
        let response = try await account.auth.call(
            AuthRPC.setRecoveryVerifier, set, sessionToken: session.token, timeout: account.timeout)
        try pending.verifyServerProof(response.srpM2Hex)
        return recoveryKey
    }

    /// What Auth and the Keystore hold for the user's recovery.
    public func status(session: AuthenticatedSession) async throws -> RecoveryStatus {
        let auth = try await account.auth.call(
            AuthRPC.getRecoveryStatus, .init(), sessionToken: session.token, timeout: account.timeout)
        let stored = try await keyring.recoveryKey(session: session)
        return RecoveryStatus(
            enrolled: auth.enrolled, enrolledAt: auth.enrolled ? Date(wireMilliseconds: auth.enrolledAtMs) : nil,
            keystoreHasRecoveryKey: stored != nil, pending: auth.hasPending ? PendingRecovery.from(auth.pending) : nil)
    }

    /// Removes the recovery credential (Auth first: the Recovery Key stops working at once) and the recovery key.
    /// `session` must come from a recent login. Returns whether anything was there.
    public func disable(session: AuthenticatedSession) async throws -> Bool {
        let auth = try await account.auth.call(
            AuthRPC.deleteRecoveryVerifier, .init(), sessionToken: session.token, timeout: account.timeout)
        let keystore = try await keyring.keystore.call(
            KeystoreRPC.deleteRecoveryKey, .init(), sessionToken: session.token, timeout: keyring.timeout)
        return auth.removed || keystore.removed
    }

    // MARK: Recovery

    /// Proves the Recovery Key to Auth (SRP-6a against the recovery verifier; Auth's M2 checked) and returns the
    /// RECOVERY session, usable from ``RecoverySession/usableAt``. A recovery already pending is replaced.
    public func begin(recoveryKey: RecoveryKey) async throws -> RecoverySession {
        let begun = try await recoveryChallenge(recoveryKey)
        var srp = begun.srp
        var finish = Svx_Auth_V1_FinishRecoveryRequest()
        finish.loginID = begun.challenge.loginID
        finish.srpM1Hex = Hex.encode(begun.m1)
        let result = try await account.auth.call(AuthRPC.finishRecovery, finish, timeout: account.timeout)
        do {
            _ = try srp.verify(serverProof: try Hex.decode(result.srpM2Hex))
        } catch {
            throw SVXClientError(.serverProofMismatch, "the server could not prove it knows the recovery verifier: refusing the session")
        }
        let session = AuthenticatedSession(
            username: recoveryKey.username, userID: result.userID, sessionID: result.sessionID, token: result.sessionToken,
            expiresAt: Date(wireMilliseconds: result.expiresAtMs), credentialGeneration: result.credentialGeneration)
        return RecoverySession(session: session, usableAt: Date(wireMilliseconds: result.usableAtMs))
    }

    /// BeginRecovery for the Recovery Key's username and the client's M1: the first half of every proof of the
    /// Recovery Key (FinishRecovery, or CompleteRecovery's `recovery_credentials`).
    func recoveryChallenge(
        _ recoveryKey: RecoveryKey
    ) async throws -> (srp: SRPClient, challenge: Svx_Auth_V1_BeginRecoveryResponse, m1: [UInt8]) {
        var srp = try SRPClient(
            parameters: account.parameters, username: recoveryKey.username, password: try recoveryKey.srpPassword)
        var begin = Svx_Auth_V1_BeginRecoveryRequest()
        begin.username = recoveryKey.username
        begin.srpAHex = Hex.encode(srp.publicKey)
        let challenge = try await account.auth.call(AuthRPC.beginRecovery, begin, timeout: account.timeout)
        do {
            let m1 = try srp.respond(salt: try Hex.decode(challenge.srpSaltHex), serverPublicKey: try Hex.decode(challenge.srpBHex))
            return (srp, challenge, m1)
        } catch {
            throw SVXClientError(.malformedResponse, "Auth sent an unusable recovery challenge: \(error)")
        }
    }

    /// Ends the user's pending recovery (from any session of the user). Returns whether one was pending.
    public func cancel(session: AuthenticatedSession) async throws -> Bool {
        try await account.auth.call(
            AuthRPC.cancelRecovery, .init(), sessionToken: session.token, timeout: account.timeout
        ).cancelled
    }

    /// A recovery between the Keystore's stage and Auth's CompleteRecovery.
    public struct Staged: Sendable {
        public let recovery: RecoverySession
        let recoveryKey: RecoveryKey
        /// The new Secret Key (same username).
        public let secretKey: SecretKey
        let newPassphrase: String
        /// The credential generation the Keystore staged the new wrap under.
        public let newGeneration: UInt64
    }

    /// The end of a recovery.
    public struct Completed: Sendable {
        /// The new Secret Key (same username): show it to the user once.
        public let secretKey: SecretKey
        /// A login with the new Secret Key and passphrase.
        public let session: AuthenticatedSession
        public let keys: UnlockedKeys
        /// Sessions Auth ended (every session of the user, the recovery one included).
        public let revokedSessions: Int
    }

    /// Completes a recovery once its delay has ended: ``stage(_:recoveryKey:newPassphrase:)``, then `keepSecretKey`
    /// with the new Secret Key (it must keep it, show it or write it, before Auth moves to it), then
    /// ``completeAtAuth(_:)`` and ``logIn(_:progress:)``.
    ///
    /// A stop before Auth's step leaves the old credentials and the Recovery Key working (run it again); after it, the
    /// new ones. If Auth's step gets no answer (UNAVAILABLE, DEADLINE_EXCEEDED) its outcome is unknown: try the new
    /// Secret Key and passphrase first.
    public func complete(
        _ recovery: RecoverySession, recoveryKey: RecoveryKey, newPassphrase: String,
        keepSecretKey: @Sendable (SecretKey) throws -> Void,
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> Completed {
        let staged = try await stage(recovery, recoveryKey: recoveryKey, newPassphrase: newPassphrase)
        try keepSecretKey(staged.secretKey)
        let revoked = try await completeAtAuth(staged)
        do {
            let (session, keys) = try await logIn(staged, progress: progress)
            return Completed(secretKey: staged.secretKey, session: session, keys: keys, revokedSessions: revoked)
        } catch {
            throw SVXClientError(
                .keystoreInconsistent,
                "the recovery is complete, but the first login with the new Secret Key failed (\(error)): run `svx login` with it")
        }
    }

    /// Steps 1-2: the Keystore's recovery key opened with the Recovery Key, and the KEK with it (checked against the
    /// Keystore's KEK check and the public key's MAC); a new Secret Key (same username) and `newPassphrase` give a new
    /// PDK, and the KEK wrapped by it is staged in the Keystore under a new credential generation (a KEK proof by the
    /// recovered KEK). Nothing changes at Auth: the old credentials and the Recovery Key still work.
    public func stage(_ recovery: RecoverySession, recoveryKey: RecoveryKey, newPassphrase: String) async throws -> Staged {
        let session = recovery.session
        guard recoveryKey.username == session.username else {
            throw SVXClientError(.invalidInput, "this Recovery Key belongs to \(recoveryKey.username), the recovery to \(session.username)")
        }
        guard !newPassphrase.isEmpty else { throw SVXClientError(.invalidInput, "the new passphrase is empty") }
        guard let stored = try await keyring.recoveryKey(session: session) else {
            throw SVXClientError(.notFound, "the keystore holds no recovery key for this account")
        }
        let kek = try Self.openKEK(stored, recoveryKey: recoveryKey)

        let secretKey = try SecretKey.generate(username: session.username)
        let generation = try await keyring.stagePassphraseChange(
            session: session, kek: kek, kekVersion: stored.kekVersion,
            pdk: try secretKey.passphraseDerivedKey(passphrase: newPassphrase))
        return Staged(
            recovery: recovery, recoveryKey: recoveryKey, secretKey: secretKey, newPassphrase: newPassphrase,
            newGeneration: generation)
    }

    /// Step 4: Auth's CompleteRecovery, with a fresh proof of the Recovery Key bound to the request (the session alone
    /// does not do), sets the new verifier and generation, ends every session of the user and deletes the recovery
    /// credential (a Recovery Key works once). Auth's M2 for the proof is checked. Returns how many sessions ended.
    public func completeAtAuth(_ staged: Staged) async throws -> Int {
        let session = staged.recovery.session
        var complete = Svx_Auth_V1_CompleteRecoveryRequest()
        (complete.srpSaltHex, complete.srpVerifierHex) = try account.newVerifier(
            username: session.username, srpPassword: try staged.secretKey.srpPassword(passphrase: staged.newPassphrase))
        complete.expectedGeneration = session.credentialGeneration
        complete.newGeneration = staged.newGeneration
        let (srp, challenge, m1) = try await recoveryChallenge(staged.recoveryKey)
        var pending = PendingCredentialProof(loginID: challenge.loginID, m1: m1, srp: srp)
        complete.recoveryCredentials.loginID = pending.loginID
        complete.recoveryCredentials = try pending.proof(
            purpose: AuthRPC.completeRecovery.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.completeRecovery(complete, userID: session.userID).bytes))
        let response = try await account.auth.call(
            AuthRPC.completeRecovery, complete, sessionToken: session.token, timeout: account.timeout)
        do {
            try pending.verifyServerProof(response.srpM2Hex)
        } catch {
            throw SVXClientError(
                .serverProofMismatch,
                "Auth could not prove it checked the Recovery Key: the recovery may or may not have completed; try the new Secret Key first")
        }
        return Int(response.revokedSessions)
    }

    /// Step 5: a login with the new Secret Key and passphrase, and the keys opened; the unlock commits the change, and
    /// the Keystore then drops the spent recovery key.
    public func logIn(
        _ staged: Staged, progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> (AuthenticatedSession, UnlockedKeys) {
        let credentials = CurrentCredentials(account: account, secretKey: staged.secretKey, passphrase: staged.newPassphrase)
        let session = try await credentials.logIn()
        let keys = try await keyring.unlock(
            session: session, pdk: try staged.secretKey.passphraseDerivedKey(passphrase: staged.newPassphrase),
            credentials: credentials, progress: progress)
        return (session.remembering(kekVersion: keys.kekVersion), keys)
    }

    /// The KEK from the Keystore's recovery key: the private key opened with the Recovery Key's wrapping key, the KEK
    /// with the private key; refused unless the private key is the stored public key's, the KEK is the one the
    /// Keystore's KEK check names, and the public key's MAC is that KEK's.
    static func openKEK(_ stored: Svx_Keystore_V1_RecoveryKey, recoveryKey: RecoveryKey) throws -> SymmetricKey {
        var pem: [UInt8]
        do {
            pem = try Cryppo.decrypt(stored.wrappedPrivateKey, key: try recoveryKey.wrappingKey())
        } catch {
            throw SVXClientError(
                .keyUnwrapFailed, "this Recovery Key does not open the account's recovery key (was it replaced by a newer one?)")
        }
        defer { secureZero(&pem) }
        let privateKey: RSAPrivateKey
        do {
            privateKey = try RSAPrivateKey(pem: String(decoding: pem, as: UTF8.self))
        } catch {
            throw SVXClientError(.keyUnwrapFailed, "the recovery private key is not a PEM RSA key")
        }
        guard (try? RSAPublicKey(pem: stored.publicKeyPem).pem) == (try? privateKey.publicKeyPEM) else {
            throw SVXClientError(.keystoreInconsistent, "the keystore's recovery public key is not the recovery private key's")
        }
        var kekBytes: [UInt8]
        do {
            kekBytes = try Cryppo.decrypt(stored.kekRecoveryWrap, privateKey: privateKey)
        } catch {
            throw SVXClientError(.keyUnwrapFailed, "the recovery private key does not open the KEK the keystore holds for it")
        }
        defer { secureZero(&kekBytes) }
        guard kekBytes.count == 32 else { throw SVXClientError(.keyUnwrapFailed, "the recovered KEK is not 32 bytes") }
        let kek = SymmetricKey(bytes: kekBytes)
        guard ConstantTime.equals(Array(stored.kekCheck), try KEKCheck.publicKey(for: kek)) else {
            throw SVXClientError(.keystoreInconsistent, "the recovered KEK is not the account's current KEK (its KEK check differs)")
        }
        guard RecoveryKeyMAC.verify(Array(stored.publicKeyMac), publicKey: try privateKey.publicKey, kek: kek) else {
            throw SVXClientError(.keystoreInconsistent, "the keystore's recovery public key is not bound to the account's KEK")
        }
        return kek
    }
}
