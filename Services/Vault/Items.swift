import Foundation
import SVXModels
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import VaultSQL

/// Items and their slots: CreateItem (cloned from a template), GetItem, ListItems, UpdateItem (optimistic
/// concurrency on `version`), DeleteItem.
extension VaultService {
    /// Items from rows of ``VaultQueries/itemColumns`` followed (when `withSlots`) by ``VaultQueries/slotColumns``,
    /// NULL for an item without slots; rows of one item are consecutive.
    static func items(_ rows: [PostgresRow], withSlots: Bool) throws -> [Svx_Vault_V1_Item] {
        var items: [Svx_Vault_V1_Item] = []
        var lastID: UUID?
        for row in rows {
            let id = try row.decode(UUID.self, at: 0)
            if id != lastID {
                lastID = id
                var item = Svx_Vault_V1_Item()
                item.itemID = id.wire
                item.templateID = try row.decode(String.self, at: 1)
                item.templateName = try row.decode(String.self, at: 2)
                item.label = try row.decode(String.self, at: 3)
                item.version = UInt64(try row.decode(Int64.self, at: 4))
                item.createdAtMs = UInt64(try row.decode(Int64.self, at: 5))
                item.updatedAtMs = UInt64(try row.decode(Int64.self, at: 6))
                items.append(item)
            }
            guard withSlots, let slotID = try row.decode(UUID?.self, at: 7) else { continue }
            var slot = Svx_Vault_V1_Slot()
            slot.slotID = slotID.wire
            slot.name = try row.decode(String.self, at: 8)
            slot.label = try row.decode(String.self, at: 9)
            slot.slotType = try row.decode(String.self, at: 10)
            slot.encryptedValue = try row.decode(String?.self, at: 11) ?? ""
            slot.encryptedValueVerificationKey = try row.decode(String?.self, at: 12) ?? ""
            slot.valueVerificationHash = try row.decode(String?.self, at: 13) ?? ""
            slot.ordinal = try row.decode(Int32.self, at: 14)
            slot.attachmentID = try row.decode(UUID?.self, at: 15)?.wire ?? ""
            slot.createdAtMs = UInt64(try row.decode(Int64.self, at: 16))
            slot.updatedAtMs = UInt64(try row.decode(Int64.self, at: 17))
            items[items.count - 1].slots.append(slot)
        }
        return items
    }

    static func loadItem(_ db: PostgresConnection, userID: UUID, itemID: UUID) throws -> Svx_Vault_V1_Item? {
        let rows = try db.query(VaultQueries.loadItem, userID, itemID)
        return try items(rows, withSlots: true).first
    }

    private static func insertSlots(_ db: PostgresConnection, userID: UUID, itemID: UUID, _ slots: [(UUID, ValidSlot)]) throws {
        guard !slots.isEmpty else { return }
        let json = try VaultQueries.slotRecords(slots.map { id, slot in
            VaultQueries.SlotRecord(
                slotID: id, name: slot.name, label: slot.label, slotType: slot.slotType, encryptedValue: slot.encryptedValue,
                verificationKey: slot.verificationKey, verificationHash: slot.verificationHash, ordinal: slot.ordinal,
                attachmentID: slot.attachmentID)
        })
        do {
            _ = try db.execute(VaultQueries.insertSlots, userID, itemID, json)
        } catch let error as DatabaseError where error.kind == .uniqueViolation {
            throw RPCStatus(.alreadyExists, "an attachment can be in one slot only", details: ["field": "slots"])
        }
    }

    /// Every attachment a slot names must be the caller's and complete.
    private static func checkAttachments(_ db: PostgresConnection, userID: UUID, _ slots: [ValidSlot], field: String) throws {
        for slot in slots {
            guard let attachment = slot.attachmentID else { continue }
            let rows = try db.query(
                // Locked so that housekeeping cannot delete it before the slot that takes it commits.
                "SELECT complete FROM vault.attachments WHERE user_id = $1 AND attachment_id = $2::uuid FOR KEY SHARE",
                userID, attachment)
            guard let row = rows.first else { throw RPCStatus.notFound("attachment", field: "\(field).attachment_id") }
            guard try row.decode(Bool.self, at: 0) else {
                throw RPCStatus(
                    .failedPrecondition, "attachment \(attachment) is not complete: finish its upload first",
                    details: ["field": "\(field).attachment_id"])
            }
        }
    }

    func createItem(
        _ request: Svx_Vault_V1_CreateItemRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_CreateItemResponse {
        let userID = try session.userUUID
        guard request.slots.count <= VaultValidation.maximumSlots else {
            throw FieldValidation.invalid("slots", "an item has at most \(VaultValidation.maximumSlots) slots")
        }
        let db = worker.database
        let template = try Self.template(
            db, userID: userID, id: request.templateID, name: request.templateName, idField: "template_id",
            nameField: "template_name")
        let label = request.label.isEmpty ? template.label : try VaultValidation.label(request.label)
        let byName = Dictionary(template.slots.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var given: [String: ValidSlot] = [:]
        var extras: [ValidSlot] = []
        for (index, input) in request.slots.enumerated() {
            let name = input.name.isEmpty ? SlotName.derive(fromLabel: input.label) : input.name
            let slot = try VaultValidation.slot(input, field: "slots[\(index)]", template: byName[name])
            if byName[slot.name] != nil {
                guard given.updateValue(slot, forKey: slot.name) == nil else {
                    throw FieldValidation.invalid("slots", "slots has two slots named \(slot.name)")
                }
            } else {
                extras.append(slot)
            }
        }
        let lastOrdinal = template.slots.map(\.ordinal).max() ?? 0
        var slots = template.slots.map { templateSlot in
            given[templateSlot.name] ?? ValidSlot(
                name: templateSlot.name, label: templateSlot.label, slotType: templateSlot.slotType, encryptedValue: nil,
                verificationKey: nil, verificationHash: nil, ordinal: templateSlot.ordinal, attachmentID: nil)
        }
        for (offset, var extra) in extras.enumerated() {
            if extra.ordinal == 0 { extra.ordinal = min(VaultValidation.maximumOrdinal, lastOrdinal + Int32(offset) + 1) }
            slots.append(extra)
        }
        try VaultValidation.uniqueNames(slots, field: "slots")
        guard VaultValidation.characters(slots) <= VaultValidation.maximumItemCharacters else {
            throw FieldValidation.invalid(
                "slots", "an item holds at most \(VaultValidation.maximumItemCharacters) characters of encrypted values")
        }

        let itemID = try TimeOrderedID.make()
        let withIDs = slots.map { (UUID(), $0) }
        let times = try db.transaction { db -> (Int64, Int64) in
            try Self.checkAttachments(db, userID: userID, slots, field: "slots")
            let row = try db.query(VaultQueries.insertItem, userID, itemID, template.id, template.name, label)[0]
            try quotas.items.check(used: try Self.usage(db, userID: userID).items, adding: 0)
            try Self.insertSlots(db, userID: userID, itemID: itemID, withIDs)
            try recordEvents(
                withIDs.compactMap { slotID, slot in
                    slot.attachmentID.map { Self.attachmentAdded($0, itemID: itemID, slotID: slotID) }
                }, session, context, on: db)
            return (try row.decode(Int64.self, at: 0), try row.decode(Int64.self, at: 1))
        }
        // The answer is built from what was written (no second read).
        var item = Svx_Vault_V1_Item()
        item.itemID = itemID.wire
        item.templateID = template.id.wire
        item.templateName = template.name
        item.label = label
        item.version = 1
        item.createdAtMs = UInt64(times.0)
        item.updatedAtMs = UInt64(times.1)
        item.slots = withIDs.sorted { ($0.1.ordinal, $0.1.name) < ($1.1.ordinal, $1.1.name) }.map { id, slot in
            var wire = Svx_Vault_V1_Slot()
            wire.slotID = id.wire
            wire.name = slot.name
            wire.label = slot.label
            wire.slotType = slot.slotType
            wire.encryptedValue = slot.encryptedValue ?? ""
            wire.encryptedValueVerificationKey = slot.verificationKey ?? ""
            wire.valueVerificationHash = slot.verificationHash ?? ""
            wire.ordinal = slot.ordinal
            wire.attachmentID = slot.attachmentID ?? ""
            wire.createdAtMs = UInt64(times.0)
            wire.updatedAtMs = UInt64(times.1)
            return wire
        }
        var response = Svx_Vault_V1_CreateItemResponse()
        response.item = item
        return response
    }

    func getItem(
        _ request: Svx_Vault_V1_GetItemRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_GetItemResponse {
        let itemID = try FieldValidation.uuid(request.itemID, field: "item_id")
        guard let item = try Self.loadItem(worker.database, userID: try session.userUUID, itemID: itemID) else {
            throw RPCStatus.notFound("item", field: "item_id")
        }
        var response = Svx_Vault_V1_GetItemResponse()
        response.item = item
        return response
    }

    /// The ListItems filters besides paging.
    struct ItemFilter {
        var templateID: UUID?
        var templateName: String
        var labelContains: String
        var includeSlots: Bool
    }

    /// Up to `limit` of the caller's items after `after` in item_id order that pass `filter` (and, with `among`,
    /// whose ids are in it), with their slots when the filter asks for them.
    static func itemPage(
        _ db: PostgresConnection, userID: UUID, after: UUID?, filter: ItemFilter, among ids: [UUID]? = nil, limit: Int
    ) throws -> [Svx_Vault_V1_Item] {
        var parameters: [(any PostgresEncodable)?] = [
            userID, after, filter.templateID, filter.templateName, filter.labelContains, limit,
        ]
        if let ids { parameters.append(uuidArrayLiteral(ids)) }
        let page = """
            SELECT * FROM vault.items
            WHERE user_id = $1 AND ($2::uuid IS NULL OR item_id > $2::uuid) AND ($3::uuid IS NULL OR template_id = $3::uuid)
              AND ($4 = '' OR template_name = $4) AND ($5 = '' OR strpos(lower(label), lower($5)) > 0)
              \(ids == nil ? "" : "AND item_id = ANY($7::uuid[])")
            ORDER BY item_id LIMIT $6
            """
        let sql = filter.includeSlots
            ? """
              WITH i AS (\(page))
              SELECT \(VaultQueries.itemColumns), \(VaultQueries.slotColumns)
              FROM i LEFT JOIN vault.slots s ON s.user_id = i.user_id AND s.item_id = i.item_id
              ORDER BY i.item_id, s.ordinal, s.name COLLATE "C"
              """
            : "SELECT \(VaultQueries.itemColumns) FROM (\(page)) i ORDER BY i.item_id"
        return try items(try db.query(sql, parameters: parameters), withSlots: filter.includeSlots)
    }

    func listItems(
        _ request: Svx_Vault_V1_ListItemsRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_ListItemsResponse {
        // With slots, a page holds at most 50 items (an item is up to 1 MiB of encrypted values); the next page token
        // says there is more.
        let asked = try FieldValidation.pageSize(request.pageSize, defaultSize: 50)
        let pageSize = request.includeSlots ? min(asked, 50) : asked
        let after = try FieldValidation.pageToken(request.pageToken)
        guard request.templateID.isEmpty || request.templateName.isEmpty else {
            throw FieldValidation.invalid("template_id", "give at most one of template_id and template_name")
        }
        let templateID = request.templateID.isEmpty ? nil : try FieldValidation.uuid(request.templateID, field: "template_id")
        let templateName = request.templateName.isEmpty ? "" : try VaultValidation.templateName(request.templateName, field: "template_name")
        _ = try VaultValidation.filter(request.labelContains, field: "label_contains")
        let node = request.classificationNode.isEmpty
            ? nil : try FieldValidation.identifier(request.classificationNode, field: "classification_node", maximumBytes: 200)
        let filter = ItemFilter(
            templateID: templateID, templateName: templateName, labelContains: request.labelContains,
            includeSlots: request.includeSlots)
        let userID = try session.userUUID
        var response = Svx_Vault_V1_ListItemsResponse()
        if let node {
            (response.items, response.nextPageToken) = try classifiedItemPage(
                node: node, after: after, filter: filter, pageSize: pageSize, userID: userID, context, worker.database)
            return response
        }
        var items = try Self.itemPage(worker.database, userID: userID, after: after, filter: filter, limit: pageSize + 1)
        if items.count > pageSize {
            items.removeLast(items.count - pageSize)
            response.nextPageToken = items[items.count - 1].itemID
        }
        response.items = items
        return response
    }

    func updateItem(
        _ request: Svx_Vault_V1_UpdateItemRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_UpdateItemResponse {
        let itemID = try FieldValidation.uuid(request.itemID, field: "item_id")
        guard request.expectedVersion >= 1, request.expectedVersion <= UInt64(Int64.max) else {
            throw FieldValidation.invalid("expected_version", "expected_version is required (the version you read)")
        }
        let label = request.label.isEmpty ? nil : try VaultValidation.label(request.label)
        guard request.upsertSlots.count <= VaultValidation.maximumSlots,
            request.removeSlots.count <= VaultValidation.maximumSlots
        else {
            throw FieldValidation.invalid("upsert_slots", "an item has at most \(VaultValidation.maximumSlots) slots")
        }
        let removals = try request.removeSlots.map { try VaultValidation.slotName($0, field: "remove_slots") }
        guard Set(removals).count == removals.count else {
            throw FieldValidation.invalid("remove_slots", "remove_slots names a slot twice")
        }
        // Checked once without the stored slots (what needs no database), again below with them (label and type
        // of an existing slot are kept when the input leaves them empty).
        let upserts = try request.upsertSlots.enumerated().map { index, input in
            try VaultValidation.slot(input, field: "upsert_slots[\(index)]")
        }
        try VaultValidation.uniqueNames(upserts, field: "upsert_slots")
        for slot in upserts where removals.contains(slot.name) {
            throw FieldValidation.invalid("remove_slots", "\(slot.name) is both upserted and removed")
        }
        let userID = try session.userUUID
        let nothingToChange = label == nil && upserts.isEmpty && removals.isEmpty
        let item = try worker.database.transaction { db -> Svx_Vault_V1_Item in
            let current = try db.query(
                "SELECT version FROM vault.items WHERE user_id = $1 AND item_id = $2 FOR UPDATE", userID, itemID)
            guard let version = try current.first?.decode(Int64.self, at: 0) else { throw RPCStatus.notFound("item", field: "item_id") }
            guard version == Int64(request.expectedVersion) else {
                throw RPCStatus(
                    .aborted, "the item changed: it is at version \(version), not \(request.expectedVersion); read it again",
                    details: ["field": "expected_version"])
            }
            if nothingToChange, let item = try Self.loadItem(db, userID: userID, itemID: itemID) { return item }
            var existing: [String: (id: UUID, row: TemplateSlotRow, attachment: UUID?)] = [:]
            var heldBefore: Set<String> = []
            for row in try db.query(
                "SELECT slot_id, name, label, slot_type, ordinal, attachment_id FROM vault.slots WHERE user_id = $1 AND item_id = $2",
                userID, itemID)
            {
                let name = try row.decode(String.self, at: 1)
                existing[name] = (
                    try row.decode(UUID.self, at: 0),
                    TemplateSlotRow(
                        name: name, label: try row.decode(String.self, at: 2), slotType: try row.decode(String.self, at: 3),
                        ordinal: try row.decode(Int32.self, at: 4)),
                    try row.decode(UUID?.self, at: 5))
                if let held = existing[name]?.attachment { heldBefore.insert(held.wire) }
            }
            var freedAttachments: [UUID] = []
            var removedSlots: [UUID] = []
            for name in removals {
                guard let slot = existing.removeValue(forKey: name) else {
                    throw RPCStatus(.notFound, "the item has no slot named \(name)", details: ["field": "remove_slots"])
                }
                _ = try db.execute("DELETE FROM vault.slots WHERE user_id = $1 AND item_id = $2 AND slot_id = $3", userID, itemID, slot.id)
                removedSlots.append(slot.id)
                if let attachment = slot.attachment { freedAttachments.append(attachment) }
            }
            var inserts: [(UUID, ValidSlot)] = []
            var added: [(attachment: String, slotID: UUID)] = []
            for (index, input) in request.upsertSlots.enumerated() {
                let name = upserts[index].name
                var slot = try VaultValidation.slot(input, field: "upsert_slots[\(index)]", template: existing[name]?.row)
                try Self.checkAttachments(db, userID: userID, [slot], field: "upsert_slots[\(index)]")
                if let stored = existing[name] {
                    if input.ordinal == 0 { slot.ordinal = stored.row.ordinal }
                    // An attachment slot upserted without an attachment id keeps its file.
                    if slot.slotType == SlotType.attachment.rawValue, slot.attachmentID == nil, let old = stored.attachment {
                        slot.attachmentID = old.wire
                    }
                    if let old = stored.attachment, old.wire != slot.attachmentID { freedAttachments.append(old) }
                    if let new = slot.attachmentID, !heldBefore.contains(new) { added.append((new, stored.id)) }
                    do {
                        _ = try db.execute(
                            """
                            UPDATE vault.slots SET label = $4, slot_type = $5, encrypted_value = $6,
                                encrypted_value_verification_key = $7, value_verification_hash = $8, ordinal = $9,
                                attachment_id = $10::uuid, updated_at = now()
                            WHERE user_id = $1 AND item_id = $2 AND slot_id = $3
                            """, userID, itemID, stored.id, slot.label, slot.slotType, slot.encryptedValue,
                            slot.verificationKey, slot.verificationHash, slot.ordinal, slot.attachmentID)
                    } catch let error as DatabaseError where error.kind == .uniqueViolation {
                        throw RPCStatus(.alreadyExists, "an attachment can be in one slot only", details: ["field": "upsert_slots"])
                    }
                } else {
                    if input.ordinal == 0 {
                        let last = existing.values.map(\.row.ordinal).max() ?? 0
                        slot.ordinal = min(VaultValidation.maximumOrdinal, last + Int32(inserts.count) + 1)
                    }
                    let slotID = UUID()
                    if let new = slot.attachmentID, !heldBefore.contains(new) { added.append((new, slotID)) }
                    inserts.append((slotID, slot))
                }
            }
            guard existing.count + inserts.count <= VaultValidation.maximumSlots else {
                throw FieldValidation.invalid("upsert_slots", "an item has at most \(VaultValidation.maximumSlots) slots")
            }
            try Self.insertSlots(db, userID: userID, itemID: itemID, inserts)
            let size = try db.query(
                """
                SELECT coalesce(sum(coalesce(octet_length(encrypted_value), 0)
                                    + coalesce(octet_length(encrypted_value_verification_key), 0)), 0)::bigint
                FROM vault.slots WHERE user_id = $1 AND item_id = $2
                """, userID, itemID)[0]
            guard try size.decode(Int64.self, at: 0) <= Int64(VaultValidation.maximumItemCharacters) else {
                throw FieldValidation.invalid(
                    "upsert_slots", "an item holds at most \(VaultValidation.maximumItemCharacters) characters of encrypted values")
            }
            // A freed attachment goes, unless another slot of this update took it.
            var removedAttachments: [UUID] = []
            for attachment in freedAttachments {
                let gone = try db.execute(
                    """
                    DELETE FROM vault.attachments a WHERE a.user_id = $1 AND a.attachment_id = $2
                    AND NOT EXISTS (SELECT 1 FROM vault.slots s WHERE s.user_id = $1 AND s.attachment_id = $2)
                    """, userID, attachment)
                if gone == 1 { removedAttachments.append(attachment) }
            }
            _ = try db.execute(
                """
                UPDATE vault.items SET label = coalesce($3, label), version = version + 1, updated_at = now()
                WHERE user_id = $1 AND item_id = $2
                """, userID, itemID, label)
            guard let item = try Self.loadItem(db, userID: userID, itemID: itemID) else {
                throw RPCStatus.notFound("item", field: "item_id")
            }
            // Last, once every check has passed, with the item row still locked: inside the transaction so that a
            // Classification or Sharing failure rolls the removal back (forgetClassifications says why). Sharing
            // revokes the single-slot shares of the removed slots and drops them from whole-item copies.
            try forgetClassifications(removedSlots.map { Self.entity(.slot, $0) }, context)
            try forgetShares(itemIDs: [], slotIDs: removedSlots, context)
            try recordEvents(
                added.map { Self.attachmentAdded($0.attachment, itemID: itemID, slotID: $0.slotID) }
                    + removedAttachments.map { Self.attachmentRemoved($0, itemID: itemID) }, session, context, on: db)
            return item
        }
        var response = Svx_Vault_V1_UpdateItemResponse()
        response.item = item
        return response
    }

    func deleteItem(
        _ request: Svx_Vault_V1_DeleteItemRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_DeleteItemResponse {
        let itemID = try FieldValidation.uuid(request.itemID, field: "item_id")
        let userID = try session.userUUID
        try worker.database.transaction { db in
            // The item row first, locked: an update cannot add a slot (and an attachment) until this commits.
            let locked = try db.query(
                "SELECT 1 FROM vault.items WHERE user_id = $1 AND item_id = $2 FOR UPDATE", userID, itemID)
            guard !locked.isEmpty else { throw RPCStatus.notFound("item", field: "item_id") }
            // The peers forget the item while its row is locked and before anything of the user's is (the usage row,
            // the audit head): a Classification or Sharing failure rolls the deletion back (forgetClassifications says
            // why), and the user's other writes do not wait for these two calls. The item's slots' classifications go
            // with the item's; every share of the item (on-shares included) is revoked.
            try forgetClassifications([Self.entity(.item, itemID)], context)
            try forgetShares(itemIDs: [itemID], slotIDs: [], context)
            // The attachments the slots held (one row at least: NULL for none), with the user's audit head.
            let found = try audit.lockHead(
                userID,
                ifRowsOf: """
                    SELECT s.attachment_id FROM (VALUES (1)) AS one
                    LEFT JOIN vault.slots s ON s.user_id = $1 AND s.item_id = $2 AND s.attachment_id IS NOT NULL
                    """, [userID, itemID], on: db)
            let attachments = try found.rows.compactMap { try $0.decode(UUID?.self, at: 0) }
            // The slots go with the item (ON DELETE CASCADE), its events with it; then the attachments they held.
            var sql = "DELETE FROM vault.items WHERE user_id = $1 AND item_id = $2"
            var parameters: [(any PostgresEncodable)?] = [userID, itemID]
            if let head = found.head {
                let events = auditEvents(
                    [("item.deleted", ("item", itemID.wire), ["attachments": "\(attachments.count)"])]
                        + attachments.map { Self.attachmentRemoved($0, itemID: itemID) }, session, context)
                let record = try audit.recordSQL(
                    audit.linkedEntries(events, userID: userID, after: head), userID: userID, firstPlaceholder: 3)
                sql = "WITH event AS (\(record.insertEvent)), head AS (\(record.moveHead)) \(sql)"
                parameters += record.parameters
            }
            guard try db.execute(sql, parameters: parameters) == 1 else {
                throw RPCStatus.notFound("item", field: "item_id")
            }
            if !attachments.isEmpty {
                _ = try db.execute(
                    "DELETE FROM vault.attachments WHERE user_id = $1 AND attachment_id = ANY($2::uuid[])",
                    userID, uuidArrayLiteral(attachments))
            }
        }
        context.logger.info("item deleted", metadata: ["user_id": "\(session.userID)", "item_id": "\(itemID.wire)"])
        return .init()
    }

    /// The event of an attachment a slot took (a file that no slot of the user held before is now in an item).
    static func attachmentAdded(
        _ attachment: String, itemID: UUID, slotID: UUID
    ) -> (type: String, subject: (type: String, id: String), details: [String: String]) {
        ("attachment.added", ("attachment", attachment.lowercased()), ["item_id": itemID.wire, "slot_id": slotID.wire])
    }

    /// The event of an attachment deleted with its slot or its item.
    static func attachmentRemoved(
        _ attachment: UUID, itemID: UUID
    ) -> (type: String, subject: (type: String, id: String), details: [String: String]) {
        ("attachment.removed", ("attachment", attachment.wire), ["item_id": itemID.wire])
    }
}
