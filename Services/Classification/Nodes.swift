import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Node trees: create, update (rename), move (never into a cycle), delete (a subtree only when asked), search by
/// name, list a subtree. Every write runs under the caller's lock (``ClassificationService/lockUser(_:_:)``).
extension ClassificationService {
    /// One of the caller's own nodes, for a change: a system node is PERMISSION_DENIED, anything else not the
    /// caller's is NOT_FOUND (another user's node is never told apart from an unknown id).
    static func ownNode(
        _ db: PostgresConnection, userID: UUID, nodeID: UUID, field: String
    ) throws -> (schemeID: UUID, parentID: UUID?) {
        let rows = try db.query(
            "SELECT n.scheme_id, n.parent_id, n.owner_id IS NULL FROM classification.nodes n WHERE n.node_id = $2 AND \(visible)",
            userID, nodeID)
        guard let row = rows.first else { throw RPCStatus.notFound("node", field: field) }
        guard !(try row.decode(Bool.self, at: 2)) else {
            throw RPCStatus(.permissionDenied, "system nodes are read-only", details: ["field": field])
        }
        return (try row.decode(UUID.self, at: 0), try row.decode(UUID?.self, at: 1))
    }

    /// One of the caller's nodes in `schemeID` and its ancestors, itself first (so its depth is the count - 1).
    static func ancestry(_ db: PostgresConnection, userID: UUID, nodeID: UUID, schemeID: UUID, field: String) throws -> [UUID] {
        let rows = try db.query(
            """
            WITH RECURSIVE up AS (
                SELECT node_id, parent_id, 0 AS hops FROM classification.nodes
                WHERE node_id = $2 AND owner_id = $1 AND scheme_id = $3
                UNION ALL
                SELECT n.node_id, n.parent_id, up.hops + 1 FROM classification.nodes n JOIN up ON n.node_id = up.parent_id
                WHERE up.hops < \(ClassificationValidation.maximumDepth + 1)
            )
            SELECT node_id FROM up ORDER BY hops
            """, userID, nodeID, schemeID)
        let ids = try rows.map { try $0.decode(UUID.self, at: 0) }
        guard !ids.isEmpty else { throw RPCStatus.notFound("parent node", field: field) }
        return ids
    }

    /// One of the caller's nodes and its descendants, each with its depth below the node (the node first, at 0).
    static func subtree(_ db: PostgresConnection, userID: UUID, nodeID: UUID) throws -> [(id: UUID, depth: Int)] {
        try db.query(
            """
            WITH RECURSIVE down AS (
                SELECT node_id, 0 AS depth FROM classification.nodes WHERE node_id = $2 AND owner_id = $1
                UNION ALL
                SELECT n.node_id, down.depth + 1 FROM classification.nodes n JOIN down ON n.parent_id = down.node_id
                WHERE n.owner_id = $1 AND down.depth < \(ClassificationValidation.maximumDepth)
            )
            SELECT node_id, depth FROM down ORDER BY depth
            """, userID, nodeID
        ).map { (try $0.decode(UUID.self, at: 0), Int(try $0.decode(Int32.self, at: 1))) }
    }

    static func siblingTaken(_ error: DatabaseError, name: String) -> RPCStatus? {
        guard error.kind == .uniqueViolation else { return nil }
        return RPCStatus(.alreadyExists, "a sibling node is named \(name)", details: ["field": "name"])
    }

    func createNode(
        _ request: Svx_Classification_V1_CreateNodeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_CreateNodeResponse {
        let schemeReference = try ClassificationValidation.scheme(request.scheme)
        let parentID = try ClassificationValidation.optionalNodeID(request.parentID, field: "parent_id")
        let label = try ClassificationValidation.label(request.label)
        let name = try ClassificationValidation.name(request.name, derivedFrom: label)
        let description = try ClassificationValidation.text(request.description_p, field: "description")
        let image = try ClassificationValidation.text(request.image, field: "image")
        let ordinal = try ClassificationValidation.ordinal(request.ordinal)
        let userID = try session.userUUID
        let node = try worker.database.transaction { db -> Svx_Classification_V1_Node in
            try Self.lockUser(db, userID)
            let scheme = try Self.scheme(db, userID: userID, schemeReference, field: "scheme")
            guard scheme.userNodes else {
                throw RPCStatus(.permissionDenied, "the \(scheme.name) scheme is read-only", details: ["field": "scheme"])
            }
            var depth = 0
            if let parentID {
                depth = try Self.ancestry(db, userID: userID, nodeID: parentID, schemeID: scheme.id, field: "parent_id").count
                guard depth < ClassificationValidation.maximumDepth else {
                    throw RPCStatus(
                        .failedPrecondition, "a tree has at most \(ClassificationValidation.maximumDepth) levels",
                        details: ["field": "parent_id", "reason": "too_deep"])
                }
            }
            let count = try db.query("SELECT count(*)::bigint FROM classification.nodes WHERE owner_id = $1", userID)[0]
            guard try count.decode(Int64.self, at: 0) < ClassificationValidation.maximumNodesPerUser else {
                throw RPCStatus(
                    .resourceExhausted, "a user has at most \(ClassificationValidation.maximumNodesPerUser) nodes",
                    details: ["field": "scheme"])
            }
            let nodeID = UUID()
            do {
                _ = try db.execute(
                    """
                    INSERT INTO classification.nodes (node_id, scheme_id, owner_id, parent_id, name, label, description, image, ordinal)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                    """, nodeID, scheme.id, userID, parentID, name, label, description, image, ordinal)
            } catch let error as DatabaseError {
                throw Self.siblingTaken(error, name: name) ?? error
            }
            return try Self.loadNode(db, userID: userID, nodeID: nodeID, field: "node_id")
        }
        var response = Svx_Classification_V1_CreateNodeResponse()
        response.node = node
        return response
    }

    func updateNode(
        _ request: Svx_Classification_V1_UpdateNodeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_UpdateNodeResponse {
        let nodeID = try FieldValidation.uuid(request.nodeID, field: "node_id")
        let label = request.hasLabel ? try ClassificationValidation.label(request.label) : nil
        let name = request.hasName ? try ClassificationValidation.name(request.name, derivedFrom: request.label) : nil
        let description = request.hasDescription_p
            ? try ClassificationValidation.text(request.description_p, field: "description") : nil
        let image = request.hasImage ? try ClassificationValidation.text(request.image, field: "image") : nil
        let ordinal = request.hasOrdinal ? try ClassificationValidation.ordinal(request.ordinal) : nil
        let userID = try session.userUUID
        let node = try worker.database.transaction { db -> Svx_Classification_V1_Node in
            try Self.lockUser(db, userID)
            _ = try Self.ownNode(db, userID: userID, nodeID: nodeID, field: "node_id")
            do {
                _ = try db.execute(
                    """
                    UPDATE classification.nodes SET name = coalesce($3, name), label = coalesce($4, label),
                        description = coalesce($5, description), image = coalesce($6, image), ordinal = coalesce($7, ordinal)
                    WHERE node_id = $2 AND owner_id = $1
                    """, userID, nodeID, name, label, description, image, ordinal)
            } catch let error as DatabaseError {
                throw Self.siblingTaken(error, name: name ?? "") ?? error
            }
            return try Self.loadNode(db, userID: userID, nodeID: nodeID, field: "node_id")
        }
        var response = Svx_Classification_V1_UpdateNodeResponse()
        response.node = node
        return response
    }

    func moveNode(
        _ request: Svx_Classification_V1_MoveNodeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_MoveNodeResponse {
        let nodeID = try FieldValidation.uuid(request.nodeID, field: "node_id")
        let newParentID = try ClassificationValidation.optionalNodeID(request.newParentID, field: "new_parent_id")
        let userID = try session.userUUID
        let node = try worker.database.transaction { db -> Svx_Classification_V1_Node in
            // Under the caller's lock, no other move can change the ancestry read here before this one commits.
            try Self.lockUser(db, userID)
            let current = try Self.ownNode(db, userID: userID, nodeID: nodeID, field: "node_id")
            var depth = 0
            if let newParentID {
                let ancestors = try Self.ancestry(
                    db, userID: userID, nodeID: newParentID, schemeID: current.schemeID, field: "new_parent_id")
                guard !ancestors.contains(nodeID) else {
                    throw RPCStatus(
                        .failedPrecondition, "a node cannot move under itself or one of its descendants",
                        details: ["field": "new_parent_id", "reason": "cycle"])
                }
                depth = ancestors.count
            }
            let height = try Self.subtree(db, userID: userID, nodeID: nodeID).last?.depth ?? 0
            guard depth + height < ClassificationValidation.maximumDepth else {
                throw RPCStatus(
                    .failedPrecondition, "a tree has at most \(ClassificationValidation.maximumDepth) levels",
                    details: ["field": "new_parent_id", "reason": "too_deep"])
            }
            if current.parentID != newParentID {
                do {
                    _ = try db.execute(
                        "UPDATE classification.nodes SET parent_id = $3 WHERE node_id = $2 AND owner_id = $1",
                        userID, nodeID, newParentID)
                } catch let error as DatabaseError where error.kind == .uniqueViolation {
                    throw RPCStatus(
                        .alreadyExists, "a node of that name is already there", details: ["field": "new_parent_id"])
                }
            }
            return try Self.loadNode(db, userID: userID, nodeID: nodeID, field: "node_id")
        }
        var response = Svx_Classification_V1_MoveNodeResponse()
        response.node = node
        return response
    }

    func deleteNode(
        _ request: Svx_Classification_V1_DeleteNodeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_DeleteNodeResponse {
        let nodeID = try FieldValidation.uuid(request.nodeID, field: "node_id")
        let userID = try session.userUUID
        let counts = try worker.database.transaction { db -> (Int, Int) in
            try Self.lockUser(db, userID)
            _ = try Self.ownNode(db, userID: userID, nodeID: nodeID, field: "node_id")
            let subtree = try Self.subtree(db, userID: userID, nodeID: nodeID).map(\.id)
            let ids = uuidArrayLiteral(subtree)
            if !request.cascade {
                guard subtree.count == 1 else {
                    throw RPCStatus(
                        .failedPrecondition, "the node has child nodes: delete them first, or ask to cascade",
                        details: ["field": "cascade", "reason": "has_children"])
                }
                let linked = try db.query(
                    "SELECT 1 FROM classification.classifications WHERE user_id = $1 AND node_id = $2 LIMIT 1", userID, nodeID)
                guard linked.isEmpty else {
                    throw RPCStatus(
                        .failedPrecondition, "the node classifies entities: unclassify them first, or ask to cascade",
                        details: ["field": "cascade", "reason": "has_classifications"])
                }
            }
            let classifications = try db.execute(
                "DELETE FROM classification.classifications WHERE user_id = $1 AND node_id = ANY($2::uuid[])", userID, ids)
            // One statement: the parent links inside the subtree are checked at its end.
            let nodes = try db.execute(
                "DELETE FROM classification.nodes WHERE owner_id = $1 AND node_id = ANY($2::uuid[])", userID, ids)
            return (nodes, classifications)
        }
        var response = Svx_Classification_V1_DeleteNodeResponse()
        response.deletedNodes = UInt32(counts.0)
        response.deletedClassifications = UInt32(counts.1)
        return response
    }

    func searchNodes(
        _ request: Svx_Classification_V1_SearchNodesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_SearchNodesResponse {
        let query = try ClassificationValidation.text(request.query, field: "query")
        guard query.utf8.count <= ClassificationValidation.maximumLabelBytes else {
            throw FieldValidation.invalid("query", "query is longer than \(ClassificationValidation.maximumLabelBytes) bytes")
        }
        let limit = try FieldValidation.pageSize(request.limit, field: "limit", defaultSize: 50)
        let userID = try session.userUUID
        let db = worker.database
        let schemeID = request.scheme.isEmpty
            ? nil : try Self.scheme(db, userID: userID, try ClassificationValidation.scheme(request.scheme), field: "scheme").id
        let rows = try db.query(
            """
            SELECT \(Self.nodeColumnsWithDepth) FROM classification.nodes n JOIN classification.schemes s ON s.scheme_id = n.scheme_id
            WHERE \(Self.visible) AND ($2::uuid IS NULL OR n.scheme_id = $2::uuid)
              AND ($3 = '' OR strpos(lower(n.name), lower($3)) > 0 OR strpos(lower(n.label), lower($3)) > 0)
            ORDER BY s.name COLLATE "C", n.name COLLATE "C", n.node_id LIMIT $4
            """, userID, schemeID, query, limit)
        var response = Svx_Classification_V1_SearchNodesResponse()
        response.nodes = try rows.map { try Self.node($0, depthAt: 11) }
        return response
    }

    func listSubtree(
        _ request: Svx_Classification_V1_ListSubtreeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_ListSubtreeResponse {
        let nodeID = try ClassificationValidation.optionalNodeID(request.nodeID, field: "node_id")
        guard request.maxDepth <= UInt32(ClassificationValidation.maximumDepth) else {
            throw FieldValidation.invalid("max_depth", "max_depth must be at most \(ClassificationValidation.maximumDepth)")
        }
        let userID = try session.userUUID
        let db = worker.database
        var schemeID: UUID?
        if let nodeID {
            _ = try Self.loadNode(db, userID: userID, nodeID: nodeID, field: "node_id")
        } else {
            schemeID = try Self.scheme(db, userID: userID, try ClassificationValidation.scheme(request.scheme), field: "scheme").id
        }
        let maxDepth = request.maxDepth == 0 ? ClassificationValidation.maximumDepth : Int(request.maxDepth)
        let limit = ClassificationValidation.maximumSubtreeNodes
        // Depth first: each node's path of (ordinal, name) keys, compared byte-wise.
        let rows = try db.query(
            """
            WITH RECURSIVE t AS (
                SELECT n.node_id, 0 AS depth, ARRAY[lpad(n.ordinal::text, 6, '0') || n.name] AS path
                FROM classification.nodes n
                WHERE \(Self.visible) AND (($2::uuid IS NOT NULL AND n.node_id = $2::uuid)
                    OR ($2::uuid IS NULL AND n.scheme_id = $3::uuid AND n.parent_id IS NULL))
                UNION ALL
                SELECT n.node_id, t.depth + 1, t.path || (lpad(n.ordinal::text, 6, '0') || n.name)
                FROM classification.nodes n JOIN t ON n.parent_id = t.node_id
                WHERE \(Self.visible) AND t.depth < $4
            )
            SELECT \(Self.nodeColumns), t.depth
            FROM t JOIN classification.nodes n ON n.node_id = t.node_id JOIN classification.schemes s ON s.scheme_id = n.scheme_id
            ORDER BY t.path COLLATE "C" LIMIT $5
            """, userID, nodeID, schemeID, maxDepth, limit + 1)
        var response = Svx_Classification_V1_ListSubtreeResponse()
        response.nodes = try rows.prefix(limit).map { try Self.node($0, depthAt: 11) }
        response.truncated = rows.count > limit
        return response
    }
}
