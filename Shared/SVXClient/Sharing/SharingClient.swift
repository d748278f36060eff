import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC

/// The client half of Sharing, part I (proto/svx/sharing/v1/sharing.proto; sharing.md §2.2, §2.7): invitations
/// and connections, with both public keys confirmed end to end.
///
/// Each user has one connection keypair, an RSA keypair in its own Keystore (external identifier `connection`,
/// private key wrapped by its KEK, metadata `purpose=connection`), made on first use and published by every
/// invitation and acceptance it makes, as 1Password and Bitwarden publish one public key per user (docs/ADR-008). The inviter makes a 32-byte invitation secret S that travels only inside the invitation
/// code; both sides prove their public keys with HMACs under S, so a server that swaps either key is caught here:
/// an invitee refuses to accept (``SVXClientError/Code/keyVerificationFailed``), and a connection whose proofs do
/// not match is reported as ``ConnectionKeyCheck/mismatch(_:)``. Names of connections and S itself are stored
/// encrypted under the owner's private DEK, so only the owner reads them, from any of its devices.
public struct SharingClient: Sendable {
    /// The metadata `purpose` of connection keypairs in the Keystore.
    public static let connectionKeypairPurpose = "connection"
    /// A connection name is 1...256 bytes of UTF-8 without control characters.
    public static let maximumNameBytes = 256

    public let sharing: RPCClient
    /// The Keystore side: connection keypairs are made and stored through it.
    public let keyring: KeyringClient
    public var timeout: Duration
    /// RSA modulus size of a new connection keypair: 4096 as Meeco; tests may use 2048, the Keystore's minimum.
    public var keypairBits: Int

    public init(sharing: RPCClient, keyring: KeyringClient, timeout: Duration = .seconds(30), keypairBits: Int = 4096) {
        self.sharing = sharing
        self.keyring = keyring
        self.timeout = timeout
        self.keypairBits = keypairBits
    }

    // MARK: Invitations (inviter)

    /// A new invitation: the user's connection keypair (made on first use), a fresh secret S, the `name` the inviter gives
    /// the person invited and S encrypted under the private DEK, the inviter's proof, then CreateInvitation. The code
    /// returned exists only here; show it once. `expiresInMilliseconds` nil: the service's default (7 days); at most
    /// 30 days. `intendedUsername`: only that user may accept.
    public func createInvitation(
        session: AuthenticatedSession, keys: UnlockedKeys, name: String? = nil, expiresInMilliseconds: UInt64? = nil,
        intendedUsername: String? = nil, progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> CreatedInvitation {
        let name = try Self.checkedName(name ?? intendedUsername ?? "New Connection")
        if let expiresInMilliseconds, !(1...InvitationLifetime.maximumMilliseconds).contains(expiresInMilliseconds) {
            throw SVXClientError(.invalidInput, "an invitation lasts from 1 ms to 30 days")
        }
        if let intendedUsername {
            guard !intendedUsername.isEmpty, intendedUsername != session.username else {
                throw SVXClientError(.invalidInput, "an invitation cannot be meant for yourself")
            }
        }
        let secret = try InvitationSecret.random()
        let keypair = try await keyring.connectionKeypair(
            session: session, keys: keys, bits: keypairBits, metadata: ["purpose": Self.connectionKeypairPurpose],
            progress: progress)
        var request = Svx_Sharing_V1_CreateInvitationRequest()
        request.keypairID = keypair.id
        request.publicKeyPem = keypair.publicKeyPEM
        request.encryptedRecipientName = try Cryppo.encrypt(Array(name.utf8), key: keys.privateDEK)
        request.encryptedKeySecret = try secret.encrypted(under: keys.privateDEK)
        request.inviterProof = ConnectionProof.inviter(secret: secret, inviterKey: keypair.fingerprint)
        request.expiresInMs = expiresInMilliseconds ?? 0
        request.intendedUsername = intendedUsername ?? ""
        let response = try await sharing.call(
            SharingRPC.createInvitation, request, sessionToken: session.token, timeout: timeout)
        guard response.invitation.inviterID.isEmpty || response.invitation.inviterID == session.userID,
            let token = try? Base58.decode(response.token), token.count == InvitationCode.secretByteCount
        else {
            throw SVXClientError(.malformedResponse, "the Sharing service answered the new invitation with no usable token")
        }
        let code: InvitationCode
        do {
            code = try InvitationCode(
                inviterID: session.userID, invitationID: response.invitation.invitationID, token: token, secret: secret)
        } catch {
            throw SVXClientError(.malformedResponse, "the Sharing service answered the new invitation with an unusable id")
        }
        return CreatedInvitation(invitation: try Self.invitation(response.invitation, keys: keys), code: code)
    }

    /// The caller's invitations, newest first, in `state` (nil: every state). At most `maximumPages` pages of 500
    /// (a bound against a service that never ends its pages).
    public func invitations(
        session: AuthenticatedSession, keys: UnlockedKeys?, state: InvitationState? = nil, maximumPages: Int = 1_000
    ) async throws -> [SharingInvitation] {
        var request = Svx_Sharing_V1_ListInvitationsRequest()
        request.state = state.map(Self.wire) ?? .unspecified
        request.pageSize = 500
        return try await Paging.collect("invitations", maximumPages: maximumPages) { token in
            request.pageToken = token
            let page = try await sharing.call(SharingRPC.listInvitations, request, sessionToken: session.token, timeout: timeout)
            return (try page.invitations.map { try Self.invitation($0, keys: keys) }, page.nextPageToken)
        }
    }

    /// Revokes one of the caller's pending invitations: its code stops working (the connection keypair stays: every
    /// invitation and connection of the user publishes it). `keys`, if given, decrypt the name in the answer.
    public func revokeInvitation(
        session: AuthenticatedSession, id: String, keys: UnlockedKeys? = nil
    ) async throws -> SharingInvitation {
        var request = Svx_Sharing_V1_RevokeInvitationRequest()
        request.invitationID = id
        let response = try await sharing.call(SharingRPC.revokeInvitation, request, sessionToken: session.token, timeout: timeout)
        return try Self.invitation(response.invitation, keys: keys)
    }

    // MARK: Accepting (invitee)

    /// GetInvitation for `code`, and the check that the inviter's public key the service returns is the one the
    /// code's secret vouches for (``SVXClientError/Code/keyVerificationFailed`` otherwise: the service or someone in
    /// its place swapped it). Nothing changes anywhere.
    public func checkInvitation(session: AuthenticatedSession, code: InvitationCode) async throws -> InvitationPreview {
        var request = Svx_Sharing_V1_GetInvitationRequest()
        request.inviterID = code.inviterID
        request.invitationID = code.invitationID
        request.token = code.tokenText
        let response = try await sharing.call(SharingRPC.getInvitation, request, sessionToken: session.token, timeout: timeout)
        let key = try ConnectionKeyCheck.inviterKey(
            publicKeyPEM: response.inviterPublicKeyPem, proof: response.inviterProof, secret: code.secret)
        return InvitationPreview(
            inviterID: code.inviterID, inviterUsername: response.inviterUsername,
            inviterPublicKeyPEM: response.inviterPublicKeyPem, inviterKey: key, inviterProof: response.inviterProof,
            expiresAt: Self.date(response.expiresAtMs),
            intendedUsername: response.intendedUsername.isEmpty ? nil : response.intendedUsername)
    }

    /// Accepts an invitation: ``checkInvitation(session:code:)`` (the inviter's key checked, or nothing happens and
    /// the invitation stays pending), the caller's connection keypair (made on first use), the caller's `name` for
    /// the inviter (default: the inviter's username) and S encrypted under its private DEK, the invitee's proof over
    /// both keys, then AcceptInvitation.
    public func acceptInvitation(
        session: AuthenticatedSession, keys: UnlockedKeys, code: InvitationCode, name: String? = nil,
        progress: @Sendable (KeyringProgress) -> Void = { _ in }
    ) async throws -> SharingConnection {
        guard code.inviterID != session.userID.lowercased() else {
            throw SVXClientError(.invalidInput, "this is your own invitation: give the code to the person you invited")
        }
        if let name { _ = try Self.checkedName(name) }
        let preview = try await checkInvitation(session: session, code: code)
        if let intended = preview.intendedUsername, intended != session.username {
            throw SVXClientError(.invalidInput, "this invitation is meant for \(intended), not for you (\(session.username))")
        }
        let name = try Self.checkedName(name ?? preview.inviterUsername)
        let keypair = try await keyring.connectionKeypair(
            session: session, keys: keys, bits: keypairBits, metadata: ["purpose": Self.connectionKeypairPurpose],
            progress: progress)
        var request = Svx_Sharing_V1_AcceptInvitationRequest()
        request.inviterID = code.inviterID
        request.invitationID = code.invitationID
        request.token = code.tokenText
        request.keypairID = keypair.id
        request.publicKeyPem = keypair.publicKeyPEM
        request.encryptedRecipientName = try Cryppo.encrypt(Array(name.utf8), key: keys.privateDEK)
        request.encryptedKeySecret = try code.secret.encrypted(under: keys.privateDEK)
        request.inviteeProof = ConnectionProof.invitee(
            secret: code.secret, inviterKey: preview.inviterKey, inviteeKey: keypair.fingerprint)
        let response = try await sharing.call(
            SharingRPC.acceptInvitation, request, sessionToken: session.token, timeout: timeout)
        return try Self.connection(response.connection, keys: keys)
    }

    // MARK: Connections

    /// The caller's side of its connections, newest first, in `state` (nil: every state), each name decrypted and
    /// each connection's keys checked (``SharingConnection/keyCheck``). At most `maximumPages` pages of 500.
    public func connections(
        session: AuthenticatedSession, keys: UnlockedKeys, state: ConnectionState? = nil, maximumPages: Int = 1_000
    ) async throws -> [SharingConnection] {
        var request = Svx_Sharing_V1_ListConnectionsRequest()
        request.state = state.map(Self.wire) ?? .unspecified
        request.pageSize = 500
        return try await Paging.collect("connections", maximumPages: maximumPages) { token in
            request.pageToken = token
            let page = try await sharing.call(SharingRPC.listConnections, request, sessionToken: session.token, timeout: timeout)
            return (try page.connections.map { try Self.connection($0, keys: keys) }, page.nextPageToken)
        }
    }

    /// One connection of the caller, its name decrypted and its keys checked: S is decrypted with the private DEK
    /// and both proofs are recomputed over the keys as the service holds them now (``SharingConnection/keyCheck``,
    /// with the ``SharingConnection/safetyCode`` for a check by voice).
    public func connection(session: AuthenticatedSession, keys: UnlockedKeys, id: String) async throws -> SharingConnection {
        var request = Svx_Sharing_V1_GetConnectionRequest()
        request.connectionID = id
        let response = try await sharing.call(SharingRPC.getConnection, request, sessionToken: session.token, timeout: timeout)
        return try Self.connection(response.connection, keys: keys)
    }

    /// ``connection(session:keys:id:)``, refused unless it is active and its keys verified: what must come before
    /// anything is encrypted to the other user's key. A mismatch is ``SVXClientError/Code/keyVerificationFailed``.
    public func verifiedConnection(session: AuthenticatedSession, keys: UnlockedKeys, id: String) async throws -> SharingConnection {
        let connection = try await connection(session: session, keys: keys, id: id)
        if case .mismatch(let reason) = connection.keyCheck {
            throw SVXClientError(.keyVerificationFailed, "connection \(id) with \(connection.otherUsername): MISMATCH: \(reason)")
        }
        guard connection.keyCheck == .verified else {
            throw SVXClientError(.keyVerificationFailed, "connection \(id) was not checked")
        }
        guard connection.state == .active else {
            throw SVXClientError(.invalidInput, "connection \(id) with \(connection.otherUsername) has ended")
        }
        return connection
    }

    /// Gives a connection another name (the caller's own, encrypted under its private DEK; the other side does not
    /// see it).
    public func renameConnection(
        session: AuthenticatedSession, keys: UnlockedKeys, id: String, name: String
    ) async throws -> SharingConnection {
        var request = Svx_Sharing_V1_RenameConnectionRequest()
        request.connectionID = id
        request.encryptedRecipientName = try Cryppo.encrypt(Array(try Self.checkedName(name).utf8), key: keys.privateDEK)
        let response = try await sharing.call(SharingRPC.renameConnection, request, sessionToken: session.token, timeout: timeout)
        return try Self.connection(response.connection, keys: keys)
    }

    /// Ends a connection on both sides. `keys`, if given, decrypt the name and check the keys in the answer.
    public func deleteConnection(
        session: AuthenticatedSession, id: String, keys: UnlockedKeys? = nil
    ) async throws -> DeletedConnection {
        var request = Svx_Sharing_V1_DeleteConnectionRequest()
        request.connectionID = id
        let response = try await sharing.call(SharingRPC.deleteConnection, request, sessionToken: session.token, timeout: timeout)
        return DeletedConnection(
            connection: try Self.connection(response.connection, keys: keys), revokedShares: Int(response.revokedShares))
    }

    // MARK: Keypairs in use

    /// What of the caller's sharing publishes keypair `keypairID`: its active connections (`own_keypair_id`) and its
    /// pending invitations (`inviter_keypair_id`, which an acceptance would turn into connections). Ids only: nothing
    /// is decrypted. What ``KeyringClient/deleteKeypair(session:id:sharing:)`` asks before it deletes a keypair
    /// (sharing.md §6: the Keystore cannot know).
    public func keypairUse(session: AuthenticatedSession, keypairID: String, maximumPages: Int = 1_000) async throws -> KeypairUse {
        var connections = Svx_Sharing_V1_ListConnectionsRequest()
        connections.state = .active
        connections.pageSize = 500
        let connectionIDs = try await Paging.collect("connections", maximumPages: maximumPages) { token in
            connections.pageToken = token
            let page = try await sharing.call(SharingRPC.listConnections, connections, sessionToken: session.token, timeout: timeout)
            return (page.connections.filter { $0.ownKeypairID == keypairID && $0.state == .active }.map(\.connectionID),
                    page.nextPageToken)
        }
        var invitations = Svx_Sharing_V1_ListInvitationsRequest()
        invitations.state = .pending
        invitations.pageSize = 500
        let invitationIDs = try await Paging.collect("invitations", maximumPages: maximumPages) { token in
            invitations.pageToken = token
            let page = try await sharing.call(SharingRPC.listInvitations, invitations, sessionToken: session.token, timeout: timeout)
            return (page.invitations.filter { $0.inviterKeypairID == keypairID && $0.state == .pending }.map(\.invitationID),
                    page.nextPageToken)
        }
        return KeypairUse(activeConnectionIDs: connectionIDs, pendingInvitationIDs: invitationIDs)
    }

    // MARK: From the wire

    /// A name as people give it: 1...256 bytes of UTF-8, no control characters; white space around it is dropped.
    static func checkedName(_ name: String) throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw SVXClientError(.invalidInput, "a connection name must not be empty") }
        guard trimmed.utf8.count <= maximumNameBytes else {
            throw SVXClientError(.invalidInput, "a connection name is at most \(maximumNameBytes) bytes")
        }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw SVXClientError(.invalidInput, "a connection name must not contain control characters")
        }
        return trimmed
    }

    /// A name the caller encrypted under its private DEK, or nil when it does not open to UTF-8.
    static func decryptName(_ encrypted: String, keys: UnlockedKeys?) -> String? {
        guard let keys, !encrypted.isEmpty, var bytes = try? Cryppo.decrypt(encrypted, key: keys.privateDEK) else { return nil }
        defer { secureZero(&bytes) }
        return String(validating: bytes, as: UTF8.self)
    }

    static func date(_ milliseconds: UInt64) -> Date { Date(wireMilliseconds: milliseconds) }

    static func optionalDate(_ milliseconds: UInt64) -> Date? { milliseconds == 0 ? nil : date(milliseconds) }

    static func optional(_ text: String) -> String? { text.isEmpty ? nil : text }

    static func invitation(_ wire: Svx_Sharing_V1_Invitation, keys: UnlockedKeys?) throws -> SharingInvitation {
        let state: InvitationState
        switch wire.state {
        case .pending: state = .pending
        case .accepted: state = .accepted
        case .revoked: state = .revoked
        case .expired: state = .expired
        case .unspecified, .UNRECOGNIZED:
            throw SVXClientError(.malformedResponse, "invitation \(wire.invitationID) has no state this client knows")
        }
        return SharingInvitation(
            id: wire.invitationID, inviterID: wire.inviterID, keypairID: wire.inviterKeypairID,
            recipientName: decryptName(wire.encryptedRecipientName, keys: keys),
            intendedUsername: optional(wire.intendedUsername), state: state, expiresAt: date(wire.expiresAtMs),
            createdAt: date(wire.createdAtMs), decidedAt: optionalDate(wire.decidedAtMs),
            acceptedByUserID: optional(wire.acceptedByUserID), acceptedByUsername: optional(wire.acceptedByUsername),
            connectionID: optional(wire.connectionID))
    }

    /// One side of a connection: its name decrypted and, with `keys`, its keys checked under the invitation secret
    /// (a secret that does not open is a mismatch: the row was altered).
    static func connection(_ wire: Svx_Sharing_V1_Connection, keys: UnlockedKeys?) throws -> SharingConnection {
        let role: ConnectionRole
        switch wire.role {
        case .inviter: role = .inviter
        case .invitee: role = .invitee
        case .unspecified, .UNRECOGNIZED:
            throw SVXClientError(.malformedResponse, "connection \(wire.connectionID) has no role this client knows")
        }
        let state: ConnectionState
        switch wire.state {
        case .active: state = .active
        case .ended: state = .ended
        case .unspecified, .UNRECOGNIZED:
            throw SVXClientError(.malformedResponse, "connection \(wire.connectionID) has no state this client knows")
        }
        let keyCheck: ConnectionKeyCheck
        if let keys {
            if let secret = try? InvitationSecret.decrypting(wire.encryptedKeySecret, with: keys.privateDEK) {
                keyCheck = .evaluate(
                    role: role, secret: secret, ownPublicKeyPEM: wire.ownPublicKeyPem,
                    otherPublicKeyPEM: wire.otherPublicKeyPem, ownProof: wire.ownProof, otherProof: wire.otherProof,
                    otherKeySHA256: wire.otherKeySha256)
            } else {
                keyCheck = .mismatch("the connection's invitation secret does not open with your private key: it was altered")
            }
        } else {
            keyCheck = .notChecked
        }
        return SharingConnection(
            id: wire.connectionID, otherUserID: wire.otherUserID, otherUsername: wire.otherUsername,
            name: decryptName(wire.encryptedRecipientName, keys: keys), role: role, state: state,
            invitationID: wire.invitationID, createdAt: date(wire.createdAtMs), endedAt: optionalDate(wire.endedAtMs),
            ownKeypairID: wire.ownKeypairID, ownKey: try? KeyFingerprint(publicKeyPEM: wire.ownPublicKeyPem),
            otherKey: try? KeyFingerprint(publicKeyPEM: wire.otherPublicKeyPem), otherPublicKeyPEM: wire.otherPublicKeyPem,
            keyCheck: keyCheck)
    }

    static func wire(_ state: InvitationState) -> Svx_Sharing_V1_InvitationState {
        switch state {
        case .pending: .pending
        case .accepted: .accepted
        case .revoked: .revoked
        case .expired: .expired
        }
    }

    static func wire(_ state: ConnectionState) -> Svx_Sharing_V1_ConnectionState {
        switch state {
        case .active: .active
        case .ended: .ended
        }
    }
}
