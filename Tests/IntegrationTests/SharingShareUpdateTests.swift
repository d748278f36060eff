import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// The owner's update of its shares (Sharing III, issue 17; sharing.md §1.6, §2.3 UpdateShares and ListOutgoingShares
    /// `stale_only`, §2.7 "Owner update", §4 T14, T16, T18) through real svx-auth, svx-keystore, svx-vault and
    /// svx-sharing processes, the requests built with real crypto as a client builds them. docs/ADR-008-sharing.md.
    @Suite struct SharingShareUpdateTests {
        @Test func anOwnersUpdateReachesEveryShareAndOnShareVerifiedAgainstTheOwnersNewHashes() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, carol) = (users[0], users[1], users[2])
            let aliceToBob = try await alice.connect(to: bob)
            let bobToCarol = try await bob.connect(to: carol)
            let passport = try await alice.passport(attachmentSlot: true)

            // Alice shares the whole item to Bob (on-sharing allowed) and one slot; Bob on-shares to Carol.
            let whole = try await alice.share(try ShareCrypto.ownedShare(passport, to: [aliceToBob.senderSide], mode: .anyone))[0]
            let single = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [aliceToBob.senderSide], slot: "passport_number"))[0]
            let bobOpened = try ShareCrypto.open(try await bob.incoming(whole.shareID, content: true), key: aliceToBob.recipientKey)
            let onShare = try await bob.share(
                try ShareCrypto.onShare(whole.shareID, opened: bobOpened, to: bobToCarol.senderSide))[0]
            let carolBefore = try stack.database.shareHashes(onShare.shareID)
            #expect(carolBefore == (try stack.database.shareHashes(whole.shareID)), "an on-share carries the owner's hashes")
            #expect(try await alice.staleShares().isEmpty)

            // Alice changes the item in the Vault: every share of it is stale, the on-share too (it is her item).
            let updated = try await alice.update(passport, ["full_name": "Ada King, Countess of Lovelace", "nationality": "British"])
            #expect(updated.item.version == passport.item.version + 1)
            let stale = try await alice.staleShares()
            #expect(Set(stale.map(\.shareID)) == [whole.shareID, single.shareID, onShare.shareID])
            #expect(try await alice.staleShares(itemID: updated.item.itemID, pageSize: 1).count == 3, "paged one by one")
            #expect(try await bob.staleShares().isEmpty, "Bob's on-share is Alice's to update")

            // UpdateShares with every live share of the item: fresh DEKs, fresh keys and Alice's hashes for each.
            let live = try await alice.itemShares(updated.item.itemID)
            #expect(live.count == 3)
            let request = try ShareCrypto.update(updated, shares: live)
            let response = try await alice.call(SharingRPC.updateShares, request)
            #expect(Set(response.updated.map(\.shareID)) == [whole.shareID, single.shareID, onShare.shareID])
            #expect(response.skipped.isEmpty)
            for share in response.updated {
                #expect(share.itemVersion == updated.item.version && share.ownerID == alice.userID)
                let generation = try stack.database.shareGeneration(share.shareID)
                #expect(generation.dekGeneration == 2 && generation.itemVersion == Int(updated.item.version))
            }

            // Bob and Carol read the new values, verified against Alice's new hashes (Carol's are Alice's again, not
            // the ones copied from Bob's share, and not the old ones).
            let bobNow = try ShareCrypto.open(try await bob.incoming(whole.shareID, content: true), key: aliceToBob.recipientKey)
            #expect(bobNow.unverified.isEmpty && bobNow.values == updated.values)
            let bobSingle = try ShareCrypto.open(try await bob.incoming(single.shareID, content: true), key: aliceToBob.recipientKey)
            #expect(bobSingle.unverified.isEmpty && bobSingle.values == ["passport_number": "P-1815-1210"])
            #expect(bobSingle.slots.count == 1)
            let carolNow = try ShareCrypto.open(try await carol.incoming(onShare.shareID, content: true), key: bobToCarol.recipientKey)
            #expect(carolNow.unverified.isEmpty && carolNow.values == updated.values)
            let sentForCarol = try #require(request.shares.first { $0.shareID == onShare.shareID })
            let carolHashes = try stack.database.shareHashes(onShare.shareID)
            #expect(carolHashes == Dictionary(uniqueKeysWithValues: sentForCarol.slots.map { ($0.slotID, $0.valueVerificationHash) }))
            #expect(Set(carolHashes.values).isDisjoint(with: Set(carolBefore.values)))
            // The DEK Bob held before opens nothing of his share now.
            let bobRows = try await bob.incoming(whole.shareID, content: true).item.slots.filter { !$0.encryptedValue.isEmpty }
            #expect(!bobRows.isEmpty && bobRows.allSatisfy { (try? Cryppo.decrypt($0.encryptedValue, key: bobOpened.dek)) == nil })
            // Names, labels and the attachment slot still come from the Vault.
            let carolItem = try await carol.incoming(onShare.shareID, content: true).item
            #expect(Set(carolItem.slots.map(\.slotID)) == Set(updated.item.slots.map(\.slotID)))
            #expect(carolItem.itemVersion == updated.item.version)

            #expect(try await alice.staleShares().isEmpty)
            // T23: neither the old values nor the new ones in clear.
            #expect(try stack.database.plaintextScan(for: Array(passport.values.values) + Array(updated.values.values)).isEmpty)
        }

        /// T18, and input that is refused changes no row.
        @Test func wideningASingleSlotShareOrAStaleVersionOrMalformedInputWritesNothing() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport(attachmentSlot: true)
            let whole = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))[0]
            let single = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide], slot: "full_name"))[0]
            let updated = try await alice.update(passport, ["full_name": "Augusta Ada King"])
            let live = try await alice.itemShares(updated.item.itemID)
            let wholeEntry = try #require(live.first { $0.share.shareID == whole.shareID })
            let singleEntry = try #require(live.first { $0.share.shareID == single.shareID })
            let before = try stack.database.dump(schema: "sharing")

            func refused(
                _ change: (inout Svx_Sharing_V1_UpdateSharesRequest) throws -> Void, _ code: RPCStatus.Code,
                field: String? = nil, reason: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
            ) async throws {
                var request = try ShareCrypto.update(updated, shares: [wholeEntry, singleEntry])
                try change(&request)
                let failure = await alice.failure(SharingRPC.updateShares, request)
                expect(failure, code, reason: reason, field: field, sourceLocation: sourceLocation)
                #expect(try stack.database.dump(schema: "sharing") == before, "nothing written", sourceLocation: sourceLocation)
            }

            // T18: a single-slot share widened to another slot of the item.
            try await refused({ request in
                let dek = try SymmetricKey.random()
                request.shares[1].encryptedDek = try Cryppo.encrypt(dek.bytes, publicKey: try RSAPublicKey(pem: link.recipientKey.pem))
                request.shares[1].slots = [
                    try ShareCrypto.sealed(slotID: updated.slot("full_name").slotID, value: "Augusta Ada King", dek: dek),
                    try ShareCrypto.sealed(slotID: updated.slot("passport_number").slotID, value: "P-1815-1210", dek: dek),
                ]
            }, .invalidArgument, field: "shares[1].slots")
            try await refused({ request in
                request.shares[1].slots[0].slotID = updated.slot("passport_number").slotID
            }, .invalidArgument, field: "shares[1].slots")
            // T18: the item's version is not the one encrypted from (older, or ahead of the Vault).
            try await refused({ $0.expectedItemVersion -= 1 }, .aborted, reason: "item_version_changed")
            try await refused({ $0.expectedItemVersion += 1 }, .aborted, reason: "item_version_changed")
            // A valued slot missing, one the item does not have, the attachment slot.
            try await refused({ $0.shares[0].slots.removeLast() }, .invalidArgument, field: "shares[0].slots")
            try await refused({ request in
                request.shares[0].slots.append(request.shares[0].slots[0])
                request.shares[0].slots[2].slotID = unknownID()
            }, .invalidArgument, field: "shares[0].slots[2].slot_id")
            try await refused({ request in
                request.shares[0].slots.append(request.shares[0].slots[0])
                request.shares[0].slots[2].slotID = updated.slot("scan").slotID
            }, .invalidArgument, field: "shares[0].slots[2].slot_id")
            // T22-like shapes: a DEK for another key size, a DEK in clear, a value in clear, a hash missing (an
            // on-share's hashes are the owner's too) or not hex, a verification key of another length.
            try await refused({ request in
                let bigger = try RSAPrivateKey.generate(bits: 3072)
                request.shares[0].encryptedDek = try Cryppo.encrypt(try SymmetricKey.random().bytes, publicKey: try bigger.publicKey)
            }, .invalidArgument, field: "shares[0].encrypted_dek")
            try await refused({ $0.shares[0].encryptedDek = Hex.encode(try SecureRandom.bytes(count: 32)) }, .invalidArgument,
                field: "shares[0].encrypted_dek")
            try await refused({ $0.shares[0].slots[0].encryptedValue = "Augusta Ada King" }, .invalidArgument,
                field: "shares[0].slots[0].encrypted_value")
            try await refused({ $0.shares[1].slots[0].valueVerificationHash = "" }, .invalidArgument,
                field: "shares[1].slots[0].value_verification_hash")
            try await refused({ $0.shares[0].slots[1].valueVerificationHash = String(repeating: "G", count: 64) }, .invalidArgument,
                field: "shares[0].slots[1].value_verification_hash")
            try await refused({ request in
                request.shares[0].slots[0].encryptedValueVerificationKey = try Cryppo.encrypt(
                    try SecureRandom.bytes(count: 32), key: try SymmetricKey.random())
            }, .invalidArgument, field: "shares[0].slots[0].encrypted_value_verification_key")
            // The request's own shape: no share, a share twice, too many, a share id that is not one.
            try await refused({ $0.shares = [] }, .invalidArgument, field: "shares")
            try await refused({ $0.shares[1] = $0.shares[0] }, .invalidArgument, field: "shares[1].share_id")
            try await refused({ request in
                request.shares = (0..<51).map { _ in
                    var share = request.shares[0]
                    share.shareID = unknownID()
                    return share
                }
            }, .invalidArgument, field: "shares")
            try await refused({ $0.shares[0].shareID = "not a share" }, .invalidArgument, field: "shares[0].share_id")
            try await refused({ $0.expectedItemVersion = 0 }, .invalidArgument, field: "expected_item_version")
            try await refused({ $0.itemID = "" }, .invalidArgument, field: "item_id")

            // A good request then writes both.
            let response = try await alice.call(SharingRPC.updateShares, try ShareCrypto.update(updated, shares: [wholeEntry, singleEntry]))
            #expect(response.updated.count == 2 && response.skipped.isEmpty)
            // An older version after a newer one: the Vault's version is the newer, so ABORTED; nothing goes back.
            let again = await alice.failure(SharingRPC.updateShares, try ShareCrypto.update(passport, shares: [wholeEntry]))
            expect(again, .aborted, reason: "item_version_changed")
            #expect(try stack.database.shareGeneration(whole.shareID).itemVersion == Int(updated.item.version))
        }

        /// T16 and the rule for others' ids: a recipient, a stranger, another item's share, an unknown id.
        @Test func strangersAndRecipientsShareIDsAreLikeUnknownOnes() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 3)
            let (alice, bob, mallory) = (users[0], users[1], users[2])
            let link = try await alice.connect(to: bob)
            let malloryLink = try await mallory.connect(to: bob)
            let passport = try await alice.passport()
            let otherItem = try await alice.passport(["full_name": "Someone Else"])
            let malloryItem = try await mallory.passport(["full_name": "Mallory"])
            let share = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide]))[0]
            let otherShare = try await alice.share(try ShareCrypto.ownedShare(otherItem, to: [link.senderSide]))[0]
            let malloryShare = try await mallory.share(try ShareCrypto.ownedShare(malloryItem, to: [malloryLink.senderSide]))[0]
            let updated = try await alice.update(passport, ["full_name": "A. A. Lovelace"])
            let entry = try #require(try await alice.itemShares(updated.item.itemID).first)
            let before = try stack.database.dump(schema: "sharing")

            // The recipient (T16) and a stranger: Alice's item is not theirs, NOT_FOUND like an unknown item.
            let request = try ShareCrypto.update(updated, shares: [entry])
            let byBob = await bob.failure(SharingRPC.updateShares, request)
            let byMallory = await mallory.failure(SharingRPC.updateShares, request)
            var unknownItem = request
            unknownItem.itemID = unknownID()
            let unknown = await alice.failure(SharingRPC.updateShares, unknownItem)
            for failure in [byBob, byMallory, unknown] {
                expect(failure, .notFound, field: "item_id")
                #expect(failure?.message == unknown?.message && failure?.details == unknown?.details)
            }
            // Alice naming a share that is not one of this item's: Mallory's, her own of another item, an unknown id.
            var answers: [RPCStatus?] = []
            for id in [malloryShare.shareID, otherShare.shareID, unknownID()] {
                var named = request
                named.shares[0].shareID = id
                answers.append(await alice.failure(SharingRPC.updateShares, named))
            }
            for failure in answers {
                expect(failure, .notFound, field: "shares[0].share_id")
                #expect(failure?.message == "share not found" && failure?.details == answers.last??.details)
            }
            #expect(try stack.database.dump(schema: "sharing") == before)
            // Nobody else sees Alice's shares as stale.
            #expect(try await mallory.staleShares().isEmpty)
            #expect(try await bob.staleShares().isEmpty)
            #expect(Set(try await alice.staleShares().map(\.shareID)) == [share.shareID])
        }

        /// T14: the DEK a revoked recipient kept opens no row of the item after the owner's next update; ended shares
        /// are skipped with their reason, and revoking one recipient re-keys nobody else.
        @Test func aRevokedRecipientsOldKeyOpensNoRowAfterTheNextUpdate() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 4)
            let (alice, bob, carol, dave) = (users[0], users[1], users[2], users[3])
            let toBob = try await alice.connect(to: bob)
            let toCarol = try await alice.connect(to: carol)
            let toDave = try await alice.connect(to: dave)
            let passport = try await alice.passport()
            let bobShare = try await alice.share(try ShareCrypto.ownedShare(passport, to: [toBob.senderSide]))[0]
            let carolShare = try await alice.share(try ShareCrypto.ownedShare(passport, to: [toCarol.senderSide]))[0]
            let daveShare = try await alice.share(
                try ShareCrypto.ownedShare(passport, to: [toDave.senderSide], expiresAtMs: UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000))[0]
            let bobKept = try ShareCrypto.open(try await bob.incoming(bobShare.shareID, content: true), key: toBob.recipientKey)
            #expect(bobKept.values == passport.values)
            let daveEntryBefore = try #require(try await alice.itemShares(passport.item.itemID).first { $0.share.shareID == daveShare.shareID })

            // Revoking Bob touches nobody else's key.
            let carolGeneration = try stack.database.shareGeneration(carolShare.shareID)
            _ = try await alice.call(SharingRPC.revokeShare, .init(shareID: bobShare.shareID))
            #expect(try stack.database.shareGeneration(carolShare.shareID) == carolGeneration)
            // Dave's share expires (its time moved into the past).
            try stack.database.expireShare(daveShare.shareID)

            let updated = try await alice.update(passport, ["passport_number": "P-1852-1127"])
            let live = try await alice.itemShares(updated.item.itemID)
            #expect(live.map(\.share.shareID) == [carolShare.shareID])
            // Bob's and Dave's ids sent along (an SDK that listed before they ended): skipped, with why.
            let bobEntry = Svx_Sharing_V1_ItemShare.with {
                $0.share = bobShare
                $0.recipientPublicKeyPem = toBob.recipientKey.pem
            }
            let request = try ShareCrypto.update(updated, shares: live + [bobEntry, daveEntryBefore])
            let response = try await alice.call(SharingRPC.updateShares, request)
            #expect(response.updated.map(\.shareID) == [carolShare.shareID])
            #expect(Dictionary(uniqueKeysWithValues: response.skipped.map { ($0.shareID, $0.reason) })
                == [bobShare.shareID: "revoked", daveShare.shareID: "expired"])
            #expect(try stack.database.shareSlotRows(daveShare.shareID) == 0, "the expiry found is stored: its rows are gone")

            // No row of the item opens with the DEK Bob kept.
            let connection = try stack.database.connect()
            defer { connection.close() }
            let rows = try connection.query(
                """
                SELECT ss.encrypted_value FROM sharing.share_slots ss
                JOIN sharing.shares s ON s.owner_id = ss.owner_id AND s.share_id = ss.share_id
                WHERE s.item_id = $1::uuid AND ss.encrypted_value IS NOT NULL
                """,
                updated.item.itemID
            ).map { try $0.decode(String.self, at: 0) }
            #expect(!rows.isEmpty)
            #expect(rows.allSatisfy { (try? Cryppo.decrypt($0, key: bobKept.dek)) == nil })
            let carolNow = try ShareCrypto.open(try await carol.incoming(carolShare.shareID, content: true), key: toCarol.recipientKey)
            #expect(carolNow.unverified.isEmpty && carolNow.values == updated.values)
        }
    }
}
