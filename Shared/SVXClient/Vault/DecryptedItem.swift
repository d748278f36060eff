import Foundation
import SVXModels

/// An Item as its owner sees it: every slot value decrypted with the private DEK. Only the client ever holds
/// one; the Vault has the same item with ciphertext in every value.
public struct DecryptedItem: Sendable, Equatable {
    public let id: String
    public let templateID: String
    public let templateName: String
    /// Item labels are not encrypted (as in Meeco's vault): the Vault filters and lists by them.
    public let label: String
    /// What ``VaultClient/updateItem(session:keys:id:expectedVersion:label:set:remove:)`` must name to change it.
    public let version: UInt64
    public let createdAt: Date
    public let updatedAt: Date
    /// By ordinal, then name (the Vault's order). Empty when the item was listed without its slots.
    public let slots: [DecryptedSlot]

    /// The slot named `name`, if the item has one.
    public func slot(named name: String) -> DecryptedSlot? {
        slots.first { $0.name == name }
    }
}

/// One slot of a ``DecryptedItem``.
public struct DecryptedSlot: Sendable, Equatable {
    public let id: String
    public let name: String
    public let label: String
    public let type: SlotType
    /// The decrypted value; nil for a slot without one (an empty value is never encrypted). For an attachment slot
    /// it is the file's name.
    public let value: String?
    /// The attachment holding the file of an `attachment` slot, else nil.
    public let attachmentID: String?
    public let ordinal: Int32
    public let createdAt: Date
    public let updatedAt: Date
}

/// An Item Template: a predefined list of empty slots that items are cloned from. Templates hold no values, so
/// nothing in them is encrypted.
public struct VaultTemplate: Sendable, Equatable {
    public struct Slot: Sendable, Equatable {
        public let name: String
        public let label: String
        public let type: SlotType
        public let ordinal: Int32
    }

    public let id: String
    public let name: String
    public let label: String
    public let description: String
    /// Seeded by the Vault, read-only and shared by everyone (else the caller's own).
    public let isSystem: Bool
    public let slots: [Slot]
    public let createdAt: Date
}

/// A slot value to write into an item.
///
/// `name` names the slot; it may be empty when `label` is given (the name is then derived from the label, as
/// Meeco's SDK does). `label` and `type` nil keep what the slot already has (a template's slot, or the existing
/// slot of an item being updated); a new slot without a type is `key_value`. An empty `value` stores no value at
/// all (no `encrypted_value`), never an encryption of nothing.
public struct SlotEdit: Sendable, Equatable {
    public var name: String
    public var value: String
    public var label: String?
    public var type: SlotType?

    public init(name: String, value: String, label: String? = nil, type: SlotType? = nil) {
        self.name = name
        self.value = value
        self.label = label
        self.type = type
    }

    /// A new slot known by its label only: the name is derived from the label.
    public init(label: String, value: String, type: SlotType? = nil) {
        self.init(name: SlotName.derive(fromLabel: label), value: value, label: label, type: type)
    }
}

/// One page of ``VaultClient/items(session:keys:filter:pageSize:pageToken:includeSlots:)``.
public struct ItemPage: Sendable {
    public let items: [DecryptedItem]
    /// Nil on the last page.
    public let nextPageToken: String?
}

/// What ``VaultClient/items(session:keys:filter:pageSize:pageToken:includeSlots:)`` lists: the filters combine.
public struct ItemFilter: Sendable, Equatable {
    public var templateName: String?
    public var labelContains: String?
    /// A classification node id or `scheme:name`: only items classified under it or any of its descendants (the
    /// Vault asks the Classification service; UNAVAILABLE when it cannot).
    public var classificationNode: String?

    public init(templateName: String? = nil, labelContains: String? = nil, classificationNode: String? = nil) {
        self.templateName = templateName
        self.labelContains = labelContains
        self.classificationNode = classificationNode
    }
}

/// A slot as the Vault lists it, without its value: enough to name it (classify it) without opening any key.
public struct SlotOutline: Sendable, Equatable {
    public let id: String
    public let name: String
    public let label: String
    /// The Vault's slot type name (`key_value`, `password`, ...).
    public let type: String

    public init(id: String, name: String, label: String, type: String) {
        self.id = id
        self.name = name
        self.label = label
        self.type = type
    }

    /// The slot `nameOrID` means among an item's: its id (any case), its name, or a label from which the name is
    /// derived (`"Passport Number"` → `passport_number`).
    public static func find(_ nameOrID: String, in slots: [SlotOutline], itemID: String) throws -> SlotOutline {
        let wanted = nameOrID.trimmingCharacters(in: .whitespaces)
        if let slot = slots.first(where: { $0.id.lowercased() == wanted.lowercased() || $0.name == wanted })
            ?? slots.first(where: { $0.name == SlotName.derive(fromLabel: wanted) })
        {
            return slot
        }
        throw SVXClientError(.notFound, "item \(itemID) has no slot \(wanted)")
    }
}
