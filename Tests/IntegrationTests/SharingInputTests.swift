import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Malformed input on every Sharing method, through a real svx-sharing: INVALID_ARGUMENT naming the field, and not
    /// one row of the `sharing` schema changed. At the end the schema holds no token, no invitation secret and no name
    /// in clear.
    @Suite struct SharingInputTests {
        @Test func malformedInputOnEveryMethodNamesTheFieldAndChangesNothing() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let aliceKey = try await alice.newKey()
            let bobKey = try await bob.newKey()
            let names = ["Bartholomew of the night bus", "Alexandra of the choir"]
            let accepted = try await alice.invite(key: aliceKey, name: names[0])
            let connection = try await bob.accept(accepted, key: bobKey, name: names[1])
            let pending = try await alice.invite(key: aliceKey, name: names[0], for: bob.username)
            let before = try stack.database.dump(schema: "sharing")
            #expect(before.contains(pending.invitationID) && before.contains(connection.connectionID))

            let plaintextPEM = try aliceKey.privateKey.pem
            let name = try alice.encrypt("a name")
            let passphraseName = try Cryppo.encrypt(Array("a name".utf8), passphrase: "pass")
            let longName = try alice.encrypt(String(repeating: "n", count: 1_025))
            let shortSecret = try alice.encrypt(try SecureRandom.bytes(count: 16))
            let upperProof = String(repeating: "AB", count: 32)
            let token31 = Base58.encode(try SecureRandom.bytes(count: 31))

            // CreateInvitation: each field broken in turn.
            let creations: [(String, (inout Svx_Sharing_V1_CreateInvitationRequest) -> Void)] = [
                ("keypair_id", { $0.keypairID = "" }),
                ("keypair_id", { $0.keypairID = "keypair-1" }),
                ("public_key_pem", { $0.publicKeyPem = "" }),
                ("public_key_pem", { $0.publicKeyPem = plaintextPEM }),
                ("public_key_pem", { $0.publicKeyPem = aliceKey.pem + aliceKey.pem }),
                ("encrypted_recipient_name", { $0.encryptedRecipientName = "Bob" }),
                ("encrypted_recipient_name", { $0.encryptedRecipientName = passphraseName }),
                ("encrypted_recipient_name", { $0.encryptedRecipientName = longName }),
                ("encrypted_key_secret", { $0.encryptedKeySecret = "" }),
                ("encrypted_key_secret", { $0.encryptedKeySecret = shortSecret }),
                ("encrypted_key_secret", { $0.encryptedKeySecret = Hex.encode(pending.secret) }),
                ("inviter_proof", { $0.inviterProof = upperProof }),
                ("inviter_proof", { $0.inviterProof = "00" }),
                ("expires_in_ms", { $0.expiresInMs = 999 }),
                ("expires_in_ms", { $0.expiresInMs = 31 * 86_400_000 }),
                ("intended_username", { $0.intendedUsername = "bob@example.org" }),
                ("intended_username", { $0.intendedUsername = alice.username }),
            ]
            for (field, change) in creations {
                var request = try alice.invitationRequest(key: aliceKey).request
                change(&request)
                await expectInvalidField(field, what: "CreateInvitation") { _ = try await alice.call(SharingRPC.createInvitation, request) }
            }

            // GetInvitation and AcceptInvitation: the invitation's reference, then (Accept) the invitee's own fields.
            let references: [(String, (inout String, inout String, inout String) -> Void)] = [
                ("inviter_id", { inviter, _, _ in inviter = "" }),
                ("inviter_id", { inviter, _, _ in inviter = "alice" }),
                ("invitation_id", { _, invitation, _ in invitation = "" }),
                ("invitation_id", { _, invitation, _ in invitation = String(invitation.dropLast()) }),
                ("token", { _, _, token in token = "0OIl+/" }),
                ("token", { _, _, token in token = token31 }),
                ("token", { _, _, token in token = String(repeating: "2", count: 65) }),
            ]
            for (field, change) in references {
                var get = Svx_Sharing_V1_GetInvitationRequest(pending)
                change(&get.inviterID, &get.invitationID, &get.token)
                await expectInvalidField(field, what: "GetInvitation") { _ = try await bob.call(SharingRPC.getInvitation, get) }
                var accept = try bob.acceptanceRequest(pending, key: bobKey)
                change(&accept.inviterID, &accept.invitationID, &accept.token)
                await expectInvalidField(field, what: "AcceptInvitation") { _ = try await bob.call(SharingRPC.acceptInvitation, accept) }
            }
            let acceptances: [(String, (inout Svx_Sharing_V1_AcceptInvitationRequest) -> Void)] = [
                ("keypair_id", { $0.keypairID = "" }),
                ("public_key_pem", { $0.publicKeyPem = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" }),
                ("encrypted_recipient_name", { $0.encryptedRecipientName = "" }),
                ("encrypted_recipient_name", { $0.encryptedRecipientName = "Alice" }),
                ("encrypted_key_secret", { $0.encryptedKeySecret = shortSecret }),
                ("invitee_proof", { $0.inviteeProof = "" }),
                ("invitee_proof", { $0.inviteeProof = upperProof }),
            ]
            for (field, change) in acceptances {
                var request = try bob.acceptanceRequest(pending, key: bobKey)
                change(&request)
                await expectInvalidField(field, what: "AcceptInvitation") { _ = try await bob.call(SharingRPC.acceptInvitation, request) }
            }

            // The lists, RevokeInvitation and the connection methods.
            await expectInvalidField("state") { _ = try await alice.call(SharingRPC.listInvitations, .init(state: .UNRECOGNIZED(9))) }
            await expectInvalidField("page_size") { _ = try await alice.call(SharingRPC.listInvitations, .init(pageSize: 501)) }
            await expectInvalidField("page_token") { _ = try await alice.call(SharingRPC.listInvitations, .init(pageToken: "page 2")) }
            await expectInvalidField("state") { _ = try await alice.call(SharingRPC.listConnections, .init(state: .UNRECOGNIZED(3))) }
            await expectInvalidField("page_size") { _ = try await alice.call(SharingRPC.listConnections, .init(pageSize: 1_000)) }
            await expectInvalidField("page_token") { _ = try await alice.call(SharingRPC.listConnections, .init(pageToken: "x")) }
            for id in ["", "not-an-id", pending.invitationID + "0"] {
                await expectInvalidField("invitation_id") { _ = try await alice.call(SharingRPC.revokeInvitation, .init(invitationID: id)) }
            }
            for id in ["", "x", String(repeating: "f", count: 36)] {
                await expectInvalidField("connection_id") { _ = try await bob.call(SharingRPC.getConnection, .init(connectionID: id)) }
                await expectInvalidField("connection_id") { _ = try await bob.call(SharingRPC.deleteConnection, .init(connectionID: id)) }
                await expectInvalidField("connection_id") {
                    _ = try await bob.call(SharingRPC.renameConnection, .init(connectionID: id, encryptedName: name))
                }
            }
            for bad in ["", "Carol", passphraseName, longName, plaintextPEM] {
                await expectInvalidField("encrypted_recipient_name") {
                    _ = try await bob.call(SharingRPC.renameConnection, .init(connectionID: connection.connectionID, encryptedName: bad))
                }
            }

            let after = try stack.database.dump(schema: "sharing")
            #expect(after == before, "\(dumpDifference(before, after))")
            // And what was written holds no secret: neither token (text or bytes), nor S, nor a name in clear.
            var needles = names
            for sent in [accepted, pending] {
                needles += [sent.token, Hex.encode(try Base58.decode(sent.token)), Hex.encode(sent.secret), Base64URL.encode(sent.secret)]
            }
            #expect(try stack.database.plaintextScan(for: needles) == [])
        }
    }
}
