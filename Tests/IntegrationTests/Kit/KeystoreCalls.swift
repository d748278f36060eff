import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Keystore calls of a ``TestUser``: keys made here (the Keystore only ever sees them wrapped) and stored.
extension TestUser {
    /// A random KEK stored wrapped by a random PDK, with its KEK check (CreateKEK).
    func createKEK() async throws -> (kek: SymmetricKey, pdk: SymmetricKey, stored: Svx_Keystore_V1_KeyEncryptionKey) {
        let kek = try SymmetricKey.random()
        let pdk = try SymmetricKey.random()
        let created = try await call(
            KeystoreRPC.createKEK, .init(wrappedKek: try Cryppo.encrypt(kek.bytes, key: pdk), kekCheck: kek))
        return (kek, pdk, created.kek)
    }

    /// `request` with a KEK proof: a fresh nonce (BeginKEKProof) and the signature by `kek`'s check key.
    func proved(
        _ request: Svx_Keystore_V1_StagePassphraseChangeRequest, kek: SymmetricKey
    ) async throws -> Svx_Keystore_V1_StagePassphraseChangeRequest {
        var request = request
        request.kekProof = try await kekProof(kek: kek) { challengeID, nonce in
            var bound = request
            bound.kekProof.challengeID = challengeID
            return ProofTranscript.stagePassphraseChange(bound, userID: userID, nonce: nonce)
        }
        return request
    }

    /// `request` with a KEK proof: a fresh nonce (BeginKEKProof) and the signature by `kek`'s check key.
    func proved(_ request: Svx_Keystore_V1_RotateKEKRequest, kek: SymmetricKey) async throws -> Svx_Keystore_V1_RotateKEKRequest {
        var request = request
        request.kekProof = try await kekProof(kek: kek) { challengeID, nonce in
            var bound = request
            bound.kekProof.challengeID = challengeID
            return ProofTranscript.rotateKEK(bound, userID: userID, nonce: nonce)
        }
        return request
    }

    /// `request` with a KEK proof: a fresh nonce (BeginKEKProof) and the signature by `kek`'s check key.
    func proved(
        _ request: Svx_Keystore_V1_PutRecoveryKeyRequest, kek: SymmetricKey
    ) async throws -> Svx_Keystore_V1_PutRecoveryKeyRequest {
        var request = request
        request.kekProof = try await kekProof(kek: kek) { challengeID, nonce in
            var bound = request
            bound.kekProof.challengeID = challengeID
            return ProofTranscript.putRecoveryKey(bound, userID: userID, nonce: nonce)
        }
        return request
    }

    /// Enrols `recoveryKey` as the SDK does (``Svx_Keystore_V1_PutRecoveryKeyRequest/init(_:rwk:kek:kekVersion:)``),
    /// proved by `kek`; returns PutRecoveryKey's `replaced`.
    @discardableResult
    func putRecoveryKey(_ recoveryKey: RSAPrivateKey, rwk: SymmetricKey, kek: SymmetricKey, kekVersion: UInt32 = 1)
        async throws -> Bool
    {
        let request = try Svx_Keystore_V1_PutRecoveryKeyRequest(recoveryKey, rwk: rwk, kek: kek, kekVersion: kekVersion)
        return try await call(KeystoreRPC.putRecoveryKey, try await proved(request, kek: kek)).replaced
    }

    /// A fresh challenge (BeginKEKProof) and the signature by `kek`'s check key of the transcript made with its id and
    /// nonce.
    private func kekProof(
        kek: SymmetricKey, transcript: (String, [UInt8]) -> ProofTranscript
    ) async throws -> Svx_Keystore_V1_KEKProof {
        let challenge = try await call(KeystoreRPC.beginKEKProof, .init())
        var proof = Svx_Keystore_V1_KEKProof()
        proof.challengeID = challenge.challengeID
        proof.signature = Data(try KEKCheck.signingKey(for: kek).sign(transcript(challenge.challengeID, Array(challenge.nonce)).bytes))
        return proof
    }

    /// A random DEK stored wrapped by `kek`; returns the stored DEK and its raw bytes.
    func createDEK(kek: SymmetricKey, kekVersion: UInt32 = 1, externalID: String = "") async throws
        -> (dek: Svx_Keystore_V1_DataEncryptionKey, key: [UInt8])
    {
        let key = try SecureRandom.bytes(count: 32)
        let request = Svx_Keystore_V1_CreateDEKRequest(
            wrapped: try Cryppo.encrypt(key, key: kek), kekVersion: kekVersion, externalID: externalID)
        return (try await call(KeystoreRPC.createDEK, request).dek, key)
    }

    /// `privateKey` stored as a keypair, its PEM wrapped by `kek`.
    func createKeypair(
        _ privateKey: RSAPrivateKey, kek: SymmetricKey, kekVersion: UInt32 = 1, identifiers: [String] = [],
        metadata: [String: String] = [:]
    ) async throws -> Svx_Keystore_V1_Keypair {
        let request = try Svx_Keystore_V1_CreateKeypairRequest(
            privateKey, kek: kek, kekVersion: kekVersion, identifiers: identifiers, metadata: metadata)
        return try await call(KeystoreRPC.createKeypair, request).keypair
    }

    /// Every DEK, page by page.
    func allDEKs(pageSize: UInt32 = 0) async throws -> [Svx_Keystore_V1_DataEncryptionKey] {
        try await allPages("ListDEKs") { token in
            let page = try await call(KeystoreRPC.listDEKs, .init(pageSize: pageSize, pageToken: token))
            return (page.deks, page.nextPageToken)
        }.elements
    }

    /// Every keypair, page by page.
    func allKeypairs(pageSize: UInt32 = 0) async throws -> [Svx_Keystore_V1_Keypair] {
        try await allPages("ListKeypairs") { token in
            let page = try await call(KeystoreRPC.listKeypairs, .init(pageSize: pageSize, pageToken: token))
            return (page.keypairs, page.nextPageToken)
        }.elements
    }

    /// Auth's ChangeVerifier with a verifier for `newPassphrase` (step 2 of a passphrase change), proved by the
    /// `current` passphrase.
    func changeVerifier(to newPassphrase: String, expected: UInt64, new: UInt64, current: String = "pw") async throws
        -> Svx_Auth_V1_ChangeVerifierResponse
    {
        var request = Svx_Auth_V1_ChangeVerifierRequest()
        let salt = try SecureRandom.bytes(count: 32)
        request.srpSaltHex = Hex.encode(salt)
        request.srpVerifierHex = Hex.encode(try srp.verifier(salt: salt, username: username, password: password(newPassphrase)))
        request.expectedGeneration = expected
        request.newGeneration = new
        request = try await stack.auth.proved(request, userID: userID, username: username, password: password(current))
        return try await call(AuthRPC.changeVerifier, request)
    }
}

// MARK: Requests

extension Svx_Keystore_V1_CreateKEKRequest {
    /// `kekCheck`: the KEK whose check goes with it (nil: a random check, for requests that must fail before it
    /// matters).
    init(wrappedKek: String, derivation: Svx_Keystore_V1_DerivationArtefacts? = KeyringClient.derivationArtefacts,
         kekCheck: SymmetricKey? = nil) {
        self.init()
        self.wrappedKek = wrappedKek
        if let derivation { self.derivation = derivation }
        self.kekCheck = Data(try! KEKCheck.publicKey(for: kekCheck ?? (try! SymmetricKey.random())))
    }
}

extension Svx_Keystore_V1_GetKEKRequest {
    init(generation: UInt64) {
        self.init()
        credentialGeneration = generation
    }
}

extension Svx_Keystore_V1_StagePassphraseChangeRequest {
    init(kekVersion: UInt32, wrappedKek: String,
         derivation: Svx_Keystore_V1_DerivationArtefacts? = KeyringClient.derivationArtefacts) {
        self.init()
        self.kekVersion = kekVersion
        self.wrappedKek = wrappedKek
        if let derivation { self.derivation = derivation }
    }
}

extension Svx_Keystore_V1_CommitPassphraseChangeRequest {
    init(generation: UInt64) {
        self.init()
        credentialGeneration = generation
    }
}

extension Svx_Keystore_V1_CreateDEKRequest {
    init(wrapped: String, kekVersion: UInt32 = 1, externalID: String = "") {
        self.init()
        wrappedDek = wrapped
        self.kekVersion = kekVersion
        self.externalID = externalID
    }
}

extension Svx_Keystore_V1_GetDEKRequest {
    init(id: String = "", externalID: String = "") {
        self.init()
        dekID = id
        self.externalID = externalID
    }
}

extension Svx_Keystore_V1_DeleteDEKRequest {
    init(id: String) {
        self.init()
        dekID = id
    }
}

extension Svx_Keystore_V1_ListDEKsRequest {
    init(pageSize: UInt32 = 0, pageToken: String = "") {
        self.init()
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

extension Svx_Keystore_V1_CreateKeypairRequest {
    init(publicKeyPEM: String, wrappedPrivateKey: String, kekVersion: UInt32 = 1, identifiers: [String] = [],
         metadata: [String: String] = [:]) {
        self.init()
        publicKeyPem = publicKeyPEM
        self.wrappedPrivateKey = wrappedPrivateKey
        self.kekVersion = kekVersion
        externalIdentifiers = identifiers
        self.metadata = metadata
    }

    /// `privateKey`'s public half, and its PEM wrapped by `kek`.
    init(_ privateKey: RSAPrivateKey, kek: SymmetricKey, kekVersion: UInt32 = 1, identifiers: [String] = [],
         metadata: [String: String] = [:]) throws {
        self.init(
            publicKeyPEM: try privateKey.publicKeyPEM, wrappedPrivateKey: try Cryppo.encrypt(Array(try privateKey.pem.utf8), key: kek),
            kekVersion: kekVersion, identifiers: identifiers, metadata: metadata)
    }
}

extension Svx_Keystore_V1_GetKeypairRequest {
    init(id: String = "", externalIdentifier: String = "") {
        self.init()
        keypairID = id
        self.externalIdentifier = externalIdentifier
    }
}

extension Svx_Keystore_V1_DeleteKeypairRequest {
    init(id: String) {
        self.init()
        keypairID = id
    }
}

extension Svx_Keystore_V1_ListKeypairsRequest {
    init(pageSize: UInt32 = 0, pageToken: String = "") {
        self.init()
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

extension Svx_Keystore_V1_RewrappedKey {
    init(id: String, wrapped: String) {
        self.init()
        self.id = id
        wrappedKey = wrapped
    }
}

extension Svx_Keystore_V1_RotateKEKRequest {
    /// A rotation to `newKEK` (wrapped by `pdk`), every key given re-wrapped by it.
    init(expected: UInt32, generation: UInt64, newKEK: SymmetricKey, pdk: SymmetricKey,
         deks: [(id: String, key: [UInt8])], keypairs: [(id: String, pem: String)]) throws {
        self.init()
        expectedKekVersion = expected
        credentialGeneration = generation
        wrappedKek = try Cryppo.encrypt(newKEK.bytes, key: pdk)
        derivation = KeyringClient.derivationArtefacts
        newKekCheck = Data(try KEKCheck.publicKey(for: newKEK))
        self.deks = try deks.map { .init(id: $0.id, wrapped: try Cryppo.encrypt($0.key, key: newKEK)) }
        self.keypairs = try keypairs.map { .init(id: $0.id, wrapped: try Cryppo.encrypt(Array($0.pem.utf8), key: newKEK)) }
    }

    /// The new KEK wrapped for `recoveryKey`'s public key, with the public key's MAC by the new KEK, as the SDK sends
    /// them while a recovery key is enrolled.
    mutating func carryRecovery(_ recoveryKey: RSAPrivateKey, newKEK: SymmetricKey) throws {
        kekRecoveryWrap = try Cryppo.encrypt(newKEK.bytes, publicKey: try recoveryKey.publicKey)
        recoveryPublicKeyMac = Data(try RecoveryKeyMAC.mac(publicKey: try recoveryKey.publicKey, kek: newKEK))
        recoveryPublicKeySha256 = Data(HashFunction.sha256.hash(Array(try recoveryKey.publicKeyPEM.utf8)))
    }
}

extension Svx_Keystore_V1_PutRecoveryKeyRequest {
    /// `recoveryKey` as the SDK enrols it: its public key, its PKCS#1 PEM wrapped by `rwk` (the key derived from the
    /// Recovery Key), and `kek` wrapped by its public key (Rsa4096).
    init(_ recoveryKey: RSAPrivateKey, rwk: SymmetricKey, kek: SymmetricKey, kekVersion: UInt32 = 1) throws {
        self.init()
        publicKeyPem = try recoveryKey.publicKeyPEM
        wrappedPrivateKey = try Cryppo.encrypt(Array(try recoveryKey.pem.utf8), key: rwk)
        kekRecoveryWrap = try Cryppo.encrypt(kek.bytes, publicKey: try recoveryKey.publicKey)
        publicKeyMac = Data(try RecoveryKeyMAC.mac(publicKey: try recoveryKey.publicKey, kek: kek))
        self.kekVersion = kekVersion
    }
}

extension Svx_Keystore_V1_RecoveryKey {
    /// The KEK this recovery key wraps, opened as a recovering client does: `rwk` opens the private key, which opens
    /// the KEK.
    func openedKEK(rwk: SymmetricKey) throws -> [UInt8] {
        let privateKey = try RSAPrivateKey(pem: String(decoding: try Cryppo.decrypt(wrappedPrivateKey, key: rwk), as: UTF8.self))
        return try Cryppo.decrypt(kekRecoveryWrap, privateKey: privateKey)
    }
}

extension Svx_Keystore_V1_DerivationArtefacts {
    /// svx's derivation with one field changed.
    static func changed(_ change: (inout Svx_Keystore_V1_DerivationArtefacts) -> Void) -> Svx_Keystore_V1_DerivationArtefacts {
        var artefacts = KeyringClient.derivationArtefacts
        change(&artefacts)
        return artefacts
    }
}

extension TestDatabase {
    /// The restore procedure of ADR-004 (scripts/keystore-restore-kek.sql) through psql, as the Keystore's role.
    func restoreKEK(userID: String, version: Int, generation: Int) async throws -> (status: Int32, output: String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/keystore-restore-kek.sql").path
        return try await ChildProcess.run(
            "/usr/bin/env",
            ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-v", "user_id=\(userID)", "-v", "version=\(version)",
             "-v", "generation=\(generation)", "-f", script, conninfo(service: "keystore")])
    }

    /// Every row of the keystore schema (``dump(schema:tables:excluding:)``) but the single-use KEK proof nonces, which
    /// a request proved and then refused may still have used: for "no key changed" checks.
    func keystoreKeys() throws -> String { try dump(schema: "keystore", excluding: ["kek_proof_challenges"]) }
}
