import Cryppo
import Foundation
import SVXModels
import SVXProto

/// Slot values in and out of the Vault (reference/meeco-compat.md §4): every value is Cryppo(private DEK, UTF-8
/// value), and an empty value is sent as no `encrypted_value` at all. Plaintext never reaches a message.
enum SlotCrypto {
    /// The encrypted form of a value; "" for an empty one.
    static func encrypt(_ value: String, key: SymmetricKey) throws -> String {
        value.isEmpty ? "" : try Cryppo.encrypt(Array(value.utf8), key: key)
    }

    /// The wire form of `edit`: its value encrypted, label and type empty where the Vault keeps what it has.
    static func input(_ edit: SlotEdit, key: SymmetricKey) throws -> Svx_Vault_V1_SlotInput {
        guard !edit.name.isEmpty || !(edit.label ?? "").isEmpty else {
            throw SVXClientError(.invalidInput, "a slot needs a name or a label")
        }
        guard edit.name.isEmpty || SlotName.isValid(edit.name) else {
            throw SVXClientError(
                .invalidInput, "slot name \"\(edit.name)\" is not valid: 1..\(SlotName.maximumLength) of a-z, 0-9 and _")
        }
        var input = Svx_Vault_V1_SlotInput()
        input.name = edit.name
        input.label = edit.label ?? ""
        input.slotType = edit.type?.rawValue ?? ""
        input.encryptedValue = try encrypt(edit.value, key: key)
        return input
    }

    /// Decrypts every slot of `item`. A value the key does not open is ``SVXClientError/Code/keyUnwrapFailed``
    /// naming the slot: a wrong key or tampered data, never silently skipped.
    static func decrypt(_ item: Svx_Vault_V1_Item, key: SymmetricKey) throws -> DecryptedItem {
        DecryptedItem(
            id: item.itemID, templateID: item.templateID, templateName: item.templateName, label: item.label,
            version: item.version, createdAt: Date(wireMilliseconds: item.createdAtMs),
            updatedAt: Date(wireMilliseconds: item.updatedAtMs),
            slots: try item.slots.map { try decrypt($0, itemID: item.itemID, key: key) })
    }

    static func decrypt(_ slot: Svx_Vault_V1_Slot, itemID: String, key: SymmetricKey) throws -> DecryptedSlot {
        guard let type = SlotType(wire: slot.slotType) else {
            throw SVXClientError(.malformedResponse, "slot \(slot.name) of item \(itemID) has an unknown type \"\(slot.slotType)\"")
        }
        var value: String?
        if !slot.encryptedValue.isEmpty {
            let bytes: [UInt8]
            do {
                bytes = try Cryppo.decrypt(slot.encryptedValue, key: key)
            } catch {
                throw SVXClientError(
                    .keyUnwrapFailed, "the value of slot \(slot.name) of item \(itemID) does not decrypt with your private data key")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw SVXClientError(.malformedResponse, "the value of slot \(slot.name) of item \(itemID) is not UTF-8 text")
            }
            value = text
        }
        return DecryptedSlot(
            id: slot.slotID, name: slot.name, label: slot.label, type: type, value: value,
            attachmentID: slot.attachmentID.isEmpty ? nil : slot.attachmentID, ordinal: slot.ordinal,
            createdAt: Date(wireMilliseconds: slot.createdAtMs), updatedAt: Date(wireMilliseconds: slot.updatedAtMs))
    }

    static func template(_ template: Svx_Vault_V1_ItemTemplate) throws -> VaultTemplate {
        VaultTemplate(
            id: template.templateID, name: template.name, label: template.label, description: template.description_p,
            isSystem: template.system,
            slots: try template.slots.map { slot in
                guard let type = SlotType(wire: slot.slotType) else {
                    throw SVXClientError(
                        .malformedResponse, "slot \(slot.name) of template \(template.name) has an unknown type \"\(slot.slotType)\"")
                }
                return VaultTemplate.Slot(name: slot.name, label: slot.label, type: type, ordinal: slot.ordinal)
            },
            createdAt: Date(wireMilliseconds: template.createdAtMs))
    }
}
