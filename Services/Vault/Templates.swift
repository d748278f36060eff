import Foundation
import SVXModels
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Item templates: the system ones (seeded by migration, read-only, visible to all) and each user's own.
extension VaultService {
    struct TemplateRecord {
        var id: UUID
        var name: String
        var label: String
        var description: String
        var system: Bool
        var createdAtMs: UInt64
        var slots: [TemplateSlotRow]

        var wire: Svx_Vault_V1_ItemTemplate {
            var template = Svx_Vault_V1_ItemTemplate()
            template.templateID = id.wire
            template.name = name
            template.label = label
            template.description_p = description
            template.system = system
            template.createdAtMs = createdAtMs
            template.slots = slots.map { slot in
                var wire = Svx_Vault_V1_TemplateSlot()
                wire.name = slot.name
                wire.label = slot.label
                wire.slotType = slot.slotType
                wire.ordinal = slot.ordinal
                return wire
            }
            return template
        }
    }

    /// Templates visible to `userID` (system ones and its own) that match `condition` (SQL over `t`, parameters
    /// from $2), with their slots.
    static func templates(
        _ db: PostgresConnection, userID: UUID, where condition: String, _ parameters: [(any PostgresEncodable)?]
    ) throws -> [TemplateRecord] {
        let rows = try db.query(
            """
            SELECT t.template_id, t.name, t.label, t.description, t.owner_id IS NULL, \(epochMilliseconds("t.created_at")),
                   s.name, s.label, s.slot_type, s.ordinal
            FROM vault.templates t LEFT JOIN vault.template_slots s ON s.template_id = t.template_id
            WHERE (t.owner_id IS NULL OR t.owner_id = $1) AND (\(condition))
            ORDER BY t.name, t.owner_id NULLS FIRST, s.ordinal, s.name
            """, parameters: [userID] + parameters)
        var records: [TemplateRecord] = []
        for row in rows {
            let id = try row.decode(UUID.self, at: 0)
            if records.last?.id != id {
                records.append(TemplateRecord(
                    id: id, name: try row.decode(String.self, at: 1), label: try row.decode(String.self, at: 2),
                    description: try row.decode(String.self, at: 3), system: try row.decode(Bool.self, at: 4),
                    createdAtMs: UInt64(try row.decode(Int64.self, at: 5)), slots: []))
            }
            if let name = try row.decode(String?.self, at: 6) {
                records[records.count - 1].slots.append(TemplateSlotRow(
                    name: name, label: try row.decode(String.self, at: 7), slotType: try row.decode(String.self, at: 8),
                    ordinal: try row.decode(Int32.self, at: 9)))
            }
        }
        return records
    }

    /// One template by id or by name (exactly one of them), visible to the caller; NOT_FOUND otherwise.
    static func template(
        _ db: PostgresConnection, userID: UUID, id: String, name: String, idField: String, nameField: String
    ) throws -> TemplateRecord {
        let found: [TemplateRecord]
        switch (id.isEmpty, name.isEmpty) {
        case (false, true):
            found = try templates(db, userID: userID, where: "t.template_id = $2", [try FieldValidation.uuid(id, field: idField)])
        case (true, false):
            found = try templates(db, userID: userID, where: "t.name = $2", [try VaultValidation.templateName(name, field: nameField)])
        default:
            throw FieldValidation.invalid(idField, "give exactly one of \(idField) and \(nameField)")
        }
        guard let template = found.first else { throw RPCStatus.notFound("template", field: id.isEmpty ? nameField : idField) }
        return template
    }

    func listTemplates(
        _ request: Svx_Vault_V1_ListTemplatesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_ListTemplatesResponse {
        _ = try VaultValidation.filter(request.nameContains, field: "name_contains")
        let userID = try session.userUUID
        let records = try Self.templates(
            worker.database, userID: userID,
            where: """
                ($2 = '' OR strpos(lower(t.name), lower($2)) > 0 OR strpos(lower(t.label), lower($2)) > 0)
                AND (NOT $3 OR t.owner_id IS NOT NULL)
                """, [request.nameContains, request.onlyOwn])
        var response = Svx_Vault_V1_ListTemplatesResponse()
        response.templates = records.map(\.wire)
        return response
    }

    func getTemplate(
        _ request: Svx_Vault_V1_GetTemplateRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_GetTemplateResponse {
        var response = Svx_Vault_V1_GetTemplateResponse()
        response.template = try Self.template(
            worker.database, userID: try session.userUUID, id: request.templateID, name: request.name,
            idField: "template_id", nameField: "name"
        ).wire
        return response
    }

    func createTemplate(
        _ request: Svx_Vault_V1_CreateTemplateRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_CreateTemplateResponse {
        let name = try VaultValidation.templateName(request.name)
        let label = request.label.isEmpty ? name : try VaultValidation.label(request.label)
        if !request.description_p.isEmpty {
            _ = try FieldValidation.identifier(request.description_p, field: "description", maximumBytes: 1024)
        }
        guard request.slots.count <= VaultValidation.maximumSlots else {
            throw FieldValidation.invalid("slots", "a template has at most \(VaultValidation.maximumSlots) slots")
        }
        var names = Set<String>()
        var slots: [TemplateSlotRow] = []
        for (index, slot) in request.slots.enumerated() {
            let field = "slots[\(index)]"
            try VaultValidation.ordinal(slot.ordinal, field: "\(field).ordinal")
            let slotName = slot.name.isEmpty
                ? try VaultValidation.slotName(SlotName.derive(fromLabel: slot.label), field: "\(field).label")
                : try VaultValidation.slotName(slot.name, field: "\(field).name")
            guard names.insert(slotName).inserted else {
                throw FieldValidation.invalid("slots", "slots has two slots named \(slotName)")
            }
            slots.append(TemplateSlotRow(
                name: slotName, label: slot.label.isEmpty ? slotName : try VaultValidation.label(slot.label, field: "\(field).label"),
                slotType: try VaultValidation.slotType(slot.slotType, field: "\(field).slot_type").rawValue,
                ordinal: slot.ordinal == 0 ? Int32(index + 1) : slot.ordinal))
        }
        let userID = try session.userUUID
        let id = UUID()
        let record = try worker.database.transaction { db in
            let taken = try db.query(
                "SELECT 1 FROM vault.templates WHERE name = $2 AND (owner_id IS NULL OR owner_id = $1)", userID, name)
            guard taken.isEmpty else {
                throw RPCStatus(.alreadyExists, "a template named \(name) already exists", details: ["field": "name"])
            }
            let owned = try db.query("SELECT count(*)::bigint FROM vault.templates WHERE owner_id = $1", userID)[0]
            guard try owned.decode(Int64.self, at: 0) < Int64(VaultValidation.maximumOwnTemplates) else {
                throw RPCStatus(
                    .resourceExhausted, "at most \(VaultValidation.maximumOwnTemplates) templates of your own: delete one first")
            }
            _ = try db.execute(
                "INSERT INTO vault.templates (template_id, owner_id, name, label, description) VALUES ($1, $2, $3, $4, $5)",
                id, userID, name, label, request.description_p)
            for slot in slots {
                _ = try db.execute(
                    "INSERT INTO vault.template_slots (template_id, name, label, slot_type, ordinal) VALUES ($1, $2, $3, $4, $5)",
                    id, slot.name, slot.label, slot.slotType, slot.ordinal)
            }
            return try Self.templates(db, userID: userID, where: "t.template_id = $2", [id])[0]
        }
        var response = Svx_Vault_V1_CreateTemplateResponse()
        response.template = record.wire
        return response
    }

    func deleteTemplate(
        _ request: Svx_Vault_V1_DeleteTemplateRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_DeleteTemplateResponse {
        let id = try FieldValidation.uuid(request.templateID, field: "template_id")
        let userID = try session.userUUID
        try worker.database.transaction { db in
            let deleted = try db.execute("DELETE FROM vault.templates WHERE template_id = $1 AND owner_id = $2", id, userID)
            guard deleted == 1 else {
                let system = try db.query("SELECT 1 FROM vault.templates WHERE template_id = $1 AND owner_id IS NULL", id)
                if !system.isEmpty {
                    throw RPCStatus(.permissionDenied, "system templates are read-only", details: ["field": "template_id"])
                }
                throw RPCStatus.notFound("template", field: "template_id")
            }
            // Inside the transaction, the deleted row still locked: a Classification failure rolls the deletion back
            // (forgetClassifications says why).
            try forgetClassifications([Self.entity(.template, id)], context)
        }
        return .init()
    }
}
