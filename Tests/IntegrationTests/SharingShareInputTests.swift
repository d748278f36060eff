import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Malformed input on every share method (and the Vault's GetItemOutlines), through real processes:
    /// INVALID_ARGUMENT naming the field, and not one row of the `sharing` schema changed (T22); Sharing without its
    /// Vault answers UNAVAILABLE.
    @Suite struct SharingShareInputTests {
        @Test func malformedSharesNameTheFieldAndChangeNothing() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let existing = try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide], mode: .anyone))[0]
            let before = try stack.database.dump(schema: "sharing")

            let good = try ShareCrypto.ownedShare(passport, to: [link.senderSide])
            let dek = try SymmetricKey.random()
            // An RSA string for a key of another size than the recipient's (3072 bits: 384 bytes, not 256).
            let otherSizeKey = try RSAPrivateKey.generate(bits: 3072).publicKey
            let wrongLengthDEK = try Cryppo.encrypt(dek.bytes, publicKey: otherSizeKey)
            let plaintextValue = "P-1815-1210"
            let aesDEK = try Cryppo.encrypt(dek.bytes, key: dek)
            let shortKey = try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: dek)
            let future = UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000
            let cases: [(String, (inout Svx_Sharing_V1_CreateShareRequest) -> Void)] = [
                ("item_id", { $0.itemID = "" }),
                ("item_id", { $0.itemID = "passport" }),
                ("parent_share_id", { $0.parentShareID = existing.shareID }),
                ("slot_id", { $0.slotID = "full_name" }),
                ("expected_item_version", { $0.expectedItemVersion = 0 }),
                ("sharing_mode", { $0.sharingMode = .init(rawValue: 7)! }),
                ("expires_at_ms", { $0.expiresAtMs = 1_000 }),
                ("expires_at_ms", { $0.expiresAtMs = UInt64.max }),
                ("max_content_fetches", { $0.maxContentFetches = UInt32.max }),
                ("recipients", { $0.recipients = [] }),
                ("recipients", { $0.recipients = Array(repeating: $0.recipients[0], count: 51) }),
                ("recipients[1].connection_id", { $0.recipients.append($0.recipients[0]) }),
                ("recipients[0].connection_id", { $0.recipients[0].connectionID = "bob" }),
                ("recipients[0].recipient_key_sha256", { $0.recipients[0].recipientKeySha256 = String(repeating: "AB", count: 32) }),
                ("recipients[0].recipient_key_sha256", { $0.recipients[0].recipientKeySha256 = "" }),
                // T22: a DEK of the wrong length, in clear, or under AES.
                ("recipients[0].encrypted_dek", { $0.recipients[0].encryptedDek = wrongLengthDEK }),
                ("recipients[0].encrypted_dek", { $0.recipients[0].encryptedDek = dek.base64URL }),
                ("recipients[0].encrypted_dek", { $0.recipients[0].encryptedDek = aesDEK }),
                ("recipients[0].encrypted_dek", { $0.recipients[0].encryptedDek = "" }),
                ("recipients[0].encrypted_terms", { $0.recipients[0].encryptedTerms = "the terms in clear"
                    $0.recipients[0].encryptedTermsKey = $0.recipients[0].encryptedDek }),
                ("recipients[0].encrypted_terms_key", { $0.recipients[0].encryptedTerms = aesDEK }),
                ("recipients[0].encrypted_terms_key", { $0.recipients[0].encryptedTerms = aesDEK
                    $0.recipients[0].encryptedTermsKey = wrongLengthDEK; $0.acceptanceRequired = true }),
                ("recipients[0].encrypted_terms", { $0.recipients[0].encryptedTerms = aesDEK
                    $0.recipients[0].encryptedTermsKey = $0.recipients[0].encryptedDek }),  // no acceptance_required
                // T22: a value in clear, a verification key of the wrong size, a hash not lowercase hex.
                ("recipients[0].slots[0].encrypted_value", { $0.recipients[0].slots[0].encryptedValue = plaintextValue }),
                ("recipients[0].slots[0].encrypted_value", { $0.recipients[0].slots[0].encryptedValue = "" }),
                ("recipients[0].slots[1].encrypted_value_verification_key", {
                    $0.recipients[0].slots[1].encryptedValueVerificationKey = shortKey }),
                ("recipients[0].slots[0].value_verification_hash", {
                    $0.recipients[0].slots[0].valueVerificationHash = String(repeating: "zz", count: 32) }),
                ("recipients[0].slots[0].value_verification_hash", {
                    $0.recipients[0].slots[0].valueVerificationHash = String(repeating: "AB", count: 32) }),
                ("recipients[0].slots[0].value_verification_hash", { $0.recipients[0].slots[0].valueVerificationHash = "" }),
                ("recipients[0].slots[0].slot_id", { $0.recipients[0].slots[0].slotID = "full_name" }),
                ("recipients[0].slots[1].slot_id", { $0.recipients[0].slots[1].slotID = $0.recipients[0].slots[0].slotID }),
            ]
            for (field, breakIt) in cases {
                var request = good
                breakIt(&request)
                let failure = await alice.failure(SharingRPC.createShare, request)
                expect(failure, .invalidArgument, field: field, field)
                // No plaintext comes back in a message.
                #expect(failure?.message.contains(plaintextValue) != true)
            }
            // An expiry in the past by the database clock (1 s ago) is refused after the Vault is asked.
            var past = good
            past.expiresAtMs = UInt64(Date().timeIntervalSince1970 * 1000) - 1_000
            expect(await alice.failure(SharingRPC.createShare, past), .invalidArgument, field: "expires_at_ms")
            _ = future

            // Every other method: malformed ids, states, pages.
            let shareMethods: [(String, () async -> RPCStatus?)] = [
                ("share_id", { await bob.failure(SharingRPC.getIncomingShare, .init(shareID: "x", includeContent: true)) }),
                ("share_id", { await bob.failure(SharingRPC.getIncomingShare, .init(shareID: "")) }),
                ("share_id", { await bob.failure(SharingRPC.acceptShare, .init(shareID: "x")) }),
                ("share_id", { await bob.failure(SharingRPC.rejectShare, .init(shareID: "")) }),
                ("share_id", { await bob.failure(SharingRPC.deleteIncomingShare, .init(shareID: "x")) }),
                ("share_id", { await alice.failure(SharingRPC.revokeShare, .init(shareID: "x")) }),
                ("item_id", { await alice.failure(SharingRPC.listItemShares, .init(itemID: "")) }),
                ("item_id", { await alice.failure(SharingRPC.listOutgoingShares, .init(itemID: "x")) }),
                ("connection_id", { await alice.failure(SharingRPC.listOutgoingShares, .init(connectionID: "x")) }),
                ("state", { await alice.failure(SharingRPC.listOutgoingShares, .init(state: .init(rawValue: 9)!)) }),
                ("page_size", { await alice.failure(SharingRPC.listOutgoingShares, .init(pageSize: 501)) }),
                ("item_id", { await alice.failure(SharingRPC.listOutgoingShares, .with { $0.itemID = "x"; $0.staleOnly = true }) }),
                ("page_token", { await alice.failure(SharingRPC.listOutgoingShares, .with { $0.pageToken = "x"; $0.staleOnly = true }) }),
                ("page_token", { await alice.failure(SharingRPC.listItemShares, .init(itemID: passport.item.itemID, pageToken: "x")) }),
                ("state", { await bob.failure(SharingRPC.listIncomingShares, .init(state: .init(rawValue: 8)!)) }),
                ("connection_id", { await bob.failure(SharingRPC.listIncomingShares, .init(connectionID: "x")) }),
                ("page_token", { await bob.failure(SharingRPC.listIncomingShares, .init(pageToken: "x")) }),
            ]
            for (field, call) in shareMethods {
                expect(await call(), .invalidArgument, field: field, field)
            }
            var since = Svx_Sharing_V1_ListIncomingSharesRequest()
            since.updatedSinceMs = UInt64.max
            expect(await bob.failure(SharingRPC.listIncomingShares, since), .invalidArgument, field: "updated_since_ms")
            #expect(try stack.database.dump(schema: "sharing") == before)

            // The good request still works, and no value is in clear anywhere.
            _ = try await alice.share(good)
            #expect(try stack.database.plaintextScan(for: Array(passport.values.values)).isEmpty)
        }

        @Test func listsPageByShareIdNewestFirst() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            var made: [String] = []
            for _ in 0..<5 {
                made += try await alice.share(try ShareCrypto.ownedShare(passport, to: [link.senderSide])).map(\.shareID)
            }
            var seen: [String] = []
            var token = ""
            for _ in 0..<10 {
                let page = try await bob.call(SharingRPC.listIncomingShares, .init(pageSize: 2, pageToken: token))
                seen += page.shares.map(\.shareID)
                token = page.nextPageToken
                if token.isEmpty { break }
            }
            #expect(seen == made.reversed())
            let outgoing = try await alice.call(SharingRPC.listOutgoingShares, .init(connectionID: link.inviterSide.connectionID))
            #expect(outgoing.shares.map(\.shareID) == made.reversed())
            let byItem = try await alice.call(SharingRPC.listItemShares, .init(itemID: passport.item.itemID, pageSize: 3))
            #expect(byItem.shares.count == 3 && !byItem.nextPageToken.isEmpty)
        }

        @Test func theVaultOutlinesOnlyTheCallersItemsAndNeverAValue() async throws {
            let stack = try await SharingIntegrationTests.shareStack()
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, mallory) = (users[0], users[1])
            let passport = try await alice.passport(attachmentSlot: true)
            let malloryItem = try await mallory.passport()
            let unknown = UUID().uuidString.lowercased()
            var request = Svx_Vault_V1_GetItemOutlinesRequest()
            request.itemIds = [malloryItem.item.itemID, passport.item.itemID, unknown]
            let outlines = try await alice.call(VaultRPC.getItemOutlines, request, as: .sharing).items
            #expect(outlines.map(\.itemID) == request.itemIds)
            #expect(outlines.map(\.found) == [false, true, false])
            #expect(outlines[0] == { var o = Svx_Vault_V1_ItemOutline(); o.itemID = malloryItem.item.itemID; return o }())
            let outline = outlines[1]
            #expect(outline.version == passport.item.version && outline.label == "My passport" && outline.templateName == "passport")
            #expect(outline.slots.map(\.slotID) == passport.item.slots.map(\.slotID))
            for slot in outline.slots {
                let original = try #require(passport.item.slots.first { $0.slotID == slot.slotID })
                #expect(slot.name == original.name && slot.label == original.label && slot.slotType == original.slotType)
                #expect(slot.hasValue_p == !original.encryptedValue.isEmpty)
                #expect(slot.attachmentID == original.attachmentID)
            }
            // A file in the attachment slot: the outline names it (what Sharing checks a shared file against).
            let file = try await alice.user.uploadAttachment(try SecureRandom.bytes(count: 10)).attachment
            let filed = try await alice.user.update(passport.item, upsert: [
                .init(name: "scan", label: "Scan", type: "attachment", value: try alice.encrypt("scan.pdf"), attachmentID: file.attachmentID),
            ])
            request.itemIds = [filed.itemID]
            let withFile = try await alice.call(VaultRPC.getItemOutlines, request, as: .sharing).items
            #expect(withFile.first?.slots.filter { !$0.attachmentID.isEmpty }.map(\.name) == ["scan"])
            #expect(withFile.first?.slots.first { $0.name == "scan" }?.attachmentID == file.attachmentID)
            // Nothing of a value in the answer's bytes.
            let bytes = try Svx_Vault_V1_GetItemOutlinesResponse.with { $0.items = outlines }.serializedData()
            for slot in passport.item.slots where !slot.encryptedValue.isEmpty {
                #expect(!String(decoding: bytes, as: UTF8.self).contains(String(slot.encryptedValue.prefix(40))))
            }
            request.itemIds = Array(repeating: passport.item.itemID, count: 101)
            expect(await alice.failure(VaultRPC.getItemOutlines, request, as: .sharing), .invalidArgument, field: "item_ids")
            request.itemIds = [passport.item.itemID, "x"]
            expect(await alice.failure(VaultRPC.getItemOutlines, request, as: .sharing), .invalidArgument, field: "item_ids[1]")
            request.itemIds = []
            expect(await alice.failure(VaultRPC.getItemOutlines, request, as: .sharing), .invalidArgument, field: "item_ids")
        }

        @Test func withoutItsVaultSharingAnswersUnavailableAndWritesNothing() async throws {
            let stack = try await SharingIntegrationTests.shareStack(environment: [.sharing: ["SVX_VAULT_ENDPOINT": "none"]])
            defer { stack.stop() }
            let users = try await SharingUser.make(stack, count: 2)
            let (alice, bob) = (users[0], users[1])
            let link = try await alice.connect(to: bob)
            let passport = try await alice.passport()
            let before = try stack.database.dump(schema: "sharing")
            // UpdateShares asks the Vault for the item's version first, as CreateShare does.
            let update = try ShareCrypto.update(passport, shares: [.with {
                $0.share.shareID = unknownID()
                $0.recipientPublicKeyPem = link.recipientKey.pem
            }])
            expect(await alice.failure(SharingRPC.createShare, try ShareCrypto.ownedShare(passport, to: [link.senderSide])),
                   .unavailable)
            expect(await alice.failure(SharingRPC.updateShares, update), .unavailable)
            // A Vault that does not answer (stopped): UNAVAILABLE too.
            try await stack.restart(.sharing, environment: ["SVX_VAULT_ENDPOINT": stack.endpoints[.vault]!])
            stack[.vault].stop()
            expect(await alice.failure(SharingRPC.createShare, try ShareCrypto.ownedShare(passport, to: [link.senderSide])),
                   .unavailable)
            expect(await alice.failure(SharingRPC.updateShares, update), .unavailable)
            #expect(try stack.database.dump(schema: "sharing") == before)
        }
    }
}
