import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// What the Vault asks of the Classification service (``VaultService/classification``, nil when switched off):
/// to forget entities the Vault deletes, and which items are classified under a node (ListItems).
extension VaultService {
    static func entity(_ type: Svx_Classification_V1_EntityType, _ id: UUID) -> Svx_Classification_V1_Entity {
        var entity = Svx_Classification_V1_Entity()
        entity.type = type
        entity.entityID = id.wire
        return entity
    }

    /// Tells Classification that `entities` are being deleted: their classifications go, and for a while they
    /// cannot be classified again. Called inside the deleting transaction, after the rows are deleted and while
    /// the item or template row is still locked, so that (1) nothing is deleted unless Classification has forgotten
    /// it (fail-closed: a failure rolls the deletion back, the client gets UNAVAILABLE and may retry), and (2) a
    /// Classify that checked the entity before it went is refused afterwards by the tombstone, instead of linking
    /// a node to an entity that no longer exists. Nothing is called with classification switched off or when
    /// nothing was removed.
    func forgetClassifications(_ entities: [Svx_Classification_V1_Entity], _ context: RequestContext) throws {
        guard let classification, !entities.isEmpty else { return }
        var request = Svx_Classification_V1_ForgetEntitiesRequest()
        request.entities = entities
        do {
            _ = try classification.call(ClassificationRPC.forgetEntities, request, context: context)
        } catch {
            switch error.code {
            case .notFound, .invalidArgument, .outOfRange, .failedPrecondition, .permissionDenied, .aborted:
                // About the Vault's own request to the peer, not the caller's: the caller must not read it as an
                // answer about its item (NOT_FOUND, ABORTED mean something else from DeleteItem and UpdateItem).
                context.logger.error(
                    "classification refused to forget entities",
                    metadata: ["code": "\(error.code.name)", "message": "\(error.message)"])
                throw RPCStatus(.unavailable, "the classification service is unavailable, try again")
            default:
                throw error
            }
        }
    }

    /// A ListItems page of the caller's items classified under `node` (or its descendants) that pass `filter`:
    /// Classification lists the classified item ids in id order from `after`, the Vault keeps those that are the
    /// caller's and match, at most 5 rounds. The next page token is the last id consumed while Classification has
    /// more (the page may be short, even empty); items deleted meanwhile just do not appear.
    func classifiedItemPage(
        node: String, after: UUID?, filter: ItemFilter, pageSize: Int, userID: UUID, _ context: RequestContext,
        _ db: PostgresConnection
    ) throws -> (items: [Svx_Vault_V1_Item], nextPageToken: String) {
        guard let classification else {
            throw RPCStatus(.unavailable, "classification is not configured for this vault", details: ["field": "classification_node"])
        }
        var items: [Svx_Vault_V1_Item] = []
        var cursor = after
        for _ in 0..<Self.maximumClassificationRounds {
            var request = Svx_Classification_V1_ListEntitiesRequest()
            request.node = node
            request.type = .item
            request.pageSize = UInt32(pageSize)
            request.pageToken = cursor?.wire ?? ""
            let page: Svx_Classification_V1_ListEntitiesResponse
            do {
                page = try classification.call(ClassificationRPC.listEntities, request, context: context)
            } catch {
                throw Self.classificationNodeStatus(error)
            }
            let ids = page.entities.compactMap { $0.type == .item ? UUID(uuidString: $0.entityID) : nil }
            if !ids.isEmpty {
                items += try Self.itemPage(db, userID: userID, after: nil, filter: filter, among: ids, limit: ids.count)
            }
            if items.count > pageSize {
                // Only the first pageSize: the next page starts after the last one kept.
                items.removeLast(items.count - pageSize)
                return (items, items[items.count - 1].itemID)
            }
            guard !page.nextPageToken.isEmpty, let last = page.entities.last.flatMap({ UUID(uuidString: $0.entityID) }) else {
                return (items, "")
            }
            cursor = last
            if items.count == pageSize { break }
        }
        return (items, cursor?.wire ?? "")
    }

    static let maximumClassificationRounds = 5

    /// A ListEntities failure as the ListItems caller should see it: Classification's NOT_FOUND and
    /// INVALID_ARGUMENT are about `classification_node` (or the page token the caller gave); the rest as it is.
    static func classificationNodeStatus(_ status: RPCStatus) -> RPCStatus {
        switch status.code {
        case .notFound:
            return RPCStatus(.notFound, "classification node not found", details: ["field": "classification_node"])
        case .invalidArgument where status.details["field"] == "page_token":
            return FieldValidation.invalid("page_token", "page_token is not a token this service gave out")
        case .invalidArgument:
            return FieldValidation.invalid("classification_node", "classification_node is malformed: give a node id or scheme:name")
        default:
            return status
        }
    }
}
