import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import VaultSQL

/// GetItemOutlines: what the Sharing service asks, with the caller's session, before it stores a share of the
/// caller's items (sharing.md §2.6): each item's version, label and template name and its slots' ids, names, labels,
/// types, ordinals, whether they hold a value and an attachment slot's file id, never a value, a verification key or a
/// hash. Only the caller's own items: another user's item id is `found` false like an unknown one. One query for all
/// ids; never calls out.
extension VaultService {
    static let maximumOutlinedItems = 100

    func getItemOutlines(
        _ request: Svx_Vault_V1_GetItemOutlinesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_GetItemOutlinesResponse {
        guard !request.itemIds.isEmpty else { throw FieldValidation.invalid("item_ids", "item_ids is required") }
        guard request.itemIds.count <= Self.maximumOutlinedItems else {
            throw FieldValidation.invalid("item_ids", "at most \(Self.maximumOutlinedItems) item_ids a call")
        }
        let ids = try request.itemIds.enumerated().map { index, text in
            try FieldValidation.uuid(text, field: "item_ids[\(index)]")
        }
        let rows = try worker.database.query(
            VaultQueries.loadItemOutlines, try session.userUUID, uuidArrayLiteral(Set(ids)))
        var found: [UUID: Svx_Vault_V1_ItemOutline] = [:]
        for row in rows {
            let id = try row.decode(UUID.self, at: 0)
            var outline = found[id] ?? {
                var outline = Svx_Vault_V1_ItemOutline()
                outline.itemID = id.wire
                outline.found = true
                return outline
            }()
            if outline.slots.isEmpty {
                outline.version = UInt64(try row.decode(Int64.self, at: 1))
                outline.label = try row.decode(String.self, at: 2)
                outline.templateName = try row.decode(String.self, at: 3)
            }
            if let slotID = try row.decode(UUID?.self, at: 4) {
                var slot = Svx_Vault_V1_SlotOutline()
                slot.slotID = slotID.wire
                slot.name = try row.decode(String.self, at: 5)
                slot.label = try row.decode(String.self, at: 6)
                slot.slotType = try row.decode(String.self, at: 7)
                slot.ordinal = try row.decode(Int32.self, at: 8)
                slot.hasValue_p = try row.decode(Bool.self, at: 9)
                slot.attachmentID = try row.decode(UUID?.self, at: 10)?.wire ?? ""
                outline.slots.append(slot)
            }
            found[id] = outline
        }
        var response = Svx_Vault_V1_GetItemOutlinesResponse()
        response.items = ids.map { id in
            found[id] ?? {
                var outline = Svx_Vault_V1_ItemOutline()
                outline.itemID = id.wire
                return outline
            }()
        }
        return response
    }
}
