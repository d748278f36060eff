import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Shares through real svx-auth, svx-keystore, svx-vault and svx-sharing processes, built with real crypto as a
    /// client builds them (ShareCrypto): an item shared and opened, on-shares, revocation and its cascade, expiry,
    /// terms, view-once, connections ended, and the threats of sharing.md §4 that the server answers (T9, T10, T12-T17,
    /// T21, T23). docs/ADR-008-sharing.md.
    @Suite struct SharingShareTests {
        @Test func anItemSharedToAConnectionOpensWithTheRecipientsKeyAndVerifies() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport(attachmentSlot: true)

            let shares = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))
            let share = try #require(shares.first)
            #expect(shares.count == 1)
            #expect(share.state == .active && share.depth == 1 && share.parentShareID.isEmpty && share.slotID.isEmpty)
            #expect(share.ownerID == alice.userID && share.senderID == alice.userID && share.recipientID == bob.userID)
            #expect(share.senderUsername == alice.username && share.recipientUsername == bob.username)
            #expect(share.senderConnectionID == link.inviterSide.connectionID && share.recipientConnectionID.isEmpty)
            #expect(share.itemID == passport.item.itemID && share.itemVersion == passport.item.version)
            #expect(share.itemLabel == "My passport" && share.templateName == "passport")
            #expect(share.recipientKeypairID == link.inviteeKey.keypair.keypairID)
            #expect(share.recipientKeySha256 == link.inviterSide.otherKeySha256)

            // Bob sees it, opens it with his connection key, and every value verifies.
            let incoming = try await bob.call(SharingRPC.listIncomingShares, .init()).shares
            #expect(incoming.map(\.shareID) == [share.shareID])
            #expect(incoming[0].recipientConnectionID == link.inviteeSide.connectionID && incoming[0].senderConnectionID.isEmpty)
            let got = try await bob.incoming(share.shareID, content: true)
            let opened = try ShareCrypto.open(got, key: link.inviteeKey)
            #expect(opened.unverified.isEmpty)
            #expect(opened.values == passport.values)
            // Names, labels, types and the label come from the Vault; the attachment slot is metadata only.
            #expect(got.item.label == "My passport" && got.item.templateName == "passport")
            #expect(Set(got.item.slots.map(\.slotID)) == Set(passport.item.slots.map(\.slotID)))
            for slot in got.item.slots {
                let original = try #require(passport.item.slots.first { $0.slotID == slot.slotID })
                #expect(slot.name == original.name && slot.label == original.label && slot.slotType == original.slotType)
                #expect(slot.ordinal == original.ordinal)
                #expect(slot.encryptedValue.isEmpty == (passport.values[slot.name] == nil))
            }
            let scan = try #require(got.item.slots.first { $0.name == "scan" })
            #expect(scan.slotType == "attachment" && scan.encryptedValue.isEmpty && scan.valueVerificationHash.isEmpty)
            #expect(got.share.contentFetches == 1 && got.share.firstFetchedAtMs > 0)

            // Sender and owner views.
            let outgoing = try await alice.call(SharingRPC.listOutgoingShares, .init(itemID: passport.item.itemID)).shares
            #expect(outgoing.map(\.shareID) == [share.shareID] && outgoing[0].contentFetches == 1)
            let itemShares = try await alice.call(SharingRPC.listItemShares, .init(itemID: passport.item.itemID)).shares
            #expect(itemShares.map(\.share.shareID) == [share.shareID])
            #expect(itemShares[0].recipientPublicKeyPem == link.inviteeKey.pem)
            // Nobody else's lists show it; Bob's item list (he owns no item) is empty.
            #expect(try await bob.call(SharingRPC.listOutgoingShares, .init()).shares.isEmpty)
            #expect(try await bob.call(SharingRPC.listItemShares, .init(itemID: passport.item.itemID)).shares.isEmpty)

            // T23: no plaintext anywhere.
            #expect(try stack.database.plaintextScan(for: Array(passport.values.values)).isEmpty)
        }

        @Test func strangersItemsSlotsAndConnectionsAreNotFoundAndNothingIsWritten() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, mallory) = (users[0], users[1], users[2])
            let link = try await alice.connect(to: bob)
            let malloryLink = try await mallory.connect(to: bob)
            let passport = try await alice.passport(attachmentSlot: true)
            let other = try await alice.passport(["full_name": "Someone Else"])
            let malloryItem = try await mallory.passport(["full_name": "Mallory"])
            let before = try stack.database.dump(schema: "sharing")

            // T9: a stranger's item id is NOT_FOUND with the same message as an unknown one.
            var strangers = try ShareCrypto.ownedShare(malloryItem, to: [link.senderSide])
            let stranger = await alice.failure(SharingRPC.createShare, strangers)
            strangers.itemID = UUID().uuidString.lowercased()
            let unknown = await alice.failure(SharingRPC.createShare, strangers)
            expect(stranger, .notFound, field: "item_id")
            #expect(stranger?.message == unknown?.message && stranger?.details == unknown?.details)
            // A slot of another item: INVALID_ARGUMENT slot_id.
            var wrongSlot = try ShareCrypto.ownedShare(passport, to: [link.senderSide], slot: "full_name")
            wrongSlot.slotID = other.slot("full_name").slotID
            expect(await alice.failure(SharingRPC.createShare, wrongSlot), .invalidArgument, field: "slot_id")
            // A stranger's connection id (Mallory's side with Bob) is NOT_FOUND like an unknown one.
            var overStrangers = try ShareCrypto.ownedShare(passport, to: [malloryLink.senderSide])
            let strangerConnection = await alice.failure(SharingRPC.createShare, overStrangers)
            overStrangers.recipients[0].connectionID = UUID().uuidString.lowercased()
            let unknownConnection = await alice.failure(SharingRPC.createShare, overStrangers)
            expect(strangerConnection, .notFound, field: "recipients[0].connection_id")
            #expect(strangerConnection?.message == unknownConnection?.message)
            // A file sent for an empty attachment slot (which carries nothing): INVALID_ARGUMENT naming the slot.
            var attachment = try ShareCrypto.ownedShare(passport, to: [link.senderSide], slot: "full_name")
            attachment.slotID = passport.slot("scan").slotID
            attachment.recipients[0].slots[0].slotID = passport.slot("scan").slotID
            attachment.recipients[0].slots[0].encryptedValue = ""
            attachment.recipients[0].slots[0].encryptedValueVerificationKey = ""
            attachment.recipients[0].slots[0].valueVerificationHash = ""
            attachment.recipients[0].slots[0].attachmentID = UUID().uuidString
            attachment.recipients[0].slots[0].encryptedAttachmentDek = try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: try SymmetricKey.random())
            expect(await alice.failure(SharingRPC.createShare, attachment), .invalidArgument, field: "recipients[0].slots[0].slot_id")
            // A stale item version: ABORTED item_version_changed.
            var stale = try ShareCrypto.ownedShare(passport, to: [link.senderSide])
            stale.expectedItemVersion += 1
            expect(await alice.failure(SharingRPC.createShare, stale), .aborted, reason: "item_version_changed")
            // The key the sender encrypted for is not the connection's: recipient_key_changed.
            var changedKey = try ShareCrypto.ownedShare(passport, to: [link.senderSide])
            changedKey.recipients[0].recipientKeySha256 = Hex.encode(link.inviterKey.fingerprint)
            expect(await alice.failure(SharingRPC.createShare, changedKey), .failedPrecondition, reason: "recipient_key_changed")
            // A slot missing from a recipient, or one too many.
            var missing = try ShareCrypto.ownedShare(passport, to: [link.senderSide])
            missing.recipients[0].slots.removeLast()
            expect(await alice.failure(SharingRPC.createShare, missing), .invalidArgument, field: "recipients[0].slots")
            var extra = try ShareCrypto.ownedShare(passport, to: [link.senderSide])
            extra.recipients[0].slots.append(extra.recipients[0].slots[0])
            extra.recipients[0].slots[2].slotID = passport.slot("scan").slotID
            expect(await alice.failure(SharingRPC.createShare, extra), .invalidArgument, field: "recipients[0].slots[2].slot_id")
            #expect(try stack.database.dump(schema: "sharing") == before)

            // Share ids of others: NOT_FOUND with one message, for every method that takes one.
            let shared = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))[0]
            let afterShare = try stack.database.dump(schema: "sharing")
            let unknownID = UUID().uuidString.lowercased()
            for id in [shared.shareID, unknownID] {
                for failure in [
                    await mallory.failure(SharingRPC.getIncomingShare, .init(shareID: id, includeContent: true)),
                    await mallory.failure(SharingRPC.acceptShare, .init(shareID: id)),
                    await mallory.failure(SharingRPC.rejectShare, .init(shareID: id)),
                    await mallory.failure(SharingRPC.deleteIncomingShare, .init(shareID: id)),
                    await mallory.failure(SharingRPC.revokeShare, .init(shareID: id)),
                    // The sender is not the recipient: Alice cannot read her own share as incoming.
                    await alice.failure(SharingRPC.getIncomingShare, .init(shareID: id)),
                ] {
                    expect(failure, .notFound, field: "share_id")
                    #expect(failure?.message == "share not found")
                }
            }
            // An on-share of someone else's share: NOT_FOUND naming parent_share_id.
            var foreignParent = Svx_Sharing_V1_CreateShareRequest()
            foreignParent.parentShareID = shared.shareID
            foreignParent.recipients = [try ShareCrypto.recipient(over: malloryLink.senderSide, values: [], withHashes: false).recipient]
            expect(await mallory.failure(SharingRPC.createShare, foreignParent), .notFound, field: "parent_share_id")
            #expect(try await mallory.call(SharingRPC.listIncomingShares, .init()).shares.isEmpty)
            #expect(try stack.database.dump(schema: "sharing") == afterShare)
        }

        @Test func onSharesCarryTheOwnersHashesWithinTheirRulesAndRevocationCascades() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 4)
            let (alice, bob, carol, dave) = (users[0], users[1], users[2], users[3])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let carolDave = try await carol.connect(to: dave)
            let passport = try await alice.passport()
            let expiry = UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000

            // Alice shares with on-sharing permitted, Bob opens it and on-shares to Carol.
            let toBob = try await alice.share(try ShareCrypto.ownedShare(
                passport, to: [aliceBob.senderSide], mode: .anyone, expiresAtMs: expiry))[0]
            let bobOpened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
            #expect(bobOpened.unverified.isEmpty)

            // T11: an on-sharer's own hash is refused; T12: an expiry after the parent's, and back to the owner.
            var withHash = try ShareCrypto.onShare(toBob.shareID, opened: bobOpened, to: bobCarol.senderSide)
            withHash.recipients[0].slots[0].valueVerificationHash = String(repeating: "ab", count: 32)
            expect(await bob.failure(SharingRPC.createShare, withHash), .invalidArgument,
                   field: "recipients[0].slots[0].value_verification_hash")
            let tooLate = try ShareCrypto.onShare(toBob.shareID, opened: bobOpened, to: bobCarol.senderSide, expiresAtMs: expiry + 1)
            expect(await bob.failure(SharingRPC.createShare, tooLate), .invalidArgument, field: "expires_at_ms")
            let backToAlice = try ShareCrypto.onShare(toBob.shareID, opened: bobOpened, to: aliceBob.reversed.senderSide)
            expect(await bob.failure(SharingRPC.createShare, backToAlice), .failedPrecondition, reason: "recipient_has_item")

            let toCarol = try await bob.share(
                try ShareCrypto.onShare(toBob.shareID, opened: bobOpened, to: bobCarol.senderSide, mode: .anyone))[0]
            #expect(toCarol.depth == 2 && toCarol.parentShareID == toBob.shareID && toCarol.senderID == bob.userID)
            #expect(toCarol.expiresAtMs == toBob.expiresAtMs)  // the parent's, none asked
            // Carol is not connected with Alice: the owner is hidden from her.
            let carolGot = try await carol.incoming(toCarol.shareID, content: true)
            #expect(carolGot.share.ownerID.isEmpty && carolGot.share.senderID == bob.userID)
            let carolOpened = try ShareCrypto.open(carolGot, key: bobCarol.inviteeKey)
            #expect(carolOpened.unverified.isEmpty && carolOpened.values == passport.values)
            // The hashes are the owner's, copied by Sharing.
            let aliceHashes = try await bob.incoming(toBob.shareID, content: true).item.slots.map(\.valueVerificationHash)
            #expect(carolGot.item.slots.map(\.valueVerificationHash) == aliceHashes)
            // Alice lists both as her item's shares, with each recipient's key.
            let itemShares = try await alice.call(SharingRPC.listItemShares, .init(itemID: passport.item.itemID)).shares
            #expect(Set(itemShares.map(\.share.shareID)) == [toBob.shareID, toCarol.shareID])
            #expect(itemShares.first { $0.share.shareID == toCarol.shareID }?.recipientPublicKeyPem == bobCarol.inviteeKey.pem)

            // Carol on-shares to Dave (depth 3); back to Bob, an ancestor's recipient, is refused.
            let carolBack = try ShareCrypto.onShare(toCarol.shareID, opened: carolOpened, to: bobCarol.reversed.senderSide)
            expect(await carol.failure(SharingRPC.createShare, carolBack), .failedPrecondition, reason: "recipient_has_item")
            let toDave = try await carol.share(try ShareCrypto.onShare(toCarol.shareID, opened: carolOpened, to: carolDave.senderSide))[0]
            #expect(toDave.depth == 3)
            // T10: Dave's share is OWNER mode: no on-share.
            let daveOpened = try ShareCrypto.open(try await dave.incoming(toDave.shareID, content: true), key: carolDave.inviteeKey)
            #expect(daveOpened.unverified.isEmpty)
            let daveOn = try ShareCrypto.onShare(toDave.shareID, opened: daveOpened, to: carolDave.reversed.senderSide)
            expect(await dave.failure(SharingRPC.createShare, daveOn), .permissionDenied, reason: "onsharing_not_permitted")

            // T12: depth 8 is the end of a chain (Carol's share is moved to depth 8 in the database: the rule, not
            // eight more users, is what is tested).
            try stack.database.change("UPDATE sharing.shares SET depth = 8 WHERE share_id = $1::uuid", toCarol.shareID)
            let ninth = try ShareCrypto.onShare(toCarol.shareID, opened: carolOpened, to: carolDave.senderSide)
            expect(await carol.failure(SharingRPC.createShare, ninth), .failedPrecondition, reason: "depth_exceeded")
            try stack.database.change("UPDATE sharing.shares SET depth = 2 WHERE share_id = $1::uuid", toCarol.shareID)

            // T16: recipients cannot revoke; T15: Alice revokes Bob's share and every on-share goes with it at once.
            let bobRevoke = await bob.failure(SharingRPC.revokeShare, .init(shareID: toBob.shareID))
            expect(bobRevoke, .notFound, field: "share_id")
            expect(await dave.failure(SharingRPC.revokeShare, .init(shareID: toDave.shareID)), .notFound, field: "share_id")
            let revoked = try await alice.call(SharingRPC.revokeShare, .init(shareID: toBob.shareID))
            #expect(revoked.revoked == 3 && revoked.share.state == .revoked && revoked.share.endReason == "revoked")
            for (user, id) in [(bob, toBob.shareID), (carol, toCarol.shareID), (dave, toDave.shareID)] {
                // T14: reads say revoked; no slot row of it is left, nor its wrapped DEK.
                expect(await user.failure(SharingRPC.getIncomingShare, .init(shareID: id, includeContent: true)),
                       .failedPrecondition, reason: "revoked")
                let seen = try await user.incoming(id)
                #expect(seen.share.state == .revoked && seen.encryptedDek.isEmpty)
                #expect(try stack.database.shareSlotRows(id) == 0)
            }
            #expect(try await carol.incoming(toCarol.shareID).share.endReason == "parent_revoked")
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.shares WHERE encrypted_dek IS NOT NULL OR encrypted_terms IS NOT NULL") == 0)
            // T10: an on-share of a revoked share is FAILED_PRECONDITION share_not_active.
            let afterRevoke = try ShareCrypto.onShare(toBob.shareID, opened: bobOpened, to: bobCarol.senderSide)
            expect(await bob.failure(SharingRPC.createShare, afterRevoke), .failedPrecondition, reason: "share_not_active")
            // Revoking again: not_live. The owner may revoke an on-share she did not send (Carol's own was cascaded).
            expect(await alice.failure(SharingRPC.revokeShare, .init(shareID: toBob.shareID)), .failedPrecondition, reason: "not_live")
            expect(await alice.failure(SharingRPC.revokeShare, .init(shareID: toCarol.shareID)), .failedPrecondition, reason: "not_live")
            #expect(try await alice.call(SharingRPC.listItemShares, .init(itemID: passport.item.itemID)).shares.isEmpty)
            #expect(try stack.database.plaintextScan(for: Array(passport.values.values)).isEmpty)
        }

        @Test func theOwnerRevokesAnOnShareSheDidNotSendAndOnlyItsSubtreeEnds() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let passport = try await alice.passport()
            let toBob = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], mode: .anyone))[0]
            let opened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
            let toCarol = try await bob.share(try ShareCrypto.onShare(toBob.shareID, opened: opened, to: bobCarol.senderSide))[0]

            let revoked = try await alice.call(SharingRPC.revokeShare, .init(shareID: toCarol.shareID))
            #expect(revoked.revoked == 1 && revoked.share.ownerID == alice.userID)
            #expect(try await bob.incoming(toBob.shareID).share.state == .active)
            // The recipient's delete has no cascade: Bob deletes his copy, a new on-share of it would be refused.
            let deleted = try await bob.call(SharingRPC.deleteIncomingShare, .init(shareID: toBob.shareID))
            #expect(deleted.share.state == .deleted && deleted.share.endReason == "deleted")
            #expect(try stack.database.shareSlotRows(toBob.shareID) == 0)
            expect(await bob.failure(SharingRPC.deleteIncomingShare, .init(shareID: toBob.shareID)),
                   .failedPrecondition, reason: "not_live")
            #expect(try await alice.call(SharingRPC.listOutgoingShares, .init(state: .deleted)).shares.map(\.shareID) == [toBob.shareID])
        }

        @Test func anExpiredShareIsExpiredAtOnceItsRowsGoAndItsOnSharesExpireNoLater() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let passport = try await alice.passport()
            let expiry = UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000
            let toBob = try await alice.share(try ShareCrypto.ownedShare(
                passport, to: [aliceBob.senderSide], mode: .anyone, expiresAtMs: expiry))[0]
            let opened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
            let toCarol = try await bob.share(try ShareCrypto.onShare(toBob.shareID, opened: opened, to: bobCarol.senderSide))[0]
            #expect(toCarol.expiresAtMs == expiry)
            // A second share that only housekeeping will find.
            let second = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], expiresAtMs: expiry))[0]

            // T13: time passes (the database is told so): 1 ms after expires_at the share is expired at once.
            try stack.database.expireShare(toBob.shareID)
            try stack.database.expireShare(toCarol.shareID)
            let listed = try await bob.call(SharingRPC.listIncomingShares, .init(state: .expired)).shares
            #expect(listed.map(\.shareID) == [toBob.shareID] && listed[0].endReason == "expired")
            #expect(try await bob.call(SharingRPC.listIncomingShares, .init(state: .active)).shares.map(\.shareID) == [second.shareID])
            expect(await bob.failure(SharingRPC.getIncomingShare, .init(shareID: toBob.shareID, includeContent: true)),
                   .failedPrecondition, reason: "expired")
            // The refused read stored it as expired: its rows are gone.
            #expect(try stack.database.shareSlotRows(toBob.shareID) == 0)
            #expect(try await bob.incoming(toBob.shareID).encryptedDek.isEmpty)
            expect(await carol.failure(SharingRPC.getIncomingShare, .init(shareID: toCarol.shareID, includeContent: true)),
                   .failedPrecondition, reason: "expired")
            expect(await bob.failure(SharingRPC.createShare, try ShareCrypto.onShare(toBob.shareID, opened: opened, to: bobCarol.senderSide)),
                   .failedPrecondition, reason: "share_not_active")

            // Housekeeping stores the second as expired without any read of it (a new process sweeps at once).
            try stack.database.expireShare(second.shareID)
            #expect(try stack.database.shareSlotRows(second.shareID) > 0)
            try await stack.restart(.sharing)
            _ = try await alice.call(SharingRPC.listOutgoingShares, .init())
            #expect(try stack.database.shareSlotRows(second.shareID) == 0)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.shares WHERE share_id = $1::uuid AND state = 4 AND encrypted_dek IS NULL",
                second.shareID) == 1)
            // Tombstones older than 30 days are deleted by the sweep.
            try stack.database.change(
                "UPDATE sharing.shares SET ended_at = now() - interval '31 days' WHERE share_id = $1::uuid", second.shareID)
            try await stack.restart(.sharing)
            _ = try await alice.call(SharingRPC.listOutgoingShares, .init())
            #expect(try stack.database.count("SELECT count(*)::int FROM sharing.shares WHERE share_id = $1::uuid", second.shareID) == 0)
        }

        @Test func termsMakeASharePendingItsContentWaitsForAcceptanceAndRejectionEndsIt() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let terms = "Only for the hotel check-in, delete afterwards"
            let request = try ShareCrypto.ownedShare(passport, to: [link.senderSide], terms: terms)
            let pending = try await alice.share(request)[0]
            let rejected = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide], terms: terms))[0]
            #expect(pending.state == .pendingAcceptance && pending.acceptanceRequired)

            // T17: content waits; terms and the wrapped DEK are readable.
            expect(await bob.failure(SharingRPC.getIncomingShare, .init(shareID: pending.shareID, includeContent: true)),
                   .failedPrecondition, reason: "acceptance_pending")
            let seen = try await bob.incoming(pending.shareID)
            #expect(!seen.hasItem && seen.share.contentFetches == 0)
            let termsKey = SymmetricKey(bytes: try Cryppo.decrypt(seen.encryptedTermsKey, privateKey: link.inviteeKey.privateKey))
            #expect(String(decoding: try Cryppo.decrypt(seen.encryptedTerms, key: termsKey), as: UTF8.self) == terms)
            #expect(try Cryppo.decrypt(seen.encryptedDek, privateKey: link.inviteeKey.privateKey).count == 32)
            expect(await bob.failure(SharingRPC.deleteIncomingShare, .init(shareID: pending.shareID)),
                   .failedPrecondition, reason: "acceptance_pending")

            let accepted = try await bob.call(SharingRPC.acceptShare, .init(shareID: pending.shareID)).share
            #expect(accepted.state == .active && accepted.acceptedAtMs > 0)
            expect(await bob.failure(SharingRPC.acceptShare, .init(shareID: pending.shareID)), .failedPrecondition, reason: "not_pending")
            let opened = try ShareCrypto.open(try await bob.incoming(pending.shareID, content: true), key: link.inviteeKey)
            #expect(opened.values == passport.values && opened.unverified.isEmpty)

            let rejection = try await bob.call(SharingRPC.rejectShare, .init(shareID: rejected.shareID)).share
            #expect(rejection.state == .rejected && rejection.endReason == "rejected" && rejection.endedAtMs > 0)
            #expect(try stack.database.shareSlotRows(rejected.shareID) == 0)
            expect(await bob.failure(SharingRPC.acceptShare, .init(shareID: rejected.shareID)), .failedPrecondition, reason: "not_pending")
            expect(await bob.failure(SharingRPC.getIncomingShare, .init(shareID: rejected.shareID, includeContent: true)),
                   .failedPrecondition, reason: "rejected")
            #expect(try stack.database.plaintextScan(for: Array(passport.values.values) + [terms]).isEmpty)
        }

        @Test func concurrentViewOnceFetchesGiveTheContentExactlyOnce() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            for round in 0..<3 {
                let share = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide], maxFetches: 1))[0]
                #expect(share.maxContentFetches == 1)
                // Without content, reads do not count.
                #expect(try await bob.incoming(share.shareID).share.state == .active)
                let outcomes = await withTaskGroup(of: Result<Svx_Sharing_V1_GetIncomingShareResponse, RPCStatus>.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            do {
                                return .success(try await bob.incoming(share.shareID, content: true))
                            } catch let status as RPCStatus {
                                return .failure(status)
                            } catch {
                                return .failure(RPCStatus(.unknown, "\(error)"))
                            }
                        }
                    }
                    var all: [Result<Svx_Sharing_V1_GetIncomingShareResponse, RPCStatus>] = []
                    for await outcome in group { all.append(outcome) }
                    return all
                }
                let served = outcomes.compactMap { try? $0.get() }
                #expect(served.count == 1, "round \(round)")
                for case .failure(let status) in outcomes {
                    expect(status, .failedPrecondition, reason: "consumed", "round \(round)")
                }
                let opened = try ShareCrypto.open(try #require(served.first), key: link.inviteeKey)
                #expect(opened.values == passport.values && opened.unverified.isEmpty)
                #expect(served.first?.share.state == .consumed)
                let after = try await alice.call(SharingRPC.listOutgoingShares, .init(itemID: passport.item.itemID)).shares
                    .first { $0.shareID == share.shareID }
                #expect(after?.state == .consumed && after?.contentFetches == 1 && after?.endReason == "consumed")
                #expect(try stack.database.shareSlotRows(share.shareID) == 0)
            }
        }

        @Test func deletingAConnectionRevokesEveryShareOverItBothWays() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let alicePassport = try await alice.passport()
            let bobPassport = try await bob.passport(["full_name": "Bob Builder"])
            let aliceToBob = try await alice.share(try ShareCrypto.ownedShare(alicePassport, to: [aliceBob.senderSide], mode: .anyone))[0]
            let bobToAlice = try await bob.share(try ShareCrypto.ownedShare(bobPassport, to: [aliceBob.reversed.senderSide]))[0]
            let bobToCarol = try await bob.share(try ShareCrypto.ownedShare(bobPassport, to: [bobCarol.senderSide]))[0]
            let opened = try ShareCrypto.open(try await bob.incoming(aliceToBob.shareID, content: true), key: aliceBob.inviteeKey)
            let onShare = try await bob.share(try ShareCrypto.onShare(aliceToBob.shareID, opened: opened, to: bobCarol.senderSide))[0]

            let ended = try await alice.call(SharingRPC.deleteConnection, .init(connectionID: aliceBob.inviterSide.connectionID))
            // Both directions, and the on-share made from Alice's share.
            #expect(ended.revokedShares == 3)
            let aliceView = try await alice.call(SharingRPC.listOutgoingShares, .init()).shares
            #expect(aliceView.first { $0.shareID == aliceToBob.shareID }?.endReason == "connection_ended")
            let bobIncoming = try await bob.incoming(aliceToBob.shareID)
            #expect(bobIncoming.share.state == .revoked && bobIncoming.share.endReason == "connection_ended")
            #expect(try await alice.incoming(bobToAlice.shareID).share.endReason == "connection_ended")
            #expect(try await carol.incoming(onShare.shareID).share.endReason == "parent_revoked")
            // Bob's share to Carol went over another connection: untouched.
            #expect(try await carol.incoming(bobToCarol.shareID).share.state == .active)
            for id in [aliceToBob.shareID, bobToAlice.shareID, onShare.shareID] {
                #expect(try stack.database.shareSlotRows(id) == 0)
            }
            // T20: a share over the ended connection is refused.
            expect(await alice.failure(SharingRPC.createShare, try ShareCrypto.ownedShare(alicePassport, to: [aliceBob.senderSide])),
                   .failedPrecondition, reason: "connection_ended")
        }

        @Test func anOnShareCarriesNoFileItsParentDoesNotHold() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let passport = try await alice.passport(attachmentSlot: true)
            let toBob = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], mode: .anyone))[0]
            let opened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
            let before = try stack.database.dump(schema: "sharing")
            // The parent's attachment slot is empty: a file key sent for it is refused, nothing written.
            var attachment = try ShareCrypto.onShare(toBob.shareID, opened: opened, to: bobCarol.senderSide)
            attachment.slotID = passport.slot("scan").slotID
            var file = Svx_Sharing_V1_ShareSlot()
            file.slotID = passport.slot("scan").slotID
            file.attachmentID = UUID().uuidString
            file.encryptedAttachmentDek = try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: try SymmetricKey.random())
            attachment.recipients[0].slots = [file]
            expect(await bob.failure(SharingRPC.createShare, attachment), .invalidArgument, field: "recipients[0].slots[0].slot_id")
            #expect(try stack.database.dump(schema: "sharing") == before)
            // The empty slot alone goes on as metadata, and so does the whole item.
            attachment.recipients[0].slots = []
            let alone = try await bob.share(attachment)[0]
            #expect(alone.slotID == passport.slot("scan").slotID && alone.depth == 2)
            let whole = try await bob.share(try ShareCrypto.onShare(toBob.shareID, opened: opened, to: bobCarol.senderSide))[0]
            #expect(whole.slotID.isEmpty && whole.depth == 2)
        }

        @Test func revokingAnEndedShareOrEndingItsConnectionStillRevokesItsLiveOnShares() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let passport = try await alice.passport()
            // Bob on-shares both of Alice's shares to Carol, then deletes his own copies.
            var onShares: [String] = []
            var shares: [String] = []
            for _ in 0..<2 {
                let toBob = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], mode: .anyone))[0]
                let opened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
                onShares.append(try await bob.share(try ShareCrypto.onShare(toBob.shareID, opened: opened, to: bobCarol.senderSide))[0].shareID)
                _ = try await bob.call(SharingRPC.deleteIncomingShare, .init(shareID: toBob.shareID))
                shares.append(toBob.shareID)
            }
            // Revoking the deleted share still revokes the live on-share below it; the share itself stays deleted.
            let revoked = try await alice.call(SharingRPC.revokeShare, .init(shareID: shares[0]))
            #expect(revoked.revoked == 1 && revoked.share.state == .deleted)
            let first = try await carol.incoming(onShares[0])
            #expect(first.share.state == .revoked && first.share.endReason == "parent_revoked" && first.encryptedDek.isEmpty)
            #expect(try stack.database.shareSlotRows(onShares[0]) == 0)
            // Nothing left to revoke: not_live.
            expect(await alice.failure(SharingRPC.revokeShare, .init(shareID: shares[0])), .failedPrecondition, reason: "not_live")
            // Ending the connection reaches the on-share of the other deleted share.
            #expect(try await carol.incoming(onShares[1]).share.state == .active)
            let ended = try await alice.call(SharingRPC.deleteConnection, .init(connectionID: aliceBob.inviterSide.connectionID))
            #expect(ended.revokedShares == 1)
            let second = try await carol.incoming(onShares[1])
            #expect(second.share.state == .revoked && second.share.endReason == "parent_revoked")
            #expect(try stack.database.shareSlotRows(onShares[1]) == 0)
            #expect(try stack.database.count(liveUnderEnded) == 0)
        }

        @Test(arguments: [false, true])
        func anOnShareMadeWhileItsTreeIsBeingRevokedIsRevokedOrRefused(endingTheConnection: Bool) async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 4)
            let (alice, bob, carol, dave) = (users[0], users[1], users[2], users[3])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let carolDave = try await carol.connect(to: dave)
            let passport = try await alice.passport()
            let toBob = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], mode: .anyone))[0]
            let bobOpened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
            let toCarol = try await bob.share(
                try ShareCrypto.onShare(toBob.shareID, opened: bobOpened, to: bobCarol.senderSide, mode: .anyone))[0]
            let carolOpened = try ShareCrypto.open(try await carol.incoming(toCarol.shareID, content: true), key: bobCarol.inviteeKey)

            // The order forced: a test connection holds Carol's share FOR SHARE (as a CreateShare of it does), the
            // revocation's tree search waits for it, and meanwhile Carol's on-share to Dave is committed.
            let holder = try stack.database.connect()
            defer { holder.close() }
            _ = try holder.execute("BEGIN")
            _ = try holder.query("SELECT 1 FROM sharing.shares WHERE share_id = $1::uuid FOR SHARE", toCarol.shareID)
            let revocation = Task {
                if endingTheConnection {
                    _ = try await alice.call(SharingRPC.deleteConnection, .init(connectionID: aliceBob.inviterSide.connectionID))
                } else {
                    _ = try await alice.call(SharingRPC.revokeShare, .init(shareID: toBob.shareID))
                }
            }
            try await waitForLockWaiter(stack.database)
            let onShare = try ShareCrypto.onShare(toCarol.shareID, opened: carolOpened, to: carolDave.senderSide)
            if endingTheConnection {
                // A CreateShare takes the item owner's lock, which DeleteConnection holds from its start: the on-share
                // waits for the whole revocation, and then finds its parent revoked.
                let refused = Task { await carol.failure(SharingRPC.createShare, onShare) }
                try await waitForLockWaiter(stack.database, count: 2)
                _ = try holder.execute("COMMIT")
                try await revocation.value
                expect(await refused.value, .failedPrecondition, reason: "share_not_active")
                #expect(try await dave.call(SharingRPC.listIncomingShares, .init()).shares.isEmpty)
                #expect(try stack.database.count(liveUnderEnded) == 0)
                return
            }
            let toDave = try await carol.share(onShare)[0]
            _ = try holder.execute("COMMIT")
            try await revocation.value

            let daveSees = try await dave.incoming(toDave.shareID)
            #expect(daveSees.share.state == .revoked && daveSees.share.endReason == "parent_revoked")
            #expect(daveSees.encryptedDek.isEmpty)
            #expect(try stack.database.shareSlotRows(toDave.shareID) == 0)
            #expect(try stack.database.count(liveUnderEnded) == 0)
        }

        @Test func aShareWithoutAFetchLimitIsReadWithoutALockAndEveryFetchIsCounted() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let share = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))[0]
            // A test connection holds the share's row lock: Bob's content reads do not wait for it.
            let holder = try stack.database.connect()
            defer { holder.close() }
            _ = try holder.execute("BEGIN")
            _ = try holder.query("SELECT 1 FROM sharing.shares WHERE share_id = $1::uuid FOR UPDATE", share.shareID)
            var answered: [UInt32] = []
            for _ in 0..<3 {
                let got = try await bob.incoming(share.shareID, content: true)
                #expect(try ShareCrypto.open(got, key: link.inviteeKey).values == passport.values)
                answered.append(got.share.contentFetches)
            }
            #expect(answered == [1, 1, 1])  // each answer counts its own fetch; the row is written in batches
            _ = try holder.execute("COMMIT")
            // Before listing, the process writes the fetches it served: the sender sees all three.
            let listed = try await alice.call(SharingRPC.listOutgoingShares, .init(itemID: passport.item.itemID)).shares
            #expect(listed.map(\.contentFetches) == [3])
            #expect(listed[0].firstFetchedAtMs > 0 && listed[0].lastFetchedAtMs >= listed[0].firstFetchedAtMs)
            #expect(listed[0].updatedAtMs == share.updatedAtMs)
            #expect(try await bob.incoming(share.shareID).share.contentFetches == 3)
        }

        @Test func aContentReadThatWaitedForTheLockPastTheExpiryFindsTheShareExpired() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let expiry = UInt64(Date().timeIntervalSince1970 * 1000) + 2_000
            // A share with a fetch limit: its fetches are decided on the locked row (one without a limit is read
            // without a lock, at the time of the read).
            let share = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [link.senderSide], expiresAtMs: expiry, maxFetches: 5))[0]
            // A test connection holds the share's row lock; Bob's content read begins and waits for it; the lock is
            // let go only once the database clock has passed the expiry.
            let holder = try stack.database.connect()
            defer { holder.close() }
            _ = try holder.execute("BEGIN")
            _ = try holder.query("SELECT 1 FROM sharing.shares WHERE share_id = $1::uuid FOR UPDATE", share.shareID)
            let read = Task { await bob.failure(SharingRPC.getIncomingShare, .init(shareID: share.shareID, includeContent: true)) }
            try await waitForLockWaiter(stack.database)
            for _ in 0..<1_000 {
                let passed = try holder.query(
                    "SELECT clock_timestamp() > to_timestamp($1::bigint / 1000.0)", Int64(expiry))[0].decode(Bool.self, at: 0)
                if passed { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            _ = try holder.execute("COMMIT")
            expect(await read.value, .failedPrecondition, reason: "expired")
            #expect(try stack.database.shareSlotRows(share.shareID) == 0)
        }

        @Test func aUsersLiveOutgoingSharesAreCapped() async throws {
            let stack = try await SharingIntegrationTests.shareStack(environment: [.sharing: ["SVX_SHARING_MAX_SHARES": "2"]])
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let aliceCarol = try await alice.connect(to: carol)
            let passport = try await alice.passport()
            let first = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide]))[0]
            let before = try stack.database.dump(schema: "sharing")
            // Two more at once would pass the cap: refused as a whole.
            let both = try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide, aliceCarol.senderSide])
            let refused = await alice.failure(SharingRPC.createShare, both)
            expect(refused, .resourceExhausted)
            #expect(refused?.details["quota"] == "shares" && refused?.details["limit"] == "2")
            #expect(try stack.database.dump(schema: "sharing") == before)
            // One fits; a revocation makes room again. Bulk shares to several connections are one transaction.
            _ = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceCarol.senderSide]))
            expect(await alice.failure(SharingRPC.createShare, try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide])),
                   .resourceExhausted)
            _ = try await alice.call(SharingRPC.revokeShare, .init(shareID: first.shareID))
            _ = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide]))
        }

        @Test func aUsersLiveIncomingSharesAreCapped() async throws {
            let stack = try await SharingIntegrationTests.shareStack(environment: [.sharing: ["SVX_SHARING_MAX_SHARES": "2"]])
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 4)
            let (alice, bob, carol, dave) = (users[0], users[1], users[2], users[3])
            let aliceBob = try await alice.connect(to: bob)
            let carolBob = try await carol.connect(to: bob)
            let daveBob = try await dave.connect(to: bob)
            let daveCarol = try await dave.connect(to: carol)
            // Bob receives two shares, from two senders: a third, in a bulk share from Dave, is refused naming him.
            _ = try await alice.share(try ShareCrypto.ownedShare(try await alice.passport(), to: [aliceBob.senderSide]))
            _ = try await carol.share(try ShareCrypto.ownedShare(try await carol.passport(), to: [carolBob.senderSide]))
            let davesPassport = try await dave.passport()
            let before = try stack.database.dump(schema: "sharing")
            let refused = await dave.failure(
                SharingRPC.createShare, try ShareCrypto.ownedShare(davesPassport, to: [daveCarol.senderSide, daveBob.senderSide]))
            expect(refused, .resourceExhausted)
            #expect(refused?.details["quota"] == "incoming_shares" && refused?.details["limit"] == "2")
            #expect(refused?.details["field"] == "recipients[1].connection_id")
            #expect(try stack.database.dump(schema: "sharing") == before)
            // Carol has room; once Bob deletes one of his, he has too.
            _ = try await dave.share(try ShareCrypto.ownedShare(davesPassport, to: [daveCarol.senderSide]))
            let bobs = try await bob.call(SharingRPC.listIncomingShares, .init()).shares
            _ = try await bob.call(SharingRPC.deleteIncomingShare, .init(shareID: bobs[0].shareID))
            _ = try await dave.share(try ShareCrypto.ownedShare(davesPassport, to: [daveBob.senderSide]))
        }

        @Test func anItemsLiveSharesAreCappedWithItsOnSharesCounted() async throws {
            let stack = try await SharingIntegrationTests.shareStack(
                environment: [.sharing: ["SVX_SHARING_MAX_SHARES_PER_ITEM": "2"]])
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 4)
            let (alice, bob, carol, dave) = (users[0], users[1], users[2], users[3])
            let aliceBob = try await alice.connect(to: bob)
            let aliceCarol = try await alice.connect(to: carol)
            let aliceDave = try await alice.connect(to: dave)
            let bobDave = try await bob.connect(to: dave)
            let passport = try await alice.passport()
            let shares = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide, aliceCarol.senderSide], mode: .anyone))
            let before = try stack.database.dump(schema: "sharing")
            let third = await alice.failure(SharingRPC.createShare, try ShareCrypto.ownedShare(passport, to: [aliceDave.senderSide]))
            expect(third, .resourceExhausted)
            #expect(third?.details["quota"] == "item_shares" && third?.details["limit"] == "2")
            #expect(try stack.database.dump(schema: "sharing") == before)
            // Another item of Alice's is not held back.
            _ = try await alice.share(try ShareCrypto.ownedShare(try await alice.passport(), to: [aliceDave.senderSide]))
            // Carol's share revoked: room for one, which Bob's on-share to Dave takes; Alice's next is refused again.
            let toCarol = try #require(shares.first { $0.recipientID == carol.userID })
            let toBob = try #require(shares.first { $0.recipientID == bob.userID })
            _ = try await alice.call(SharingRPC.revokeShare, .init(shareID: toCarol.shareID))
            let bobOpened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
            _ = try await bob.share(try ShareCrypto.onShare(toBob.shareID, opened: bobOpened, to: bobDave.senderSide))
            let again = await alice.failure(SharingRPC.createShare, try ShareCrypto.ownedShare(passport, to: [aliceCarol.senderSide]))
            #expect(again?.details["quota"] == "item_shares")
        }
    }
}

/// Live shares whose parent has ended: a revocation leaves none.
private let liveUnderEnded = """
    SELECT count(*)::int FROM sharing.shares c
    JOIN sharing.shares p ON p.owner_id = c.owner_id AND p.share_id = c.parent_share_id
    WHERE c.state IN (1, 2) AND p.state NOT IN (1, 2)
    """

/// Waits (bounded) until `count` sessions of `database` other than the test's own wait for a lock (a row lock or an
/// advisory lock).
private func waitForLockWaiter(_ database: TestDatabase, count: Int = 1) async throws {
    for _ in 0..<3_000 {
        let waiting = try database.count(
            """
            SELECT count(*)::int FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
            """)
        if waiting >= count { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("fewer than \(count) sessions waited for a lock")
    throw CancellationError()
}
