import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Through real processes: Sharing confirms with the caller's own Keystore that the key it names is its own (and
    /// writes nothing when it cannot ask), and the caps of pending invitations and connections hold, also under
    /// concurrent calls. docs/ADR-008-sharing.md.
    @Suite struct SharingKeysAndCapsTests {
        @Test func aKeyThatIsNotTheCallersOwnIsRefusedAndNothingIsWritten() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let aliceKey = try await alice.newKey()
            let bobKey = try await bob.newKey()
            let sent = try await alice.invite(key: aliceKey)
            let before = try stack.database.dump(schema: "sharing")

            // CreateInvitation naming Bob's keypair, or Alice's keypair with Bob's public key, or no keypair of hers.
            var (request, _) = try alice.invitationRequest(key: aliceKey)
            request.keypairID = bobKey.keypair.keypairID
            request.publicKeyPem = bobKey.pem
            expect(await alice.failure(SharingRPC.createInvitation, request), .failedPrecondition, reason: "keypair_not_found",
                   field: "keypair_id")
            request.keypairID = aliceKey.keypair.keypairID
            expect(await alice.failure(SharingRPC.createInvitation, request), .failedPrecondition, reason: "public_key_mismatch",
                   field: "public_key_pem")
            request.keypairID = unknownID()
            request.publicKeyPem = aliceKey.pem
            expect(await alice.failure(SharingRPC.createInvitation, request), .failedPrecondition, reason: "keypair_not_found",
                   field: "keypair_id")
            // Another valid key of Alice's own, but not the one of that keypair.
            let otherKey = try await alice.newKey()
            request.keypairID = aliceKey.keypair.keypairID
            request.publicKeyPem = otherKey.pem
            expect(await alice.failure(SharingRPC.createInvitation, request), .failedPrecondition, reason: "public_key_mismatch")

            // AcceptInvitation the same: the invitation stays pending.
            var acceptance = try bob.acceptanceRequest(sent, key: bobKey)
            acceptance.keypairID = aliceKey.keypair.keypairID
            expect(await bob.failure(SharingRPC.acceptInvitation, acceptance), .failedPrecondition, reason: "keypair_not_found")
            acceptance = try bob.acceptanceRequest(sent, key: bobKey)
            acceptance.publicKeyPem = aliceKey.pem
            expect(await bob.failure(SharingRPC.acceptInvitation, acceptance), .failedPrecondition, reason: "public_key_mismatch",
                   field: "public_key_pem")
            #expect(try stack.database.dump(schema: "sharing") == before)

            // The same PEM with CRLF line ends is the same key.
            acceptance = try bob.acceptanceRequest(sent, key: bobKey)
            acceptance.publicKeyPem = bobKey.pem.replacingOccurrences(of: "\n", with: "\r\n")
            let connection = try await bob.call(SharingRPC.acceptInvitation, acceptance).connection
            #expect(connection.ownPublicKeyPem == bobKey.pem)
        }

        /// The Keystore unreachable (or switched off): CreateInvitation and AcceptInvitation answer UNAVAILABLE and write
        /// nothing; with it back, the same acceptance goes through.
        @Test func withoutTheKeystoreNothingIsWritten() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let aliceKey = try await alice.newKey()
            let bobKey = try await bob.newKey()
            let sent = try await alice.invite(key: aliceKey)
            let before = try stack.database.dump(schema: "sharing")

            let closed = try freeLoopbackPort()  // nothing listens there
            try await stack.restart(.sharing, environment: ["SVX_KEYSTORE_ENDPOINT": "tcp://127.0.0.1:\(closed)"])
            // Bounded by the peer call's 5 s, inside the request's 9 s: UNAVAILABLE, not the client's deadline.
            let creation = try alice.invitationRequest(key: aliceKey).request
            let acceptance = try bob.acceptanceRequest(sent, key: bobKey)
            async let create = alice.failure(SharingRPC.createInvitation, creation, timeout: .seconds(9))
            async let accept = bob.failure(SharingRPC.acceptInvitation, acceptance, timeout: .seconds(9))
            for failure in await [create, accept] { expect(failure, .unavailable) }
            #expect(try stack.database.dump(schema: "sharing") == before)
            // Reads need no Keystore.
            #expect(try await bob.call(SharingRPC.getInvitation, .init(sent)).inviterUsername == alice.username)

            try await stack.restart(.sharing, environment: ["SVX_KEYSTORE_ENDPOINT": "none"])
            expect(await bob.failure(SharingRPC.acceptInvitation, try bob.acceptanceRequest(sent, key: bobKey)), .unavailable)
            #expect(try stack.database.dump(schema: "sharing") == before)

            try await stack.restart(.sharing, environment: ["SVX_KEYSTORE_ENDPOINT": stack.endpoints[.keystore]!])
            #expect(try await bob.call(SharingRPC.acceptInvitation, try bob.acceptanceRequest(sent, key: bobKey))
                .connection.otherUserID == alice.userID)
        }

        /// 100 pending invitations per user (the default): one more is RESOURCE_EXHAUSTED with retry_after_ms until the
        /// earliest expires, nothing written; revoking one, or one expiring, makes room.
        @Test func pendingInvitationsAreCapped() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let aliceKey = try await alice.newKey()
            var sent: [SentInvitation] = []
            for index in 0..<100 {
                // The first expires in an hour, the others in 7 days.
                sent.append(try await alice.invite(key: aliceKey, expiresInMs: index == 0 ? 3_600_000 : 0))
            }
            let before = try stack.database.dump(schema: "sharing")
            let full = await alice.failure(SharingRPC.createInvitation, try alice.invitationRequest(key: aliceKey).request)
            expect(full, .resourceExhausted)
            #expect(full?.details["quota"] == "pending_invitations" && full?.details["limit"] == "100")
            let retry = Int(full?.details["retry_after_ms"] ?? "") ?? 0
            #expect(retry > 0 && retry <= 3_600_000, "retry_after_ms \(retry)")
            #expect(try stack.database.dump(schema: "sharing") == before)
            // Bob's invitations are his own count.
            _ = try await bob.invite(key: try await bob.newKey())

            _ = try await alice.call(SharingRPC.revokeInvitation, .init(invitationID: sent[1].invitationID))
            _ = try await alice.invite(key: aliceKey)
            expect(await alice.failure(SharingRPC.createInvitation, try alice.invitationRequest(key: aliceKey).request),
                   .resourceExhausted)
            // An accepted one leaves the count, and so does one whose time has come.
            _ = try await bob.accept(sent[2], key: try await bob.newKey())
            _ = try await alice.invite(key: aliceKey)
            try stack.database.ageInvitation(sent[0].invitationID, days: 1)
            _ = try await alice.invite(key: aliceKey)
            expect(await alice.failure(SharingRPC.createInvitation, try alice.invitationRequest(key: aliceKey).request),
                   .resourceExhausted)
            #expect(try await alice.allInvitations(state: .pending).invitations.count == 100)
        }

        /// At most SVX_SHARING_MAX_CONNECTIONS active connections per user, on both sides of an acceptance; concurrent
        /// acceptances cannot overrun it.
        @Test func connectionsAreCappedForBothSidesEvenUnderConcurrentAcceptances() async throws {
            let stack = try await SharingIntegrationTests.stack(environment: [.sharing: ["SVX_SHARING_MAX_CONNECTIONS": "2"]])
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 6)
            let alice = users[0]
            let aliceKey = try await alice.newKey()
            // Five of Alice's invitations, accepted by five users at once: exactly two connect.
            var requests: [(SharingUser, SentInvitation, Svx_Sharing_V1_AcceptInvitationRequest)] = []
            for other in users.dropFirst() {
                let sent = try await alice.invite(key: aliceKey)
                requests.append((other, sent, try other.acceptanceRequest(sent, key: try await other.newKey())))
            }
            let results = await withTaskGroup(of: (Int, RPCStatus?).self) { group in
                for (index, (other, _, request)) in requests.enumerated() {
                    group.addTask { (index, await other.failure(SharingRPC.acceptInvitation, request)) }
                }
                var results = [RPCStatus?](repeating: nil, count: requests.count)
                for await (index, result) in group { results[index] = result }
                return results
            }
            #expect(results.filter { $0 == nil }.count == 2)
            for failure in results.compactMap({ $0 }) {
                expect(failure, .resourceExhausted)
                #expect(failure.details["quota"] == "connections" && failure.details["party"] == "inviter")
                #expect(failure.details["limit"] == "2")
            }
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.connections WHERE user_id = $1::uuid AND state = 1", alice.userID) == 2)
            #expect(try await alice.allInvitations(state: .pending).invitations.count == 3)

            // The invitee side: someone new invites Alice, who is full.
            let refused = try #require(zip(requests, results).first { $0.1 != nil }?.0)
            let theirs = try await refused.0.invite(key: try await refused.0.newKey())
            let full = await alice.failure(SharingRPC.acceptInvitation, try alice.acceptanceRequest(theirs, key: aliceKey))
            expect(full, .resourceExhausted)
            #expect(full?.details["party"] == "invitee")
            // Alice ends a connection: room again, and the waiting invitation goes through.
            let active = try await alice.allConnections(state: .active).connections
            _ = try await alice.call(SharingRPC.deleteConnection, .init(connectionID: active[0].connectionID))
            #expect(try await alice.call(SharingRPC.acceptInvitation, try alice.acceptanceRequest(theirs, key: aliceKey))
                .connection.otherUserID == refused.0.userID)
        }

        @Test func everyMethodNeedsASession() async throws {
            let stack = try await TestStack.start(
                [.auth, .sharing], environment: [.auth: ["SVX_WORKERS": "2"], .sharing: ["SVX_WORKERS": "2"]])
            defer { stack.stop() }
            let id = unknownID()
            let failures: [RPCStatus?] = [
                await stack.anonymous(SharingRPC.createInvitation, .init()),
                await stack.anonymous(SharingRPC.getInvitation, .init(inviterID: id, invitationID: id, token: "")),
                await stack.anonymous(SharingRPC.acceptInvitation, .init()),
                await stack.anonymous(SharingRPC.listInvitations, .init()),
                await stack.anonymous(SharingRPC.revokeInvitation, .init(invitationID: id)),
                await stack.anonymous(SharingRPC.listConnections, .init()),
                await stack.anonymous(SharingRPC.getConnection, .init(connectionID: id)),
                await stack.anonymous(SharingRPC.renameConnection, .init(connectionID: id, encryptedName: "")),
                await stack.anonymous(SharingRPC.deleteConnection, .init(connectionID: id)),
                await stack.anonymous(SharingRPC.createShare, .init()),
                await stack.anonymous(SharingRPC.listOutgoingShares, .init()),
                await stack.anonymous(SharingRPC.listItemShares, .init(itemID: id)),
                await stack.anonymous(SharingRPC.revokeShare, .init(shareID: id)),
                await stack.anonymous(SharingRPC.updateShares, .init()),
                await stack.anonymous(SharingRPC.listOutgoingShares, .with { $0.staleOnly = true }),
                await stack.anonymous(SharingRPC.listIncomingShares, .init()),
                await stack.anonymous(SharingRPC.getIncomingShare, .init(shareID: id, includeContent: true)),
                await stack.anonymous(SharingRPC.acceptShare, .init(shareID: id)),
                await stack.anonymous(SharingRPC.rejectShare, .init(shareID: id)),
                await stack.anonymous(SharingRPC.deleteIncomingShare, .init(shareID: id)),
                await stack.anonymous(SharingRPC.forgetSharedEntities, .init(itemIDs: [id], slotIDs: [id]), as: .vault),
                await stack.anonymous(SharingRPC.listConnections, .init(), token: String(repeating: "A", count: 43)),
            ]
            for failure in failures { expect(failure, .unauthenticated) }
        }
    }
}
