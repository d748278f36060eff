import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService

/// Checks of the wrapped keys and their companions, before any database work. The Keystore cannot look inside
/// a wrapped key, but it can tell that it is one: a Cryppo string of the expected strategy whose artefacts and
/// ciphertext have the sizes a wrapped key has. Plaintext keys, PEM private keys, other strategies and
/// derived-key strings are refused. Pure: unit-tested in KeystoreTests.
enum KeyValidation {
    static let keyLength = 32
    /// A KEK or DEK string is ~110 characters; anything much longer is not one.
    static let maximumWrappedKeyCharacters = 512
    /// A PKCS#1 PEM of an RSA-16384 private key is ~12.5 KB; its wrapped string ~17 KB.
    static let maximumWrappedPrivateKeyCharacters = 24 * 1024
    static let minimumPrivateKeyBytes = 256
    static let maximumPrivateKeyBytes = 16 * 1024
    static let maximumExternalIdentifiers = 16
    static let maximumMetadataEntries = 32
    static let maximumMetadataValueBytes = 1024
    static let minimumIterations: UInt32 = 100_000
    static let maximumIterations: UInt32 = 10_000_000

    private static func invalid(_ field: String, _ message: String) -> RPCStatus {
        FieldValidation.invalid(field, message)
    }

    /// A 32-byte key (KEK or DEK) wrapped with AES-256-GCM: `Aes256Gcm.<32 bytes>.<artefacts>`.
    static func wrappedKey(_ text: String, field: String) throws(RPCStatus) -> String {
        try wrapped(text, field: field, maximumCharacters: maximumWrappedKeyCharacters, bytes: keyLength...keyLength,
                    what: "a 32-byte key")
    }

    /// An RSA private key (PKCS#1 PEM) wrapped with AES-256-GCM.
    static func wrappedPrivateKey(_ text: String, field: String) throws(RPCStatus) -> String {
        try wrapped(text, field: field, maximumCharacters: maximumWrappedPrivateKeyCharacters,
                    bytes: minimumPrivateKeyBytes...maximumPrivateKeyBytes, what: "a PEM private key")
    }

    /// The size of a recovery key, in bits (docs/ADR-004-keystore.md, "Recovery key").
    static let recoveryKeyBits = 4096
    /// A PKCS#1 PEM of an RSA-4096 private key is ~3.2 KB (PKCS#8 ~3.3 KB); its wrapped string ~4.5 KB.
    static let recoveryPrivateKeyBytes = 1024...8192
    static let maximumWrappedRecoveryPrivateKeyCharacters = 12 * 1024

    /// A recovery key's public half: an RSA SPKI PEM of exactly ``recoveryKeyBits`` bits; returns its canonical PEM
    /// (what is stored).
    static func recoveryPublicKeyPEM(_ text: String, field: String = "public_key_pem") throws(RPCStatus) -> String {
        let (key, pem) = try FieldValidation.rsaPublicKey(text, field: field)
        guard key.bits == recoveryKeyBits else {
            throw invalid(field, "\(field) is an RSA key of \(key.bits) bits: a recovery key has \(recoveryKeyBits)")
        }
        return pem
    }

    /// A recovery key's private half (its PEM) wrapped with AES-256-GCM by the key derived from the Recovery Key.
    static func wrappedRecoveryPrivateKey(_ text: String, field: String = "wrapped_private_key") throws(RPCStatus) -> String {
        try wrapped(text, field: field, maximumCharacters: maximumWrappedRecoveryPrivateKeyCharacters,
                    bytes: recoveryPrivateKeyBytes, what: "an RSA-4096 PEM private key")
    }

    /// The KEK wrapped by a recovery public key: an `Rsa4096` Cryppo string whose ciphertext is exactly the size of
    /// an RSA-4096 modulus.
    static func kekRecoveryWrap(_ text: String, field: String = "kek_recovery_wrap") throws(RPCStatus) -> String {
        try FieldValidation.rsaString(text, field: field, modulusBytes: recoveryKeyBits / 8)
        return text
    }

    private static func wrapped(
        _ text: String, field: String, maximumCharacters: Int, bytes: ClosedRange<Int>, what: String
    ) throws(RPCStatus) -> String {
        _ = try FieldValidation.aesGCMString(
            text, field: field, maximumCharacters: maximumCharacters, ciphertextBytes: bytes, what: what)
        return text
    }

    /// How the PDK is derived: only what the SDK does today is accepted (reference/meeco-compat.md §2).
    static func derivation(_ artefacts: Svx_Keystore_V1_DerivationArtefacts?, field: String = "derivation") throws(RPCStatus)
        -> Svx_Keystore_V1_DerivationArtefacts
    {
        guard let artefacts else { throw invalid(field, "\(field) is required") }
        guard artefacts.algorithm == "PBKDF2-HMAC-SHA256" else {
            throw invalid("\(field).algorithm", "\(field).algorithm must be PBKDF2-HMAC-SHA256")
        }
        guard artefacts.saltSource == "secret_key" else {
            throw invalid("\(field).salt_source", "\(field).salt_source must be secret_key")
        }
        guard (minimumIterations...maximumIterations).contains(artefacts.iterations) else {
            throw invalid("\(field).iterations", "\(field).iterations must be \(minimumIterations) to \(maximumIterations)")
        }
        guard artefacts.keyLength == UInt32(keyLength) else {
            throw invalid("\(field).key_length", "\(field).key_length must be 32")
        }
        guard artefacts.version == 1 else { throw invalid("\(field).version", "\(field).version must be 1") }
        return artefacts
    }

    static func externalIdentifiers(_ identifiers: [String], field: String = "external_identifiers") throws(RPCStatus)
        -> [String]
    {
        guard identifiers.count <= maximumExternalIdentifiers else {
            throw invalid(field, "at most \(maximumExternalIdentifiers) \(field)")
        }
        for identifier in identifiers { _ = try FieldValidation.identifier(identifier, field: field) }
        guard Set(identifiers).count == identifiers.count else { throw invalid(field, "\(field) repeats an identifier") }
        return identifiers
    }

    /// The metadata as the JSON object stored in `keypairs.metadata`.
    static func metadataJSON(_ metadata: [String: String], field: String = "metadata") throws(RPCStatus) -> String {
        guard metadata.count <= maximumMetadataEntries else {
            throw invalid(field, "at most \(maximumMetadataEntries) \(field) entries")
        }
        for (key, value) in metadata {
            _ = try FieldValidation.identifier(key, field: "\(field) key", maximumBytes: 64)
            guard value.utf8.count <= maximumMetadataValueBytes else {
                throw invalid(field, "\(field) value of \(key) is longer than \(maximumMetadataValueBytes) bytes")
            }
            guard !value.utf8.contains(0) else { throw invalid(field, "\(field) value of \(key) contains NUL") }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(metadata), let json = String(data: data, encoding: .utf8) else {
            throw invalid(field, "\(field) cannot be stored")
        }
        return json
    }

    static func kekVersion(_ value: UInt32, field: String = "kek_version") throws(RPCStatus) -> Int32 {
        guard value >= 1, value <= UInt32(Int32.max) else {
            throw invalid(field, "\(field) is required (the version of the KEK that wraps the key)")
        }
        return Int32(value)
    }

    /// A KEK check: an Ed25519 public key, 32 bytes (docs/ADR-004-keystore.md). The Keystore cannot tell that it
    /// belongs to the KEK; a wrong one only stops its own user from staging or rotating until SetKEKCheck.
    /// The recovery public key's MAC by the KEK (docs/ADR-009-recovery.md): exactly 32 bytes (HMAC-SHA256); the
    /// Keystore cannot check it, only the KEK's holder can.
    static func recoveryPublicKeyMAC(_ value: Data, field: String) throws(RPCStatus) -> [UInt8] {
        guard value.count == 32 else {
            throw invalid(field, "\(field) must be 32 bytes (HMAC-SHA256 of the public key by the KEK), got \(value.count)")
        }
        return Array(value)
    }

    static func kekCheck(_ value: Data, field: String) throws(RPCStatus) -> [UInt8] {
        guard !value.isEmpty else {
            throw invalid(field, "\(field) is required (the Ed25519 public key of HMAC-SHA256(KEK, \"svx-kek-check-v1\"))")
        }
        guard value.count == Ed25519SigningKey.publicKeyLength else {
            throw invalid(field, "\(field) must be \(Ed25519SigningKey.publicKeyLength) bytes, got \(value.count)")
        }
        return Array(value)
    }

    /// A KEK proof's challenge id and signature (their shapes; the Keystore checks the signature itself).
    static func kekProof(
        _ proof: Svx_Keystore_V1_KEKProof?, field: String = "kek_proof"
    ) throws(RPCStatus) -> (challengeID: UUID, signature: [UInt8]) {
        guard let proof else {
            throw invalid(field, "\(field) is required: prove possession of the current KEK (BeginKEKProof, then sign)")
        }
        let challengeID = try FieldValidation.uuid(proof.challengeID, field: "\(field).challenge_id")
        guard proof.signature.count == Ed25519SigningKey.signatureLength else {
            throw invalid(
                "\(field).signature", "\(field).signature must be \(Ed25519SigningKey.signatureLength) bytes (Ed25519)")
        }
        return (challengeID, Array(proof.signature))
    }

    static func generation(_ value: UInt64, field: String = "credential_generation") throws(RPCStatus) -> Int64 {
        guard value >= 1, value <= UInt64(Int64.max) else { throw invalid(field, "\(field) is required") }
        return Int64(value)
    }
}
