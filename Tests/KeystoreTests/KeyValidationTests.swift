import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

@testable import Keystore

/// What the Keystore accepts as a wrapped key, derivation artefacts, identifiers and metadata (pure checks, before any
/// database work; public keys: FieldValidationTests in SVXServiceTests).
@Suite struct KeyValidationTests {
    let key = try! SymmetricKey.random()


    @Test func aWrapped32ByteKeyIsAccepted() throws {
        let wrapped = try Cryppo.encrypt(try SymmetricKey.random().bytes, key: key)
        #expect(try KeyValidation.wrappedKey(wrapped, field: "wrapped_dek") == wrapped)
        // Legacy (YAML artefacts) strings written by older Meeco clients parse too: 16 bytes here, so refused
        // only for its size, not its format.
        let legacy = "Aes256Gcm.njxkD8E8FUblb27R6hvN_Q==.LS0tCml2OiAhYmluYXJ5IHwtCiAgKzdhbXl4cjhBWEdQRlVuNwphdDogIWJpbmFyeSB8LQogIHQxa2hBTXBjSStjcENrcWNZUTVxWUE9PQphZDogbm9uZQo="
        let status = #expect(throws: RPCStatus.self) { try KeyValidation.wrappedKey(legacy, field: "wrapped_dek") }
        #expect(status?.message.contains("holds 16 bytes") == true)
    }

    @Test func plaintextAndOtherStrategiesAreRefused() throws {
        let raw = try SymmetricKey.random()
        let privateKey = try RSAPrivateKey.generate(bits: 2048)
        let cases: [String] = [
            "",
            raw.base64URL,  // a plaintext key
            Hex.encode(raw.bytes),
            try privateKey.pem,  // a plaintext PEM private key
            try Cryppo.encrypt(raw.bytes, publicKey: try privateKey.publicKey),  // Rsa4096 strategy
            try Cryppo.encrypt(raw.bytes, passphrase: "pass"),  // passphrase-derived, 5 parts
            try Cryppo.encrypt(Array(repeating: 1, count: 16), key: key),  // not 32 bytes
            try Cryppo.encrypt(Array(repeating: 1, count: 64), key: key),
            String(repeating: "A", count: 600),
            "Aes256Gcm.AAAA.QUAAAAA=",  // artefacts without an IV and a tag
        ]
        for text in cases {
            #expect(invalidArgumentField { try KeyValidation.wrappedKey(text, field: "wrapped_kek") } == "wrapped_kek", "\(text.prefix(40))")
        }
        #expect(invalidArgumentField { try KeyValidation.wrappedPrivateKey(try! privateKey.pem, field: "wrapped_private_key") } == "wrapped_private_key")
        let wrappedPEM = try Cryppo.encrypt(Array(try privateKey.pem.utf8), key: key)
        #expect(try KeyValidation.wrappedPrivateKey(wrappedPEM, field: "wrapped_private_key") == wrappedPEM)
        // A wrapped 32-byte key is not a private key.
        #expect(invalidArgumentField { try KeyValidation.wrappedPrivateKey(try! Cryppo.encrypt(raw.bytes, key: key), field: "k") } == "k")
    }

    /// A recovery key's wrapped private key: an Aes256Gcm string of an RSA-4096 PEM's size, no other.
    @Test func aWrappedRecoveryPrivateKeyHasThePEMsSize() throws {
        for bytes in [KeyValidation.recoveryPrivateKeyBytes.lowerBound, 3_243, KeyValidation.recoveryPrivateKeyBytes.upperBound] {
            let wrapped = try Cryppo.encrypt(Array(repeating: 0x41, count: bytes), key: key)
            #expect(try KeyValidation.wrappedRecoveryPrivateKey(wrapped) == wrapped, "\(bytes) bytes")
        }
        for bytes in [32, KeyValidation.recoveryPrivateKeyBytes.lowerBound - 1, KeyValidation.recoveryPrivateKeyBytes.upperBound + 1] {
            let wrapped = try Cryppo.encrypt(Array(repeating: 0x41, count: bytes), key: key)
            let status = #expect(throws: RPCStatus.self) { try KeyValidation.wrappedRecoveryPrivateKey(wrapped) }
            #expect(status?.details["field"] == "wrapped_private_key", "\(bytes) bytes")
        }
        // The KEK wrapped for a 2048-bit key is not a recovery wrap (RSA-4096 ciphertext is 512 bytes).
        let small = try RSAPrivateKey.generate(bits: 2048)
        let status = #expect(throws: RPCStatus.self) {
            try KeyValidation.kekRecoveryWrap(try Cryppo.encrypt(key.bytes, publicKey: try small.publicKey))
        }
        #expect(status?.details["field"] == "kek_recovery_wrap")
        let pem = #expect(throws: RPCStatus.self) { try KeyValidation.recoveryPublicKeyPEM(try small.publicKeyPEM) }
        #expect(pem?.details["field"] == "public_key_pem")
    }

    @Test func derivationArtefactsAreWhatTheSDKUses() throws {
        var good = Svx_Keystore_V1_DerivationArtefacts()
        good.algorithm = "PBKDF2-HMAC-SHA256"
        good.saltSource = "secret_key"
        good.iterations = 100_000
        good.keyLength = 32
        good.version = 1
        #expect(try KeyValidation.derivation(good) == good)
        #expect(invalidArgumentField { try KeyValidation.derivation(nil) } == "derivation")
        var bad = good
        bad.algorithm = "scrypt"
        #expect(invalidArgumentField { try KeyValidation.derivation(bad) } == "derivation.algorithm")
        bad = good
        bad.iterations = 1_000
        #expect(invalidArgumentField { try KeyValidation.derivation(bad) } == "derivation.iterations")
        bad = good
        bad.keyLength = 16
        #expect(invalidArgumentField { try KeyValidation.derivation(bad) } == "derivation.key_length")
        bad = good
        bad.saltSource = "username"
        #expect(invalidArgumentField { try KeyValidation.derivation(bad) } == "derivation.salt_source")
        bad = good
        bad.version = 2
        #expect(invalidArgumentField { try KeyValidation.derivation(bad) } == "derivation.version")
    }

    @Test func identifiersAndMetadataAreBounded() throws {
        #expect(try KeyValidation.externalIdentifiers(["auth", "connection-1"]) == ["auth", "connection-1"])
        for identifiers in [[""], ["a", "a"], ["tab\there"], [" padded"], [String(repeating: "x", count: 129)],
                            (0..<17).map { "id\($0)" }] {
            #expect(invalidArgumentField { try KeyValidation.externalIdentifiers(identifiers) } == "external_identifiers", "\(identifiers)")
        }
        #expect(try KeyValidation.metadataJSON(["b": "2", "a": "1"]) == #"{"a":"1","b":"2"}"#)
        #expect(invalidArgumentField { try KeyValidation.metadataJSON(Dictionary(uniqueKeysWithValues: (0..<33).map { ("k\($0)", "v") })) } == "metadata")
        #expect(invalidArgumentField { try KeyValidation.metadataJSON(["k": String(repeating: "v", count: 1025)]) } == "metadata")
        #expect(invalidArgumentField { try KeyValidation.metadataJSON(["": "v"]) } == "metadata key")
        #expect(invalidArgumentField { try KeyValidation.kekVersion(0) } == "kek_version")
        #expect(invalidArgumentField { try KeyValidation.generation(0) } == "credential_generation")
        #expect(invalidArgumentField { try KeyValidation.generation(UInt64(Int64.max) + 1) } == "credential_generation")
    }
}

/// The shapes of KEK checks and KEK proofs, checked before any database work (their signatures are checked by
/// the service itself).
@Suite struct KEKProofValidationTests {

    @Test func aKEKCheckIs32Bytes() throws {
        #expect(try KeyValidation.kekCheck(Data(repeating: 1, count: 32), field: "kek_check") == [UInt8](repeating: 1, count: 32))
        #expect(invalidArgumentField { try KeyValidation.kekCheck(Data(), field: "kek_check") } == "kek_check")
        #expect(invalidArgumentField { try KeyValidation.kekCheck(Data(repeating: 1, count: 33), field: "new_kek_check") } == "new_kek_check")
    }

    @Test func aKEKProofNamesAChallengeAndCarries64Bytes() throws {
        var proof = Svx_Keystore_V1_KEKProof()
        proof.challengeID = "3f2a0c7e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
        proof.signature = Data(repeating: 2, count: 64)
        #expect(try KeyValidation.kekProof(proof).challengeID == UUID(uuidString: proof.challengeID))
        #expect(invalidArgumentField { try KeyValidation.kekProof(nil) } == "kek_proof")
        var bad = proof
        bad.challengeID = "not-a-uuid"
        #expect(invalidArgumentField { try KeyValidation.kekProof(bad) } == "kek_proof.challenge_id")
        bad = proof
        bad.signature = Data(repeating: 2, count: 63)
        #expect(invalidArgumentField { try KeyValidation.kekProof(bad) } == "kek_proof.signature")
    }

    @Test func authsFieldNamesBecomeSetKEKChecksOwn() {
        let renamed = KeystoreService.namingCredentialFields(
            RPCStatus(.invalidArgument, "bad", details: ["field": "proof.srp_m1_hex"]))
        #expect(renamed.code == .invalidArgument && renamed.details["field"] == "current_credentials.srp_m1_hex")
        #expect(KeystoreService.namingCredentialFields(
            RPCStatus(.permissionDenied, "no", details: ["field": "proof"])).details["field"] == "current_credentials")
        #expect(KeystoreService.namingCredentialFields(RPCStatus(.unavailable, "down")).details["field"] == nil)
        #expect(KeystoreService.namingCredentialFields(
            RPCStatus(.invalidArgument, "bad", details: ["field": "purpose"])).details["field"] == "purpose")
    }
}

