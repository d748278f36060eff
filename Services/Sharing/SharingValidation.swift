import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService

/// Checks of request fields before any database work or call to the Keystore; every refusal is INVALID_ARGUMENT
/// naming the field (shapes from sharing.md §2.8). Sharing cannot read a name or the invitation secret, but it can
/// tell ciphertext from plaintext: both must be `Aes256Gcm` Cryppo strings, the secret exactly 32 bytes. Pure:
/// unit-tested in SharingTests.
enum SharingValidation {
    /// An invitation lives 7 days unless asked otherwise, at most 30, at least 1 s.
    static let defaultExpiryMilliseconds: UInt64 = 7 * 86_400_000
    static let maximumExpiryMilliseconds: UInt64 = 30 * 86_400_000
    static let minimumExpiryMilliseconds: UInt64 = 1_000
    /// The plaintext of a connection's name is at most this long (a Cryppo string of it about 4/3 of it, plus 60).
    static let maximumNameBytes = 1_024
    static let maximumNameCharacters = 2_048
    /// The invitation secret S, and the invitation token, are 32 bytes.
    static let secretBytes = 32
    static let tokenBytes = 32
    /// Base58 of 32 bytes is at most 44 characters.
    static let maximumTokenCharacters = 64

    static func invalid(_ field: String, _ message: String) -> RPCStatus { FieldValidation.invalid(field, message) }

    /// The ids of a ForgetSharedEntities list: at most `maximum`, each a UUID (`field[i]` named otherwise); an id
    /// given twice counts once.
    static func forgottenIDs(_ texts: [String], field: String, maximum: Int) throws(RPCStatus) -> [UUID] {
        guard texts.count <= maximum else { throw invalid(field, "\(field) has at most \(maximum) ids") }
        var ids: [UUID] = []
        var seen: Set<UUID> = []
        for (index, text) in texts.enumerated() {
            let id = try FieldValidation.uuid(text, field: "\(field)[\(index)]")
            if seen.insert(id).inserted { ids.append(id) }
        }
        return ids
    }

    /// A connection's name, Cryppo(owner's private DEK, name).
    static func encryptedName(_ text: String, field: String = "encrypted_recipient_name") throws(RPCStatus) -> String {
        _ = try FieldValidation.aesGCMString(
            text, field: field, maximumCharacters: maximumNameCharacters, ciphertextBytes: 1...maximumNameBytes,
            what: "a name")
        return text
    }

    /// The invitation secret S as its owner keeps it, Cryppo(owner's private DEK, S).
    static func encryptedKeySecret(_ text: String, field: String = "encrypted_key_secret") throws(RPCStatus) -> String {
        _ = try FieldValidation.aesGCMString(
            text, field: field, maximumCharacters: 512, ciphertextBytes: secretBytes...secretBytes,
            what: "the 32-byte invitation secret")
        return text
    }

    /// An HMAC-SHA256 proof under S (inviter_proof, invitee_proof): 64 lowercase hex characters.
    static func proof(_ text: String, field: String) throws(RPCStatus) -> String {
        _ = try FieldValidation.lowercaseHex(text, field: field, bytes: 32)
        return text
    }

    /// How long an invitation lives: 0 is the default (7 days); otherwise 1 s to 30 days.
    static func expiresIn(_ milliseconds: UInt64, field: String = "expires_in_ms") throws(RPCStatus) -> Int64 {
        if milliseconds == 0 { return Int64(defaultExpiryMilliseconds) }
        guard (minimumExpiryMilliseconds...maximumExpiryMilliseconds).contains(milliseconds) else {
            throw invalid(field, "\(field) must be 1000 (1 s) to \(maximumExpiryMilliseconds) (30 days), or 0 for 7 days")
        }
        return Int64(milliseconds)
    }

    /// The only user who may accept (empty: anyone holding the code). Not the caller's own name: nobody could accept.
    static func intendedUsername(_ text: String, caller: String, field: String = "intended_username") throws(RPCStatus)
        -> String?
    {
        if text.isEmpty { return nil }
        let username = try FieldValidation.username(text, field: field)
        guard username != caller else {
            throw invalid(field, "\(field) is your own username: an invitation is for someone else")
        }
        return username
    }

    /// SHA-256 of the token's 32 bytes, for comparison with the stored hash. A missing token gives `[]`, which opens
    /// nothing (NOT_FOUND, like a wrong one); text that cannot be a token this service made (not base58 of 32 bytes) is
    /// INVALID_ARGUMENT.
    static func presentedToken(_ text: String, field: String = "token") throws(RPCStatus) -> [UInt8] {
        if text.isEmpty { return [] }
        guard text.utf8.count <= maximumTokenCharacters, var bytes = try? Base58.decode(text), bytes.count == tokenBytes
        else {
            throw invalid(field, "\(field) is not an invitation token (base58 of 32 bytes)")
        }
        defer { secureZero(&bytes) }
        return HashFunction.sha256.hash(bytes)
    }

    /// A list's state filter: nil for every state.
    static func invitationState(_ state: Svx_Sharing_V1_InvitationState, field: String = "state") throws(RPCStatus)
        -> InvitationLifecycle.State?
    {
        if state == .unspecified { return nil }
        guard let known = InvitationLifecycle.State(rawValue: Int32(clamping: state.rawValue)) else {
            throw invalid(field, "\(field) \(state.rawValue) is not an invitation state")
        }
        return known
    }

    static func connectionState(_ state: Svx_Sharing_V1_ConnectionState, field: String = "state") throws(RPCStatus)
        -> ConnectionLifecycle.State?
    {
        if state == .unspecified { return nil }
        guard let known = ConnectionLifecycle.State(rawValue: Int32(clamping: state.rawValue)) else {
            throw invalid(field, "\(field) \(state.rawValue) is not a connection state")
        }
        return known
    }

    /// One side's key as a request names it: its Keystore keypair and that keypair's public key, canonical.
    struct NamedKey: Sendable {
        let keypairID: UUID
        let key: RSAPublicKey
        let pem: String
    }

    static func namedKey(keypairID: String, publicKeyPEM: String) throws(RPCStatus) -> NamedKey {
        let id = try FieldValidation.uuid(keypairID, field: "keypair_id")
        let (key, pem) = try FieldValidation.rsaPublicKey(publicKeyPEM, field: "public_key_pem")
        return NamedKey(keypairID: id, key: key, pem: pem)
    }

    /// A CreateInvitation request, every field checked.
    struct NewInvitation: Sendable {
        let key: NamedKey
        let encryptedName: String
        let encryptedKeySecret: String
        let inviterProof: String
        let expiresInMilliseconds: Int64
        let intendedUsername: String?
    }

    static func newInvitation(_ request: Svx_Sharing_V1_CreateInvitationRequest, caller: String) throws(RPCStatus)
        -> NewInvitation
    {
        NewInvitation(
            key: try namedKey(keypairID: request.keypairID, publicKeyPEM: request.publicKeyPem),
            encryptedName: try encryptedName(request.encryptedRecipientName),
            encryptedKeySecret: try encryptedKeySecret(request.encryptedKeySecret),
            inviterProof: try proof(request.inviterProof, field: "inviter_proof"),
            expiresInMilliseconds: try expiresIn(request.expiresInMs),
            intendedUsername: try intendedUsername(request.intendedUsername, caller: caller))
    }

    /// Which invitation a GetInvitation or AcceptInvitation names, and the SHA-256 of the token presented.
    struct InvitationReference: Sendable {
        let inviterID: UUID
        let invitationID: UUID
        let presentedTokenSHA256: [UInt8]
    }

    static func invitationReference(inviterID: String, invitationID: String, token: String) throws(RPCStatus)
        -> InvitationReference
    {
        InvitationReference(
            inviterID: try FieldValidation.uuid(inviterID, field: "inviter_id"),
            invitationID: try FieldValidation.uuid(invitationID, field: "invitation_id"),
            presentedTokenSHA256: try presentedToken(token))
    }

    /// An AcceptInvitation request, every field checked.
    struct Acceptance: Sendable {
        let invitation: InvitationReference
        let key: NamedKey
        let encryptedName: String
        let encryptedKeySecret: String
        let inviteeProof: String
    }

    static func acceptance(_ request: Svx_Sharing_V1_AcceptInvitationRequest) throws(RPCStatus) -> Acceptance {
        Acceptance(
            invitation: try invitationReference(
                inviterID: request.inviterID, invitationID: request.invitationID, token: request.token),
            key: try namedKey(keypairID: request.keypairID, publicKeyPEM: request.publicKeyPem),
            encryptedName: try encryptedName(request.encryptedRecipientName),
            encryptedKeySecret: try encryptedKeySecret(request.encryptedKeySecret),
            inviteeProof: try proof(request.inviteeProof, field: "invitee_proof"))
    }
}
