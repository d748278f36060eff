import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// The Vault's main path in one pass (the detailed suites are VaultRPCTests and VaultClientTests).
@Suite struct VaultSmokeTests {
    @Test func anItemFromATemplateIsCreatedReadUpdatedListedAndDeleted() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser(vaultUser: false)
        let (token, vault, dek) = (user.sessionToken, stack.client(.vault), user.dek)

        let templates = try await vault.call(VaultRPC.listTemplates, .init(), sessionToken: token, timeout: .seconds(5)).templates
        #expect(templates.count == 10 && templates.allSatisfy(\.system))

        var create = Svx_Vault_V1_CreateItemRequest()
        create.templateName = "passport"
        create.label = "My passport"
        var number = Svx_Vault_V1_SlotInput()
        number.name = "passport_number"
        number.encryptedValue = try Cryppo.encrypt(Array("X1234567".utf8), key: dek)
        var extra = Svx_Vault_V1_SlotInput()
        extra.label = "Emergency Contact"
        extra.slotType = "phone_number"
        extra.encryptedValue = try Cryppo.encrypt(Array("+61 400 000 000".utf8), key: dek)
        create.slots = [number, extra]
        let item = try await vault.call(VaultRPC.createItem, create, sessionToken: token, timeout: .seconds(5)).item
        #expect(item.slots.count == 10)
        #expect(item.slots.contains { $0.name == "emergency_contact" && $0.slotType == "phone_number" })

        var get = Svx_Vault_V1_GetItemRequest()
        get.itemID = item.itemID
        let read = try await vault.call(VaultRPC.getItem, get, sessionToken: token, timeout: .seconds(5)).item
        #expect(read == item)
        let value = try #require(read.slots.first { $0.name == "passport_number" }).encryptedValue
        #expect(try Cryppo.decrypt(value, key: dek) == Array("X1234567".utf8))

        var plaintext = create
        plaintext.slots[0].encryptedValue = "X1234567"
        let refused = await status { _ = try await vault.call(VaultRPC.createItem, plaintext, sessionToken: token, timeout: .seconds(5)) }
        #expect(refused?.code == .invalidArgument && refused?.message.contains("plaintext is refused") == true)

        var update = Svx_Vault_V1_UpdateItemRequest()
        update.itemID = item.itemID
        update.expectedVersion = 1
        update.label = "Old passport"
        update.removeSlots = ["emergency_contact"]
        let updated = try await vault.call(VaultRPC.updateItem, update, sessionToken: token, timeout: .seconds(5)).item
        #expect(updated.version == 2 && updated.label == "Old passport" && updated.slots.count == 9)
        let stale = await status { _ = try await vault.call(VaultRPC.updateItem, update, sessionToken: token, timeout: .seconds(5)) }
        #expect(stale?.code == .aborted)

        // A one-block attachment in a slot.
        let fileKey = try SymmetricKey.random()
        var attachment = Svx_Vault_V1_CreateAttachmentRequest()
        attachment.encryptedMetadata = try Cryppo.encrypt(Array(#"{"file_name":"scan.pdf"}"#.utf8), key: fileKey)
        attachment.wrappedDek = try Cryppo.encrypt(fileKey.bytes, key: dek)
        attachment.plaintextSize = 5
        attachment.blockCount = 1
        attachment.blockSize = 1_048_576
        let created = try await vault.call(VaultRPC.createAttachment, attachment, sessionToken: token, timeout: .seconds(5)).attachment
        var block = Svx_Vault_V1_UploadAttachmentBlockRequest()
        block.attachmentID = created.attachmentID
        block.encryptedBlock = try Cryppo.encrypt(Array("hello".utf8), key: fileKey)
        _ = try await vault.call(VaultRPC.uploadAttachmentBlock, block, sessionToken: token, timeout: .seconds(5))
        var finish = Svx_Vault_V1_FinishAttachmentRequest()
        finish.attachmentID = created.attachmentID
        #expect(try await vault.call(VaultRPC.finishAttachment, finish, sessionToken: token, timeout: .seconds(5)).attachment.complete)
        update.expectedVersion = 2
        update.removeSlots = []
        var slot = Svx_Vault_V1_SlotInput()
        slot.name = "photo_page"
        slot.slotType = "attachment"
        slot.attachmentID = created.attachmentID
        update.upsertSlots = [slot]
        _ = try await vault.call(VaultRPC.updateItem, update, sessionToken: token, timeout: .seconds(5))
        var getBlock = Svx_Vault_V1_GetAttachmentBlockRequest()
        getBlock.attachmentID = created.attachmentID
        let stored = try await vault.call(VaultRPC.getAttachmentBlock, getBlock, sessionToken: token, timeout: .seconds(5))
        #expect(try Cryppo.decrypt(stored.encryptedBlock, key: fileKey) == Array("hello".utf8))

        var list = Svx_Vault_V1_ListItemsRequest()
        list.templateName = "passport"
        #expect(try await vault.call(VaultRPC.listItems, list, sessionToken: token, timeout: .seconds(5)).items.map(\.itemID) == [item.itemID])

        var delete = Svx_Vault_V1_DeleteItemRequest()
        delete.itemID = item.itemID
        _ = try await vault.call(VaultRPC.deleteItem, delete, sessionToken: token, timeout: .seconds(5))
        #expect(await status { _ = try await vault.call(VaultRPC.getItem, get, sessionToken: token, timeout: .seconds(5)) }?.code == .notFound)
        var getAttachment = Svx_Vault_V1_GetAttachmentRequest()
        getAttachment.attachmentID = created.attachmentID
        #expect(await status { _ = try await vault.call(VaultRPC.getAttachment, getAttachment, sessionToken: token, timeout: .seconds(5)) }?.code == .notFound)
    }
}
