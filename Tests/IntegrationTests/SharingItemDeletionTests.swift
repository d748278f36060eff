import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Deletions in the Vault reaching shares (sharing.md §2.6, T19), through real svx-auth, svx-keystore, svx-vault
    /// and svx-sharing processes: the Vault calls Sharing's ForgetSharedEntities inside DeleteItem and UpdateItem
    /// removing slots, fail-closed. docs/ADR-008-sharing.md, "Deletions in the Vault".
    @Suite struct SharingItemDeletionTests {
        /// T19, first half: every share of a deleted item, on-shares included, ends `item_deleted` with its ciphertext
        /// gone; another item's share is untouched; Sharing's side is idempotent.
        @Test func deletingAnItemRevokesEveryShareOfItAndItsOnSharesAsItemDeleted() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let bobCarol = try await bob.connect(to: carol)
            let passport = try await alice.passport()
            let other = try await alice.passport(["full_name": "Kept Item"])
            let toBob = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], mode: .anyone))[0]
            let slotToBob = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], slot: "full_name"))[0]
            let otherToBob = try await alice.share(try ShareCrypto.ownedShare(other, to: [aliceBob.senderSide]))[0]
            let opened = try ShareCrypto.open(try await bob.incoming(toBob.shareID, content: true), key: aliceBob.inviteeKey)
            let toCarol = try await bob.share(try ShareCrypto.onShare(toBob.shareID, opened: opened, to: bobCarol.senderSide))[0]
            let otherRows = try stack.database.shareSlotRows(otherToBob.shareID)
            #expect(otherRows == other.item.slots.count)  // a whole item: every slot, valued or not

            _ = try await alice.call(VaultRPC.deleteItem, .init(itemID: passport.item.itemID))
            #expect(await alice.failure(VaultRPC.getItem, .init(itemID: passport.item.itemID))?.code == .notFound)

            for (reader, id) in [(bob, toBob.shareID), (bob, slotToBob.shareID), (carol, toCarol.shareID)] {
                let ended = try await reader.incoming(id)
                #expect(ended.share.state == .revoked && ended.share.endReason == "item_deleted", "\(id)")
                #expect(ended.encryptedDek.isEmpty)
                #expect(try stack.database.shareSlotRows(id) == 0)
                expect(await reader.failure(SharingRPC.getIncomingShare, .init(shareID: id, includeContent: true)),
                       .failedPrecondition, reason: "revoked")
            }
            #expect(try await alice.call(SharingRPC.listItemShares, .init(itemID: passport.item.itemID)).shares.isEmpty)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.shares WHERE item_id = $1::uuid AND encrypted_dek IS NOT NULL",
                passport.item.itemID) == 0)
            // The other item's share is untouched.
            #expect(try await bob.incoming(otherToBob.shareID).share.state == .active)
            #expect(try stack.database.shareSlotRows(otherToBob.shareID) == otherRows)

            // The item is kept as a tombstone (an hour), so a share built from its outline before is refused.
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.forgotten_entities WHERE owner_id = $1::uuid AND entity_id = $2::uuid",
                alice.userID, passport.item.itemID) == 1)
            // A retry (the Vault's answer lost) changes nothing but the tombstones' time.
            let before = try stack.database.dump(schema: "sharing", excluding: ["forgotten_entities"])
            let again = try await alice.call(
                SharingRPC.forgetSharedEntities, .init(itemIDs: [passport.item.itemID], slotIDs: passport.item.slots.map(\.slotID)), as: .vault)
            #expect(again.revokedShares == 0 && again.droppedSlotRows == 0)
            #expect(try stack.database.dump(schema: "sharing", excluding: ["forgotten_entities"]) == before)
            #expect(try stack.database.plaintextScan(for: Array(passport.values.values)).isEmpty)
        }

        /// T19, second half: removing a shared slot revokes the single-slot shares of it (the owner's and on-shares),
        /// and whole-item copies (the owner's and on-shares) lose that slot's row and still verify.
        @Test func removingASlotRevokesItsSingleSlotSharesAndDropsItFromWholeItemCopies() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceBob = try await alice.connect(to: bob)
            let aliceCarol = try await alice.connect(to: carol)
            let bobCarol = try await bob.connect(to: carol)
            let passport = try await alice.passport()
            let removed = passport.slot("passport_number").slotID
            let wholeToBob = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [aliceBob.senderSide], mode: .anyone))[0]
            let numberToCarol = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [aliceCarol.senderSide], slot: "passport_number"))[0]
            let nameToCarol = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [aliceCarol.senderSide], slot: "full_name"))[0]
            let bobOpened = try ShareCrypto.open(
                try await bob.incoming(wholeToBob.shareID, content: true), key: aliceBob.inviteeKey)
            let wholeOnShare = try await bob.share(
                try ShareCrypto.onShare(wholeToBob.shareID, opened: bobOpened, to: bobCarol.senderSide))[0]
            var single = try ShareCrypto.onShare(wholeToBob.shareID, opened: bobOpened, to: bobCarol.senderSide)
            single.slotID = removed
            single.recipients[0].slots = single.recipients[0].slots.filter { $0.slotID == removed }
            let numberOnShare = try await bob.share(single)[0]
            #expect(numberOnShare.slotID == removed && numberOnShare.depth == 2)
            #expect(try stack.database.shareSlotRows(wholeToBob.shareID) == passport.item.slots.count)

            let updated = try await alice.user.update(passport.item, remove: ["passport_number"])
            #expect(!updated.slots.contains { $0.slotID == removed })

            // The single-slot shares of the removed slot, the owner's and Bob's on-share: revoked, rows gone.
            for (reader, id) in [(carol, numberToCarol.shareID), (carol, numberOnShare.shareID)] {
                let ended = try await reader.incoming(id)
                #expect(ended.share.state == .revoked && ended.share.endReason == "item_deleted", "\(id)")
                #expect(try stack.database.shareSlotRows(id) == 0)
            }
            // Whole-item copies stay active without that slot, and what is left verifies against the owner's hashes.
            for (reader, id, key) in [
                (bob, wholeToBob.shareID, aliceBob.inviteeKey), (carol, wholeOnShare.shareID, bobCarol.inviteeKey),
            ] {
                let got = try await reader.incoming(id, content: true)
                #expect(got.share.state == .active, "\(id)")
                #expect(Set(got.item.slots.map(\.slotID)) == Set(passport.item.slots.map(\.slotID)).subtracting([removed]))
                let opened = try ShareCrypto.open(got, key: key)
                #expect(opened.unverified.isEmpty && opened.values == ["full_name": "Ada Lovelace"])
                #expect(try stack.database.shareSlotRows(id) == passport.item.slots.count - 1)
            }
            // The single-slot share of another slot is untouched.
            let name = try await carol.incoming(nameToCarol.shareID, content: true)
            #expect(name.share.state == .active && name.item.slots.map(\.name) == ["full_name"])
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.share_slots WHERE slot_id = $1::uuid", removed) == 0)
            #expect(try stack.database.plaintextScan(for: Array(passport.values.values)).isEmpty)

            // A retry changes nothing but the tombstone's time.
            let before = try stack.database.dump(schema: "sharing", excluding: ["forgotten_entities"])
            let again = try await alice.call(SharingRPC.forgetSharedEntities, .init(slotIDs: [removed]), as: .vault)
            #expect(again.revokedShares == 0 && again.droppedSlotRows == 0)
            #expect(try stack.database.dump(schema: "sharing", excluding: ["forgotten_entities"]) == before)
        }

        /// Fail-closed: with Sharing stopped (by its pid), DeleteItem and UpdateItem removing a slot answer
        /// UNAVAILABLE (after the peer call's 5 s bound) and nothing changes, in the Vault or in Sharing. Once Sharing
        /// is back, the deletion goes through and reaches the shares.
        @Test func withSharingDownDeletionsAreRefusedAndNothingChanges() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let other = try await alice.passport(["full_name": "Grace Hopper", "passport_number": "P-1906-1209"])
            let toBob = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))[0]
            let numberToBob = try await alice.share(
                try ShareCrypto.ownedShare(other, to: [link.senderSide], slot: "passport_number"))[0]
            let vaultBefore = try stack.database.dump(schema: "vault")
            let sharingBefore = try stack.database.dump(schema: "sharing")

            _ = stack[.sharing].stop()
            // Concurrently (different items: neither waits for the other's row lock), each within a 9 s deadline,
            // longer than the peer call's 5 s.
            async let deleteItem = alice.failure(VaultRPC.deleteItem, .init(itemID: passport.item.itemID), timeout: .seconds(9))
            async let removeSlot = alice.failure(VaultRPC.updateItem, .init(
                itemID: other.item.itemID, expectedVersion: other.item.version, remove: ["passport_number"]), timeout: .seconds(9))
            for failure in await [deleteItem, removeSlot] {
                #expect(failure?.code == .unavailable, "\(String(describing: failure))")
            }
            #expect(try stack.database.dump(schema: "vault") == vaultBefore)
            #expect(try stack.database.dump(schema: "sharing") == sharingBefore)
            let kept = try await alice.user.getItem(passport.item.itemID)
            #expect(kept.version == passport.item.version && kept.slots.map(\.slotID) == passport.item.slots.map(\.slotID))
            // A change that removes nothing does not need Sharing.
            let relabelled = try await alice.user.update(other.item, label: "Grace's passport")
            #expect(relabelled.version == other.item.version + 1 && relabelled.slots.count == other.item.slots.count)

            try await stack.restart(.sharing)
            #expect(try await bob.incoming(toBob.shareID).share.state == .active)
            #expect(try await bob.incoming(numberToBob.shareID).share.state == .active)
            _ = try await alice.call(VaultRPC.deleteItem, .init(itemID: passport.item.itemID))
            _ = try await alice.user.update(relabelled, remove: ["passport_number"])
            for id in [toBob.shareID, numberToBob.shareID] {
                let ended = try await bob.incoming(id)
                #expect(ended.share.state == .revoked && ended.share.endReason == "item_deleted", "\(id)")
            }
        }

        /// ForgetSharedEntities called directly: malformed input is INVALID_ARGUMENT naming the field, a stranger's
        /// item and slot ids change nothing (answered as unknown ones), and nothing is written either way.
        @Test func malformedInputIsRefusedAndAStrangersIdsChangeNothing() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, mallory) = (users[0], users[1], users[2])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let whole = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))[0]
            let single = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [link.senderSide], slot: "full_name"))[0]
            let before = try stack.database.dump(schema: "sharing", excluding: ["forgotten_entities"])

            let slotIDs = passport.item.slots.map(\.slotID)
            let stranger = try await mallory.call(
                SharingRPC.forgetSharedEntities, .init(itemIDs: [passport.item.itemID], slotIDs: slotIDs), as: .vault)
            let unknown = try await mallory.call(
                SharingRPC.forgetSharedEntities, .init(itemIDs: [unknownID()], slotIDs: [unknownID()]), as: .vault)
            #expect(stranger == unknown && stranger.revokedShares == 0 && stranger.droppedSlotRows == 0)
            // The recipient is not the owner either.
            let recipient = try await bob.call(
                SharingRPC.forgetSharedEntities, .init(itemIDs: [passport.item.itemID], slotIDs: slotIDs), as: .vault)
            #expect(recipient == unknown)
            // Only their own tombstones were written: Alice's rows are as they were, and she can still share her item.
            #expect(try stack.database.dump(schema: "sharing", excluding: ["forgotten_entities"]) == before)
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.forgotten_entities WHERE owner_id = $1::uuid", alice.userID) == 0)
            let beforeMalformed = try stack.database.dump(schema: "sharing")

            let ids = (0..<1_000).map { _ in unknownID() }
            let malformed: [(String, Svx_Sharing_V1_ForgetSharedEntitiesRequest)] = [
                ("item_ids[1]", .init(itemIDs: [passport.item.itemID, "not-a-uuid"])),
                ("item_ids[0]", .init(itemIDs: [""])),
                ("slot_ids[0]", .init(slotIDs: [passport.item.slots[0].slotID + "0"])),
                ("slot_ids[1]", .init(itemIDs: [passport.item.itemID], slotIDs: [slotIDs[0], "\(slotIDs[0]) "])),
                ("item_ids", .init(itemIDs: ids + [passport.item.itemID])),
                ("slot_ids", .init(itemIDs: [passport.item.itemID], slotIDs: ids + [slotIDs[0]])),
            ]
            for (field, request) in malformed {
                expect(await alice.failure(SharingRPC.forgetSharedEntities, request, as: .vault), .invalidArgument, field: field, field)
            }
            #expect(try stack.database.dump(schema: "sharing") == beforeMalformed)
            // At the bounds, and with nothing asked: accepted, nothing of Alice's is listed.
            let bounded = try await alice.call(SharingRPC.forgetSharedEntities, .init(itemIDs: ids, slotIDs: ids), as: .vault)
            #expect(bounded.revokedShares == 0 && bounded.droppedSlotRows == 0)
            #expect(try await alice.call(SharingRPC.forgetSharedEntities, .init(), as: .vault) == .init())
            #expect(try stack.database.dump(schema: "sharing", excluding: ["forgotten_entities"]) == before)
            for id in [whole.shareID, single.shareID] {
                #expect(try await bob.incoming(id).share.state == .active)
            }
            #expect(try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide])).count == 1)
        }

        /// The race tombstones close, played in order: a share built from the item's outline, the item (or a slot)
        /// forgotten, then the CreateShare: FAILED_PRECONDITION `recently_deleted`, nothing written; an hour later
        /// (rows aged) it goes through. Live tombstones are capped at 100 000 per owner: past it ForgetSharedEntities
        /// is RESOURCE_EXHAUSTED with `retry_after_ms`, and the Vault's deletion fails closed with it.
        @Test func aShareOfSomethingForgottenMeanwhileIsRefusedAndTombstonesAreCapped() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let other = try await alice.passport(["full_name": "Grace Hopper"])

            let ofItem = try ShareCrypto.ownedShare(passport, to: [link.senderSide])
            let ofSlot = try ShareCrypto.ownedShare(other, to: [link.senderSide])
            _ = try await alice.call(SharingRPC.forgetSharedEntities, .init(itemIDs: [passport.item.itemID]), as: .vault)
            _ = try await alice.call(SharingRPC.forgetSharedEntities, .init(slotIDs: [other.slot("date_of_birth").slotID]), as: .vault)
            let before = try stack.database.dump(schema: "sharing")
            for request in [ofItem, ofSlot] {
                expect(await alice.failure(SharingRPC.createShare, request), .failedPrecondition, reason: "recently_deleted",
                       field: "item_id")
            }
            #expect(try stack.database.dump(schema: "sharing") == before)
            _ = try stack.database.change(
                "UPDATE sharing.forgotten_entities SET forgotten_at = now() - interval '61 minutes' WHERE owner_id = $1::uuid",
                alice.userID)
            let shared = try await alice.share(ofItem)[0]
            #expect(try await alice.share(ofSlot).count == 1)

            // At the quota (the rows made in the database, as 100 000 deletions within the hour would).
            _ = try stack.database.change(
                """
                INSERT INTO sharing.forgotten_entities (owner_id, entity_id)
                SELECT $1::uuid, gen_random_uuid() FROM generate_series(1, 100000)
                """, alice.userID)
            let full = await alice.failure(SharingRPC.forgetSharedEntities, .init(itemIDs: [unknownID()]), as: .vault)
            expect(full, .resourceExhausted)
            #expect(full?.details["quota"] == "tombstones" && full?.details["limit"] == "100000")
            #expect((Int(full?.details["retry_after_ms"] ?? "") ?? 0) > 0, "\(String(describing: full))")
            let vaultBefore = try stack.database.dump(schema: "vault")
            let sharingBefore = try stack.database.dump(schema: "sharing")
            let refused = await alice.failure(VaultRPC.deleteItem, .init(itemID: passport.item.itemID))
            #expect(refused?.code == .resourceExhausted && refused?.details["quota"] == "tombstones", "\(String(describing: refused))")
            #expect(try stack.database.dump(schema: "vault") == vaultBefore)
            #expect(try stack.database.dump(schema: "sharing") == sharingBefore)
            #expect(try await bob.incoming(shared.shareID).share.state == .active)

            // Expired ones make room (purged by the next call): the deletion goes through and reaches the share.
            _ = try stack.database.change(
                "UPDATE sharing.forgotten_entities SET forgotten_at = now() - interval '2 hours' WHERE owner_id = $1::uuid",
                alice.userID)
            _ = try await alice.call(VaultRPC.deleteItem, .init(itemID: passport.item.itemID))
            #expect(try await bob.incoming(shared.shareID).share.endReason == "item_deleted")
            #expect(try stack.database.count(
                "SELECT count(*)::int FROM sharing.forgotten_entities WHERE owner_id = $1::uuid", alice.userID) == 1)
        }
    }
}
