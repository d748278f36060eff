import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

@testable import Sharing

/// What Sharing accepts in a request, pure (before the Keystore is asked or the database touched).
@Suite struct SharingValidationTests {
    static let dek = try! SymmetricKey.random()
    static let privateKey = try! RSAPrivateKey.generate(bits: 2048)

    static func creation(_ change: (inout Svx_Sharing_V1_CreateInvitationRequest) -> Void = { _ in }) throws
        -> Svx_Sharing_V1_CreateInvitationRequest
    {
        var request = Svx_Sharing_V1_CreateInvitationRequest()
        request.keypairID = UUID().uuidString.lowercased()
        request.publicKeyPem = try privateKey.publicKeyPEM
        request.encryptedRecipientName = try Cryppo.encrypt(Array("Bob".utf8), key: dek)
        request.encryptedKeySecret = try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: dek)
        request.inviterProof = Hex.encode(try SecureRandom.bytes(count: 32))
        change(&request)
        return request
    }

    static func acceptance(_ change: (inout Svx_Sharing_V1_AcceptInvitationRequest) -> Void = { _ in }) throws
        -> Svx_Sharing_V1_AcceptInvitationRequest
    {
        var request = Svx_Sharing_V1_AcceptInvitationRequest()
        request.inviterID = UUID().uuidString.lowercased()
        request.invitationID = UUID().uuidString.lowercased()
        request.token = Base58.encode(try SecureRandom.bytes(count: 32))
        request.keypairID = UUID().uuidString
        request.publicKeyPem = try privateKey.publicKeyPEM
        request.encryptedRecipientName = try Cryppo.encrypt(Array("Alice".utf8), key: dek)
        request.encryptedKeySecret = try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: dek)
        request.inviteeProof = Hex.encode(try SecureRandom.bytes(count: 32))
        change(&request)
        return request
    }

    @Test func aWellFormedInvitationIsTakenWithItsDefaults() throws {
        let valid = try SharingValidation.newInvitation(try Self.creation(), caller: "alice")
        #expect(valid.expiresInMilliseconds == 7 * 86_400_000)
        #expect(valid.intendedUsername == nil)
        #expect(valid.key.pem == (try Self.privateKey.publicKeyPEM))
        let meant = try SharingValidation.newInvitation(
            try Self.creation { $0.intendedUsername = "bob"; $0.expiresInMs = 30 * 86_400_000 }, caller: "alice")
        #expect(meant.intendedUsername == "bob")
        #expect(meant.expiresInMilliseconds == 30 * 86_400_000)
        #expect(try SharingValidation.newInvitation(try Self.creation { $0.expiresInMs = 1_000 }, caller: "a").expiresInMilliseconds == 1_000)
    }

    @Test func everyFieldOfCreateInvitationIsChecked() throws {
        let plaintextPEM = try Self.privateKey.pem
        let cases: [(String, (inout Svx_Sharing_V1_CreateInvitationRequest) -> Void)] = [
            ("keypair_id", { $0.keypairID = "" }),
            ("keypair_id", { $0.keypairID = "not-a-uuid" }),
            ("public_key_pem", { $0.publicKeyPem = "" }),
            ("public_key_pem", { $0.publicKeyPem = plaintextPEM }),
            ("public_key_pem", { $0.publicKeyPem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" }),
            ("encrypted_recipient_name", { $0.encryptedRecipientName = "" }),
            ("encrypted_recipient_name", { $0.encryptedRecipientName = "Bob" }),
            ("encrypted_recipient_name", { $0.encryptedRecipientName = try! Cryppo.encrypt(Array(repeating: 1, count: 1_025), key: Self.dek) }),
            ("encrypted_recipient_name", { $0.encryptedRecipientName = try! Cryppo.encrypt(Array("Bob".utf8), passphrase: "p") }),
            ("encrypted_key_secret", { $0.encryptedKeySecret = "" }),
            ("encrypted_key_secret", { $0.encryptedKeySecret = Base58.encode(try! SecureRandom.bytes(count: 32)) }),
            ("encrypted_key_secret", { $0.encryptedKeySecret = try! Cryppo.encrypt(try! SecureRandom.bytes(count: 31), key: Self.dek) }),
            ("inviter_proof", { $0.inviterProof = "" }),
            ("inviter_proof", { $0.inviterProof = String(repeating: "A", count: 64) }),
            ("inviter_proof", { $0.inviterProof = String(repeating: "a", count: 63) }),
            ("expires_in_ms", { $0.expiresInMs = 999 }),
            ("expires_in_ms", { $0.expiresInMs = 30 * 86_400_000 + 1 }),
            ("intended_username", { $0.intendedUsername = "bob smith" }),
            ("intended_username", { $0.intendedUsername = String(repeating: "b", count: 65) }),
            ("intended_username", { $0.intendedUsername = "alice" }),  // the caller's own
        ]
        for (field, change) in cases {
            let request = try Self.creation(change)
            #expect(invalidArgumentField { try SharingValidation.newInvitation(request, caller: "alice") } == field)
        }
    }

    @Test func everyFieldOfAcceptInvitationIsChecked() throws {
        let valid = try SharingValidation.acceptance(try Self.acceptance())
        #expect(valid.invitation.presentedTokenSHA256.count == 32)
        let cases: [(String, (inout Svx_Sharing_V1_AcceptInvitationRequest) -> Void)] = [
            ("inviter_id", { $0.inviterID = "" }),
            ("inviter_id", { $0.inviterID = "x" }),
            ("invitation_id", { $0.invitationID = "" }),
            ("invitation_id", { $0.invitationID = String(repeating: "0", count: 36) }),
            ("token", { $0.token = "0OIl" }),  // outside base58's alphabet
            ("token", { $0.token = Base58.encode(try! SecureRandom.bytes(count: 31)) }),
            ("token", { $0.token = Base58.encode(try! SecureRandom.bytes(count: 33)) }),
            ("token", { $0.token = String(repeating: "z", count: 65) }),
            ("keypair_id", { $0.keypairID = "" }),
            ("public_key_pem", { $0.publicKeyPem = "" }),
            ("encrypted_recipient_name", { $0.encryptedRecipientName = "Alice" }),
            ("encrypted_key_secret", { $0.encryptedKeySecret = "" }),
            ("invitee_proof", { $0.inviteeProof = "" }),
            ("invitee_proof", { $0.inviteeProof = "g" + String(repeating: "a", count: 63) }),
        ]
        for (field, change) in cases {
            let request = try Self.acceptance(change)
            #expect(invalidArgumentField { try SharingValidation.acceptance(request) } == field)
        }
    }

    /// No token is a wrong token (NOT_FOUND later, T4); a token is hashed as its 32 bytes.
    @Test func aMissingTokenOpensNothingAndATokenIsHashedAsBytes() throws {
        #expect(try SharingValidation.presentedToken("") == [])
        let bytes = try SecureRandom.bytes(count: 32)
        #expect(try SharingValidation.presentedToken(Base58.encode(bytes)) == HashFunction.sha256.hash(bytes))
        var leadingZero = bytes
        leadingZero[0] = 0
        #expect(try SharingValidation.presentedToken(Base58.encode(leadingZero)) == HashFunction.sha256.hash(leadingZero))
    }

    @Test func listFiltersAreKnownStates() throws {
        #expect(try SharingValidation.invitationState(.unspecified) == nil)
        #expect(try SharingValidation.invitationState(.expired) == .expired)
        #expect(invalidArgumentField { try SharingValidation.invitationState(.UNRECOGNIZED(9)) } == "state")
        #expect(try SharingValidation.connectionState(.unspecified) == nil)
        #expect(try SharingValidation.connectionState(.ended) == .ended)
        #expect(invalidArgumentField { try SharingValidation.connectionState(.UNRECOGNIZED(3)) } == "state")
        // The stored values are the wire's.
        for state in InvitationLifecycle.State.allCases {
            #expect(Svx_Sharing_V1_InvitationState(rawValue: Int(state.rawValue))?.rawValue == Int(state.rawValue))
        }
        #expect(ConnectionLifecycle.State.active.rawValue == Int32(Svx_Sharing_V1_ConnectionState.active.rawValue))
        #expect(ConnectionLifecycle.Role.invitee.rawValue == Int32(Svx_Sharing_V1_ConnectionRole.invitee.rawValue))
    }
}
