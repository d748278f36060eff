import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import Testing

@testable import SVXClient

/// The SDK's own types for what the services answer: a failed call read without the transport's types, Auth's and
/// the Keystore's messages turned into domain values, and the connection façade the CLI starts from.
@Suite struct ServiceErrorTests {
    @Test func readsTheTransportsStatus() throws {
        let status = RPCStatus(
            .resourceExhausted, "too many login attempts", details: ["retry_after_ms": "1500", "field": "username"])
        let error = try #require(ServiceError(status as any Error))
        #expect(error.code == .resourceExhausted && error.code.name == "RESOURCE_EXHAUSTED")
        #expect(error.message == "too many login attempts" && error.details == status.details)
        #expect(error.field == "username" && error.reason == nil)
        #expect(error.retryAfter == .milliseconds(1500))
        #expect(error.description == "RESOURCE_EXHAUSTED: too many login attempts")
        // Every canonical code keeps its number and name.
        for code in RPCStatus.Code.allCanonical {
            let read = try #require(ServiceError(RPCStatus(code, "") as any Error))
            #expect(read.code.rawValue == code.rawValue && read.code.name == code.name && read.description == code.name)
        }
        #expect(ServiceError(RPCStatus(.init(rawValue: 42), "x") as any Error)?.code.name == "CODE_42")
    }

    @Test func readsItselfAndNothingElse() {
        let own = ServiceError(.failedPrecondition, "pending", details: ["reason": "passphrase_change_pending"])
        #expect(ServiceError(own as any Error) == own)
        #expect(own.reason == "passphrase_change_pending")
        #expect(ServiceError(SVXClientError(.invalidInput, "no") as any Error) == nil)
        #expect(ServiceError(CancellationError() as any Error) == nil)
    }

    @Test func aRetryAfterMustBeACount() {
        for bad in ["", "soon", "-1", "1.5"] {
            #expect(ServiceError(.resourceExhausted, "", details: ["retry_after_ms": bad]).retryAfter == nil, "\(bad)")
        }
        #expect(ServiceError(.resourceExhausted, "").retryAfter == nil)
        #expect(ServiceError(.resourceExhausted, "", details: ["retry_after_ms": "0"]).retryAfter == .zero)
    }
}

@Suite struct AuthWireTests {
    @Test func whoAmIAnswer() {
        var answer = Svx_Auth_V1_ValidateSessionResponse()
        answer.username = "M9znjHbD5Xi"
        answer.userID = "0f0e0d0c-0b0a-4908-8706-050403020100"
        answer.sessionID = "3f2a0c7e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
        answer.expiresAtMs = 1_700_000_000_123
        answer.credentialGeneration = 3
        answer.recentlyAuthenticated = true
        #expect(AuthWire.identity(answer) == AccountIdentity(
            username: "M9znjHbD5Xi", userID: answer.userID, sessionID: answer.sessionID,
            sessionExpiresAt: Date(timeIntervalSince1970: 1_700_000_000.123), credentialGeneration: 3,
            recentlyAuthenticated: true))
    }

    @Test func sessionListEntry() {
        var session = Svx_Auth_V1_Session()
        session.sessionID = "3f2a0c7e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
        session.createdAtMs = 1_000
        session.lastSeenAtMs = 61_500
        session.expiresAtMs = 43_201_000
        session.current = true
        let info = AuthWire.session(session)
        #expect(info == SessionInfo(
            id: session.sessionID, createdAt: Date(timeIntervalSince1970: 1), lastSeenAt: Date(timeIntervalSince1970: 61.5),
            expiresAt: Date(timeIntervalSince1970: 43_201), isCurrent: true))
        session.current = false
        #expect(!AuthWire.session(session).isCurrent)
    }
}

@Suite struct KeystoreWireTests {
    @Test func svxDerivationIsWhatTheKeystoreGets() {
        let wire = KeyringClient.derivationArtefacts
        #expect(wire.algorithm == "PBKDF2-HMAC-SHA256" && wire.saltSource == "secret_key")
        #expect(wire.iterations == UInt32(SecretKey.iterations) && wire.keyLength == 32 && wire.version == 1)
        #expect(KeystoreWire.derivation(wire) == KeyDerivation.svx)
    }

    @Test func storedKeysKeepEveryField() {
        var kek = Svx_Keystore_V1_KeyEncryptionKey()
        kek.kekVersion = 2
        kek.credentialGeneration = 5
        kek.wrappedKek = "Aes256Gcm.a.b"
        kek.derivation = KeyringClient.derivationArtefacts
        kek.createdAtMs = 2_000
        #expect(KeystoreWire.kek(kek) == WrappedKEK(
            kekVersion: 2, credentialGeneration: 5, wrappedKEK: "Aes256Gcm.a.b", derivation: .svx,
            createdAt: Date(timeIntervalSince1970: 2)))

        var dek = Svx_Keystore_V1_DataEncryptionKey()
        dek.dekID = "d"
        dek.externalID = "private"
        dek.kekVersion = 2
        dek.wrappedDek = "Aes256Gcm.c.d"
        dek.createdAtMs = 3_000
        #expect(KeystoreWire.dek(dek) == WrappedDEK(
            id: "d", externalID: "private", kekVersion: 2, wrappedDEK: "Aes256Gcm.c.d", createdAt: Date(timeIntervalSince1970: 3)))

        var keypair = Svx_Keystore_V1_Keypair()
        keypair.keypairID = "k"
        keypair.externalIdentifiers = ["auth", "other"]
        keypair.metadata = ["purpose": "connection"]
        keypair.publicKeyPem = "-----BEGIN PUBLIC KEY-----"
        keypair.wrappedPrivateKey = "Aes256Gcm.e.f"
        keypair.kekVersion = 1
        keypair.createdAtMs = 4_000
        #expect(KeystoreWire.keypair(keypair) == WrappedKeypair(
            id: "k", externalIdentifiers: ["auth", "other"], metadata: ["purpose": "connection"],
            publicKeyPEM: "-----BEGIN PUBLIC KEY-----",
            wrappedPrivateKey: "Aes256Gcm.e.f", kekVersion: 1, createdAt: Date(timeIntervalSince1970: 4)))

        var challenge = Svx_Keystore_V1_BeginKEKProofResponse()
        challenge.challengeID = "c"
        challenge.nonce = Data([1, 2, 3])
        challenge.expiresAtMs = 5_000
        #expect(KeystoreWire.challenge(challenge) == KEKProofChallenge(
            challengeID: "c", nonce: [1, 2, 3], expiresAt: Date(timeIntervalSince1970: 5)))
    }

    /// A KEK wrapped under another derivation is refused before any decryption; the version alone does not matter.
    @Test func unwrapKEKChecksTheDerivation() throws {
        let pdk = try SymmetricKey.random(), kek = try SymmetricKey.random()
        func stored(_ derivation: KeyDerivation) throws -> WrappedKEK {
            WrappedKEK(
                kekVersion: 1, credentialGeneration: 1, wrappedKEK: try Cryppo.encrypt(kek.bytes, key: pdk),
                derivation: derivation, createdAt: Date())
        }
        #expect(try KeyringClient.unwrapKEK(try stored(.svx), pdk: pdk).bytes == kek.bytes)
        let laterVersion = KeyDerivation(
            algorithm: "PBKDF2-HMAC-SHA256", saltSource: "secret_key", iterations: UInt32(SecretKey.iterations),
            keyLength: 32, version: 7)
        #expect(try KeyringClient.unwrapKEK(try stored(laterVersion), pdk: pdk).bytes == kek.bytes)
        let others = [
            KeyDerivation(algorithm: "scrypt", saltSource: "secret_key", iterations: UInt32(SecretKey.iterations), keyLength: 32, version: 1),
            KeyDerivation(algorithm: "PBKDF2-HMAC-SHA256", saltSource: "other", iterations: UInt32(SecretKey.iterations), keyLength: 32, version: 1),
            KeyDerivation(algorithm: "PBKDF2-HMAC-SHA256", saltSource: "secret_key", iterations: 1_000, keyLength: 32, version: 1),
            KeyDerivation(algorithm: "PBKDF2-HMAC-SHA256", saltSource: "secret_key", iterations: UInt32(SecretKey.iterations), keyLength: 16, version: 1),
        ]
        for other in others {
            #expect { _ = try KeyringClient.unwrapKEK(try stored(other), pdk: pdk) } throws: {
                ($0 as? SVXClientError)?.code == .keystoreInconsistent
            }
        }
        #expect { _ = try KeyringClient.unwrapKEK(try stored(.svx), pdk: try SymmetricKey.random()) } throws: {
            ($0 as? SVXClientError)?.code == .keyUnwrapFailed
        }
    }
}

@Suite struct SVXConnectionTests {
    /// Clients are made without any service up (the socket connects in the background); a malformed endpoint is
    /// the caller's input, named.
    @Test func makesEveryClientAndNamesABadEndpoint() throws {
        let endpoints = ServiceEndpoints(
            auth: "tcp://127.0.0.1:1", keystore: "tcp://127.0.0.1:2", vault: "tcp://127.0.0.1:3",
            sharing: "tcp://127.0.0.1:4", classification: "tcp://127.0.0.1:5")
        // Over CURVE, each client pins its service's key.
        var keys: [String: [UInt8]] = [:]
        for service in TransportSecurity.services { keys[service] = try CurveKeyPair.generate().publicKey }
        let transport = TransportSecurity(mode: .curve, publicKeys: keys)
        let connection = SVXConnection(endpoints: endpoints, transport: transport)
        #expect(try connection.account(timeout: .seconds(3)).auth.endpoint == endpoints.auth)
        #expect(try connection.account(timeout: .seconds(3)).timeout == .seconds(3))
        let keyring = try connection.keyring(keypairBits: 2048)
        #expect(keyring.keystore.endpoint == endpoints.keystore && keyring.keypairBits == 2048)
        #expect(try connection.vault().vault.endpoint == endpoints.vault)
        #expect(try connection.classification().classification.endpoint == endpoints.classification)
        let sharing = try connection.sharing(timeout: .seconds(7), keypairBits: 2048)
        #expect(sharing.sharing.endpoint == endpoints.sharing && sharing.keyring.keystore.endpoint == endpoints.keystore)
        #expect(sharing.keypairBits == 2048 && sharing.timeout == .seconds(7))

        var broken = endpoints
        broken.vault = "no-such-transport://x"
        #expect { _ = try SVXConnection(endpoints: broken, transport: transport).vault() } throws: {
            guard let error = $0 as? SVXClientError else { return false }
            return error.code == .invalidInput && error.message.contains("Vault") && error.message.contains("no-such-transport://x")
        }
        broken = endpoints
        broken.sharing = "no-such-transport://y"
        #expect { _ = try SVXConnection(endpoints: broken, transport: transport).sharing() } throws: {
            ($0 as? SVXClientError)?.message.contains("Sharing") == true
        }
        // CURVE without a key for the service: the caller's input, naming the variable to set.
        let keyless = SVXConnection(endpoints: endpoints, transport: TransportSecurity(mode: .curve))
        #expect { _ = try keyless.vault() } throws: {
            guard let error = $0 as? SVXClientError else { return false }
            return error.code == .invalidInput && error.message.contains("SVX_VAULT_PUBLIC_KEY")
        }
        #expect(try SVXConnection(endpoints: endpoints, transport: .plaintext).vault().vault.endpoint == endpoints.vault)
    }
}
