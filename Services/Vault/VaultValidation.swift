import Cryppo
import Foundation
import SVXModels
import SVXProto
import SVXRPC
import SVXService

/// A slot as it will be stored: validated, its name derived when absent.
struct ValidSlot: Sendable, Encodable {
    var name: String
    var label: String
    var slotType: String
    var encryptedValue: String?
    var verificationKey: String?
    var verificationHash: String?
    var ordinal: Int32
    var attachmentID: String?

    enum CodingKeys: String, CodingKey {
        case name, label, ordinal
        case slotType = "slot_type"
        case encryptedValue = "encrypted_value"
        case verificationKey = "verification_key"
        case verificationHash = "verification_hash"
        case attachmentID = "attachment_id"
    }
}

/// Checks of request fields before any database work (every refusal INVALID_ARGUMENT naming the field). The
/// Vault cannot read a value, but it can tell ciphertext from plaintext: every value must be an `Aes256Gcm` Cryppo
/// string. Pure: unit-tested in VaultTests.
enum VaultValidation {
    static let maximumLabelBytes = 256
    static let maximumSlots = 200
    static let maximumValueCharacters = 64 * 1024
    static let maximumVerificationKeyCharacters = 1024
    static let maximumMetadataCharacters = 8 * 1024
    static let blockSize: UInt32 = 1_048_576
    static let maximumAttachmentBytes: UInt64 = 256 * 1_048_576
    static let maximumBlockCharacters = 1_500_000  // a 1 MiB block as base64 plus its artefacts
    static let maximumTemplateNameBytes = 64
    /// Ordinals order slots; beyond this they order nothing better (and sums of them stay far from overflowing).
    static let maximumOrdinal: Int32 = 100_000
    /// All the encrypted text of one item (values and verification keys): an item always fits in one message.
    static let maximumItemCharacters = 1_048_576
    /// Templates a user may own.
    static let maximumOwnTemplates = 200

    private static func invalid(_ field: String, _ message: String) -> RPCStatus { FieldValidation.invalid(field, message) }

    /// A search filter: at most 256 bytes, no control characters (PostgreSQL refuses NUL in text).
    static func filter(_ text: String, field: String) throws(RPCStatus) -> String {
        guard text.utf8.count <= maximumLabelBytes else {
            throw invalid(field, "\(field) is longer than \(maximumLabelBytes) bytes")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw invalid(field, "\(field) must not contain control characters")
        }
        return text
    }

    static func label(_ text: String, field: String = "label") throws(RPCStatus) -> String {
        try FieldValidation.identifier(text, field: field, maximumBytes: maximumLabelBytes)
    }

    /// A slot value, or a verification key: ciphertext of any length up to the bound, never plaintext.
    static func encryptedValue(_ text: String, field: String, maximumCharacters: Int = maximumValueCharacters)
        throws(RPCStatus) -> String?
    {
        guard !text.isEmpty else { return nil }
        // The message for anything that is not a Cryppo string says that plaintext is refused.
        _ = try FieldValidation.aesGCMString(
            text, field: field, maximumCharacters: maximumCharacters, ciphertextBytes: 1...maximumCharacters,
            what: "a value")
        return text
    }

    static func slotType(_ text: String, field: String) throws(RPCStatus) -> SlotType {
        guard let type = SlotType(wire: text) else {
            throw invalid(field, "\(field) \"\(text.prefix(40))\" is not a slot type (one of: \(SlotType.names))")
        }
        return type
    }

    static func slotName(_ text: String, field: String) throws(RPCStatus) -> String {
        guard SlotName.isValid(text) else {
            throw invalid(field, "\(field) must be 1-64 characters of a-z, 0-9 and _")
        }
        return text
    }

    /// A slot from the client. For a slot of the item's template, `template` fills an empty label or type.
    static func slot(_ input: Svx_Vault_V1_SlotInput, field: String, template: TemplateSlotRow? = nil) throws(RPCStatus)
        -> ValidSlot
    {
        let name: String
        if input.name.isEmpty {
            guard !input.label.isEmpty else { throw invalid("\(field).label", "\(field) needs a name or a label") }
            name = try slotName(SlotName.derive(fromLabel: input.label), field: "\(field).label")
        } else {
            name = try slotName(input.name, field: "\(field).name")
        }
        let template = template?.name == name ? template : nil
        let label = input.label.isEmpty ? (template?.label ?? name) : try self.label(input.label, field: "\(field).label")
        let type: SlotType
        if input.slotType.isEmpty, let template {
            type = SlotType(rawValue: template.slotType) ?? .default
        } else if input.slotType.isEmpty, !input.attachmentID.isEmpty {
            type = .attachment  // an attachment id says what the slot is
        } else {
            type = try slotType(input.slotType, field: "\(field).slot_type")
        }
        try ordinal(input.ordinal, field: "\(field).ordinal")
        let hash = input.valueVerificationHash
        if !hash.isEmpty {
            guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw invalid("\(field).value_verification_hash", "\(field).value_verification_hash must be 64 lowercase hex characters")
            }
        }
        var attachmentID: String?
        if !input.attachmentID.isEmpty {
            guard type == .attachment else {
                throw invalid("\(field).attachment_id", "\(field).attachment_id is only for slots of type attachment")
            }
            attachmentID = try FieldValidation.uuid(input.attachmentID, field: "\(field).attachment_id").wire
        }
        return ValidSlot(
            name: name, label: label, slotType: type.rawValue,
            encryptedValue: try encryptedValue(input.encryptedValue, field: "\(field).encrypted_value"),
            verificationKey: try encryptedValue(
                input.encryptedValueVerificationKey, field: "\(field).encrypted_value_verification_key",
                maximumCharacters: maximumVerificationKeyCharacters),
            verificationHash: hash.isEmpty ? nil : hash,
            ordinal: input.ordinal == 0 ? (template?.ordinal ?? 0) : input.ordinal, attachmentID: attachmentID)
    }

    static func ordinal(_ value: Int32, field: String) throws(RPCStatus) {
        guard (0...maximumOrdinal).contains(value) else {
            throw invalid(field, "\(field) must be 0 to \(maximumOrdinal)")
        }
    }

    /// The encrypted text an item holds, for ``maximumItemCharacters``.
    static func characters(_ slots: [ValidSlot]) -> Int {
        slots.reduce(0) { $0 + ($1.encryptedValue?.utf8.count ?? 0) + ($1.verificationKey?.utf8.count ?? 0) }
    }

    /// Names must be unique within an item.
    static func uniqueNames(_ slots: [ValidSlot], field: String) throws(RPCStatus) {
        var seen = Set<String>()
        for slot in slots where !seen.insert(slot.name).inserted {
            throw invalid(field, "\(field) has two slots named \(slot.name)")
        }
        guard slots.count <= maximumSlots else { throw invalid(field, "an item has at most \(maximumSlots) slots") }
    }

    static func templateName(_ text: String, field: String = "name") throws(RPCStatus) -> String {
        guard !text.isEmpty, text.utf8.count <= maximumTemplateNameBytes, SlotName.isValid(text) else {
            throw invalid(field, "\(field) must be 1-\(maximumTemplateNameBytes) characters of a-z, 0-9 and _")
        }
        return text
    }
}

/// A template slot as read from the database.
struct TemplateSlotRow: Sendable {
    let name: String
    let label: String
    let slotType: String
    let ordinal: Int32
}
