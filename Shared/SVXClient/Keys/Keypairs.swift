import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC

/// A keypair this client just made and stored in the Keystore (its private key only there, wrapped by the KEK).
public struct StoredKeypair: Sendable {
    /// The Keystore's id of the keypair.
    public let id: String
    /// SPKI PEM of the public key, as sent to the Keystore.
    public let publicKeyPEM: String
    public let fingerprint: KeyFingerprint
}

extension KeyringClient {
    /// Makes an RSA keypair of `bits` and stores it in the user's Keystore as Meeco's SDK does
    /// (`createAndStoreKeyPair`): public key in clear, private key (PKCS#1 PEM) wrapped by the KEK of `keys`, with
    /// `metadata` and no external identifier. Generation runs off the caller's task (RSA-4096 takes seconds) and is
    /// reported through `progress`.
    public func createKeypair(
        session: AuthenticatedSession, keys: UnlockedKeys, bits: Int, metadata: [String: String],
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> StoredKeypair {
        progress(.generatingKeypair(bits: bits))
        let privateKey = try await Task.detached { try RSAPrivateKey.generate(bits: bits) }.value
        progress(.keypairGenerated)
        var create = Svx_Keystore_V1_CreateKeypairRequest()
        create.publicKeyPem = try privateKey.publicKeyPEM
        var pem = Array(try privateKey.pem.utf8)
        defer { secureZero(&pem) }
        create.wrappedPrivateKey = try Cryppo.encrypt(pem, key: keys.kek)
        create.metadata = metadata
        create.kekVersion = keys.kekVersion
        let created = try await keystore.call(KeystoreRPC.createKeypair, create, sessionToken: session.token, timeout: timeout)
        return StoredKeypair(
            id: created.keypair.keypairID, publicKeyPEM: create.publicKeyPem,
            fingerprint: try KeyFingerprint(publicKey: try privateKey.publicKey))
    }

    /// Deletes one of the user's keypairs from the Keystore.
    public func deleteKeypair(session: AuthenticatedSession, id: String) async throws {
        var request = Svx_Keystore_V1_DeleteKeypairRequest()
        request.keypairID = id
        _ = try await keystore.call(KeystoreRPC.deleteKeypair, request, sessionToken: session.token, timeout: timeout)
    }
}
