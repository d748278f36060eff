import SVXProto

/// The exact bytes a proof covers, written once for the client that makes it and the service that checks it
/// (docs/ADR-004-keystore.md "Proving possession of the KEK", docs/ADR-002-auth.md "Credential proofs").
///
/// A transcript is a domain string followed by fields, each as a 4-byte big-endian length and its bytes, so no two
/// different requests give the same bytes (no field can run into the next). Integers are 8-byte big-endian,
/// strings their UTF-8 bytes. Every field of the request takes part except the proof itself, in the order of the
/// proto file; repeated fields are preceded by their count and keep the order they were sent in.
public struct ProofTranscript: Sendable, Equatable {
    public private(set) var bytes: [UInt8] = []

    /// Signed by the KEK check key (a KEKProof).
    public static let kekProofDomain = "svx-kek-proof-v1"
    /// Digested, then covered by a credential proof's binding.
    public static let credentialRequestDomain = "svx-credential-request-v1"
    /// What a credential proof's binding (HMAC-SHA256 keyed with the SRP session key K) covers.
    public static let credentialBindingDomain = "svx-credential-proof-v1"

    public init(domain: String) { append(domain) }

    public mutating func append(_ value: [UInt8]) {
        let length = UInt32(clamping: value.count)
        bytes += [UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                  UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
        bytes += value
    }

    public mutating func append(_ value: String) { append(Array(value.utf8)) }

    public mutating func append(_ value: UInt64) {
        append((0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) })
    }

    private mutating func append(_ derivation: Svx_Keystore_V1_DerivationArtefacts) {
        append(derivation.algorithm)
        append(derivation.saltSource)
        append(UInt64(derivation.iterations))
        append(UInt64(derivation.keyLength))
        append(UInt64(derivation.version))
    }

    private mutating func append(_ keys: [Svx_Keystore_V1_RewrappedKey]) {
        append(UInt64(keys.count))
        for key in keys {
            append(key.id)
            append(key.wrappedKey)
        }
    }

    /// The start of every KEK proof: who, which method, which nonce.
    private static func kekProof(method: String, userID: String, challengeID: String, nonce: [UInt8]) -> ProofTranscript {
        var transcript = ProofTranscript(domain: kekProofDomain)
        transcript.append(method)
        transcript.append(userID)
        transcript.append(challengeID)
        transcript.append(nonce)
        return transcript
    }

    /// What StagePassphraseChange's KEKProof signs (`kek_proof` itself excluded).
    public static func stagePassphraseChange(
        _ request: Svx_Keystore_V1_StagePassphraseChangeRequest, userID: String, nonce: [UInt8]
    ) -> ProofTranscript {
        var transcript = kekProof(
            method: KeystoreRPC.stagePassphraseChange.name, userID: userID, challengeID: request.kekProof.challengeID,
            nonce: nonce)
        transcript.append(UInt64(request.kekVersion))
        transcript.append(request.wrappedKek)
        transcript.append(request.derivation)
        return transcript
    }

    /// What RotateKEK's KEKProof signs (`kek_proof` itself excluded; the new KEK check included).
    public static func rotateKEK(_ request: Svx_Keystore_V1_RotateKEKRequest, userID: String, nonce: [UInt8]) -> ProofTranscript {
        var transcript = kekProof(
            method: KeystoreRPC.rotateKEK.name, userID: userID, challengeID: request.kekProof.challengeID, nonce: nonce)
        transcript.append(UInt64(request.expectedKekVersion))
        transcript.append(request.credentialGeneration)
        transcript.append(request.wrappedKek)
        transcript.append(request.derivation)
        transcript.append(request.deks)
        transcript.append(request.keypairs)
        transcript.append(Array(request.newKekCheck))
        transcript.append(request.kekRecoveryWrap)
        transcript.append(Array(request.recoveryPublicKeyMac))
        transcript.append(Array(request.recoveryPublicKeySha256))
        return transcript
    }

    /// What PutRecoveryKey's KEKProof signs (`kek_proof` itself excluded).
    public static func putRecoveryKey(
        _ request: Svx_Keystore_V1_PutRecoveryKeyRequest, userID: String, nonce: [UInt8]
    ) -> ProofTranscript {
        var transcript = kekProof(
            method: KeystoreRPC.putRecoveryKey.name, userID: userID, challengeID: request.kekProof.challengeID,
            nonce: nonce)
        transcript.append(request.publicKeyPem)
        transcript.append(request.wrappedPrivateKey)
        transcript.append(request.kekRecoveryWrap)
        transcript.append(UInt64(request.kekVersion))
        transcript.append(Array(request.publicKeyMac))
        return transcript
    }

    /// The request SetKEKCheck's credential proof covers (`current_credentials` excluded); its SHA-256 is the
    /// `request_digest` of the binding.
    public static func setKEKCheck(_ request: Svx_Keystore_V1_SetKEKCheckRequest, userID: String) -> ProofTranscript {
        var transcript = ProofTranscript(domain: credentialRequestDomain)
        transcript.append(KeystoreRPC.setKEKCheck.name)
        transcript.append(userID)
        transcript.append(request.currentCredentials.loginID)
        transcript.append(UInt64(request.kekVersion))
        transcript.append(Array(request.kekCheck))
        return transcript
    }

    /// The request ChangeVerifier's credential proof covers (`current_credentials` excluded but its login id);
    /// its SHA-256 is the `request_digest` of the binding.
    public static func changeVerifier(_ request: Svx_Auth_V1_ChangeVerifierRequest, userID: String) -> ProofTranscript {
        var transcript = ProofTranscript(domain: credentialRequestDomain)
        transcript.append(AuthRPC.changeVerifier.name)
        transcript.append(userID)
        transcript.append(request.currentCredentials.loginID)
        transcript.append(request.srpSaltHex)
        transcript.append(request.srpVerifierHex)
        transcript.append(request.expectedGeneration)
        transcript.append(request.newGeneration)
        return transcript
    }

    /// The request SetRecoveryVerifier's credential proof covers (`current_credentials` excluded but its login
    /// id); its SHA-256 is the `request_digest` of the binding.
    public static func setRecoveryVerifier(
        _ request: Svx_Auth_V1_SetRecoveryVerifierRequest, userID: String
    ) -> ProofTranscript {
        var transcript = ProofTranscript(domain: credentialRequestDomain)
        transcript.append(AuthRPC.setRecoveryVerifier.name)
        transcript.append(userID)
        transcript.append(request.currentCredentials.loginID)
        transcript.append(request.srpSaltHex)
        transcript.append(request.srpVerifierHex)
        return transcript
    }

    /// The request CompleteRecovery's proof of the Recovery Key covers (`recovery_credentials` excluded but its login
    /// id); its SHA-256 is the `request_digest` of the binding.
    public static func completeRecovery(_ request: Svx_Auth_V1_CompleteRecoveryRequest, userID: String) -> ProofTranscript {
        var transcript = ProofTranscript(domain: credentialRequestDomain)
        transcript.append(AuthRPC.completeRecovery.name)
        transcript.append(userID)
        transcript.append(request.recoveryCredentials.loginID)
        transcript.append(request.srpSaltHex)
        transcript.append(request.srpVerifierHex)
        transcript.append(request.expectedGeneration)
        transcript.append(request.newGeneration)
        return transcript
    }

    /// The message of a credential proof's binding: HMAC-SHA256(K, this), for the request of method `purpose`
    /// whose transcript has SHA-256 `requestDigest`.
    public static func credentialBinding(purpose: String, requestDigest: [UInt8]) -> [UInt8] {
        var transcript = ProofTranscript(domain: credentialBindingDomain)
        transcript.append(purpose)
        transcript.append(requestDigest)
        return transcript.bytes
    }
}
