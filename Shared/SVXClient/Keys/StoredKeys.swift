import Cryppo
import Foundation
import SVXProto

/// How a PDK is derived from the passphrase (the derivation artefacts), as the Keystore keeps them beside the
/// wrapped KEK (reference/meeco-compat.md §2).
public struct KeyDerivation: Sendable, Equatable {
    public let algorithm: String
    /// Where the salt comes from (`secret_key`: the Secret Key's base58 part).
    public let saltSource: String
    public let iterations: UInt32
    /// Bytes of derived key.
    public let keyLength: UInt32
    public let version: UInt32

    public init(algorithm: String, saltSource: String, iterations: UInt32, keyLength: UInt32, version: UInt32) {
        self.algorithm = algorithm
        self.saltSource = saltSource
        self.iterations = iterations
        self.keyLength = keyLength
        self.version = version
    }

    /// How svx derives a PDK: PBKDF2-HMAC-SHA256 over the passphrase, salted with the Secret Key, 32 bytes.
    public static let svx = KeyDerivation(
        algorithm: "PBKDF2-HMAC-SHA256", saltSource: "secret_key", iterations: UInt32(SecretKey.iterations), keyLength: 32,
        version: 1)

    /// Derives the same key as `other` (the version is bookkeeping, not part of the derivation).
    func derivesLike(_ other: KeyDerivation) -> Bool {
        algorithm == other.algorithm && saltSource == other.saltSource && iterations == other.iterations
            && keyLength == other.keyLength
    }
}

/// The KEK as the Keystore keeps it: wrapped by the PDK of one passphrase (credential generation).
public struct WrappedKEK: Sendable, Equatable {
    public let kekVersion: UInt32
    public let credentialGeneration: UInt64
    /// A Cryppo string: the KEK encrypted with the PDK.
    public let wrappedKEK: String
    public let derivation: KeyDerivation
    public let createdAt: Date
}

/// A DEK as the Keystore keeps it: wrapped by a KEK version.
public struct WrappedDEK: Sendable, Equatable {
    public let id: String
    /// The client's name for it (`private` for the user's own DEK), empty if none.
    public let externalID: String
    public let kekVersion: UInt32
    /// A Cryppo string: the DEK encrypted with the KEK.
    public let wrappedDEK: String
    public let createdAt: Date
}

/// A keypair as the Keystore keeps it: the public key in clear, the private key wrapped by a KEK version.
public struct WrappedKeypair: Sendable, Equatable {
    public let id: String
    /// The client's names for it (`auth` for the account keypair).
    public let externalIdentifiers: [String]
    /// What the client recorded about it (`purpose`: `connection` for a connection's keypair).
    public let metadata: [String: String]
    public let publicKeyPEM: String
    /// A Cryppo string: the private key's PEM encrypted with the KEK.
    public let wrappedPrivateKey: String
    public let kekVersion: UInt32
    public let createdAt: Date
}

/// A single-use nonce from the Keystore, for one KEK proof (a signature over a request and the nonce).
public struct KEKProofChallenge: Sendable, Equatable {
    public let challengeID: String
    public let nonce: [UInt8]
    /// After this the Keystore refuses a proof over it.
    public let expiresAt: Date
}

/// Conversions between the Keystore's wire messages and the SDK's types.
enum KeystoreWire {
    static func derivation(_ wire: Svx_Keystore_V1_DerivationArtefacts) -> KeyDerivation {
        KeyDerivation(
            algorithm: wire.algorithm, saltSource: wire.saltSource, iterations: wire.iterations, keyLength: wire.keyLength,
            version: wire.version)
    }

    static func derivation(_ derivation: KeyDerivation) -> Svx_Keystore_V1_DerivationArtefacts {
        var wire = Svx_Keystore_V1_DerivationArtefacts()
        wire.algorithm = derivation.algorithm
        wire.saltSource = derivation.saltSource
        wire.iterations = derivation.iterations
        wire.keyLength = derivation.keyLength
        wire.version = derivation.version
        return wire
    }

    static func kek(_ wire: Svx_Keystore_V1_KeyEncryptionKey) -> WrappedKEK {
        WrappedKEK(
            kekVersion: wire.kekVersion, credentialGeneration: wire.credentialGeneration, wrappedKEK: wire.wrappedKek,
            derivation: derivation(wire.derivation), createdAt: Date(wireMilliseconds: wire.createdAtMs))
    }

    static func dek(_ wire: Svx_Keystore_V1_DataEncryptionKey) -> WrappedDEK {
        WrappedDEK(
            id: wire.dekID, externalID: wire.externalID, kekVersion: wire.kekVersion, wrappedDEK: wire.wrappedDek,
            createdAt: Date(wireMilliseconds: wire.createdAtMs))
    }

    static func challenge(_ wire: Svx_Keystore_V1_BeginKEKProofResponse) -> KEKProofChallenge {
        KEKProofChallenge(
            challengeID: wire.challengeID, nonce: Array(wire.nonce), expiresAt: Date(wireMilliseconds: wire.expiresAtMs))
    }

    static func keypair(_ wire: Svx_Keystore_V1_Keypair) -> WrappedKeypair {
        WrappedKeypair(
            id: wire.keypairID, externalIdentifiers: wire.externalIdentifiers, metadata: wire.metadata,
            publicKeyPEM: wire.publicKeyPem,
            wrappedPrivateKey: wire.wrappedPrivateKey, kekVersion: wire.kekVersion,
            createdAt: Date(wireMilliseconds: wire.createdAtMs))
    }
}
