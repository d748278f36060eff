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
    /// `metadata` and `externalIdentifiers` (none by default). Generation runs off the caller's task (RSA-4096 takes seconds) and is
    /// reported through `progress`.
    public func createKeypair(
        session: AuthenticatedSession, keys: UnlockedKeys, bits: Int, metadata: [String: String],
        externalIdentifiers: [String] = [], progress: @Sendable (KeyringProgress) -> Void = { _ in }
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
        create.externalIdentifiers = externalIdentifiers
        create.kekVersion = keys.kekVersion
        let created = try await keystore.call(KeystoreRPC.createKeypair, create, sessionToken: session.token, timeout: timeout)
        return StoredKeypair(
            id: created.keypair.keypairID, publicKeyPEM: create.publicKeyPem,
            fingerprint: try KeyFingerprint(publicKey: try privateKey.publicKey))
    }

    /// The user's connection keypair (external identifier ``connectionKeypairIdentifier``): the one RSA keypair every
    /// invitation and acceptance of this user publishes, made on first use with `bits` and `metadata`. Its private
    /// key is unwrapped with the KEK of `keys` and the published public key is derived from it, so the Keystore cannot
    /// make this client publish a key it does not hold. Two devices making it at once: the Keystore keeps the first
    /// (ALREADY_EXISTS for the second, which then reads it).
    public func connectionKeypair(
        session: AuthenticatedSession, keys: UnlockedKeys, bits: Int, metadata: [String: String],
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> StoredKeypair {
        var get = Svx_Keystore_V1_GetKeypairRequest()
        get.externalIdentifier = Self.connectionKeypairIdentifier
        do {
            let stored = try await keystore.call(KeystoreRPC.getKeypair, get, sessionToken: session.token, timeout: timeout)
            return try Self.openedConnectionKeypair(stored.keypair, keys: keys)
        } catch let status as RPCStatus where status.code == .notFound {}
        do {
            return try await createKeypair(
                session: session, keys: keys, bits: bits, metadata: metadata,
                externalIdentifiers: [Self.connectionKeypairIdentifier], progress: progress)
        } catch let status as RPCStatus where status.code == .alreadyExists {
            let stored = try await keystore.call(KeystoreRPC.getKeypair, get, sessionToken: session.token, timeout: timeout)
            return try Self.openedConnectionKeypair(stored.keypair, keys: keys)
        }
    }

    /// The Keystore's external identifier of the user's connection keypair.
    public static let connectionKeypairIdentifier = "connection"

    /// `stored` as this client will publish it: its private key opened with the KEK, its public key derived.
    static func openedConnectionKeypair(_ stored: Svx_Keystore_V1_Keypair, keys: UnlockedKeys) throws -> StoredKeypair {
        let opened = try openStoredKeypair(stored, kek: keys.kek, kekVersion: keys.kekVersion, name: "connection")
        return StoredKeypair(
            id: opened.id, publicKeyPEM: opened.publicKeyPEM,
            fingerprint: try KeyFingerprint(publicKey: try opened.privateKey.publicKey))
    }

    /// Deletes one of the user's keypairs from the Keystore, unless the user's sharing still publishes it
    /// (sharing.md §6: the Keystore cannot know): a keypair that an active connection or a pending invitation uses
    /// is refused with ``SVXClientError/Code/keypairInUse`` naming how many, and nothing is deleted. Without its
    /// private key, nothing shared to the user over those connections could be opened again. End the connections
    /// (and revoke the invitations) first.
    ///
    /// The check and the deletion are two calls to two services: a connection made from an invitation in between is
    /// not seen (an invitation pending at the check is counted).
    public func deleteKeypair(session: AuthenticatedSession, id: String, sharing: SharingClient) async throws {
        let use = try await sharing.keypairUse(session: session, keypairID: id)
        guard !use.inUse else {
            let connections = use.activeConnectionIDs.count
            let invitations = use.pendingInvitationIDs.count
            var users: [String] = []
            if connections > 0 { users.append("\(connections) active connection\(connections == 1 ? "" : "s")") }
            if invitations > 0 { users.append("\(invitations) pending invitation\(invitations == 1 ? "" : "s")") }
            throw SVXClientError(
                .keypairInUse,
                "keypair \(id) is in use by \(users.joined(separator: " and ")): end those connections (svx connections "
                    + "delete) and revoke those invitations first; nothing was deleted")
        }
        var request = Svx_Keystore_V1_DeleteKeypairRequest()
        request.keypairID = id
        _ = try await keystore.call(KeystoreRPC.deleteKeypair, request, sessionToken: session.token, timeout: timeout)
    }
}
