import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Sharing's audit events (issue #19, reference/sharing.md §5b, docs/ADR-010-audit.md "Sharing") through real
    /// svx-auth, svx-keystore, svx-vault and svx-sharing processes: each change on the chain of every user it
    /// concerns, exactly once, in its order, in the change's transaction; nothing for a refused change; ids and codes
    /// only.
    @Suite struct AuditEventsSharingTests {
        /// The user's whole chain in Sharing, page by page.
        static func chain(_ stack: TestStack, _ user: SharingUser) async throws -> Svx_Audit_V1_ListEventsResponse {
            var all = Svx_Audit_V1_ListEventsResponse()
            var since: UInt64 = 0
            for _ in 0..<100 {
                var request = Svx_Audit_V1_ListEventsRequest()
                request.sinceSeq = since
                let page = try await stack.client(.sharing).call(
                    AuditRPC.listEvents, request, sessionToken: user.user.sessionToken, timeout: .seconds(10))
                all.service = page.service
                all.headSeq = page.headSeq
                all.headHash = page.headHash
                all.events += page.events
                guard let last = page.events.last, last.seq < page.headSeq else { return all }
                since = last.seq
            }
            Issue.record("ListEvents did not reach the head in 100 pages")
            return all
        }

        /// The first break of the user's chain (nil: it verifies), as a client checks it.
        static func firstBreak(_ response: Svx_Audit_V1_ListEventsResponse, _ user: SharingUser) -> AuditChainBreak? {
            let entries = response.events.map { event in
                AuditEntry(
                    userID: user.userID, seq: event.seq, occurredAtMs: event.occurredAtMs, type: event.type,
                    sessionID: event.sessionID, peerAddress: event.peerAddress, subjectType: event.subjectType,
                    subjectID: event.subjectID, details: event.details, prevHash: Array(event.prevHash),
                    entryHash: Array(event.entryHash))
            }
            return AuditChain.firstBreak(
                entries, service: response.service, userID: user.userID, sha256: { HashFunction.sha256.hash($0) })
        }

        /// `type subject_id` of each event, for comparing a chain with what is expected.
        static func summary(_ response: Svx_Audit_V1_ListEventsResponse) -> [String] {
            response.events.map { "\($0.type) \($0.subjectID)" }
        }

        /// Everything `sharing.audit_events` holds as text (type, subject, session, peer address and details).
        static func auditText(_ stack: TestStack) throws -> String {
            let db = try stack.database.connect()
            defer { db.close() }
            return try db.query(
                """
                SELECT coalesce(string_agg(type || ' ' || subject_type || ' ' || subject_id || ' ' || session_id || ' '
                                           || peer_address || ' ' || details::text, E'\\n'), '')
                FROM sharing.audit_events
                """)[0].decode(String.self, at: 0)
        }

        @Test func aSharingFlowIsRecordedOnceOnBothChainsInOrderAndTheChainsVerify() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let link = try await alice.connect(to: bob)
            let invitationID = link.inviterSide.invitationID
            let (aliceSide, bobSide) = (link.inviterSide.connectionID, link.inviteeSide.connectionID)
            let passport = try await alice.passport()
            let terms = "Only for the hotel check-in, delete afterwards"

            // A share with terms (pending), accepted; two content fetches (counted in memory, written with a batch
            // when Alice lists her shares); an owner's update; a revocation.
            let first = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide], terms: terms))[0]
            #expect(first.state == .pendingAcceptance)
            _ = try await bob.call(SharingRPC.acceptShare, .init(shareID: first.shareID))
            _ = try await bob.incoming(first.shareID, content: true)
            _ = try await bob.incoming(first.shareID, content: true)
            #expect(try await alice.call(SharingRPC.listOutgoingShares, .init()).shares[0].contentFetches == 2)
            let updated = try await alice.update(passport, ["full_name": "Augusta Ada King"])
            let update = try ShareCrypto.update(updated, shares: try await alice.itemShares(passport.item.itemID))
            #expect(try await alice.call(SharingRPC.updateShares, update).updated.count == 1)
            _ = try await alice.call(SharingRPC.revokeShare, .init(shareID: first.shareID))

            // A share whose time comes: the recipient's refused read stores it as expired.
            let expiry = UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000
            let expiring = try await alice.share(try ShareCrypto.ownedShare(updated, to: [link.senderSide], expiresAtMs: expiry))[0]
            try stack.database.expireShare(expiring.shareID)
            expect(await bob.failure(SharingRPC.getIncomingShare, .init(shareID: expiring.shareID, includeContent: true)),
                   .failedPrecondition, reason: "expired")
            // A view-once share: its one fetch, and its consumption, in the transaction that serves it.
            let once = try await alice.share(try ShareCrypto.ownedShare(updated, to: [link.senderSide], maxFetches: 1))[0]
            #expect(try await bob.incoming(once.shareID, content: true).share.state == .consumed)
            // A live share when Bob ends the connection: revoked with it, on both chains.
            let last = try await alice.share(try ShareCrypto.ownedShare(updated, to: [link.senderSide]))[0]
            _ = try await bob.call(SharingRPC.deleteConnection, .init(connectionID: bobSide))

            let aliceChain = try await Self.chain(stack, alice)
            let bobChain = try await Self.chain(stack, bob)
            #expect(aliceChain.service == "sharing" && bobChain.service == "sharing")
            #expect(Self.summary(aliceChain) == [
                "invitation.created \(invitationID)", "invitation.accepted \(invitationID)", "connection.created \(aliceSide)",
                "share.created \(first.shareID)", "share.accepted \(first.shareID)", "share.fetched \(first.shareID)",
                "share.fetched \(first.shareID)", "share.updated \(passport.item.itemID)", "share.revoked \(first.shareID)",
                "share.created \(expiring.shareID)", "share.expired \(expiring.shareID)",
                "share.created \(once.shareID)", "share.fetched \(once.shareID)", "share.consumed \(once.shareID)",
                "share.created \(last.shareID)", "connection.ended \(aliceSide)", "share.revoked \(last.shareID)",
            ])
            #expect(Self.summary(bobChain) == [
                "connection.created \(bobSide)",
                "share.received \(first.shareID)", "share.accepted \(first.shareID)", "share.fetched \(first.shareID)",
                "share.fetched \(first.shareID)", "share.revoked \(first.shareID)",
                "share.received \(expiring.shareID)", "share.expired \(expiring.shareID)",
                "share.received \(once.shareID)", "share.fetched \(once.shareID)", "share.consumed \(once.shareID)",
                "share.received \(last.shareID)", "connection.ended \(bobSide)", "share.revoked \(last.shareID)",
            ])
            #expect(aliceChain.events.map(\.seq) == Array(1...UInt64(aliceChain.events.count)))
            #expect(aliceChain.headSeq == UInt64(aliceChain.events.count) && aliceChain.headHash == aliceChain.events.last?.entryHash)
            #expect(Self.firstBreak(aliceChain, alice) == nil)
            #expect(Self.firstBreak(bobChain, bob) == nil)

            // Details: ids and codes. Each event of a user's own doing carries its session and address; the other
            // side's event of the same change carries neither.
            let aliceSession = alice.user.session.sessionID
            let bobSession = bob.user.session.sessionID
            func event(_ chain: Svx_Audit_V1_ListEventsResponse, _ type: String, _ subject: String) throws -> Svx_Audit_V1_AuditEvent {
                try #require(chain.events.first { $0.type == type && $0.subjectID == subject }, "\(type) \(subject)")
            }
            let created = try event(aliceChain, "share.created", first.shareID)
            #expect(created.sessionID == aliceSession && !created.peerAddress.isEmpty)
            #expect(created.details["recipient_id"] == bob.userID && created.details["state"] == "pending_acceptance")
            #expect(created.details["item_id"] == passport.item.itemID && created.details["role"] == "sender")
            let received = try event(bobChain, "share.received", first.shareID)
            #expect(received.sessionID.isEmpty && received.peerAddress.isEmpty && received.details["sender_id"] == alice.userID)
            #expect(try event(bobChain, "share.accepted", first.shareID).sessionID == bobSession)
            #expect(try event(aliceChain, "share.accepted", first.shareID).sessionID.isEmpty)
            let fetches = bobChain.events.filter { $0.type == "share.fetched" && $0.subjectID == first.shareID }
            #expect(fetches.allSatisfy { $0.sessionID == bobSession && !$0.peerAddress.isEmpty })
            #expect(fetches.allSatisfy { Int64($0.details["fetched_at_ms"] ?? "") ?? 0 <= Int64($0.occurredAtMs) })
            #expect(aliceChain.events.filter { $0.type == "share.fetched" }.allSatisfy { $0.sessionID.isEmpty })
            let updateEvent = try event(aliceChain, "share.updated", passport.item.itemID)
            #expect(updateEvent.details == [
                "item_version": String(updated.item.version), "updated": "1", "share_ids": first.shareID,
            ])
            #expect(try event(bobChain, "share.revoked", first.shareID).details["reason"] == "revoked")
            #expect(try event(bobChain, "share.revoked", last.shareID).details["reason"] == "connection_ended")
            let expired = try event(aliceChain, "share.expired", expiring.shareID)
            #expect(expired.sessionID.isEmpty && expired.peerAddress.isEmpty)  // time's doing, not Bob's read
            let ended = try event(aliceChain, "connection.ended", aliceSide)
            #expect(ended.details["ended_by"] == bob.userID && ended.details["other_user_id"] == bob.userID && ended.sessionID.isEmpty)
            #expect(try event(bobChain, "connection.ended", bobSide).sessionID == bobSession)
            let accepted = try event(aliceChain, "invitation.accepted", invitationID)
            #expect(accepted.details == ["accepted_by": bob.userID, "connection_id": aliceSide])
            #expect(try event(bobChain, "connection.created", bobSide).details == [
                "other_user_id": alice.userID, "invitation_id": invitationID, "role": "invitee",
            ])

            // Each user reads its own chain only; a user with no part in any of it has none.
            let carolChain = try await Self.chain(stack, carol)
            #expect(carolChain.events.isEmpty && carolChain.headSeq == 0)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.audit_events WHERE user_id = $1::uuid", alice.userID) == aliceChain.events.count)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.audit_events WHERE user_id = $1::uuid", bob.userID) == bobChain.events.count)

            // No name, label, term, key, wrap or value in the trail.
            let text = try Self.auditText(stack)
            #expect(!text.isEmpty)
            let needles = [
                alice.username, bob.username, "My passport", terms, "Ada Lovelace", "Augusta Ada King", "P-1815-1210",
                "BEGIN PUBLIC KEY", String(link.inviterKey.pem.split(separator: "\n")[1]),
                String(link.inviteeKey.pem.split(separator: "\n")[1]), link.inviterSide.encryptedRecipientName,
                link.inviteeSide.encryptedRecipientName, link.inviterSide.encryptedKeySecret, link.inviterSide.otherProof,
                alice.user.sessionToken, bob.user.sessionToken,
            ]
            for needle in needles { #expect(!text.contains(needle), "\(needle.prefix(20))") }

            // The migration made the tables as AuditTrail.tablesSQL defines them: the same columns as Auth's.
            let columns = """
                SELECT string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
                                  || coalesce(column_default, ''), ',' ORDER BY table_name, ordinal_position)
                FROM information_schema.columns WHERE table_schema = $1 AND table_name IN ('audit_events', 'audit_heads')
                """
            let db = try stack.database.connect()
            defer { db.close() }
            #expect(try db.query(columns, "sharing")[0].decode(String.self, at: 0)
                == db.query(columns, "auth")[0].decode(String.self, at: 0))
        }

        @Test func aRefusedChangeOrOneThatChangesNothingLeavesNoEvent() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, mallory) = (users[0], users[1], users[2])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let shared = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))[0]
            let malloryKey = try await mallory.newKey()
            let pending = try await alice.invite(key: try await alice.newKey())
            let before = try stack.database.dump(schema: "sharing", tables: ["audit_events", "audit_heads"])
            #expect(try stack.database.count("SELECT count(*)::int FROM sharing.audit_events") > 0)

            // A stranger's ids: NOT_FOUND, nothing recorded.
            for failure in [
                await mallory.failure(SharingRPC.revokeShare, .init(shareID: shared.shareID)),
                await mallory.failure(SharingRPC.acceptShare, .init(shareID: shared.shareID)),
                await mallory.failure(SharingRPC.deleteIncomingShare, .init(shareID: shared.shareID)),
                await mallory.failure(SharingRPC.getIncomingShare, .init(shareID: shared.shareID, includeContent: true)),
                await mallory.failure(SharingRPC.deleteConnection, .init(connectionID: link.inviterSide.connectionID)),
                await mallory.failure(SharingRPC.revokeInvitation, .init(invitationID: pending.invitationID)),
            ] { #expect(failure?.code == .notFound) }
            // A wrong token: NOT_FOUND.
            var wrongToken = try mallory.acceptanceRequest(pending, key: malloryKey)
            wrongToken.token = Base58.encode(try SecureRandom.bytes(count: 32))
            #expect(await mallory.failure(SharingRPC.acceptInvitation, wrongToken)?.code == .notFound)
            // A stale version: ABORTED, for a new share and for an update.
            var stale = try ShareCrypto.ownedShare(passport, to: [link.senderSide])
            stale.expectedItemVersion += 1
            expect(await alice.failure(SharingRPC.createShare, stale), .aborted, reason: "item_version_changed")
            var staleUpdate = try ShareCrypto.update(passport, shares: try await alice.itemShares(passport.item.itemID))
            staleUpdate.expectedItemVersion += 1
            expect(await alice.failure(SharingRPC.updateShares, staleUpdate), .aborted, reason: "item_version_changed")
            // State refusals: an active share is not pending; an accepted invitation is not pending.
            expect(await bob.failure(SharingRPC.acceptShare, .init(shareID: shared.shareID)), .failedPrecondition, reason: "not_pending")
            expect(await alice.failure(SharingRPC.revokeInvitation, .init(invitationID: link.inviterSide.invitationID)),
                   .failedPrecondition, reason: "not_pending")
            // A revocation of a share already revoked, whose tree has nothing live: `not_live`.
            let revoked = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))[0]
            _ = try await alice.call(SharingRPC.revokeShare, .init(shareID: revoked.shareID))
            let afterRevoke = try stack.database.dump(schema: "sharing", tables: ["audit_events", "audit_heads"])
            #expect(afterRevoke != before)
            expect(await alice.failure(SharingRPC.revokeShare, .init(shareID: revoked.shareID)), .failedPrecondition, reason: "not_live")
            // Calls that change nothing: lists, reads, a forget of ids that have no share.
            _ = try await alice.call(SharingRPC.listOutgoingShares, .init())
            _ = try await bob.call(SharingRPC.listIncomingShares, .init())
            _ = try await bob.incoming(shared.shareID)
            _ = try await alice.allInvitations()
            _ = try await alice.call(SharingRPC.listConnections, .init())
            _ = try await alice.call(SharingRPC.forgetSharedEntities, .init(itemIDs: [UUID().uuidString.lowercased()], slotIDs: []), as: .vault)
            #expect(try stack.database.dump(schema: "sharing", tables: ["audit_events", "audit_heads"]) == afterRevoke)
            // The only events after the first dump are the second share's creation and revocation.
            let aliceChain = try await Self.chain(stack, alice)
            #expect(Array(Self.summary(aliceChain).suffix(3)) == [
                "invitation.created \(pending.invitationID)", "share.created \(revoked.shareID)", "share.revoked \(revoked.shareID)",
            ])
            #expect(Self.summary(try await Self.chain(stack, mallory)).isEmpty)
            #expect(Self.firstBreak(aliceChain, alice) == nil)
        }

        @Test func housekeepingExpiriesAndItemDeletionCascadesRecordOnEachUsersChain() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let passport = try await alice.passport()
            let kept = try await alice.passport(["full_name": "Kept Item"])
            let toBob = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], mode: .anyone))[0]
            let opened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
            let toCarol = try await bob.share(try ShareCrypto.onShare(toBob.shareID, opened: opened, to: bobCarol.senderSide))[0]
            let expiry = UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000
            let expiring = try await alice.share(try ShareCrypto.ownedShare(kept, to: [aliceBob.senderSide], expiresAtMs: expiry))[0]
            let quiet = try await alice.invite(key: try await alice.newKey())
            // Bob's fetch is counted in memory: written (with its events) before the chains are measured.
            _ = try await alice.call(SharingRPC.listOutgoingShares, .init())
            let counts = [
                alice.userID: try await Self.chain(stack, alice).events.count,
                bob.userID: try await Self.chain(stack, bob).events.count,
                carol.userID: try await Self.chain(stack, carol).events.count,
            ]

            // The sweep (a new process sweeps at its first request) stores the share and the invitation as expired,
            // each on its users' chains, with no session: time did it.
            try stack.database.expireShare(expiring.shareID)
            try stack.database.ageInvitation(quiet.invitationID, days: 8)
            try await stack.restart(.sharing)
            _ = try await carol.call(SharingRPC.listConnections, .init())
            // Alice deletes the item in the Vault: every share of it ends `item_deleted`, Bob's on-share to Carol
            // included, on the chains of both its sides and of Alice, whose deletion ended it.
            _ = try await alice.call(VaultRPC.deleteItem, .init(itemID: passport.item.itemID))

            let aliceChain = try await Self.chain(stack, alice)
            let bobChain = try await Self.chain(stack, bob)
            let carolChain = try await Self.chain(stack, carol)
            let aliceNew = aliceChain.events.dropFirst(counts[alice.userID]!)
            let bobNew = bobChain.events.dropFirst(counts[bob.userID]!)
            let carolNew = carolChain.events.dropFirst(counts[carol.userID]!)
            #expect(Set(aliceNew.prefix(2).map { "\($0.type) \($0.subjectID)" })
                == ["invitation.expired \(quiet.invitationID)", "share.expired \(expiring.shareID)"])
            #expect(aliceNew.prefix(2).allSatisfy { $0.sessionID.isEmpty && $0.peerAddress.isEmpty })
            #expect(Set(aliceNew.dropFirst(2).map { "\($0.type) \($0.subjectID) \($0.details["role"] ?? "")" }) == [
                "share.revoked \(toBob.shareID) sender", "share.revoked \(toCarol.shareID) owner",
            ])
            #expect(aliceNew.count == 4)
            #expect(Set(bobNew.map { "\($0.type) \($0.subjectID) \($0.details["role"] ?? "")" }) == [
                "share.expired \(expiring.shareID) recipient", "share.revoked \(toBob.shareID) recipient",
                "share.revoked \(toCarol.shareID) sender",
            ])
            #expect(bobNew.count == 3)
            #expect(carolNew.map { "\($0.type) \($0.subjectID) \($0.details["role"] ?? "")" } == [
                "share.revoked \(toCarol.shareID) recipient",
            ])
            #expect((aliceNew.dropFirst(2) + bobNew.dropFirst() + carolNew).allSatisfy { $0.details["reason"] == "item_deleted" })
            // Only Alice's own events of the deletion carry her session; the others' carry none.
            #expect(aliceNew.dropFirst(2).allSatisfy { $0.sessionID == alice.user.session.sessionID })
            #expect((bobNew + carolNew).allSatisfy { $0.sessionID.isEmpty })
            // Carol's on-share event does not name the item's owner, whom she does not know.
            #expect(!(try Self.auditText(stack).contains(alice.username)))
            #expect(carolNew.allSatisfy { !$0.details.values.contains(alice.userID) })
            for (chain, user) in [(aliceChain, alice), (bobChain, bob), (carolChain, carol)] {
                #expect(Self.firstBreak(chain, user) == nil)
            }
        }
    }
}
