import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC

/// The keys a logged-in client holds in memory once the hierarchy is unwrapped (reference/meeco-compat.md §4).
public struct UnlockedKeys: Sendable {
    /// The credential generation whose KEK wrap was opened.
    public let credentialGeneration: UInt64
    public let kekVersion: UInt32
    public let kek: SymmetricKey
    /// The user's private DEK (keystore external id `private`): every slot value of an owned item is wrapped by it.
    public let privateDEKID: String
    public let privateDEK: SymmetricKey
    /// The account keypair (external identifier `auth`).
    public let authKeypairID: String
    public let authPrivateKey: RSAPrivateKey
    /// The public half of ``authPrivateKey`` as this client computed it (the Keystore's copy is checked against it).
    public let authPublicKeyPEM: String
    /// The Keystore holds the KEK check of ``kek`` (so this client can stage a passphrase change or rotate). false:
    /// it holds none or a wrong one, and no credentials were given to set it (``KeyringClient/setKEKCheck``).
    public let kekCheckVerified: Bool
}

/// What ``KeyringClient`` is doing, for a client that shows progress (RSA-4096 generation takes seconds).
public enum KeyringProgress: Sendable, Equatable {
    case creatingKEK
    case generatingKeypair(bits: Int)
    /// The recovery keypair of a Recovery Key (``RecoveryClient/enrol(session:keys:credentials:progress:)``).
    case generatingRecoveryKeypair(bits: Int)
    case keypairGenerated
    case creatingPrivateDEK
    case rewrapping(keys: Int)
}

/// The client half of the Keystore: every key is made, wrapped and unwrapped here; the Keystore stores only
/// wrapped keys. docs/ADR-004-keystore.md.
public struct KeyringClient: Sendable {
    public static let authKeypairIdentifier = "auth"
    public static let privateDEKIdentifier = "private"

    public let keystore: RPCClient
    public var timeout: Duration
    /// RSA modulus size of a new account keypair (4096 as Meeco; tests may use 2048, the Keystore's minimum).
    public var keypairBits: Int

    public init(keystore: RPCClient, timeout: Duration = .seconds(10), keypairBits: Int = 4096) {
        self.keystore = keystore
        self.timeout = timeout
        self.keypairBits = keypairBits
    }

    /// How svx derives a PDK (``KeyDerivation/svx``), as the Keystore's requests carry it: for code that builds
    /// Keystore requests itself (tests).
    public static var derivationArtefacts: Svx_Keystore_V1_DerivationArtefacts {
        KeystoreWire.derivation(KeyDerivation.svx)
    }

    // MARK: Unlock (sign-up and login)

    /// After a login: opens the KEK wrapped for the session's credential generation with `pdk`, then the `auth`
    /// keypair and the private DEK. Whatever of the hierarchy is missing (a new account, or a sign-up that
    /// stopped half-way) is created, in Meeco's order: KEK, keypair, DEK. Wraps of earlier credential
    /// generations are cleaned up (the last step of an interrupted passphrase change).
    ///
    /// A KEK older than `session.highestKEKVersion` is refused (a rollback). If the Keystore has no KEK check for
    /// the KEK (an account made before KEK checks) or a wrong one, and `credentials` are given, it is set with a
    /// proof of the passphrase; without them, or if that fails, ``UnlockedKeys/kekCheckVerified`` is false.
    public func unlock(
        session: AuthenticatedSession, pdk: SymmetricKey, credentials: CurrentCredentials? = nil,
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> UnlockedKeys {
        guard session.credentialGeneration >= 1 else {
            throw SVXClientError(.invalidInput, "the session has no credential generation: log in again")
        }
        let (kek, kekVersion, storedCheck) = try await openOrCreateKEK(session: session, pdk: pdk, progress: progress)
        // Best effort here: the keys are open either way, and the next login (or a rotation, which insists) tries again.
        let kekCheckVerified = (try? await ensureKEKCheck(
            session: session, kek: kek, kekVersion: kekVersion, stored: storedCheck, credentials: credentials)) ?? false
        // Best effort: the wraps of earlier generations are useless once this login proved the current one.
        var commit = Svx_Keystore_V1_CommitPassphraseChangeRequest()
        commit.credentialGeneration = session.credentialGeneration
        _ = try? await keystore.call(KeystoreRPC.commitPassphraseChange, commit, sessionToken: session.token, timeout: timeout)

        let keypair = try await openOrCreateAuthKeypair(session: session, kek: kek, kekVersion: kekVersion, progress: progress)
        let dek = try await openOrCreatePrivateDEK(session: session, kek: kek, kekVersion: kekVersion, progress: progress)
        return UnlockedKeys(
            credentialGeneration: session.credentialGeneration, kekVersion: kekVersion, kek: kek,
            privateDEKID: dek.id, privateDEK: dek.key, authKeypairID: keypair.id, authPrivateKey: keypair.privateKey,
            authPublicKeyPEM: keypair.publicKeyPEM, kekCheckVerified: kekCheckVerified)
    }

    /// Whether the Keystore's KEK check `stored` is the one of `kek`; if not and `credentials` are given, sets it.
    private func ensureKEKCheck(
        session: AuthenticatedSession, kek: SymmetricKey, kekVersion: UInt32, stored: [UInt8],
        credentials: CurrentCredentials?
    ) async throws -> Bool {
        if ConstantTime.equals(stored, try KEKCheck.publicKey(for: kek)) { return true }
        guard let credentials else { return false }
        try await setKEKCheck(session: session, kek: kek, kekVersion: kekVersion, credentials: credentials)
        return true
    }

    /// Refuses a KEK version below the highest this client has seen (a Keystore serving old wraps back).
    static func refuseRollback(_ version: UInt32, session: AuthenticatedSession) throws {
        guard version >= session.highestKEKVersion else {
            throw SVXClientError(
                .keystoreInconsistent,
                "the keystore served KEK version \(version), older than version \(session.highestKEKVersion) this client has already seen: refusing a rollback")
        }
    }

    /// The KEK, its version and the Keystore's KEK check (empty if it has none).
    private func openOrCreateKEK(
        session: AuthenticatedSession, pdk: SymmetricKey, progress: @Sendable (KeyringProgress) -> Void
    ) async throws -> (SymmetricKey, UInt32, [UInt8]) {
        var get = Svx_Keystore_V1_GetKEKRequest()
        get.credentialGeneration = session.credentialGeneration
        func open(_ response: Svx_Keystore_V1_GetKEKResponse) throws -> (SymmetricKey, UInt32, [UInt8]) {
            try Self.refuseRollback(response.kek.kekVersion, session: session)
            return (try Self.unwrapKEK(KeystoreWire.kek(response.kek), pdk: pdk), response.kek.kekVersion, Array(response.kekCheck))
        }
        do {
            return try open(try await keystore.call(KeystoreRPC.getKEK, get, sessionToken: session.token, timeout: timeout))
        } catch let status as RPCStatus where status.code == .notFound {
            // No KEK for this generation: a new account (or one whose sign-up stopped before the KEK).
        }
        progress(.creatingKEK)
        let kek = try SymmetricKey.random()
        var create = Svx_Keystore_V1_CreateKEKRequest()
        create.wrappedKek = try Cryppo.encrypt(kek.bytes, key: pdk)
        create.derivation = Self.derivationArtefacts
        create.kekCheck = Data(try KEKCheck.publicKey(for: kek))
        do {
            let created = try await keystore.call(KeystoreRPC.createKEK, create, sessionToken: session.token, timeout: timeout)
            return (kek, created.kek.kekVersion, Array(create.kekCheck))
        } catch let status as RPCStatus where status.code == .alreadyExists {
            // Another client created it in between: use theirs. If there is still none for this generation, the
            // hierarchy was made for another passphrase and this one cannot open it.
            do {
                return try open(try await keystore.call(KeystoreRPC.getKEK, get, sessionToken: session.token, timeout: timeout))
            } catch let status as RPCStatus where status.code == .notFound {
                throw SVXClientError(
                    .keystoreInconsistent, "the keystore has no KEK for this passphrase (credential generation \(session.credentialGeneration))")
            }
        }
    }

    static func unwrapKEK(_ stored: WrappedKEK, pdk: SymmetricKey) throws -> SymmetricKey {
        guard stored.derivation.derivesLike(.svx) else {
            throw SVXClientError(.keystoreInconsistent, "the KEK was wrapped with a key derivation this client does not know")
        }
        var bytes = try unwrap(stored.wrappedKEK, with: pdk, what: "the KEK (wrong passphrase?)", bytes: 32)
        defer { secureZero(&bytes) }
        return SymmetricKey(bytes: bytes)
    }

    /// A key wrapped by another KEK version than the one just opened: a rotation committed in between.
    static func requireVersion(_ stored: UInt32, _ opened: UInt32) throws {
        guard stored == opened else {
            throw SVXClientError(.keystoreInconsistent, "the keys were rotated while they were being opened: log in again")
        }
    }

    /// Decrypts a wrapped key; a failure is ``SVXClientError/Code/keyUnwrapFailed`` naming `what`.
    static func unwrap(_ wrapped: String, with key: SymmetricKey, what: String, bytes: Int? = nil) throws -> [UInt8] {
        let plain: [UInt8]
        do {
            plain = try Cryppo.decrypt(wrapped, key: key)
        } catch {
            throw SVXClientError(.keyUnwrapFailed, "could not unwrap \(what)")
        }
        if let bytes, plain.count != bytes {
            throw SVXClientError(.keyUnwrapFailed, "\(what) unwrapped to \(plain.count) bytes, not \(bytes)")
        }
        return plain
    }

    private func openOrCreateAuthKeypair(
        session: AuthenticatedSession, kek: SymmetricKey, kekVersion: UInt32, progress: @Sendable (KeyringProgress) -> Void
    ) async throws -> (id: String, privateKey: RSAPrivateKey, publicKeyPEM: String) {
        var get = Svx_Keystore_V1_GetKeypairRequest()
        get.externalIdentifier = Self.authKeypairIdentifier
        func open(_ stored: Svx_Keystore_V1_Keypair) throws -> (id: String, privateKey: RSAPrivateKey, publicKeyPEM: String) {
            try Self.openStoredKeypair(stored, kek: kek, kekVersion: kekVersion, name: "auth")
        }
        do {
            return try open(try await keystore.call(KeystoreRPC.getKeypair, get, sessionToken: session.token, timeout: timeout).keypair)
        } catch let status as RPCStatus where status.code == .notFound {}

        progress(.generatingKeypair(bits: keypairBits))
        let bits = keypairBits
        let privateKey = try await Task.detached { try RSAPrivateKey.generate(bits: bits) }.value
        progress(.keypairGenerated)
        var create = Svx_Keystore_V1_CreateKeypairRequest()
        create.publicKeyPem = try privateKey.publicKeyPEM
        create.wrappedPrivateKey = try Cryppo.encrypt(Array(try privateKey.pem.utf8), key: kek)
        create.externalIdentifiers = [Self.authKeypairIdentifier]
        create.kekVersion = kekVersion
        do {
            let created = try await keystore.call(KeystoreRPC.createKeypair, create, sessionToken: session.token, timeout: timeout)
            return (created.keypair.keypairID, privateKey, create.publicKeyPem)
        } catch let status as RPCStatus where status.code == .alreadyExists {
            return try open(try await keystore.call(KeystoreRPC.getKeypair, get, sessionToken: session.token, timeout: timeout).keypair)
        }
    }

    /// A stored keypair of the user opened with `kek` (whose version it must be wrapped under): its private key, and
    /// the public key derived from it. The public key others encrypt to must be this private key's, so the Keystore's
    /// copy is checked against it and the client's own is what it uses. `name` (`auth`, `connection`) names the keypair
    /// in the errors.
    static func openStoredKeypair(
        _ stored: Svx_Keystore_V1_Keypair, kek: SymmetricKey, kekVersion: UInt32, name: String
    ) throws -> (id: String, privateKey: RSAPrivateKey, publicKeyPEM: String) {
        try requireVersion(stored.kekVersion, kekVersion)
        var pem = try unwrap(stored.wrappedPrivateKey, with: kek, what: "the \(name) keypair's private key")
        defer { secureZero(&pem) }
        let privateKey: RSAPrivateKey
        do {
            privateKey = try RSAPrivateKey(pem: String(decoding: pem, as: UTF8.self))
        } catch {
            throw SVXClientError(.keyUnwrapFailed, "the \(name) keypair's private key is not a PEM RSA key")
        }
        let publicKeyPEM = try privateKey.publicKeyPEM
        guard (try? RSAPublicKey(pem: stored.publicKeyPem).pem) == publicKeyPEM else {
            throw SVXClientError(.keystoreInconsistent, "the keystore's public key of the \(name) keypair is not its private key's")
        }
        return (stored.keypairID, privateKey, publicKeyPEM)
    }

    private func openOrCreatePrivateDEK(
        session: AuthenticatedSession, kek: SymmetricKey, kekVersion: UInt32, progress: @Sendable (KeyringProgress) -> Void
    ) async throws -> (id: String, key: SymmetricKey) {
        var get = Svx_Keystore_V1_GetDEKRequest()
        get.externalID = Self.privateDEKIdentifier
        func open(_ stored: Svx_Keystore_V1_DataEncryptionKey) throws -> (id: String, key: SymmetricKey) {
            try Self.requireVersion(stored.kekVersion, kekVersion)
            var bytes = try Self.unwrap(stored.wrappedDek, with: kek, what: "the private DEK", bytes: 32)
            defer { secureZero(&bytes) }
            return (stored.dekID, SymmetricKey(bytes: bytes))
        }
        do {
            return try open(try await keystore.call(KeystoreRPC.getDEK, get, sessionToken: session.token, timeout: timeout).dek)
        } catch let status as RPCStatus where status.code == .notFound {}

        progress(.creatingPrivateDEK)
        let dek = try SymmetricKey.random()
        var create = Svx_Keystore_V1_CreateDEKRequest()
        create.externalID = Self.privateDEKIdentifier
        create.kekVersion = kekVersion
        create.wrappedDek = try Cryppo.encrypt(dek.bytes, key: kek)
        do {
            let created = try await keystore.call(KeystoreRPC.createDEK, create, sessionToken: session.token, timeout: timeout)
            return (created.dek.dekID, dek)
        } catch let status as RPCStatus where status.code == .alreadyExists {
            return try open(try await keystore.call(KeystoreRPC.getDEK, get, sessionToken: session.token, timeout: timeout).dek)
        }
    }

    // MARK: Listing

    /// Every DEK and keypair of the user (all pages), and the current KEK wrap.
    public struct Inventory: Sendable {
        /// The KEK's wrap for the session's credential generation.
        public let kek: WrappedKEK
        public let passphraseChangePending: Bool
        /// The Keystore's KEK check (empty: none yet).
        public let kekCheck: [UInt8]
        public let deks: [WrappedDEK]
        public let keypairs: [WrappedKeypair]
    }

    /// At most `maximumPages` pages of 500 of each kind (a bound, not a limit anyone should meet: past it,
    /// ``SVXClientError/Code/malformedResponse``).
    public func inventory(session: AuthenticatedSession, maximumPages: Int = 1_000) async throws -> Inventory {
        var getKEK = Svx_Keystore_V1_GetKEKRequest()
        getKEK.credentialGeneration = session.credentialGeneration
        let kek = try await keystore.call(KeystoreRPC.getKEK, getKEK, sessionToken: session.token, timeout: timeout)
        var request = Svx_Keystore_V1_ListDEKsRequest()
        request.pageSize = 500
        let deks = try await Paging.collect("DEKs", maximumPages: maximumPages) { token in
            request.pageToken = token
            let page = try await keystore.call(KeystoreRPC.listDEKs, request, sessionToken: session.token, timeout: timeout)
            return (page.deks, page.nextPageToken)
        }
        var keypairRequest = Svx_Keystore_V1_ListKeypairsRequest()
        keypairRequest.pageSize = 500
        let keypairs = try await Paging.collect("keypairs", maximumPages: maximumPages) { token in
            keypairRequest.pageToken = token
            let page = try await keystore.call(KeystoreRPC.listKeypairs, keypairRequest, sessionToken: session.token, timeout: timeout)
            return (page.keypairs, page.nextPageToken)
        }
        return Inventory(
            kek: KeystoreWire.kek(kek.kek), passphraseChangePending: kek.passphraseChangePending,
            kekCheck: Array(kek.kekCheck), deks: deks.map(KeystoreWire.dek), keypairs: keypairs.map(KeystoreWire.keypair))
    }

    /// The Keystore's recovery key of the session's user (docs/ADR-009-recovery.md), or nil if it has none.
    public func recoveryKey(session: AuthenticatedSession) async throws -> Svx_Keystore_V1_RecoveryKey? {
        do {
            return try await keystore.call(KeystoreRPC.getRecoveryKey, .init(), sessionToken: session.token, timeout: timeout)
                .recoveryKey
        } catch let status as RPCStatus where status.code == .notFound {
            return nil
        }
    }

    // MARK: Rotation

    /// A new KEK: every DEK and private key is unwrapped with the current KEK and re-wrapped with the new one, and
    /// all of it is sent in one RotateKEK (atomic in the Keystore), signed by the current KEK's check key over a
    /// fresh nonce, with the new KEK's check. The DEKs do not change, so everything they encrypted stays readable.
    /// Returns the keys unlocked under the new KEK. The session must come from a recent login
    /// (FAILED_PRECONDITION with details["reason"] `reauthentication_required` otherwise). If the Keystore has no
    /// (or a wrong) KEK check, `credentials` set it first; without them that is FAILED_PRECONDITION
    /// `kek_check_missing`.
    public func rotate(
        session: AuthenticatedSession, pdk: SymmetricKey, credentials: CurrentCredentials? = nil,
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> UnlockedKeys {
        let inventory = try await inventory(session: session)
        try Self.refuseRollback(inventory.kek.kekVersion, session: session)
        let oldKEK = try Self.unwrapKEK(inventory.kek, pdk: pdk)
        _ = try await ensureKEKCheck(
            session: session, kek: oldKEK, kekVersion: inventory.kek.kekVersion, stored: inventory.kekCheck,
            credentials: credentials)
        let newKEK = try SymmetricKey.random()
        progress(.rewrapping(keys: inventory.deks.count + inventory.keypairs.count))
        var request = Svx_Keystore_V1_RotateKEKRequest()
        request.expectedKekVersion = inventory.kek.kekVersion
        request.credentialGeneration = session.credentialGeneration
        request.wrappedKek = try Cryppo.encrypt(newKEK.bytes, key: pdk)
        request.derivation = Self.derivationArtefacts
        request.deks = try inventory.deks.map { dek in
            var key = try Self.unwrap(dek.wrappedDEK, with: oldKEK, what: "DEK \(dek.id)", bytes: 32)
            defer { secureZero(&key) }
            var rewrapped = Svx_Keystore_V1_RewrappedKey()
            rewrapped.id = dek.id
            rewrapped.wrappedKey = try Cryppo.encrypt(key, key: newKEK)
            return rewrapped
        }
        request.keypairs = try inventory.keypairs.map { keypair in
            var pem = try Self.unwrap(keypair.wrappedPrivateKey, with: oldKEK, what: "the private key of keypair \(keypair.id)")
            defer { secureZero(&pem) }
            var rewrapped = Svx_Keystore_V1_RewrappedKey()
            rewrapped.id = keypair.id
            rewrapped.wrappedKey = try Cryppo.encrypt(pem, key: newKEK)
            return rewrapped
        }
        request.newKekCheck = Data(try KEKCheck.publicKey(for: newKEK))
        // An enrolled recovery key gets the new KEK too, but only if its public key is the one this account bound
        // to its KEK at enrolment (a Keystore that swapped in its own would otherwise receive the new KEK).
        if let recovery = try await recoveryKey(session: session) {
            let publicKey: RSAPublicKey
            do {
                publicKey = try RSAPublicKey(pem: recovery.publicKeyPem)
            } catch {
                throw SVXClientError(.keystoreInconsistent, "the keystore's recovery public key is not a PEM RSA key")
            }
            guard RecoveryKeyMAC.verify(Array(recovery.publicKeyMac), publicKey: publicKey, kek: oldKEK) else {
                throw SVXClientError(
                    .keystoreInconsistent,
                    "the keystore's recovery public key is not the one this account enrolled: refusing to wrap the new KEK for it (run `svx recovery disable`, then rotate)")
            }
            var kekBytes = newKEK.bytes
            defer { secureZero(&kekBytes) }
            request.kekRecoveryWrap = try Cryppo.encrypt(kekBytes, publicKey: publicKey)
            request.recoveryPublicKeyMac = Data(try RecoveryKeyMAC.mac(publicKey: publicKey, kek: newKEK))
            // The key it was made for: a recovery key replaced meanwhile makes the rotation ABORTED, not wrong.
            request.recoveryPublicKeySha256 = Data(HashFunction.sha256.hash(Array(recovery.publicKeyPem.utf8)))
        }
        let challenge = try await beginKEKProof(session: session)
        request.kekProof.challengeID = challenge.challengeID
        request.kekProof.signature = Data(
            try KEKCheck.signingKey(for: oldKEK).sign(
                ProofTranscript.rotateKEK(request, userID: session.userID, nonce: challenge.nonce).bytes))
        _ = try await keystore.call(KeystoreRPC.rotateKEK, request, sessionToken: session.token, timeout: timeout)
        do {
            return try await unlock(session: session, pdk: pdk, progress: progress)
        } catch {
            throw SVXClientError(
                .keystoreInconsistent, "the rotation is done, but opening the keys again failed (\(error)): log in again")
        }
    }
}
