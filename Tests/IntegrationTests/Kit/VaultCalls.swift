import Cryppo
import Foundation
import SVXContracts
import SVXModels
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Vault calls of a ``TestUser``: items and attachments written as a client writes them, under the user's private DEK.
extension TestUser {
    func createItem(template: String, label: String = "", slots: [Svx_Vault_V1_SlotInput] = []) async throws -> Svx_Vault_V1_Item {
        try await call(VaultRPC.createItem, .init(templateName: template, label: label, slots: slots)).item
    }

    func getItem(_ id: String) async throws -> Svx_Vault_V1_Item {
        try await call(VaultRPC.getItem, .init(itemID: id)).item
    }

    func update(_ item: Svx_Vault_V1_Item, label: String = "", upsert: [Svx_Vault_V1_SlotInput] = [], remove: [String] = [])
        async throws -> Svx_Vault_V1_Item
    {
        try await call(VaultRPC.updateItem, .init(
            itemID: item.itemID, expectedVersion: item.version, label: label, upsert: upsert, remove: remove)).item
    }

    func template(_ name: String) async throws -> Svx_Vault_V1_ItemTemplate {
        try await call(VaultRPC.getTemplate, .init(name: name)).template
    }

    /// Every item matching `request`'s filters, page by page, and the number of pages.
    func allItems(_ request: Svx_Vault_V1_ListItemsRequest = .init()) async throws -> (items: [Svx_Vault_V1_Item], pages: Int) {
        let all = try await allPages("ListItems") { token in
            var request = request
            request.pageToken = token
            let page = try await call(VaultRPC.listItems, request)
            return (page.items, page.nextPageToken)
        }
        return (all.elements, all.pages)
    }

    /// `content` as an attachment: a random attachment DEK wrapped by the private DEK, the file in 1 MiB
    /// blocks each encrypted under the attachment DEK. Uploaded and, with `finish`, finished.
    func uploadAttachment(_ content: [UInt8], finish: Bool = true, metadata: String = #"{"file_name":"file.bin"}"#)
        async throws -> (attachment: Svx_Vault_V1_Attachment, key: SymmetricKey, blocks: [String])
    {
        let key = try SymmetricKey.random()
        let request = try Svx_Vault_V1_CreateAttachmentRequest(size: content.count, dek: dek, attachmentKey: key, metadata: metadata)
        let created = try await call(VaultRPC.createAttachment, request).attachment
        let blocks = try encryptBlocks(content, key: key)
        for (index, block) in blocks.enumerated() {
            _ = try await call(VaultRPC.uploadAttachmentBlock, .init(id: created.attachmentID, index: index, block: block))
        }
        guard finish else { return (created, key, blocks) }
        return (try await call(VaultRPC.finishAttachment, .init(id: created.attachmentID)).attachment, key, blocks)
    }

    /// Downloads every block of an attachment and decrypts it with the attachment DEK unwrapped by the private DEK.
    func downloadAttachment(_ id: String) async throws -> [UInt8] {
        let attachment = try await call(VaultRPC.getAttachment, .init(id: id)).attachment
        let key = SymmetricKey(bytes: try Cryppo.decrypt(attachment.wrappedDek, key: dek))
        var content: [UInt8] = []
        content.reserveCapacity(Int(attachment.plaintextSize))
        for index in 0..<Int(attachment.blockCount) {
            let block = try await call(VaultRPC.getAttachmentBlock, .init(id: id, index: index)).encryptedBlock
            content += try Cryppo.decrypt(block, key: key)
        }
        return content
    }
}

let attachmentBlockSize = 1_048_576

/// `content` cut in blocks of 1 MiB (at least one), each a Cryppo string under `key`.
func encryptBlocks(_ content: [UInt8], key: SymmetricKey) throws -> [String] {
    if content.isEmpty { return [try Cryppo.encrypt([], key: key)] }
    return try stride(from: 0, to: content.count, by: attachmentBlockSize).map { start in
        try Cryppo.encrypt(Array(content[start..<min(start + attachmentBlockSize, content.count)]), key: key)
    }
}

// MARK: Requests

extension Svx_Vault_V1_PutVaultUserRequest {
    init(privateDekExternalID: String) {
        self.init()
        self.privateDekExternalID = privateDekExternalID
    }
}

extension Svx_Vault_V1_ListTemplatesRequest {
    init(nameContains: String = "", onlyOwn: Bool = false) {
        self.init()
        self.nameContains = nameContains
        self.onlyOwn = onlyOwn
    }
}

extension Svx_Vault_V1_GetTemplateRequest {
    init(id: String = "", name: String = "") {
        self.init()
        templateID = id
        self.name = name
    }
}

extension Svx_Vault_V1_TemplateSlot {
    init(_ name: String, _ label: String, _ type: String = "", ordinal: Int32 = 0) {
        self.init()
        self.name = name
        self.label = label
        slotType = type
        self.ordinal = ordinal
    }
}

extension Svx_Vault_V1_CreateTemplateRequest {
    init(name: String, label: String, description: String = "", slots: [Svx_Vault_V1_TemplateSlot]) {
        self.init()
        self.name = name
        self.label = label
        self.description_p = description
        self.slots = slots
    }
}

extension Svx_Vault_V1_DeleteTemplateRequest {
    init(id: String) {
        self.init()
        templateID = id
    }
}

extension Svx_Vault_V1_SlotInput {
    init(name: String = "", label: String = "", type: String = "", value: String = "", ordinal: Int32 = 0,
         attachmentID: String = "", verificationKey: String = "", verificationHash: String = "") {
        self.init()
        self.name = name
        self.label = label
        slotType = type
        encryptedValue = value
        self.ordinal = ordinal
        self.attachmentID = attachmentID
        encryptedValueVerificationKey = verificationKey
        valueVerificationHash = verificationHash
    }
}

extension Svx_Vault_V1_CreateItemRequest {
    init(templateID: String = "", templateName: String = "", label: String = "", slots: [Svx_Vault_V1_SlotInput] = []) {
        self.init()
        self.templateID = templateID
        self.templateName = templateName
        self.label = label
        self.slots = slots
    }
}

extension Svx_Vault_V1_GetItemRequest {
    init(itemID: String) {
        self.init()
        self.itemID = itemID
    }
}

extension Svx_Vault_V1_DeleteItemRequest {
    init(itemID: String) {
        self.init()
        self.itemID = itemID
    }
}

extension Svx_Vault_V1_ListItemsRequest {
    init(pageSize: UInt32 = 0, pageToken: String = "", templateID: String = "", templateName: String = "",
         labelContains: String = "", includeSlots: Bool = true, classificationNode: String = "") {
        self.init()
        self.classificationNode = classificationNode
        self.pageSize = pageSize
        self.pageToken = pageToken
        self.templateID = templateID
        self.templateName = templateName
        self.labelContains = labelContains
        self.includeSlots = includeSlots
    }
}

extension Svx_Vault_V1_UpdateItemRequest {
    init(itemID: String, expectedVersion: UInt64, label: String = "", upsert: [Svx_Vault_V1_SlotInput] = [],
         remove: [String] = []) {
        self.init()
        self.itemID = itemID
        self.expectedVersion = expectedVersion
        self.label = label
        upsertSlots = upsert
        removeSlots = remove
    }
}

extension Svx_Vault_V1_CreateAttachmentRequest {
    init(metadata: String, wrappedDEK: String, plaintextSize: UInt64, blockCount: UInt32, blockSize: UInt32 = 1_048_576) {
        self.init()
        encryptedMetadata = metadata
        wrappedDek = wrappedDEK
        self.plaintextSize = plaintextSize
        self.blockCount = blockCount
        self.blockSize = blockSize
    }

    /// A well-formed announcement of `size` bytes: metadata and the attachment key wrapped by `dek`.
    init(size: Int, dek: SymmetricKey, attachmentKey: SymmetricKey, metadata: String = #"{"file_name":"file.bin"}"#) throws {
        self.init(
            metadata: try Cryppo.encrypt(Array(metadata.utf8), key: dek), wrappedDEK: try Cryppo.encrypt(attachmentKey.bytes, key: dek),
            plaintextSize: UInt64(size), blockCount: UInt32(max(1, (size + attachmentBlockSize - 1) / attachmentBlockSize)))
    }
}

extension Svx_Vault_V1_UploadAttachmentBlockRequest {
    init(id: String, index: Int, block: String) {
        self.init()
        attachmentID = id
        self.index = UInt32(index)
        encryptedBlock = block
    }
}

extension Svx_Vault_V1_FinishAttachmentRequest {
    init(id: String) {
        self.init()
        attachmentID = id
    }
}

extension Svx_Vault_V1_GetAttachmentRequest {
    init(id: String) {
        self.init()
        attachmentID = id
    }
}

extension Svx_Vault_V1_GetAttachmentBlockRequest {
    init(id: String, index: Int) {
        self.init()
        attachmentID = id
        self.index = UInt32(index)
    }
}

extension Svx_Vault_V1_EntityReference {
    init(_ kind: Svx_Vault_V1_EntityKind, _ id: String) {
        self.init()
        self.kind = kind
        self.id = id
    }
}

extension Svx_Vault_V1_CheckEntitiesRequest {
    init(_ entities: [Svx_Vault_V1_EntityReference]) {
        self.init()
        self.entities = entities
    }
}
