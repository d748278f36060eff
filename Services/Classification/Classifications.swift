import ClassificationSQL
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Classifications: links between a node the caller can see and one of the caller's entities in the Vault.
/// Classify asks the Vault first; the Vault calls ForgetEntities before it deletes an entity (ADR-006).
extension ClassificationService {
    /// How long a forgotten entity cannot be classified again: far longer than any Classify can take between its
    /// check with the Vault and its commit (bounded by request deadlines).
    static let forgottenFor = "1 hour"

    /// Asks the Vault whether the entity is the caller's; for a slot, also which item holds it.
    func checkWithVault(
        _ entity: EntityReference, _ context: RequestContext
    ) throws -> (found: Bool, itemID: UUID?) {
        guard let vault else {
            throw RPCStatus(.unavailable, "the vault is not configured for this classification service")
        }
        var reference = Svx_Vault_V1_EntityReference()
        reference.id = entity.id.wire
        reference.kind = switch entity.type {
        case .item: .item
        case .slot: .slot
        default: .template
        }
        var request = Svx_Vault_V1_CheckEntitiesRequest()
        request.entities = [reference]
        let response: Svx_Vault_V1_CheckEntitiesResponse
        do {
            response = try vault.call(VaultRPC.checkEntities, request, context: context)
        } catch {
            switch error.code {
            case .unauthenticated, .unavailable, .deadlineExceeded:
                throw error
            default:
                // The Vault refused what this service had already checked: not the caller's fault.
                context.logger.error("vault refused an entity check", metadata: ["code": "\(error.code.name)"])
                throw RPCStatus(.unavailable, "the vault could not check the entity, try again")
            }
        }
        guard response.checks.count == 1 else {
            throw RPCStatus(.unavailable, "the vault gave an unexpected answer, try again")
        }
        let check = response.checks[0]
        return (check.found, check.itemID.isEmpty ? nil : UUID(uuidString: check.itemID))
    }

    static func entityName(_ type: Svx_Classification_V1_EntityType) -> String {
        switch type {
        case .item: "item"
        case .slot: "slot"
        default: "template"
        }
    }

    func classify(
        _ request: Svx_Classification_V1_ClassifyRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_ClassifyResponse {
        let reference = try ClassificationValidation.node(request.node)
        let entity = try ClassificationValidation.entity(request.entity, present: request.hasEntity)
        let userID = try session.userUUID
        let db = worker.database
        // The node first (no Vault call for a node that does not exist), then the Vault, outside any transaction:
        // no lock is held while waiting for another service.
        let nodeID = try Self.singleNodeID(db, userID: userID, reference, field: "node")
        let notFound = RPCStatus.notFound(Self.entityName(entity.type), field: "entity.entity_id")
        let check = try checkWithVault(entity, context)
        guard check.found else { throw notFound }
        let node = try db.transaction { db -> Svx_Classification_V1_Node in
            try Self.lockUser(db, userID)
            // Forgotten (the Vault is deleting it or has): a Classify that checked just before the deletion must not
            // leave a link behind. Under the lock, a ForgetEntities either committed before (seen here) or runs
            // after this commits (and deletes the link).
            var ids = [entity.id]
            if let item = check.itemID { ids.append(item) }
            let forgotten = try db.query(
                """
                SELECT 1 FROM classification.forgotten_entities
                WHERE user_id = $1 AND entity_id = ANY($2::uuid[]) AND created_at > now() - interval '\(Self.forgottenFor)'
                """, userID, uuidArrayLiteral(ids))
            // The Vault still had it a moment ago: it is being deleted (or its deletion failed after the Vault told
            // this service; deleting it again settles it). The caller's own entity: nothing of another user's is told.
            guard forgotten.isEmpty else {
                throw RPCStatus(
                    .failedPrecondition,
                    "this \(Self.entityName(entity.type)) is being deleted; if it still exists, delete it again before classifying it",
                    details: ["field": "entity.entity_id", "reason": "recently_deleted"])
            }
            let node = try Self.loadNode(db, userID: userID, nodeID: nodeID, field: "node")
            let links = try db.query(
                """
                SELECT count(*)::bigint, count(*) FILTER (WHERE node_id = $3)::bigint FROM classification.classifications
                WHERE user_id = $1 AND entity_id = $2
                """, userID, entity.id, nodeID)[0]
            guard try links.decode(Int64.self, at: 1) > 0
                || links.decode(Int64.self, at: 0) < ClassificationValidation.maximumNodesPerEntity
            else {
                throw RPCStatus(
                    .resourceExhausted, "an entity is classified under at most \(ClassificationValidation.maximumNodesPerEntity) nodes",
                    details: ["field": "node"])
            }
            _ = try db.execute(
                """
                INSERT INTO classification.classifications (user_id, node_id, entity_type, entity_id, item_id)
                VALUES ($1, $2, $3::smallint, $4, $5) ON CONFLICT DO NOTHING
                """, userID, nodeID, Int32(entity.type.rawValue), entity.id, check.itemID)
            return node
        }
        var response = Svx_Classification_V1_ClassifyResponse()
        response.node = node
        return response
    }

    func unclassify(
        _ request: Svx_Classification_V1_UnclassifyRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_UnclassifyResponse {
        let reference = try ClassificationValidation.node(request.node)
        let entity = try ClassificationValidation.entity(request.entity, present: request.hasEntity)
        let userID = try session.userUUID
        try worker.database.transaction { db in
            try Self.lockUser(db, userID)
            let nodeIDs = try Self.nodeIDs(db, userID: userID, reference, field: "node")
            let deleted = try db.execute(
                """
                DELETE FROM classification.classifications
                WHERE user_id = $1 AND node_id = ANY($2::uuid[]) AND entity_id = $3 AND entity_type = $4::smallint
                """, userID, uuidArrayLiteral(nodeIDs), entity.id, Int32(entity.type.rawValue))
            guard deleted > 0 else { throw RPCStatus.notFound("classification", field: "entity.entity_id") }
        }
        return .init()
    }

    func listEntityNodes(
        _ request: Svx_Classification_V1_ListEntityNodesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_ListEntityNodesResponse {
        let entity = try ClassificationValidation.entity(request.entity, present: request.hasEntity)
        let rows = try worker.database.query(
            """
            SELECT \(Self.nodeColumnsWithDepth)
            FROM classification.classifications c JOIN classification.nodes n ON n.node_id = c.node_id
                JOIN classification.schemes s ON s.scheme_id = n.scheme_id
            WHERE c.user_id = $1 AND c.entity_id = $2 AND c.entity_type = $3::smallint AND \(Self.visible)
            ORDER BY s.name COLLATE "C", n.name COLLATE "C", n.node_id
            """, try session.userUUID, entity.id, Int32(entity.type.rawValue))
        var response = Svx_Classification_V1_ListEntityNodesResponse()
        response.nodes = try rows.map { try Self.node($0, depthAt: 11) }
        return response
    }

    func listEntities(
        _ request: Svx_Classification_V1_ListEntitiesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_ListEntitiesResponse {
        let reference = try ClassificationValidation.node(request.node)
        let type = try ClassificationValidation.entityTypeFilter(request.type)
        let pageSize = try FieldValidation.pageSize(request.pageSize)
        let after = try FieldValidation.pageToken(request.pageToken)
        let userID = try session.userUUID
        let db = worker.database
        let start = try Self.nodeIDs(db, userID: userID, reference, field: "node")
        // One query: the subtrees of the named nodes, then the caller's links to any of their nodes, each entity
        // once, in id order after the page token.
        let rows = try db.query(
            ClassificationQueries.listEntities, userID, uuidArrayLiteral(start), type, after, pageSize + 1)
        var response = Svx_Classification_V1_ListEntitiesResponse()
        for row in rows.prefix(pageSize) {
            var entity = Svx_Classification_V1_Entity()
            entity.entityID = try row.decode(UUID.self, at: 0).wire
            entity.type = Svx_Classification_V1_EntityType(rawValue: Int(try row.decode(Int32.self, at: 1))) ?? .unspecified
            entity.itemID = try row.decode(UUID?.self, at: 2)?.wire ?? ""
            response.entities.append(entity)
        }
        if rows.count > pageSize { response.nextPageToken = response.entities[pageSize - 1].entityID }
        return response
    }

    func forgetEntities(
        _ request: Svx_Classification_V1_ForgetEntitiesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_ForgetEntitiesResponse {
        guard !request.entities.isEmpty else { throw FieldValidation.invalid("entities", "entities is required") }
        guard request.entities.count <= ClassificationValidation.maximumForget else {
            throw FieldValidation.invalid("entities", "at most \(ClassificationValidation.maximumForget) entities a call")
        }
        let entities = try request.entities.enumerated().map { index, entity in
            try ClassificationValidation.entity(entity, field: "entities[\(index)]")
        }
        // Each id once (one INSERT ... ON CONFLICT cannot touch a row twice).
        let distinct = Set(entities.map(\.id))
        let distinctCount = distinct.count
        let ids = uuidArrayLiteral(Array(distinct))
        let items = uuidArrayLiteral(Array(Set(entities.filter { $0.type == .item }.map(\.id))))
        let userID = try session.userUUID
        let deleted = try worker.database.transaction { db -> Int in
            try Self.lockUser(db, userID)
            // Expired marks go first, so only live ones count against the quota; under the lock, the count cannot
            // change before this transaction commits. Refused past the quota: nothing is written, and the Vault's
            // deletion that asked fails closed (nothing deleted).
            _ = try db.execute(
                """
                DELETE FROM classification.forgotten_entities
                WHERE user_id = $1 AND created_at <= now() - interval '\(Self.forgottenFor)'
                """, userID)
            let live = try db.query(
                """
                SELECT count(*),
                       coalesce((EXTRACT(EPOCH FROM (min(created_at) + interval '\(Self.forgottenFor)' - now())) * 1000)::bigint, 0)
                FROM classification.forgotten_entities
                WHERE user_id = $1 AND NOT (entity_id = ANY($2::uuid[]))
                """, userID, ids)[0]
            let used = try live.decode(Int64.self, at: 0)
            let oldestExpiresInMilliseconds = try live.decode(Int64.self, at: 1)
            do throws(RPCStatus) {
                try tombstoneQuota.check(used: used, adding: Int64(distinctCount))
            } catch var refusal {
                // Room comes back as the oldest live tombstone expires.
                refusal.details["retry_after_ms"] = String(max(1, oldestExpiresInMilliseconds))
                throw refusal
            }
            // An item's slots go with it: their links name the item.
            let deleted = try db.execute(
                """
                DELETE FROM classification.classifications
                WHERE user_id = $1 AND (entity_id = ANY($2::uuid[]) OR item_id = ANY($3::uuid[]))
                """, userID, ids, items)
            _ = try db.execute(
                """
                INSERT INTO classification.forgotten_entities (user_id, entity_id)
                SELECT $1, unnest($2::uuid[]) ON CONFLICT (user_id, entity_id) DO UPDATE SET created_at = now()
                """, userID, ids)
            return deleted
        }
        var response = Svx_Classification_V1_ForgetEntitiesResponse()
        response.deletedClassifications = UInt32(deleted)
        return response
    }
}
