import Cryppo
import Foundation
import SVXContracts
import SVXModels
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// The Vault's contract (proto/svx/vault/v1/vault.proto) through real processes: svx-auth and svx-vault on one
/// PostgreSQL database, users signed up and logged in through Auth, every value encrypted here under a private DEK
/// the Vault never sees. Each test starts its own pair of services.
@Suite(.serialized) struct VaultRPCTests {
    /// The users' audit trail (docs/ADR-010-audit.md), which names deleted items and attachments by id on purpose.
    static let auditTables: Set<String> = ["audit_events", "audit_heads"]
    static let systemTemplates = [
        "passport", "drivers_licence", "bank_account", "payment_card", "address", "contact", "vehicle",
        "health_insurance", "login", "secure_note",
    ]

    /// A value for a slot of each type, as a client would put it in plain form before encrypting it.
    static let sampleValues: [SlotType: String] = [
        .keyValue: "X1234567", .bool: "true", .date: "2031-05-17", .datetime: "2024-02-29T13:45:00Z",
        .image: "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        .url: "https://example.org/profile?id=42", .phoneNumber: "+61 400 123 456", .email: "alice@example.org",
        .password: "correct horse battery staple", .attachment: "holiday.jpg", .noteText: "line one\nline two é ü 漢字",
        .select: "option_b", .selectMultiple: #"["red","blue"]"#, .color: "#3366ff",
        .classificationNode: "5c2b7a4e-1f0d-4a3e-9b8c-7d6e5f4a3b2c",
    ]

    // MARK: Vault user

    @Test func vaultUserIsNotFoundBeforePutThenPutCreatesAndUpdates() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser(vaultUser: false)
        let other = try await stack.newUser(vaultUser: false)
        let empty = try stack.database.dump(schema: "vault")

        #expect(await user.failure(VaultRPC.getVaultUser, .init())?.code == .notFound)
        #expect(try stack.database.dump(schema: "vault") == empty)

        let put = try await user.call(VaultRPC.putVaultUser, .init(privateDekExternalID: "private-dek-1")).user
        #expect(put.privateDekExternalID == "private-dek-1")
        #expect(abs(Int64(put.createdAtMs) - Int64(unixMilliseconds())) < 60_000)
        #expect(try await user.call(VaultRPC.getVaultUser, .init()).user == put)

        let updated = try await user.call(VaultRPC.putVaultUser, .init(privateDekExternalID: "private-dek-2")).user
        #expect(updated.privateDekExternalID == "private-dek-2")
        #expect(updated.createdAtMs == put.createdAtMs, "an update keeps the creation time")
        #expect(try await user.call(VaultRPC.getVaultUser, .init()).user == updated)

        // Another user's record is its own.
        #expect(await other.failure(VaultRPC.getVaultUser, .init())?.code == .notFound)
        _ = try await other.call(VaultRPC.putVaultUser, .init(privateDekExternalID: "other-dek"))
        #expect(try await user.call(VaultRPC.getVaultUser, .init()).user == updated)
        #expect(try await other.call(VaultRPC.getVaultUser, .init()).user.privateDekExternalID == "other-dek")
    }

    // MARK: Templates

    @Test func systemTemplatesAreListedForEveryoneWithValidSlots() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()

        let listed = try await user.call(VaultRPC.listTemplates, .init()).templates
        let names = listed.map(\.name)
        #expect(names == names.sorted(), "by name")
        #expect(Set(names).count == names.count)
        #expect(listed.allSatisfy { $0.system }, "a new user has no templates of its own: \(names)")
        for name in Self.systemTemplates {
            let template = try #require(listed.first { $0.name == name }, "system template \(name) in \(names)")
            #expect(template.system, "\(name)")
            #expect(UUID(uuidString: template.templateID) != nil, "\(name)")
            #expect(!template.label.isEmpty, "\(name)")
            #expect(!template.slots.isEmpty, "\(name) has slots")
            #expect(Set(template.slots.map(\.name)).count == template.slots.count, "\(name): slot names unique")
            for slot in template.slots {
                #expect(SlotName.isValid(slot.name), "\(name).\(slot.name)")
                #expect(!slot.label.isEmpty, "\(name).\(slot.name)")
                #expect(SlotType(wire: slot.slotType) != nil, "\(name).\(slot.name): type \(slot.slotType)")
            }
            #expect(try await user.call(VaultRPC.getTemplate, .init(name: name)).template == template, "\(name) by name")
            #expect(try await user.call(VaultRPC.getTemplate, .init(id: template.templateID)).template == template, "\(name) by id")
        }
        func types(_ name: String) -> Set<SlotType> {
            Set((listed.first { $0.name == name }?.slots ?? []).compactMap { SlotType(wire: $0.slotType) })
        }
        #expect(types("login").contains(.password), "a login has a password slot")
        #expect(types("secure_note").contains(.noteText), "a secure note has a note_text slot")
        #expect(types("contact").contains(.email) && types("contact").contains(.phoneNumber), "a contact has email and phone")

        // name_contains: case-insensitive, on name and label.
        let cards = try await user.call(VaultRPC.listTemplates, .init(nameContains: "CaRd")).templates
        #expect(cards.contains { $0.name == "payment_card" })
        #expect(!cards.contains { $0.name == "passport" })
        #expect(cards.allSatisfy { $0.name.lowercased().contains("card") || $0.label.lowercased().contains("card") })
        let licence = try #require(listed.first { $0.name == "drivers_licence" })
        let byLabel = try await user.call(VaultRPC.listTemplates, .init(nameContains: licence.label.uppercased())).templates
        #expect(byLabel.contains { $0.name == "drivers_licence" }, "found by its label \(licence.label)")
        #expect(try await user.call(VaultRPC.listTemplates, .init(nameContains: "no-such-template")).templates.isEmpty)
        #expect(try await user.call(VaultRPC.listTemplates, .init(onlyOwn: true)).templates.isEmpty)

        #expect(await user.failure(VaultRPC.getTemplate, .init(name: "no_such_template"))?.code == .notFound)
        #expect(await user.failure(VaultRPC.getTemplate, .init(id: unknownID()))?.code == .notFound)
    }

    @Test func ownTemplatesAreVisibleToTheirOwnerOnly() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let alice = try await stack.newUser(passphrase: "alice")
        let bob = try await stack.newUser(passphrase: "bob")
        let request = Svx_Vault_V1_CreateTemplateRequest(
            name: "wine_bottle", label: "Wine bottle", description: "A bottle in the cellar", slots: [
                .init("vintage", "Vintage", "date", ordinal: 1), .init("producer", "Producer", "key_value", ordinal: 2),
                .init("tasting_notes", "Tasting notes", "note_text", ordinal: 3),
            ])

        let created = try await alice.call(VaultRPC.createTemplate, request).template
        #expect(UUID(uuidString: created.templateID) != nil)
        #expect(!created.system)
        #expect(created.name == "wine_bottle" && created.label == "Wine bottle" && created.description_p == "A bottle in the cellar")
        #expect(created.slots == request.slots)
        #expect(abs(Int64(created.createdAtMs) - Int64(unixMilliseconds())) < 60_000)

        let aliceList = try await alice.call(VaultRPC.listTemplates, .init()).templates
        #expect(aliceList.contains(created))
        #expect(aliceList.map(\.name) == aliceList.map(\.name).sorted())
        #expect(try await alice.call(VaultRPC.listTemplates, .init(onlyOwn: true)).templates == [created])
        #expect(try await alice.call(VaultRPC.listTemplates, .init(nameContains: "WINE")).templates == [created])
        #expect(try await alice.call(VaultRPC.getTemplate, .init(name: "wine_bottle")).template == created)
        #expect(try await alice.call(VaultRPC.getTemplate, .init(id: created.templateID)).template == created)

        // Bob does not see it, and learns nothing from its id or its name.
        #expect(!(try await bob.call(VaultRPC.listTemplates, .init()).templates.contains { $0.templateID == created.templateID }))
        #expect(try await bob.call(VaultRPC.listTemplates, .init(nameContains: "wine")).templates.isEmpty)
        #expect(try await bob.call(VaultRPC.listTemplates, .init(onlyOwn: true)).templates.isEmpty)
        let unknown = unknownID()
        await expectSameAsUnknown(bob, VaultRPC.getTemplate, .init(id: created.templateID), created.templateID, .init(id: unknown), unknown)
        await expectSameAsUnknown(bob, VaultRPC.getTemplate, .init(name: "wine_bottle"), "wine_bottle", .init(name: "beer_can"), "beer_can")
        await expectSameAsUnknown(
            bob, VaultRPC.createItem, .init(templateID: created.templateID), created.templateID, .init(templateID: unknown), unknown)
        await expectSameAsUnknown(
            bob, VaultRPC.createItem, .init(templateName: "wine_bottle"), "wine_bottle", .init(templateName: "beer_can"), "beer_can")
        await expectSameAsUnknown(
            bob, VaultRPC.deleteTemplate, .init(id: created.templateID), created.templateID, .init(id: unknown), unknown)

        // Taken names: a system template's, or one of the caller's own.
        let before = try stack.database.dump(schema: "vault")
        for name in ["passport", "wine_bottle"] {
            var taken = request
            taken.name = name
            #expect(await alice.failure(VaultRPC.createTemplate, taken)?.code == .alreadyExists, "\(name)")
        }
        var bobsLogin = request
        bobsLogin.name = "login"
        #expect(await bob.failure(VaultRPC.createTemplate, bobsLogin)?.code == .alreadyExists)
        #expect(try stack.database.dump(schema: "vault") == before)
        // Another user's name is not taken for Bob.
        let bobs = try await bob.call(VaultRPC.createTemplate, request).template
        #expect(bobs.templateID != created.templateID)
        #expect(try await bob.call(VaultRPC.getTemplate, .init(name: "wine_bottle")).template == bobs)
        #expect(try await alice.call(VaultRPC.getTemplate, .init(name: "wine_bottle")).template == created)

        // System templates are read-only.
        let passport = try await alice.template("passport")
        let afterBob = try stack.database.dump(schema: "vault")
        #expect(await alice.failure(VaultRPC.deleteTemplate, .init(id: passport.templateID))?.code == .permissionDenied)
        #expect(try stack.database.dump(schema: "vault") == afterBob)
        #expect(try await alice.template("passport") == passport)

        // An item from the own template: its slots cloned, empty; the template's label when none is given.
        let producer = try alice.encrypt("Domaine Example")
        let item = try await alice.createItem(template: "wine_bottle", slots: [.init(name: "producer", value: producer)])
        #expect(item.label == "Wine bottle")
        #expect(item.templateID == created.templateID && item.templateName == "wine_bottle")
        #expect(item.slots.map(\.name) == ["vintage", "producer", "tasting_notes"])
        #expect(item.slots.map(\.encryptedValue) == ["", producer, ""])

        // Deleting it: the owner's items keep their slots; the name is free again.
        _ = try await alice.call(VaultRPC.deleteTemplate, .init(id: created.templateID))
        #expect(await alice.failure(VaultRPC.getTemplate, .init(id: created.templateID))?.code == .notFound)
        #expect(await alice.failure(VaultRPC.getTemplate, .init(name: "wine_bottle"))?.code == .notFound)
        #expect(await alice.failure(VaultRPC.deleteTemplate, .init(id: created.templateID))?.code == .notFound)
        #expect(try await alice.getItem(item.itemID).slots == item.slots)
        #expect(try await bob.call(VaultRPC.getTemplate, .init(id: bobs.templateID)).template == bobs)
        _ = try await alice.call(VaultRPC.createTemplate, request)
    }

    // MARK: Items

    @Test func itemsHoldEverySlotTypeAndReturnWhatWasWritten() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let passport = try await user.template("passport")
        try #require(passport.slots.count >= 3, "passport has enough slots to fill some and leave some")
        let filled = Array(passport.slots.prefix(2))
        let file = try await user.uploadAttachment(try SecureRandom.bytes(count: 1000)).attachment

        var inputs: [Svx_Vault_V1_SlotInput] = []
        var expectedValues: [String: String] = [:]  // slot name → plaintext
        for slot in filled {
            let value = "value of \(slot.name)"
            inputs.append(.init(name: slot.name, value: try user.encrypt(value)))  // label and type: the template's
            expectedValues[slot.name] = value
        }
        var extras: [(input: Svx_Vault_V1_SlotInput, name: String)] = []
        for (index, type) in SlotType.allCases.enumerated() {
            let label = "Extra \(type.rawValue) (\(index))"
            let name = index.isMultiple(of: 2) ? "" : "extra_\(index)"
            let value = try #require(Self.sampleValues[type])
            let input = Svx_Vault_V1_SlotInput(
                name: name, label: label, type: type.rawValue, value: try user.encrypt(value), ordinal: Int32(100 + index),
                attachmentID: type == .attachment ? file.attachmentID : "")
            let expectedName = name.isEmpty ? SlotName.derive(fromLabel: label) : name
            extras.append((input, expectedName))
            expectedValues[expectedName] = value
        }
        extras.append((.init(label: "Nothing yet", type: "url", ordinal: 200), "nothing_yet"))
        inputs += extras.map(\.input)

        let item = try await user.createItem(template: "passport", label: "My passport", slots: inputs)
        #expect(UUID(uuidString: item.itemID) != nil)
        #expect(item.templateID == passport.templateID && item.templateName == "passport")
        #expect(item.label == "My passport")
        #expect(item.createdAtMs > 0 && item.updatedAtMs >= item.createdAtMs)
        #expect(try await user.getItem(item.itemID) == item)

        #expect(item.slots.count == passport.slots.count + extras.count)
        let order = item.slots.map { ($0.ordinal, $0.name) }
        #expect(order.elementsEqual(order.sorted { $0 < $1 }, by: ==), "slots by ordinal, then name")
        #expect(Set(item.slots.map(\.slotID)).count == item.slots.count)
        #expect(item.slots.allSatisfy { UUID(uuidString: $0.slotID) != nil })
        let byName = Dictionary(item.slots.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byName.count == item.slots.count, "names unique in the item")

        for templateSlot in passport.slots {
            let slot = try #require(byName[templateSlot.name], "template slot \(templateSlot.name)")
            #expect(slot.label == templateSlot.label, "\(slot.name)")
            #expect(SlotType(wire: slot.slotType) == SlotType(wire: templateSlot.slotType), "\(slot.name)")
            #expect(slot.ordinal == templateSlot.ordinal, "\(slot.name)")
            if let value = expectedValues[templateSlot.name] {
                #expect(try user.decrypt(slot.encryptedValue) == value, "\(slot.name)")
                #expect(inputs.contains { $0.encryptedValue == slot.encryptedValue }, "\(slot.name): the string as sent")
            } else {
                #expect(slot.encryptedValue.isEmpty && slot.attachmentID.isEmpty, "\(slot.name): present and empty")
            }
        }
        for (input, name) in extras {
            let slot = try #require(byName[name], "extra slot \(name) (label \(input.label))")
            #expect(slot.label == input.label && slot.slotType == input.slotType && slot.ordinal == input.ordinal, "\(name)")
            #expect(slot.encryptedValue == input.encryptedValue, "\(name): the same encrypted string")
            #expect(slot.attachmentID == input.attachmentID, "\(name)")
            if let value = expectedValues[name] { #expect(try user.decrypt(slot.encryptedValue) == value, "\(name)") }
        }

        // A slot type outside the fixed list.
        let before = try stack.database.dump(schema: "vault")
        for type in ["text", "KEY_VALUE", "string", "key_value ", "attachments"] {
            await expectInvalidField("slots.slot_type", what: type) {
                _ = try await user.createItem(
                    template: "passport", slots: [.init(label: "Odd", type: type, value: try user.encrypt("v"))])
            }
            await expectInvalidField("upsert_slots.slot_type", what: type) {
                _ = try await user.update(item, upsert: [.init(name: "odd", label: "Odd", type: type, value: try user.encrypt("v"))])
            }
        }

        // Plaintext where ciphertext belongs: refused, and said so.
        let plaintexts = [
            "123456", Base64URL.encodeStandard(Array("my secret value".utf8)), Base64URL.encode(Array("X1234567".utf8)),
            #"{"number":"X1234567","expires":"2031-05-17"}"#,
        ]
        for plaintext in plaintexts {
            for slot in [Svx_Vault_V1_SlotInput(label: "Secret", value: plaintext), .init(name: filled[0].name, value: plaintext)] {
                let created = await user.failure(VaultRPC.createItem, .init(templateName: "passport", slots: [slot]))
                #expect(created?.code == .invalidArgument, "\(plaintext): \(created.map { "\($0)" } ?? "accepted")")
                #expect(created.map { withoutIndices($0.details["field"] ?? "") } == "slots.encrypted_value", "\(plaintext)")
                #expect(created?.message.lowercased().contains("plaintext") == true, "\(plaintext): \(created?.message ?? "")")
            }
            let updated = await user.failure(
                VaultRPC.updateItem, .init(itemID: item.itemID, expectedVersion: item.version,
                                           upsert: [.init(name: "secret", label: "Secret", value: plaintext)]))
            #expect(updated?.code == .invalidArgument, "\(plaintext): \(updated.map { "\($0)" } ?? "accepted")")
            #expect(updated.map { withoutIndices($0.details["field"] ?? "") } == "upsert_slots.encrypted_value", "\(plaintext)")
            #expect(updated?.message.lowercased().contains("plaintext") == true, "\(plaintext): \(updated?.message ?? "")")
        }
        // Not an Aes256Gcm string under a key.
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let notSymmetric = [
            ("Rsa4096", try Cryppo.encrypt(Array("X1234567".utf8), publicKey: try rsa.publicKey)),
            ("truncated", "Aes256Gcm.\(Base64URL.encode(Array("X1234567".utf8)))"),
            ("bad artefacts", "Aes256Gcm.\(Base64URL.encode(Array("X1234567".utf8))).QUFB"),
        ]
        for (what, value) in notSymmetric {
            await expectInvalidField("slots.encrypted_value", what: what) {
                _ = try await user.createItem(template: "passport", slots: [.init(label: "Secret", value: value)])
            }
        }
        #expect(try stack.database.dump(schema: "vault") == before, "nothing written")
        #expect(try await user.getItem(item.itemID) == item)
    }

    // MARK: No plaintext

    @Test func theDatabaseHoldsNoPlaintextValue() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let secrets = [
            "passport-PZ7781234-secret", "hunter2-super-secret-password", "alice.hidden@example.org",
            "the safe code is 48213-7", "2031-05-17T08:09:10Z-expiry",
        ]
        let attachmentMarker = "ATTACHMENT-PLAINTEXT-MARKER-0123456789"
        let fileName = "secret-holiday-photo-name.jpg"

        let content = Array(String(repeating: attachmentMarker, count: 40_000).utf8)  // 1.5 MB: two blocks
        let (attachment, attachmentKey, _) = try await user.uploadAttachment(content, metadata: #"{"file_name":"\#(fileName)"}"#)
        let verificationKey = try SecureRandom.bytes(count: 64)
        var slots: [Svx_Vault_V1_SlotInput] = try secrets.enumerated().map { index, secret in
            .init(label: "Secret \(index)", type: index == 1 ? "password" : "key_value", value: try user.encrypt(secret))
        }
        slots.append(.init(
            label: "Shared secret", value: try user.encrypt("shared-value-Toyota-Corolla"),
            verificationKey: try Cryppo.encrypt(verificationKey, key: user.dek),
            verificationHash: Cryppo.valueVerificationHash(key: verificationKey, value: "shared-value-Toyota-Corolla")))
        slots.append(.init(label: "File", type: "attachment", attachmentID: attachment.attachmentID))
        let item = try await user.createItem(template: "secure_note", label: "Secrets", slots: slots)
        _ = try await user.update(item, upsert: [.init(name: "late", label: "Late", value: try user.encrypt("late-secret-upserted-42"))])

        let tables = try stack.database.tables(schema: "vault")
        #expect(!tables.isEmpty)
        let dump = try stack.database.dump(schema: "vault")
        // The rows are there, in their encrypted form.
        for slot in slots where !slot.encryptedValue.isEmpty { #expect(dump.contains(slot.encryptedValue)) }
        #expect(dump.contains(attachment.wrappedDek) && dump.contains(attachment.encryptedMetadata))

        let plain = secrets + ["shared-value-Toyota-Corolla", "late-secret-upserted-42", attachmentMarker, fileName]
        for secret in plain {
            let bytes = Array(secret.utf8)
            for encoded in [secret, Base64URL.encodeStandard(bytes), Base64URL.encode(bytes), Hex.encode(bytes)] {
                #expect(!dump.contains(encoded), "\(secret) in the database (as \(encoded))")
            }
        }
        for (what, key) in [("private DEK", user.dek.bytes), ("attachment DEK", attachmentKey.bytes), ("verification key", verificationKey)] {
            for encoded in [Hex.encode(key), Base64URL.encode(key), Base64URL.encodeStandard(key)] {
                #expect(!dump.contains(encoded), "the \(what) in clear")
            }
        }
    }

    // MARK: Isolation

    @Test func anotherUsersItemsAndAttachmentsAreNotFoundExactlyLikeUnknownOnes() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let alice = try await stack.newUser(passphrase: "alice")
        let bob = try await stack.newUser(passphrase: "bob")

        let aliceFile = try await alice.uploadAttachment(try SecureRandom.bytes(count: 5000))
        let aliceItem = try await alice.createItem(template: "login", label: "Alice's bank", slots: [
            .init(label: "PIN", type: "password", value: try alice.encrypt("4321")),
            .init(label: "File", type: "attachment", attachmentID: aliceFile.attachment.attachmentID),
        ])
        // Complete but in no slot yet, and fully uploaded but not finished (Bob's Finish would succeed).
        let aliceLoose = try await alice.uploadAttachment(try SecureRandom.bytes(count: 3000)).attachment
        let alicePending = try await alice.uploadAttachment(try SecureRandom.bytes(count: 2000), finish: false)
        let bobItem = try await bob.createItem(template: "login", label: "Bob's bank")
        let bobBlock = try Cryppo.encrypt(try SecureRandom.bytes(count: 2000), key: try SymmetricKey.random())
        let before = try stack.database.dump(schema: "vault")

        let unknown = unknownID()
        let itemID = aliceItem.itemID
        await expectSameAsUnknown(bob, VaultRPC.getItem, .init(itemID: itemID), itemID, .init(itemID: unknown), unknown)
        await expectSameAsUnknown(bob, VaultRPC.deleteItem, .init(itemID: itemID), itemID, .init(itemID: unknown), unknown)
        for version in [aliceItem.version, aliceItem.version + 1] {  // never ABORTED: that would say the item exists
            await expectSameAsUnknown(
                bob, VaultRPC.updateItem,
                .init(itemID: itemID, expectedVersion: version, label: "Mine now", upsert: [.init(label: "x", value: try bob.encrypt("x"))]),
                itemID,
                .init(itemID: unknown, expectedVersion: version, label: "Mine now", upsert: [.init(label: "x", value: try bob.encrypt("x"))]),
                unknown)
        }
        await expectSameAsUnknown(
            bob, VaultRPC.updateItem, .init(itemID: itemID, expectedVersion: aliceItem.version, remove: ["pin"]), itemID,
            .init(itemID: unknown, expectedVersion: aliceItem.version, remove: ["pin"]), unknown)

        for attachmentID in [aliceFile.attachment.attachmentID, aliceLoose.attachmentID, alicePending.attachment.attachmentID] {
            await expectSameAsUnknown(
                bob, VaultRPC.getAttachment, .init(id: attachmentID), attachmentID, .init(id: unknown), unknown)
            await expectSameAsUnknown(
                bob, VaultRPC.getAttachmentBlock, .init(id: attachmentID, index: 0), attachmentID, .init(id: unknown, index: 0), unknown)
            await expectSameAsUnknown(
                bob, VaultRPC.uploadAttachmentBlock, .init(id: attachmentID, index: 0, block: bobBlock), attachmentID,
                .init(id: unknown, index: 0, block: bobBlock), unknown)
            await expectSameAsUnknown(
                bob, VaultRPC.finishAttachment, .init(id: attachmentID), attachmentID, .init(id: unknown), unknown)
            let slot = { (id: String) in Svx_Vault_V1_SlotInput(name: "stolen", label: "Stolen", type: "attachment", attachmentID: id) }
            await expectSameAsUnknown(
                bob, VaultRPC.createItem, .init(templateName: "login", slots: [slot(attachmentID)]), attachmentID,
                .init(templateName: "login", slots: [slot(unknown)]), unknown)
            await expectSameAsUnknown(
                bob, VaultRPC.updateItem, .init(itemID: bobItem.itemID, expectedVersion: bobItem.version, upsert: [slot(attachmentID)]),
                attachmentID, .init(itemID: bobItem.itemID, expectedVersion: bobItem.version, upsert: [slot(unknown)]), unknown)
        }

        // Bob's listing has only his item; nothing of Alice's changed (or of Bob's).
        let bobList = try await bob.allItems().items
        #expect(bobList.map(\.itemID) == [bobItem.itemID])
        let after = try stack.database.dump(schema: "vault")
        #expect(after == before, "\(dumpDifference(before, after))")
        #expect(try await alice.getItem(itemID) == aliceItem)
        #expect(try await alice.downloadAttachment(aliceLoose.attachmentID).count == 3000)
        #expect(try await alice.call(VaultRPC.getAttachment, .init(id: alicePending.attachment.attachmentID)).attachment.complete == false)
    }

    // MARK: Updates

    @Test func updatesAreOptimisticAndAllOrNothing() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let item = try await user.createItem(template: "login", label: "Bank", slots: [
            .init(name: "pin", label: "PIN", type: "password", value: try user.encrypt("1234"), ordinal: 50),
            .init(name: "memo", label: "Memo", type: "note_text", value: try user.encrypt("call first"), ordinal: 51),
        ])

        // The right version: +1; a slot with the same name is replaced, not added.
        let newPIN = try user.encrypt("9876")
        let first = try await user.update(item, label: "Bank (old)", upsert: [
            .init(name: "pin", label: "PIN code", type: "password", value: newPIN, ordinal: 50),
        ])
        #expect(first.version == item.version + 1)
        #expect(first.label == "Bank (old)")
        #expect(first.slots.count == item.slots.count)
        let pins = first.slots.filter { $0.name == "pin" }
        #expect(pins.count == 1)
        #expect(pins.first?.encryptedValue == newPIN && pins.first?.label == "PIN code")
        #expect(try user.decrypt(try #require(pins.first).encryptedValue) == "9876")
        #expect(first.slots.filter { $0.name != "pin" } == item.slots.filter { $0.name != "pin" }, "other slots untouched")
        #expect(try await user.getItem(item.itemID) == first)

        // An empty label keeps it; upsert adds a new name; remove_slots deletes.
        let second = try await user.update(first, upsert: [
            .init(label: "Security question", value: try user.encrypt("first pet?"), ordinal: 52),
        ], remove: ["memo"])
        #expect(second.version == first.version + 1)
        #expect(second.label == "Bank (old)")
        #expect(second.slots.contains { $0.name == "security_question" })
        #expect(!second.slots.contains { $0.name == "memo" })
        #expect(second.slots.count == first.slots.count)
        #expect(try await user.getItem(item.itemID) == second)

        // A stale version, or one ahead: ABORTED, nothing written.
        let before = try stack.database.dump(schema: "vault")
        for version in [item.version, first.version, second.version + 1] {
            let failure = await user.failure(VaultRPC.updateItem, .init(
                itemID: item.itemID, expectedVersion: version, label: "Overwritten",
                upsert: [.init(name: "pin", label: "PIN", type: "password", value: try user.encrypt("0000"))], remove: ["security_question"]))
            #expect(failure?.code == .aborted, "version \(version): \(failure.map { "\($0)" } ?? "accepted")")
        }
        var after = try stack.database.dump(schema: "vault")
        #expect(after == before, "\(dumpDifference(before, after))")

        // Removing a slot the item does not have: NOT_FOUND, and the upsert with it is not written either.
        let missing = await user.failure(VaultRPC.updateItem, .init(
            itemID: item.itemID, expectedVersion: second.version, label: "Overwritten",
            upsert: [.init(name: "pin", label: "PIN", type: "password", value: try user.encrypt("0000"))], remove: ["no_such_slot"]))
        #expect(missing?.code == .notFound, "\(missing.map { "\($0)" } ?? "accepted")")
        after = try stack.database.dump(schema: "vault")
        #expect(after == before, "\(dumpDifference(before, after))")
        #expect(try await user.getItem(item.itemID) == second)

        // Racing updates from one version: exactly one wins.
        let racers = 6
        let results = await withTaskGroup(of: RPCStatus?.self) { group in
            for index in 0..<racers {
                let value = try? user.encrypt("race \(index)")
                group.addTask {
                    await user.failure(VaultRPC.updateItem, .init(
                        itemID: item.itemID, expectedVersion: second.version,
                        upsert: [.init(name: "pin", label: "PIN", type: "password", value: value ?? "")]))
                }
            }
            var results: [RPCStatus?] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(results.filter { $0 == nil }.count == 1, "\(results)")
        #expect(results.filter { $0?.code == .aborted }.count == racers - 1, "\(results)")
        #expect(try await user.getItem(item.itemID).version == second.version + 1)
    }

    // MARK: Listing

    @Test func listingPagesThroughEveryItemOnceInCreationOrder() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let other = try await stack.newUser()
        _ = try await other.createItem(template: "login", label: "Other's alpha")
        let secureNote = try await user.template("secure_note")

        var created: [Svx_Vault_V1_Item] = []
        for index in 0..<53 {
            let template = index.isMultiple(of: 3) ? "login" : "secure_note"
            let label = "Item \(index) \(index.isMultiple(of: 2) ? "Alpha" : "beta")"
            created.append(try await user.createItem(
                template: template, label: label, slots: [.init(label: "Number", value: try user.encrypt("\(index)"))]))
        }
        let ids = created.map(\.itemID)
        #expect(ids == ids.sorted(), "item ids are time-ordered")

        // page_size 10: 6 pages, 10 10 10 10 10 3, every item once, in item_id order.
        var sizes: [Int] = []
        var listed: [Svx_Vault_V1_Item] = []
        var request = Svx_Vault_V1_ListItemsRequest(pageSize: 10)
        for _ in 0..<10 {
            let page = try await user.call(VaultRPC.listItems, request)
            sizes.append(page.items.count)
            listed += page.items
            if page.nextPageToken.isEmpty { break }
            request.pageToken = page.nextPageToken
        }
        #expect(sizes == [10, 10, 10, 10, 10, 3])
        #expect(listed.map(\.itemID) == ids)
        #expect(listed == created, "with their slots")

        // Without slots: the same items, lighter.
        let light = try await user.allItems(.init(pageSize: 10, includeSlots: false))
        #expect(light.pages == 6)
        #expect(light.items.allSatisfy { $0.slots.isEmpty })
        #expect(light.items == created.map { item in
            var item = item
            item.slots = []
            return item
        })

        // Default page size 50; a page of 500 holds everything (without slots: with them, pages hold at most 50).
        let defaultPage = try await user.call(VaultRPC.listItems, .init())
        #expect(defaultPage.items.map(\.itemID) == Array(ids.prefix(50)) && !defaultPage.nextPageToken.isEmpty)
        let whole = try await user.call(VaultRPC.listItems, .init(pageSize: 500, includeSlots: false))
        #expect(whole.items.map(\.itemID) == ids && whole.nextPageToken.isEmpty)
        let capped = try await user.call(VaultRPC.listItems, .init(pageSize: 500))
        #expect(capped.items.map(\.itemID) == Array(ids.prefix(50)) && capped.nextPageToken == ids[49])
        let exact = try await user.call(VaultRPC.listItems, .init(pageSize: 53, includeSlots: false))
        #expect(exact.items.count == 53)
        if !exact.nextPageToken.isEmpty {
            let rest = try await user.call(VaultRPC.listItems, .init(pageSize: 53, pageToken: exact.nextPageToken, includeSlots: false))
            #expect(rest.items.isEmpty && rest.nextPageToken.isEmpty)
        }

        // Filters, alone and combined, paged.
        let logins = created.filter { $0.templateName == "login" }.map(\.itemID)
        let notes = created.filter { $0.templateName == "secure_note" }.map(\.itemID)
        let alphas = created.filter { $0.label.hasSuffix("Alpha") }.map(\.itemID)
        #expect(logins.count == 18 && notes.count == 35 && alphas.count == 27)
        #expect(try await user.allItems(.init(pageSize: 4, templateName: "login")).items.map(\.itemID) == logins)
        #expect(try await user.allItems(.init(pageSize: 7, templateID: secureNote.templateID)).items.map(\.itemID) == notes)
        #expect(try await user.allItems(.init(pageSize: 5, labelContains: "ALPHA")).items.map(\.itemID) == alphas)
        let combined = try await user.allItems(.init(pageSize: 2, templateName: "login", labelContains: "alpha"))
        #expect(combined.items.map(\.itemID) == logins.filter { alphas.contains($0) })
        #expect(try await user.allItems(.init(labelContains: "Item 7 ")).items.map(\.itemID) == [ids[7]])
        let none = try await user.call(VaultRPC.listItems, .init(labelContains: "nothing like this"))
        #expect(none.items.isEmpty && none.nextPageToken.isEmpty)
        #expect(try await user.allItems(.init(templateName: "passport")).items.isEmpty)
    }

    // MARK: Attachments

    @Test func aTwentyMebibyteAttachmentRoundTripsBlockByBlock() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let content = try SecureRandom.bytes(count: 20 * attachmentBlockSize)
        let key = try SymmetricKey.random()
        let request = try Svx_Vault_V1_CreateAttachmentRequest(size: content.count, dek: user.dek, attachmentKey: key)
        #expect(request.blockCount == 20)

        let created = try await user.call(VaultRPC.createAttachment, request).attachment
        #expect(UUID(uuidString: created.attachmentID) != nil)
        #expect(created.plaintextSize == UInt64(content.count) && created.blockCount == 20 && created.blockSize == 1_048_576)
        #expect(created.wrappedDek == request.wrappedDek && created.encryptedMetadata == request.encryptedMetadata)
        #expect(!created.complete)
        #expect(try await user.call(VaultRPC.getAttachment, .init(id: created.attachmentID)).attachment == created)

        let blocks = try encryptBlocks(content, key: key)
        #expect(blocks.count == 20)
        for (index, block) in blocks.enumerated() {
            _ = try await user.call(VaultRPC.uploadAttachmentBlock, .init(id: created.attachmentID, index: index, block: block))
        }
        let finished = try await user.call(VaultRPC.finishAttachment, .init(id: created.attachmentID)).attachment
        #expect(finished.complete)
        #expect(finished.attachmentID == created.attachmentID && finished.plaintextSize == created.plaintextSize)
        #expect(try await user.call(VaultRPC.getAttachment, .init(id: created.attachmentID)).attachment == finished)

        // In an attachment slot.
        let item = try await user.createItem(template: "secure_note", label: "With a file")
        let withFile = try await user.update(item, upsert: [
            .init(name: "file", label: "File", type: "attachment", attachmentID: created.attachmentID),
        ])
        #expect(withFile.slots.first { $0.name == "file" }?.attachmentID == created.attachmentID)

        // Downloaded block by block: the same strings, and byte-exact once decrypted.
        for index in [0, 19] {
            let block = try await user.call(VaultRPC.getAttachmentBlock, .init(id: created.attachmentID, index: index)).encryptedBlock
            #expect(block == blocks[index], "block \(index) as uploaded")
        }
        let downloaded = try await user.downloadAttachment(created.attachmentID)
        #expect(downloaded.count == content.count)
        let same = downloaded == content
        #expect(same, "byte-exact")
        #expect(await user.failure(VaultRPC.getAttachmentBlock, .init(id: created.attachmentID, index: 20))?.code == .outOfRange)

        // Removing the slot deletes the attachment.
        _ = try await user.update(withFile, remove: ["file"])
        #expect(await user.failure(VaultRPC.getAttachment, .init(id: created.attachmentID))?.code == .notFound)
        #expect(await user.failure(VaultRPC.getAttachmentBlock, .init(id: created.attachmentID, index: 0))?.code == .notFound)
        // Its rows are gone; only the audit trail names it (attachment.removed, an id and nothing else).
        #expect(!(try stack.database.dump(schema: "vault", excluding: Self.auditTables).contains(created.attachmentID)), "its rows are gone")
    }

    @Test func attachmentBlocksAreCheckedAndAttachmentsGoWithTheirSlotOrItem() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        // Five blocks: four of 1 MiB and the rest (1000 bytes).
        let content = try SecureRandom.bytes(count: 4 * attachmentBlockSize + 1000)
        let attachmentKey = try SymmetricKey.random()
        let created = try await user.call(
            VaultRPC.createAttachment, try .init(size: content.count, dek: user.dek, attachmentKey: attachmentKey)).attachment
        #expect(created.blockCount == 5)
        let id = created.attachmentID
        let encrypted = try encryptBlocks(content, key: attachmentKey)
        func upload(_ index: Int, _ block: String) async throws {
            _ = try await user.call(VaultRPC.uploadAttachmentBlock, .init(id: id, index: index, block: block))
        }

        // Sizes: a full block is exactly 1 MiB, the last exactly the rest; past the end is refused.
        let before = try stack.database.dump(schema: "vault")
        let short = try Cryppo.encrypt(try SecureRandom.bytes(count: 1000), key: attachmentKey)
        let full = try Cryppo.encrypt(try SecureRandom.bytes(count: attachmentBlockSize), key: attachmentKey)
        let wrongSizes: [(String, Int, String)] = [
            ("1000 bytes as block 0", 0, short),
            ("1 MiB + 1 as block 1", 1, try Cryppo.encrypt(try SecureRandom.bytes(count: attachmentBlockSize + 1), key: attachmentKey)),
            ("1 MiB as the last block", 4, full),
            ("999 bytes as the last block", 4, try Cryppo.encrypt(try SecureRandom.bytes(count: 999), key: attachmentKey)),
        ]
        for (what, index, block) in wrongSizes {
            await expectInvalidField("encrypted_block", what: what) { try await upload(index, block) }
        }
        for index in [5, 6, Int(UInt32.max)] {
            let failure = await user.failure(VaultRPC.uploadAttachmentBlock, .init(id: id, index: index, block: short))
            #expect(failure?.code == .invalidArgument || failure?.code == .outOfRange, "index \(index): \(failure.map { "\($0)" } ?? "accepted")")
        }
        let rawBlock = try SecureRandom.bytes(count: 1000)
        for (what, block) in [("empty", ""), ("plaintext, base64", Base64URL.encodeStandard(rawBlock)), ("plaintext, base64url", Base64URL.encode(rawBlock))] {
            await expectInvalidField("encrypted_block", what: what) { try await upload(4, block) }
        }
        var after = try stack.database.dump(schema: "vault")
        #expect(after == before, "\(dumpDifference(before, after))")

        // Block 3 missing: FAILED_PRECONDITION naming it.
        for index in [0, 1, 2, 4] { try await upload(index, encrypted[index]) }
        let missing = await user.failure(VaultRPC.finishAttachment, .init(id: id))
        #expect(missing?.code == .failedPrecondition, "\(missing.map { "\($0)" } ?? "accepted")")
        let namesThree = (missing?.message.contains("3") ?? false) || (missing?.details.values.contains("3") ?? false)
        #expect(namesThree, "names block 3: \(missing.map { "\($0) \($0.details)" } ?? "")")
        #expect(try await user.call(VaultRPC.getAttachment, .init(id: id)).attachment.complete == false)

        // Re-sending a block replaces it; then the attachment completes and is read-only.
        let resent = try Cryppo.encrypt(Array(content[attachmentBlockSize..<(2 * attachmentBlockSize)]), key: attachmentKey)
        try await upload(1, resent)
        try await upload(3, encrypted[3])
        let finished = try await user.call(VaultRPC.finishAttachment, .init(id: id)).attachment
        #expect(finished.complete)
        let afterFinish = try stack.database.dump(schema: "vault")
        let late = await user.failure(VaultRPC.uploadAttachmentBlock, .init(id: id, index: 0, block: encrypted[0]))
        #expect(late?.code == .failedPrecondition, "\(late.map { "\($0)" } ?? "accepted")")
        after = try stack.database.dump(schema: "vault")
        #expect(after == afterFinish, "\(dumpDifference(afterFinish, after))")
        #expect(try await user.call(VaultRPC.getAttachmentBlock, .init(id: id, index: 1)).encryptedBlock == resent)
        #expect(try await user.call(VaultRPC.getAttachmentBlock, .init(id: id, index: 4)).encryptedBlock == encrypted[4])
        let downloaded = try await user.downloadAttachment(id)
        let same = downloaded == content
        #expect(same, "byte-exact")
        #expect(await user.failure(VaultRPC.getAttachmentBlock, .init(id: id, index: 5))?.code == .outOfRange)

        // Only a complete attachment goes in a slot, and in one slot only.
        let pending = try await user.uploadAttachment(try SecureRandom.bytes(count: 10), finish: false).attachment
        let item = try await user.createItem(template: "secure_note", label: "Files", slots: [
            .init(name: "file", label: "File", type: "attachment", attachmentID: id),
        ])
        let other = try await user.createItem(template: "secure_note", label: "Other")
        let withSlots = try stack.database.dump(schema: "vault")
        let incomplete = await user.failure(VaultRPC.updateItem, .init(
            itemID: item.itemID, expectedVersion: item.version,
            upsert: [.init(name: "draft", label: "Draft", type: "attachment", attachmentID: pending.attachmentID)]))
        #expect(incomplete?.code == .failedPrecondition, "\(incomplete.map { "\($0)" } ?? "accepted")")
        let incompleteOnCreate = await user.failure(VaultRPC.createItem, .init(
            templateName: "secure_note", slots: [.init(name: "draft", label: "Draft", type: "attachment", attachmentID: pending.attachmentID)]))
        #expect(incompleteOnCreate?.code == .failedPrecondition, "\(incompleteOnCreate.map { "\($0)" } ?? "accepted")")
        let secondSlot = await user.failure(VaultRPC.updateItem, .init(
            itemID: item.itemID, expectedVersion: item.version,
            upsert: [.init(name: "copy", label: "Copy", type: "attachment", attachmentID: id)]))
        #expect(secondSlot?.code == .alreadyExists, "an attachment in two slots of one item: \(String(describing: secondSlot))")
        let otherItem = await user.failure(VaultRPC.updateItem, .init(
            itemID: other.itemID, expectedVersion: other.version,
            upsert: [.init(name: "copy", label: "Copy", type: "attachment", attachmentID: id)]))
        #expect(otherItem?.code == .alreadyExists, "an attachment in slots of two items: \(String(describing: otherItem))")
        after = try stack.database.dump(schema: "vault")
        #expect(after == withSlots, "\(dumpDifference(withSlots, after))")

        // Deleting the item deletes its attachments.
        let second = try await user.uploadAttachment(try SecureRandom.bytes(count: 100)).attachment
        let withTwo = try await user.update(item, upsert: [.init(name: "second", label: "Second", type: "attachment", attachmentID: second.attachmentID)])
        #expect(withTwo.slots.filter { !$0.attachmentID.isEmpty }.count == 2)
        _ = try await user.call(VaultRPC.deleteItem, .init(itemID: item.itemID))
        #expect(await user.failure(VaultRPC.getItem, .init(itemID: item.itemID))?.code == .notFound)
        for attachmentID in [id, second.attachmentID] {
            #expect(await user.failure(VaultRPC.getAttachment, .init(id: attachmentID))?.code == .notFound)
            #expect(await user.failure(VaultRPC.getAttachmentBlock, .init(id: attachmentID, index: 0))?.code == .notFound)
        }
        // Their rows are gone; only the audit trail names them (item.deleted, attachment.removed: ids and nothing else).
        let dump = try stack.database.dump(schema: "vault", excluding: Self.auditTables)
        #expect(!dump.contains(id) && !dump.contains(second.attachmentID) && !dump.contains(item.itemID), "their rows are gone")
        #expect(await user.failure(VaultRPC.deleteItem, .init(itemID: item.itemID))?.code == .notFound)
        #expect(try await user.call(VaultRPC.getAttachment, .init(id: pending.attachmentID)).attachment.complete == false)
    }

    // MARK: Validation

    @Test func malformedInputGetsInvalidArgumentNamingTheFieldAndChangesNothing() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let item = try await user.createItem(template: "login", label: "Bank", slots: [
            .init(name: "pin", label: "PIN", type: "password", value: try user.encrypt("1234")),
        ])
        let file = try await user.uploadAttachment(try SecureRandom.bytes(count: 100)).attachment
        let pending = try await user.uploadAttachment(try SecureRandom.bytes(count: 100), finish: false).attachment
        let block = try Cryppo.encrypt(try SecureRandom.bytes(count: 100), key: try SymmetricKey.random())
        let value = try user.encrypt("value")
        let verificationKey = try SecureRandom.bytes(count: 64)
        let wrappedVerificationKey = try Cryppo.encrypt(verificationKey, key: user.dek)
        let goodHash = Cryppo.valueVerificationHash(key: verificationKey, value: "value")
        let before = try stack.database.dump(schema: "vault")

        func createItem(_ slots: [Svx_Vault_V1_SlotInput], label: String = "Item") async throws {
            _ = try await user.call(VaultRPC.createItem, .init(templateName: "login", label: label, slots: slots))
        }
        func updateItem(_ slots: [Svx_Vault_V1_SlotInput], label: String = "", remove: [String] = []) async throws {
            _ = try await user.call(
                VaultRPC.updateItem, .init(itemID: item.itemID, expectedVersion: item.version, label: label, upsert: slots, remove: remove))
        }
        /// A slot problem, refused by CreateItem (`slots.<field>`) and UpdateItem (`upsert_slots.<field>`).
        func expectSlotsInvalid(_ fields: [String], _ what: String, _ slots: [Svx_Vault_V1_SlotInput],
                                sourceLocation: SourceLocation = #_sourceLocation) async {
            let create = await user.failure(VaultRPC.createItem, .init(templateName: "login", label: "Item", slots: slots))
            let update = await user.failure(
                VaultRPC.updateItem, .init(itemID: item.itemID, expectedVersion: item.version, upsert: slots))
            for (method, failure, prefix) in [("CreateItem", create, "slots"), ("UpdateItem", update, "upsert_slots")] {
                #expect(failure?.code == .invalidArgument, "\(method), \(what): \(failure.map { "\($0)" } ?? "accepted")",
                        sourceLocation: sourceLocation)
                let field = failure?.details["field"].map(withoutIndices)
                let wanted = fields.map { $0.isEmpty ? prefix : "\(prefix).\($0)" }
                #expect(field.map(wanted.contains) == true, "\(method), \(what): want \(wanted), details \(failure?.details ?? [:])",
                        sourceLocation: sourceLocation)
            }
        }

        // Ids.
        let dashless = unknownID().replacingOccurrences(of: "-", with: "")
        for (what, id) in [("empty", ""), ("not a uuid", "not-a-uuid"), ("uuid without dashes", dashless), ("number", "12345"),
                           ("uuid with a suffix", unknownID() + "0")] {
            await expectInvalidField("item_id", what: what) { _ = try await user.call(VaultRPC.getItem, .init(itemID: id)) }
            await expectInvalidField("item_id", what: what) { _ = try await user.call(VaultRPC.deleteItem, .init(itemID: id)) }
            await expectInvalidField("item_id", what: what) {
                _ = try await user.call(VaultRPC.updateItem, .init(itemID: id, expectedVersion: item.version, label: "x"))
            }
            await expectInvalidField("attachment_id", what: what) { _ = try await user.call(VaultRPC.getAttachment, .init(id: id)) }
            await expectInvalidField("attachment_id", what: what) {
                _ = try await user.call(VaultRPC.getAttachmentBlock, .init(id: id, index: 0))
            }
            await expectInvalidField("attachment_id", what: what) {
                _ = try await user.call(VaultRPC.uploadAttachmentBlock, .init(id: id, index: 0, block: block))
            }
            await expectInvalidField("attachment_id", what: what) { _ = try await user.call(VaultRPC.finishAttachment, .init(id: id)) }
            await expectInvalidField("template_id", what: what) { _ = try await user.call(VaultRPC.deleteTemplate, .init(id: id)) }
            guard !id.isEmpty else { continue }  // empty: "not given" where the id is optional
            await expectInvalidField("template_id", what: what) { _ = try await user.call(VaultRPC.getTemplate, .init(id: id)) }
            await expectInvalidField("template_id", what: what) {
                _ = try await user.call(VaultRPC.createItem, .init(templateID: id, label: "x"))
            }
            await expectInvalidField("template_id", what: what) { _ = try await user.call(VaultRPC.listItems, .init(templateID: id)) }
            await expectSlotsInvalid(["attachment_id"], "attachment id \(what)", [
                .init(name: "file", label: "File", type: "attachment", attachmentID: id),
            ])
        }

        // Exactly one of id and name.
        let login = try await user.template("login")
        for (what, request) in [("both", Svx_Vault_V1_GetTemplateRequest(id: login.templateID, name: "login")),
                                ("neither", Svx_Vault_V1_GetTemplateRequest())] {
            await expectInvalidField("template_id", "name", what: what) { _ = try await user.call(VaultRPC.getTemplate, request) }
        }
        for (what, request) in [("both", Svx_Vault_V1_CreateItemRequest(templateID: login.templateID, templateName: "login", label: "x")),
                                ("neither", Svx_Vault_V1_CreateItemRequest(label: "x"))] {
            await expectInvalidField("template_id", "template_name", what: what) { _ = try await user.call(VaultRPC.createItem, request) }
        }

        // Vault user.
        for (what, externalID) in [("empty", ""), ("NUL", "pri\u{0}vate"), ("1000 bytes", filler(1000))] {
            await expectInvalidField("private_dek_external_id", what: what) {
                _ = try await user.call(VaultRPC.putVaultUser, .init(privateDekExternalID: externalID))
            }
        }

        // Strings PostgreSQL cannot hold, and over-long ones.
        await expectInvalidField("name_contains", what: "NUL") {
            _ = try await user.call(VaultRPC.listTemplates, .init(nameContains: "pass\u{0}"))
        }
        await expectInvalidField("name", what: "NUL") { _ = try await user.call(VaultRPC.getTemplate, .init(name: "pass\u{0}port")) }
        await expectInvalidField("label_contains", what: "NUL") {
            _ = try await user.call(VaultRPC.listItems, .init(labelContains: "a\u{0}"))
        }
        for (what, label) in [("257 bytes", filler(257)), ("129 × é: 258 bytes", filler(129, "é")), ("NUL", "Ba\u{0}nk")] {
            await expectInvalidField("label", what: what) { try await createItem([], label: label) }
            await expectInvalidField("label", what: what) { try await updateItem([], label: label) }
        }

        // Templates.
        let templateSlot = Svx_Vault_V1_TemplateSlot("number", "Number", "key_value")
        let manyTemplateSlots = (0..<201).map { Svx_Vault_V1_TemplateSlot("s\($0)", "S \($0)", "key_value") }
        let badTemplates: [(String, Svx_Vault_V1_CreateTemplateRequest, [String])] = [
            ("empty name", .init(name: "", label: "T", slots: [templateSlot]), ["name"]),
            ("1000-byte name", .init(name: filler(1000, "t"), label: "T", slots: [templateSlot]), ["name"]),
            ("NUL in the name", .init(name: "my\u{0}template", label: "T", slots: [templateSlot]), ["name"]),
            ("257-byte label", .init(name: "my_template", label: filler(257), slots: [templateSlot]), ["label"]),
            ("unknown slot type", .init(name: "my_template", label: "T", slots: [.init("number", "Number", "text")]), ["slots.slot_type"]),
            ("bad slot name", .init(name: "my_template", label: "T", slots: [.init("Bad Name", "Number", "key_value")]), ["slots.name"]),
            ("duplicate slot names", .init(name: "my_template", label: "T", slots: [templateSlot, templateSlot]), ["slots.name", "slots"]),
            ("201 slots", .init(name: "my_template", label: "T", slots: manyTemplateSlots), ["slots"]),
        ]
        for (what, request, fields) in badTemplates {
            await expectInvalidField(anyOf: fields, what: what) { _ = try await user.call(VaultRPC.createTemplate, request) }
        }

        // Slots.
        let tooLong = try user.encrypt(filler(70_000))  // a ~93 KB Cryppo string
        await expectSlotsInvalid([""], "201 slots", (0..<201).map { .init(name: "s\($0)", label: "S", value: value) })
        await expectSlotsInvalid(["name", ""], "duplicate names", [.init(name: "a", label: "A", value: value), .init(name: "a", label: "B")])
        await expectSlotsInvalid(["name", ""], "duplicate derived names", [.init(label: "A b", value: value), .init(label: "a-b")])
        for name in ["Bad Name", "UPPER", "é", "with-dash", filler(65, "n")] {
            await expectSlotsInvalid(["name"], "name \(name)", [.init(name: name, label: "L", value: value)])
        }
        await expectSlotsInvalid(["label", "name"], "no name and no label", [.init(type: "key_value", value: value)])
        await expectSlotsInvalid(["slot_type"], "unknown type", [.init(name: "x", label: "X", type: "string", value: value)])
        await expectSlotsInvalid(["encrypted_value"], "a value over 64 KiB", [.init(name: "x", label: "X", value: tooLong)])
        for (what, hash) in [("upper case", goodHash.uppercased()), ("63 characters", String(goodHash.dropLast())),
                             ("65 characters", goodHash + "0"), ("not hex", "g" + goodHash.dropFirst()),
                             ("base64", Base64URL.encode(try Hex.decode(goodHash)))] {
            await expectSlotsInvalid(["value_verification_hash"], "hash \(what)", [
                .init(name: "x", label: "X", value: value, verificationKey: wrappedVerificationKey, verificationHash: hash),
            ])
        }
        await expectSlotsInvalid(["encrypted_value_verification_key"], "plaintext verification key", [
            .init(name: "x", label: "X", value: value, verificationKey: Base64URL.encode(verificationKey), verificationHash: goodHash),
        ])
        await expectSlotsInvalid(["attachment_id", "slot_type"], "an attachment in a key_value slot", [
            .init(name: "x", label: "X", type: "key_value", attachmentID: file.attachmentID),
        ])
        for name in ["Bad Name", "", filler(65, "n")] {
            await expectInvalidField("remove_slots", what: "remove \(name)") { try await updateItem([], remove: [name]) }
        }

        // Pages.
        await expectInvalidField("page_size") { _ = try await user.call(VaultRPC.listItems, .init(pageSize: 501)) }
        for token in ["garbage", "0", dashless, String(repeating: "z", count: 36), "\u{0}"] {
            await expectInvalidField("page_token", what: token) { _ = try await user.call(VaultRPC.listItems, .init(pageToken: token)) }
        }

        // Attachments.
        let key = try SymmetricKey.random()
        let good = try Svx_Vault_V1_CreateAttachmentRequest(size: 2 * attachmentBlockSize, dek: user.dek, attachmentKey: key)
        func attachment(_ change: (inout Svx_Vault_V1_CreateAttachmentRequest) -> Void) -> Svx_Vault_V1_CreateAttachmentRequest {
            var request = good
            change(&request)
            return request
        }
        let mib: UInt64 = 1_048_576
        let badAttachments: [(String, Svx_Vault_V1_CreateAttachmentRequest, String)] = [
            ("block_size 1048575", attachment { $0.blockSize = 1_048_575 }, "block_size"),
            ("block_size 0", attachment { $0.blockSize = 0 }, "block_size"),
            ("block_size 2 MiB", attachment { $0.blockSize = 2_097_152; $0.blockCount = 1 }, "block_size"),
            ("block_count 3 for 2 MiB", attachment { $0.blockCount = 3 }, "block_count"),
            ("block_count 1 for 2 MiB", attachment { $0.blockCount = 1 }, "block_count"),
            ("block_count 0", attachment { $0.blockCount = 0 }, "block_count"),
            ("an empty file", attachment { $0.plaintextSize = 0; $0.blockCount = 1 }, "plaintext_size"),
            ("256 MiB + 1", attachment { $0.plaintextSize = 256 * mib + 1; $0.blockCount = 257 }, "plaintext_size"),
            ("1 TiB", attachment { $0.plaintextSize = 1 << 40; $0.blockCount = 1 << 20 }, "plaintext_size"),
            ("no metadata", attachment { $0.encryptedMetadata = "" }, "encrypted_metadata"),
            ("plaintext metadata", attachment { $0.encryptedMetadata = #"{"file_name":"a.jpg"}"# }, "encrypted_metadata"),
            ("no wrapped DEK", attachment { $0.wrappedDek = "" }, "wrapped_dek"),
            ("plaintext DEK", attachment { $0.wrappedDek = Base64URL.encode(key.bytes) }, "wrapped_dek"),
            ("wrapped 16-byte key", attachment { $0.wrappedDek = (try? Cryppo.encrypt(Array(key.bytes.prefix(16)), key: user.dek)) ?? "" },
             "wrapped_dek"),
        ]
        for (what, request, field) in badAttachments {
            await expectInvalidField(field, what: what) { _ = try await user.call(VaultRPC.createAttachment, request) }
        }
        for (what, encrypted) in [("empty", ""), ("plaintext", Base64URL.encode(try SecureRandom.bytes(count: 100)))] {
            await expectInvalidField("encrypted_block", what: what) {
                _ = try await user.call(VaultRPC.uploadAttachmentBlock, .init(id: pending.attachmentID, index: 0, block: encrypted))
            }
        }

        let after = try stack.database.dump(schema: "vault")
        #expect(after == before, "nothing written: \(dumpDifference(before, after))")

        // The bounds themselves are accepted.
        _ = try await user.createItem(template: "login", label: filler(256))
        _ = try await user.createItem(template: "login", label: filler(128, "é"))
        let noteSlots = try await user.template("secure_note").slots.count
        let extras = (0..<(200 - noteSlots)).map { Svx_Vault_V1_SlotInput(name: "s\($0)", label: "S", value: value) }
        let many = try await user.createItem(template: "secure_note", label: "Many", slots: extras)
        #expect(many.slots.count == 200)
        let big = try user.encrypt(filler(40_000))  // a ~53 KB Cryppo string
        _ = try await user.createItem(template: "login", label: "Big", slots: [.init(name: "big", label: "Big", value: big)])
        _ = try await user.createItem(template: "login", label: "Shared", slots: [
            .init(name: "x", label: "X", value: value, verificationKey: wrappedVerificationKey, verificationHash: goodHash),
        ])
        #expect(try await user.call(VaultRPC.listItems, .init(pageSize: 500)).items.count == 6)
        _ = try await user.call(VaultRPC.createAttachment, attachment { $0.plaintextSize = 256 * mib; $0.blockCount = 256 })
    }

    // MARK: Sessions

    @Test func everyMethodNeedsASession() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let item = try await user.createItem(template: "login", label: "Bank")
        let file = try await user.uploadAttachment(try SecureRandom.bytes(count: 100)).attachment
        let pending = try await user.uploadAttachment(try SecureRandom.bytes(count: 100), finish: false).attachment
        let template = try await user.call(VaultRPC.createTemplate, .init(name: "mine", label: "Mine", slots: [.init("a", "A")])).template
        let block = try Cryppo.encrypt(try SecureRandom.bytes(count: 100), key: try SymmetricKey.random())
        let value = try user.encrypt("v")

        // A session that ended: logged out at Auth (the Vault learns it within a second; polled, bounded).
        let ended = try await stack.newUser()
        _ = try await stack.auth.client.call(AuthRPC.logout, .init(), sessionToken: ended.sessionToken, timeout: .seconds(5))
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline,
              await stack.anonymous(VaultRPC.getVaultUser, .init(), token: ended.sessionToken)?.code != .unauthenticated {
            try await Task.sleep(for: .milliseconds(100))
        }
        let before = try stack.database.dump(schema: "vault")

        for token in ["", "not-a-session", String(repeating: "a", count: 64), ended.sessionToken] {
            func check<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request,
                                          sourceLocation: SourceLocation = #_sourceLocation) async {
                // GetItemOutlines is Sharing's peer call: asked with its key, the session is what is checked.
                let peer: TestService? = method.name == VaultRPC.getItemOutlines.name ? .sharing : nil
                let failure = await stack.anonymous(method, request, token: token, as: peer)
                #expect(failure?.code == .unauthenticated, "\(method.name) with token \(token.prefix(12)): \(failure.map { "\($0)" } ?? "accepted")",
                        sourceLocation: sourceLocation)
            }
            await check(VaultRPC.getVaultUser, .init())
            await check(VaultRPC.putVaultUser, .init(privateDekExternalID: "private"))
            await check(VaultRPC.listTemplates, .init())
            await check(VaultRPC.getTemplate, .init(name: "passport"))
            await check(VaultRPC.createTemplate, .init(name: "other", label: "Other", slots: [.init("a", "A")]))
            await check(VaultRPC.deleteTemplate, .init(id: template.templateID))
            await check(VaultRPC.createItem, .init(templateName: "login", label: "x", slots: [.init(label: "A", value: value)]))
            await check(VaultRPC.getItem, .init(itemID: item.itemID))
            await check(VaultRPC.listItems, .init())
            await check(VaultRPC.updateItem, .init(itemID: item.itemID, expectedVersion: item.version, label: "y"))
            await check(VaultRPC.deleteItem, .init(itemID: item.itemID))
            await check(VaultRPC.createAttachment, try .init(size: 10, dek: user.dek, attachmentKey: try SymmetricKey.random()))
            await check(VaultRPC.uploadAttachmentBlock, .init(id: pending.attachmentID, index: 0, block: block))
            await check(VaultRPC.finishAttachment, .init(id: pending.attachmentID))
            await check(VaultRPC.getAttachment, .init(id: file.attachmentID))
            await check(VaultRPC.getAttachmentBlock, .init(id: file.attachmentID, index: 0))
            await check(VaultRPC.getItemOutlines, .with { $0.itemIds = [item.itemID] })
        }
        let after = try stack.database.dump(schema: "vault")
        #expect(after == before, "\(dumpDifference(before, after))")
        #expect(try await user.getItem(item.itemID) == item)
    }
}

/// `user`'s call about a stranger's id fails with NOT_FOUND, exactly as the same call about an id nobody has
/// (the ids themselves aside).
func expectSameAsUnknown<Request, Response>(
    _ user: TestUser, _ method: RPCMethod<Request, Response>, _ strangers: Request, _ strangersID: String,
    _ unknown: Request, _ unknownID: String, sourceLocation: SourceLocation = #_sourceLocation
) async {
    let withStrangers = anonymized(await user.failure(method, strangers), strangersID)
    let withUnknown = anonymized(await user.failure(method, unknown), unknownID)
    #expect(withStrangers?.code == .notFound, "\(method.name): \(withStrangers.map { "\($0)" } ?? "accepted")",
            sourceLocation: sourceLocation)
    #expect(withStrangers == withUnknown, "\(method.name)", sourceLocation: sourceLocation)
}
