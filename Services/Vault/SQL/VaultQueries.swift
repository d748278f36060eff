import Foundation
import SVXStore

/// The Vault's statements that something outside the service runs too: `svx-load`'s raw libpq baselines measure
/// exactly what GetItem and CreateItem send to PostgreSQL, so the text lives here, once, for both (the Vault's
/// other SQL stays with its handlers). Only SQL text and the shape of its parameters: no I/O, no service code.
public enum VaultQueries {
    /// An item's columns, alias `i` (decoded in this order by the Vault's `items(_:withSlots:)`).
    public static let itemColumns = """
        i.item_id, coalesce(i.template_id::text, ''), i.template_name, i.label, i.version,
        \(epochMilliseconds("i.created_at")), \(epochMilliseconds("i.updated_at"))
        """

    /// A slot's columns, alias `s`, after ``itemColumns`` (NULL for an item without slots).
    public static let slotColumns = """
        s.slot_id, s.name, s.label, s.slot_type, s.encrypted_value, s.encrypted_value_verification_key,
        s.value_verification_hash, s.ordinal, s.attachment_id, \(epochMilliseconds("s.created_at")),
        \(epochMilliseconds("s.updated_at"))
        """

    /// GetItem: one item of a user with its slots in order. `$1` user id, `$2` item id; no row if the user has no
    /// such item.
    public static let loadItem = """
        SELECT \(itemColumns), \(slotColumns)
        FROM vault.items i LEFT JOIN vault.slots s ON s.user_id = i.user_id AND s.item_id = i.item_id
        WHERE i.user_id = $1 AND i.item_id = $2
        ORDER BY s.ordinal, s.name COLLATE "C"
        """

    /// CreateItem's item row. `$1` user id, `$2` item id, `$3` template id, `$4` template name, `$5` label; returns
    /// created_at and updated_at in epoch milliseconds.
    public static let insertItem = """
        INSERT INTO vault.items (user_id, item_id, template_id, template_name, label) VALUES ($1, $2, $3, $4, $5)
        RETURNING \(epochMilliseconds("created_at")), \(epochMilliseconds("updated_at"))
        """

    /// Every slot of one item in one statement. `$1` user id, `$2` item id, `$3` ``slotRecords(_:)`` of the slots.
    public static let insertSlots = """
        INSERT INTO vault.slots (user_id, item_id, slot_id, name, label, slot_type, encrypted_value,
            encrypted_value_verification_key, value_verification_hash, ordinal, attachment_id)
        SELECT $1, $2, r.slot_id, r.name, r.label, r.slot_type, r.encrypted_value, r.verification_key,
               r.verification_hash, r.ordinal, r.attachment_id
        FROM jsonb_to_recordset($3::jsonb) AS r(slot_id uuid, name text, label text, slot_type text,
            encrypted_value text, verification_key text, verification_hash text, ordinal integer, attachment_id uuid)
        """

    /// One slot row of ``insertSlots``.
    public struct SlotRecord: Encodable, Sendable {
        let slot_id: String
        let name: String
        let label: String
        let slot_type: String
        let encrypted_value: String?
        let verification_key: String?
        let verification_hash: String?
        let ordinal: Int32
        let attachment_id: String?

        public init(
            slotID: UUID, name: String, label: String, slotType: String, encryptedValue: String?,
            verificationKey: String? = nil, verificationHash: String? = nil, ordinal: Int32, attachmentID: String? = nil
        ) {
            slot_id = slotID.uuidString.lowercased()
            self.name = name
            self.label = label
            slot_type = slotType
            encrypted_value = encryptedValue
            verification_key = verificationKey
            verification_hash = verificationHash
            self.ordinal = ordinal
            attachment_id = attachmentID
        }
    }

    /// ``insertSlots``'s `$3`: the records as a JSON array.
    public static func slotRecords(_ records: [SlotRecord]) throws -> String {
        String(decoding: try JSONEncoder().encode(records), as: UTF8.self)
    }
}

extension VaultQueries {
    /// GetItemOutlines: the metadata of some of a user's items, slots in order, never a value. `$1` user id, `$2` a
    /// uuid[] literal of item ids; rows of one item are consecutive (NULL slot columns for an item without slots):
    /// item_id, version, label, template_name, slot_id, name, label, slot_type, ordinal, has_value.
    public static let loadItemOutlines = """
        SELECT i.item_id, i.version, i.label, i.template_name, s.slot_id, s.name, s.label, s.slot_type, s.ordinal,
               s.encrypted_value IS NOT NULL, s.attachment_id
        FROM vault.items i LEFT JOIN vault.slots s ON s.user_id = i.user_id AND s.item_id = i.item_id
        WHERE i.user_id = $1 AND i.item_id = ANY($2::uuid[])
        ORDER BY i.item_id, s.ordinal, s.name COLLATE "C"
        """
}
