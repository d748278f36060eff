import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// CheckEntities: which items, slots and templates are the caller's (what Classification asks before it links a
/// node to one). One query per kind, whatever the number of entities.
extension VaultService {
    static let maximumCheckedEntities = 500

    func checkEntities(
        _ request: Svx_Vault_V1_CheckEntitiesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_CheckEntitiesResponse {
        guard request.entities.count <= Self.maximumCheckedEntities else {
            throw FieldValidation.invalid("entities", "at most \(Self.maximumCheckedEntities) entities a call")
        }
        var asked: [(kind: Svx_Vault_V1_EntityKind, id: UUID)] = []
        var byKind: [Svx_Vault_V1_EntityKind: Set<UUID>] = [:]
        for (index, entity) in request.entities.enumerated() {
            switch entity.kind {
            case .item, .slot, .template: break
            default:
                throw FieldValidation.invalid(
                    "entities[\(index)].kind", "entities[\(index)].kind must be ENTITY_KIND_ITEM, ENTITY_KIND_SLOT or ENTITY_KIND_TEMPLATE")
            }
            let id = try FieldValidation.uuid(entity.id, field: "entities[\(index)].id")
            asked.append((entity.kind, id))
            byKind[entity.kind, default: []].insert(id)
        }
        let userID = try session.userUUID
        let db = worker.database
        var items: Set<UUID> = []
        var slots: [UUID: UUID] = [:]  // slot id → its item
        var templates: Set<UUID> = []
        if let ids = byKind[.item] {
            items = Set(try db.query(
                "SELECT item_id FROM vault.items WHERE user_id = $1 AND item_id = ANY($2::uuid[])", userID, uuidArrayLiteral(ids)
            ).map { try $0.decode(UUID.self, at: 0) })
        }
        if let ids = byKind[.slot] {
            for row in try db.query(
                "SELECT slot_id, item_id FROM vault.slots WHERE user_id = $1 AND slot_id = ANY($2::uuid[])", userID, uuidArrayLiteral(ids))
            {
                slots[try row.decode(UUID.self, at: 0)] = try row.decode(UUID.self, at: 1)
            }
        }
        if let ids = byKind[.template] {
            templates = Set(try db.query(
                """
                SELECT template_id FROM vault.templates
                WHERE template_id = ANY($2::uuid[]) AND (owner_id IS NULL OR owner_id = $1)
                """, userID, uuidArrayLiteral(ids)
            ).map { try $0.decode(UUID.self, at: 0) })
        }
        var response = Svx_Vault_V1_CheckEntitiesResponse()
        response.checks = asked.map { kind, id in
            var check = Svx_Vault_V1_EntityCheck()
            switch kind {
            case .item: check.found = items.contains(id)
            case .slot:
                if let item = slots[id] {
                    check.found = true
                    check.itemID = item.wire
                }
            default: check.found = templates.contains(id)
            }
            return check
        }
        return response
    }
}
