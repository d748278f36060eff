import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Connections through real processes: each side reaches only its own row; renaming; ending both sides; paging of
    /// connections and invitations. docs/ADR-008-sharing.md.
    @Suite struct SharingConnectionTests {
        /// Makes a connection between `inviter` and `invitee`; returns (inviter's side, invitee's side).
        static func connect(_ inviter: SharingUser, _ invitee: SharingUser) async throws
            -> (Svx_Sharing_V1_Connection, Svx_Sharing_V1_Connection)
        {
            let sent = try await inviter.invite(key: try await inviter.newKey())
            let inviteeSide = try await invitee.accept(sent, key: try await invitee.newKey())
            let inviterSide = try await inviter.connection(try #require(try await inviter.invitation(sent.invitationID)).connectionID)
            return (inviterSide, inviteeSide)
        }

        @Test func deletingEndsBothSidesOnceAndAllowsANewConnection() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let (aliceSide, bobSide) = try await Self.connect(alice, bob)

            // Renaming changes the caller's own name only.
            let name = try alice.encrypt("Bob, the one from the bakery")
            let renamed = try await alice.call(SharingRPC.renameConnection, .init(connectionID: aliceSide.connectionID, encryptedName: name))
            #expect(renamed.connection.encryptedRecipientName == name)
            var expected = aliceSide
            expected.encryptedRecipientName = name
            #expect(renamed.connection == expected)
            #expect(try await bob.connection(bobSide.connectionID) == bobSide)

            // Bob ends it: both sides ENDED, by him.
            let ended = try await bob.call(SharingRPC.deleteConnection, .init(connectionID: bobSide.connectionID))
            #expect(ended.connection.state == .ended && ended.connection.endedAtMs > 0 && ended.revokedShares == 0)
            let aliceNow = try await alice.connection(aliceSide.connectionID)
            #expect(aliceNow.state == .ended && aliceNow.endedAtMs > 0)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.connections WHERE state = 2 AND ended_by = $1::uuid", bob.userID) == 2)
            // Ending again, from either side: connection_ended, nothing changes.
            let before = try stack.database.dump(schema: "sharing")
            expect(await bob.failure(SharingRPC.deleteConnection, .init(connectionID: bobSide.connectionID)),
                   .failedPrecondition, reason: "connection_ended")
            expect(await alice.failure(SharingRPC.deleteConnection, .init(connectionID: aliceSide.connectionID)),
                   .failedPrecondition, reason: "connection_ended")
            #expect(try stack.database.dump(schema: "sharing") == before)
            // An ended connection can still be renamed by its owner (its history keeps a name).
            _ = try await alice.call(SharingRPC.renameConnection, .init(
                connectionID: aliceSide.connectionID, encryptedName: try alice.encrypt("Bob (moved away)")))

            // Lists by state; a new invitation connects them again, as a new connection.
            #expect(try await alice.allConnections(state: .active).connections.isEmpty)
            #expect(try await alice.allConnections(state: .ended).connections.map(\.connectionID) == [aliceSide.connectionID])
            let (again, _) = try await Self.connect(bob, alice)
            #expect(again.connectionID != bobSide.connectionID && again.state == .active && again.role == .inviter)
            #expect(try await alice.allConnections().connections.map(\.state) == [.active, .ended])  // newest first
        }

        /// Both sides delete at the same moment: the connection ends once, the other call is `connection_ended`.
        @Test func concurrentDeletesFromBothSidesEndItOnce() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            for _ in 0..<3 {
                let (aliceSide, bobSide) = try await Self.connect(alice, bob)
                async let byAlice = alice.failure(SharingRPC.deleteConnection, .init(connectionID: aliceSide.connectionID))
                async let byBob = bob.failure(SharingRPC.deleteConnection, .init(connectionID: bobSide.connectionID))
                let results = await [byAlice, byBob]
                #expect(results.filter { $0 == nil }.count == 1, "\(results)")
                for failure in results.compactMap({ $0 }) { expect(failure, .failedPrecondition, reason: "connection_ended") }
                #expect(try await alice.connection(aliceSide.connectionID).state == .ended)
                #expect(try await bob.connection(bobSide.connectionID).state == .ended)
            }
            #expect(try stack.database.count("SELECT count(*)::int FROM sharing.connections WHERE state = 1") == 0)
        }

        /// A stranger's connection ids, and the other side's own id, are NOT_FOUND with the message of an unknown id.
        @Test func connectionIdsOfOthersAreNotFoundLikeUnknownOnes() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let (aliceSide, bobSide) = try await Self.connect(alice, bob)
            let before = try stack.database.dump(schema: "sharing")
            let name = try carol.encrypt("whoever")
            let unknown = unknownID()
            let unknownAnswers = [
                await carol.failure(SharingRPC.getConnection, .init(connectionID: unknown)),
                await carol.failure(SharingRPC.renameConnection, .init(connectionID: unknown, encryptedName: name)),
                await carol.failure(SharingRPC.deleteConnection, .init(connectionID: unknown)),
            ].map { anonymized($0, unknown) }
            for answer in unknownAnswers { expect(answer, .notFound, field: "connection_id") }
            for (caller, id) in [(carol, aliceSide.connectionID), (carol, bobSide.connectionID), (bob, aliceSide.connectionID),
                                 (alice, bobSide.connectionID)] {
                let answers = [
                    await caller.failure(SharingRPC.getConnection, .init(connectionID: id)),
                    await caller.failure(SharingRPC.renameConnection, .init(connectionID: id, encryptedName: name)),
                    await caller.failure(SharingRPC.deleteConnection, .init(connectionID: id)),
                ].map { anonymized($0, id) }
                #expect(answers == unknownAnswers, "\(caller.username) on \(id)")
            }
            #expect(try await carol.allConnections().connections.isEmpty)
            #expect(try stack.database.dump(schema: "sharing") == before)
        }

        /// Both lists are newest first and keyset-paged by id; every element once, whatever the page size.
        @Test func listsArePagedNewestFirst() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 5)
            let alice = users[0]
            let aliceKey = try await alice.newKey()
            var invitations: [String] = []
            for index in 0..<5 {
                invitations.append(try await alice.invite(key: aliceKey, name: "friend \(index)").invitationID)
            }
            var connections: [String] = []
            for other in users.dropFirst() {
                let (aliceSide, _) = try await Self.connect(alice, other)
                connections.append(aliceSide.connectionID)
            }
            let allInvitations = try await alice.allInvitations().invitations.map(\.invitationID)
            #expect(allInvitations.count == 9)
            #expect(allInvitations == allInvitations.sorted(by: >))  // UUIDv7: newest first
            #expect(Array(allInvitations.suffix(5)) == invitations.reversed())
            for size: UInt32 in [1, 2, 4, 9, 10, 500] {
                let (paged, pages) = try await alice.allInvitations(pageSize: size)
                #expect(paged.map(\.invitationID) == allInvitations, "page size \(size)")
                #expect(pages == (9 + Int(size) - 1) / Int(size), "page size \(size): \(pages) pages")
            }
            #expect(try await alice.allInvitations(state: .accepted, pageSize: 3).invitations.count == 4)
            #expect(try await alice.allInvitations(state: .pending, pageSize: 2).invitations.map(\.invitationID)
                == invitations.reversed())
            let allConnections = try await alice.allConnections(pageSize: 3).connections.map(\.connectionID)
            #expect(allConnections == connections.reversed())
            #expect(try await alice.allConnections(pageSize: 1).pages >= 4)
            // Each of the others sees its own one connection only.
            for other in users.dropFirst() {
                let theirs = try await other.allConnections().connections
                #expect(theirs.count == 1 && theirs[0].otherUserID == alice.userID)
            }
        }
    }
}
