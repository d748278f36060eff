import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Invitations through real svx-auth, svx-keystore and svx-sharing processes: a connection made, and the threats of
    /// sharing.md §4 that the server answers (T4-T8): a stranger without the token, replays and concurrent acceptances,
    /// an intended recipient, self and existing connections, expiry. docs/ADR-008-sharing.md.
    @Suite struct SharingInvitationTests {
        @Test func twoUsersConnectWithBothKeysConfirmedAndNoSecretStored() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let aliceKey = try await alice.newKey()
            let bobKey = try await bob.newKey()

            let sent = try await alice.invite(key: aliceKey, name: "Robert from the climbing club")
            let invitation = sent.invitation
            #expect(invitation.inviterID == alice.userID)
            #expect(invitation.state == .pending)
            #expect(invitation.inviterKeypairID == aliceKey.keypair.keypairID)
            #expect(invitation.inviterPublicKeyPem == aliceKey.pem)
            #expect(invitation.intendedUsername.isEmpty && invitation.acceptedByUserID.isEmpty && invitation.decidedAtMs == 0)
            // 7 days by default, by the database's clock.
            let lifetime = Int64(invitation.expiresAtMs) - Int64(invitation.createdAtMs)
            #expect(abs(lifetime - 7 * 86_400_000) <= 1)
            // The token: 32 random bytes, stored only as their SHA-256 while the invitation is pending.
            let tokenBytes = try Base58.decode(sent.token)
            #expect(tokenBytes.count == 32)
            #expect(try stack.database.storedTokenHash(invitation.invitationID) == Hex.encode(HashFunction.sha256.hash(tokenBytes)))
            // Ids are UUIDv7.
            #expect(invitation.invitationID.dropFirst(14).first == "7")

            // The invitee's view: the inviter's key and proof, checked under S (in SharingUser.accept).
            let seen = try await bob.call(SharingRPC.getInvitation, .init(sent))
            #expect(seen.inviterUsername == alice.username)
            #expect(seen.inviterPublicKeyPem == aliceKey.pem)
            #expect(seen.expiresAtMs == invitation.expiresAtMs)
            let bobSide = try await bob.accept(sent, key: bobKey, name: "Alice who lends ladders")

            // Bob's side: Alice's key, her fingerprint computed by the server from the PEM, her proof.
            #expect(bobSide.otherUserID == alice.userID && bobSide.otherUsername == alice.username)
            #expect(bobSide.role == .invitee && bobSide.state == .active && bobSide.endedAtMs == 0)
            #expect(bobSide.ownKeypairID == bobKey.keypair.keypairID && bobSide.ownPublicKeyPem == bobKey.pem)
            #expect(bobSide.otherPublicKeyPem == aliceKey.pem)
            #expect(bobSide.otherKeySha256 == Hex.encode(aliceKey.fingerprint))
            #expect(bobSide.otherProof == invitation.inviterProof)
            #expect(bobSide.invitationID == invitation.invitationID)
            #expect(String(decoding: try bob.decrypt(bobSide.encryptedRecipientName), as: UTF8.self) == "Alice who lends ladders")
            #expect(try bob.decrypt(bobSide.encryptedKeySecret) == sent.secret)

            // Alice's side: Bob's key and fingerprint; both proofs verify under S over the keys the server stored.
            let aliceSides = try await alice.allConnections().connections
            #expect(aliceSides.count == 1)
            let aliceSide = try #require(aliceSides.first)
            #expect(aliceSide.otherUserID == bob.userID && aliceSide.otherUsername == bob.username && aliceSide.role == .inviter)
            #expect(aliceSide.otherPublicKeyPem == bobKey.pem && aliceSide.otherKeySha256 == Hex.encode(bobKey.fingerprint))
            #expect(aliceSide.ownPublicKeyPem == aliceKey.pem && aliceSide.ownKeypairID == aliceKey.keypair.keypairID)
            let secret = try alice.decrypt(aliceSide.encryptedKeySecret)
            let aliceFpr = try RSAPublicKey(pem: aliceSide.ownPublicKeyPem).fingerprintSHA256
            let bobFpr = try RSAPublicKey(pem: aliceSide.otherPublicKeyPem).fingerprintSHA256
            #expect(aliceSide.otherProof == ConnectionProof.invitee(secret: secret, inviterKey: aliceFpr, inviteeKey: bobFpr))
            #expect(aliceSide.ownProof == ConnectionProof.inviter(secret: secret, inviterKey: aliceFpr))
            #expect(bobSide.ownProof == aliceSide.otherProof && aliceSide.ownProof == bobSide.otherProof)
            #expect(String(decoding: try alice.decrypt(aliceSide.encryptedRecipientName), as: UTF8.self) == "Robert from the climbing club")
            #expect(try await alice.connection(aliceSide.connectionID) == aliceSide)
            #expect(try await bob.connection(bobSide.connectionID) == bobSide)

            // The invitation, to its inviter: accepted by Bob, naming Alice's connection; its token hash gone.
            let accepted = try #require(try await alice.invitation(invitation.invitationID))
            #expect(accepted.state == .accepted && accepted.acceptedByUserID == bob.userID)
            #expect(accepted.acceptedByUsername == bob.username && accepted.connectionID == aliceSide.connectionID)
            #expect(accepted.decidedAtMs >= accepted.createdAtMs)
            #expect(try stack.database.storedTokenHash(invitation.invitationID) == "")
            #expect(try stack.database.count("SELECT count(*)::int FROM sharing.connections") == 2)

            // Neither the token (as text or bytes), nor S, nor a name is anywhere in the database.
            let found = try stack.database.plaintextScan(for: [
                sent.token, Hex.encode(tokenBytes), Hex.encode(sent.secret), Base64URL.encode(sent.secret),
                "Robert from the climbing club", "Alice who lends ladders",
            ])
            #expect(found == [])
        }

        /// T4: someone with the ids (the code without its token, or a guess) learns nothing and changes nothing.
        @Test func aStrangerWithTheIdsButNotTheTokenFindsNothing() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, mallory) = (users[0], users[1])
            let sent = try await alice.invite(key: try await alice.newKey())
            let malloryKey = try await mallory.newKey()
            let before = try stack.database.dump(schema: "sharing")

            let unknown = await mallory.failure(SharingRPC.getInvitation, .init(
                inviterID: alice.userID, invitationID: unknownID(), token: sent.token))
            expect(unknown, .notFound, field: "invitation_id")
            let wrongToken = Base58.encode(try SecureRandom.bytes(count: 32))
            var tokenOneBitOff = try Base58.decode(sent.token)
            tokenOneBitOff[31] ^= 1
            let attempts: [(String, SentInvitation)] = [
                ("no token", sent.with(token: "")),
                ("a wrong token", sent.with(token: wrongToken)),
                ("the token one bit off", sent.with(token: Base58.encode(tokenOneBitOff))),
            ]
            for (what, attempt) in attempts {
                let get = await mallory.failure(SharingRPC.getInvitation, .init(attempt))
                #expect(anonymized(get, attempt.invitationID) == anonymized(unknown, unknownID()), "GetInvitation with \(what)")
                #expect(get == unknown, "GetInvitation with \(what)")
                let accept = await mallory.failure(
                    SharingRPC.acceptInvitation, try mallory.acceptanceRequest(attempt, key: malloryKey))
                #expect(accept == unknown, "AcceptInvitation with \(what): \(String(describing: accept))")
            }
            // The right token under another inviter's id is another invitation: none.
            var elsewhere = Svx_Sharing_V1_GetInvitationRequest(sent)
            elsewhere.inviterID = mallory.userID
            #expect(await mallory.failure(SharingRPC.getInvitation, elsewhere) == unknown)
            // A stranger cannot revoke it either, and hears what an unknown id gets.
            let revoke = await mallory.failure(SharingRPC.revokeInvitation, .init(invitationID: sent.invitationID))
            let revokeUnknown = await mallory.failure(SharingRPC.revokeInvitation, .init(invitationID: unknownID()))
            expect(revoke, .notFound)
            #expect(anonymized(revoke, sent.invitationID) == anonymized(revokeUnknown, unknownID()))
            // Nor see it listed.
            #expect(try await mallory.allInvitations().invitations.isEmpty)

            let after = try stack.database.dump(schema: "sharing")
            #expect(after == before, "\(dumpDifference(before, after))")
            // Still Alice's to hand out.
            let bob = try await SharingUser.make(stack, count: 1)[0]
            #expect(try await bob.accept(sent, key: try await bob.newKey()).otherUserID == alice.userID)
        }

        /// T5: an invitation makes exactly one connection, however many acceptances race for it; the rest are NOT_FOUND.
        /// After the acceptance the database holds no token, nor its hash.
        @Test func replayedAndConcurrentAcceptancesMakeExactlyOneConnection() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 11)
            let alice = users[0]
            let invitees = Array(users.dropFirst())
            let aliceKey = try await alice.newKey()
            let sent = try await alice.invite(key: aliceKey)
            #expect(try stack.database.storedTokenHash(sent.invitationID)
                == Hex.encode(HashFunction.sha256.hash(try Base58.decode(sent.token))))

            // Ten users hold the code (a leaked code is a bearer secret) and accept at once.
            var requests: [Svx_Sharing_V1_AcceptInvitationRequest] = []
            for invitee in invitees { requests.append(try invitee.acceptanceRequest(sent, key: try await invitee.newKey())) }
            let outcomes = await withTaskGroup(of: (Int, RPCStatus?, Svx_Sharing_V1_Connection?).self) { group in
                for (index, request) in requests.enumerated() {
                    group.addTask {
                        do {
                            return (index, nil, try await invitees[index].call(SharingRPC.acceptInvitation, request).connection)
                        } catch {
                            return (index, error as? RPCStatus ?? RPCStatus(.unknown, "\(error)"), nil)
                        }
                    }
                }
                var outcomes: [(Int, RPCStatus?, Svx_Sharing_V1_Connection?)] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            let winners = outcomes.filter { $0.2 != nil }
            #expect(winners.count == 1)
            for (index, failure, _) in outcomes where failure != nil {
                expect(failure, .notFound, field: "invitation_id", "invitee \(index)")
                #expect(failure?.message == SharingRefusalMessage.invitationNotFound)
            }
            let winner = try #require(winners.first)
            #expect(try stack.database.count("SELECT count(*)::int FROM sharing.connections") == 2)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.connections WHERE user_id = $1::uuid", invitees[winner.0].userID) == 1)
            #expect(try stack.database.storedTokenHash(sent.invitationID) == "")

            // The winner's replay, and a loser's retry: NOT_FOUND, nothing changes.
            let before = try stack.database.dump(schema: "sharing")
            expect(await invitees[winner.0].failure(SharingRPC.acceptInvitation, requests[winner.0]), .notFound)
            let loser = (winner.0 + 1) % invitees.count
            expect(await invitees[loser].failure(SharingRPC.acceptInvitation, requests[loser]), .notFound)
            expect(await invitees[loser].failure(SharingRPC.getInvitation, .init(sent)), .notFound)
            #expect(try stack.database.dump(schema: "sharing") == before)

            // One user racing itself with ten copies of one acceptance: one connection too.
            let second = try await alice.invite(key: aliceKey)
            let racer = invitees[loser]
            let request = try racer.acceptanceRequest(second, key: try await racer.newKey())
            let results = await withTaskGroup(of: RPCStatus?.self) { group in
                for _ in 0..<10 { group.addTask { await racer.failure(SharingRPC.acceptInvitation, request) } }
                var results: [RPCStatus?] = []
                for await result in group { results.append(result) }
                return results
            }
            #expect(results.filter { $0 == nil }.count == 1)
            #expect(results.compactMap { $0 }.allSatisfy { $0.code == .notFound })
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.connections WHERE user_id = $1::uuid AND state = 1", racer.userID) == 1)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.invitations WHERE token_sha256 IS NOT NULL") == 0)
            #expect(try stack.database.plaintextScan(for: [sent.token, second.token, Hex.encode(try Base58.decode(second.token))]) == [])
        }

        /// T6: an invitation for a username is for that user only; the holder of a leaked code is refused and the
        /// invitation waits for its recipient.
        @Test func anInvitationForAUsernameIsForThatUserOnly() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, mallory) = (users[0], users[1], users[2])
            let sent = try await alice.invite(key: try await alice.newKey(), for: bob.username)
            #expect(sent.invitation.intendedUsername == bob.username)
            #expect(try await mallory.call(SharingRPC.getInvitation, .init(sent)).intendedUsername == bob.username)

            let before = try stack.database.dump(schema: "sharing")
            let refused = await mallory.failure(
                SharingRPC.acceptInvitation, try mallory.acceptanceRequest(sent, key: try await mallory.newKey()))
            expect(refused, .failedPrecondition, reason: "not_intended_recipient")
            #expect(try stack.database.dump(schema: "sharing") == before)
            #expect(try await alice.invitation(sent.invitationID)?.state == .pending)

            let connection = try await bob.accept(sent, key: try await bob.newKey())
            #expect(connection.otherUserID == alice.userID)
            #expect(try await alice.invitation(sent.invitationID)?.acceptedByUsername == bob.username)
        }

        /// T7: accepting one's own invitation, or an invitation from someone one is connected with already, is refused
        /// and leaves the invitation pending.
        @Test func selfAndExistingConnectionsAreRefusedAndTheInvitationWaits() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceKey = try await alice.newKey()
            let bobKey = try await bob.newKey()
            let first = try await alice.invite(key: aliceKey)
            let second = try await alice.invite(key: aliceKey)

            var before = try stack.database.dump(schema: "sharing")
            let own = await alice.failure(SharingRPC.acceptInvitation, try alice.acceptanceRequest(first, key: aliceKey))
            expect(own, .failedPrecondition, reason: "self_connection")
            #expect(try stack.database.dump(schema: "sharing") == before)
            // An invitation for oneself cannot be made either.
            await expectInvalidField("intended_username") {
                _ = try await alice.invite(key: aliceKey, for: alice.username)
            }

            _ = try await bob.accept(first, key: bobKey)
            before = try stack.database.dump(schema: "sharing")
            let again = await bob.failure(SharingRPC.acceptInvitation, try bob.acceptanceRequest(second, key: bobKey))
            expect(again, .alreadyExists, reason: "already_connected")
            #expect(try stack.database.dump(schema: "sharing") == before)
            #expect(try await alice.invitation(second.invitationID)?.state == .pending)
            // The other way round too: Bob inviting Alice.
            let back = try await bob.invite(key: bobKey)
            expect(await alice.failure(SharingRPC.acceptInvitation, try alice.acceptanceRequest(back, key: aliceKey)),
                   .alreadyExists, reason: "already_connected")
            // The waiting invitation is still good for someone else.
            #expect(try await carol.accept(second, key: try await carol.newKey()).otherUserID == alice.userID)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.connections WHERE user_id = $1::uuid AND state = 1", alice.userID) == 2)
        }

        /// T8: an invitation whose time has come (the row aged in the database, the service's clock is the database's)
        /// opens for nobody, is listed EXPIRED to its inviter, and its token hash is dropped: by the inviter's next
        /// listing, and by the sweep every process runs.
        @Test func anExpiredInvitationOpensForNobodyAndLosesItsTokenHash() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceKey = try await alice.newKey()
            let bobKey = try await bob.newKey()
            let short = try await alice.invite(key: aliceKey, expiresInMs: 1_000)
            #expect(short.invitation.expiresAtMs - short.invitation.createdAtMs <= 1_001)
            let month = try await alice.invite(key: aliceKey, expiresInMs: 30 * 86_400_000)
            #expect(month.invitation.expiresAtMs - month.invitation.createdAtMs >= 30 * 86_400_000 - 1)

            try stack.database.ageInvitation(short.invitationID, days: 1)
            let gone = await bob.failure(SharingRPC.getInvitation, .init(short))
            let unknown = await bob.failure(SharingRPC.getInvitation, .init(
                inviterID: alice.userID, invitationID: unknownID(), token: short.token))
            #expect(anonymized(gone, short.invitationID) == anonymized(unknown, unknownID()))
            expect(gone, .notFound)
            expect(await bob.failure(SharingRPC.acceptInvitation, try bob.acceptanceRequest(short, key: bobKey)), .notFound)
            expect(await alice.failure(SharingRPC.revokeInvitation, .init(invitationID: short.invitationID)),
                   .failedPrecondition, reason: "not_pending")
            // The revoke that found it expired stored it so.
            #expect(try stack.database.storedTokenHash(short.invitationID) == "")

            // A second one expires unseen: listed EXPIRED at once, its hash dropped by the inviter's listing.
            let quiet = try await alice.invite(key: aliceKey)
            try stack.database.ageInvitation(quiet.invitationID, days: 8)
            #expect(try stack.database.storedTokenHash(quiet.invitationID)?.count == 64)
            let expired = try await alice.allInvitations(state: .expired).invitations.map(\.invitationID)
            #expect(Set(expired) == [short.invitationID, quiet.invitationID])
            #expect(try await alice.allInvitations(state: .pending).invitations.map(\.invitationID) == [month.invitationID])
            #expect(try stack.database.storedTokenHash(quiet.invitationID) == "")
            #expect(try stack.database.count("SELECT count(*)::int FROM sharing.invitations WHERE state = 4") == 2)

            // A third expires while nobody of its inviter looks: the sweep at a process's first request stores it.
            let unseen = try await alice.invite(key: aliceKey)
            try stack.database.ageInvitation(unseen.invitationID, days: 8)
            try await stack.restart(.sharing)
            _ = try await carol.call(SharingRPC.listConnections, .init())
            #expect(try stack.database.storedTokenHash(unseen.invitationID) == "")
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.invitations WHERE token_sha256 IS NOT NULL") == 1)  // the month's

            // Settled invitations and ended connections are deleted 30 days on, by the sweep.
            let connection = try await bob.accept(month, key: bobKey)
            _ = try await bob.call(SharingRPC.deleteConnection, .init(connectionID: connection.connectionID))
            try stack.database.change(
                "UPDATE sharing.connections SET ended_at = ended_at - interval '31 days', created_at = created_at - interval '31 days'")
            try stack.database.ageInvitation(short.invitationID, days: 31)
            try stack.database.ageInvitation(month.invitationID, days: 31)
            try await stack.restart(.sharing)
            _ = try await carol.call(SharingRPC.listConnections, .init())
            #expect(try stack.database.count("SELECT count(*)::int FROM sharing.connections") == 0)
            let left = try await alice.allInvitations().invitations.map(\.invitationID)
            #expect(Set(left) == [quiet.invitationID, unseen.invitationID])
        }

        @Test func theInviterRevokesAPendingInvitation() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let aliceKey = try await alice.newKey()
            let sent = try await alice.invite(key: aliceKey)
            let revoked = try await alice.call(SharingRPC.revokeInvitation, .init(invitationID: sent.invitationID)).invitation
            #expect(revoked.state == .revoked && revoked.decidedAtMs > 0 && revoked.acceptedByUserID.isEmpty)
            #expect(try stack.database.storedTokenHash(sent.invitationID) == "")
            expect(await bob.failure(SharingRPC.getInvitation, .init(sent)), .notFound)
            expect(await bob.failure(SharingRPC.acceptInvitation, try bob.acceptanceRequest(sent, key: try await bob.newKey())),
                   .notFound)
            let twice = await alice.failure(SharingRPC.revokeInvitation, .init(invitationID: sent.invitationID))
            expect(twice, .failedPrecondition, reason: "not_pending")
            #expect(twice?.details["state"] == "revoked")
            #expect(try await alice.allInvitations(state: .revoked).invitations.map(\.invitationID) == [sent.invitationID])

            let accepted = try await alice.invite(key: aliceKey)
            _ = try await bob.accept(accepted, key: try await bob.newKey())
            let late = await alice.failure(SharingRPC.revokeInvitation, .init(invitationID: accepted.invitationID))
            expect(late, .failedPrecondition, reason: "not_pending")
            #expect(late?.details["state"] == "accepted")
        }
    }
}

/// The one message of NOT_FOUND for an invitation (SharingRefusal.invitationNotFound), as callers read it.
enum SharingRefusalMessage {
    static let invitationNotFound = "invitation not found"
}
