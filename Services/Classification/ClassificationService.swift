import ClassificationSQL
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Every Classification method (handlers by concern: Schemes, Nodes, Classifications).
/// docs/ADR-006-classification.md.
final class ClassificationService: Sendable {
    /// The Vault, asked whether an entity is the caller's before it is classified; nil when `SVX_VAULT_ENDPOINT`
    /// is `none` (Classify then answers UNAVAILABLE).
    let vault: PeerClient?
    let configuration: ClassificationConfiguration
    /// The users' audit trail in this service (reference/sharing.md §5b): ListEvents answers it; no Classification
    /// change is a security event yet, so nothing appends to it.
    let audit = AuditTrail(service: "classification", schema: "classification")

    init(configuration: ClassificationConfiguration = .init(), vault: PeerClient?) {
        self.configuration = configuration
        self.vault = vault
    }

    /// The live tombstones one user may hold (review M4; docs/ADR-006-classification.md, "Quota").
    var tombstoneQuota: UserQuota { UserQuota(name: "tombstones", limit: Int64(configuration.maximumTombstones)) }

    func register(_ routes: ServiceRoutes) {
        routes.registerAuthenticated(ClassificationRPC.listSchemes) { [self] in try listSchemes($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.createScheme) { [self] in try createScheme($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.deleteScheme) { [self] in try deleteScheme($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.createNode) { [self] in try createNode($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.updateNode) { [self] in try updateNode($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.moveNode) { [self] in try moveNode($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.deleteNode) { [self] in try deleteNode($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.searchNodes) { [self] in try searchNodes($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.listSubtree) { [self] in try listSubtree($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.classify) { [self] in try classify($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.unclassify) { [self] in try unclassify($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.listEntityNodes) { [self] in try listEntityNodes($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.listEntities) { [self] in try listEntities($0, $1, $2, $3) }
        routes.registerAuthenticated(ClassificationRPC.forgetEntities, peers: ["vault"]) { [self] in try forgetEntities($0, $1, $2, $3) }
    }


    /// Serializes the writes of one user (tree changes, classifications, forgetting) for the rest of the
    /// transaction: two moves cannot make a cycle together, and a Classify cannot slip between a ForgetEntities
    /// and the Vault's deletion (ADR-006). Other users are never held up.
    static func lockUser(_ db: PostgresConnection, _ userID: UUID) throws {
        _ = try db.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 6006))", userID.wire)
    }

    /// Columns of a node (alias `n`) and its scheme (alias `s`), decoded by ``node(_:depthAt:)``.
    static let nodeColumns = """
        n.node_id, n.scheme_id, s.name, coalesce(n.parent_id::text, ''), n.name, n.label, n.description, n.image,
        n.ordinal, n.owner_id IS NULL, \(epochMilliseconds("n.created_at"))
        """

    /// ``nodeColumns`` and the node's depth in its tree (0 for a root): its ancestors, counted up to the bounded
    /// tree height. Decoded by ``node(_:depthAt:)`` with `depthAt: 11`.
    static let nodeColumnsWithDepth = nodeColumns + """
        , (WITH RECURSIVE up(parent_id, hops) AS (
               SELECT n.parent_id, 0
               UNION ALL
               SELECT p.parent_id, up.hops + 1 FROM classification.nodes p JOIN up ON p.node_id = up.parent_id
               WHERE up.hops < \(ClassificationValidation.maximumDepth)
           )
           SELECT count(*) FILTER (WHERE parent_id IS NOT NULL) FROM up)::int
        """

    /// Nodes the caller may see: the system ones and its own (`$1` is the caller).
    static let visible = ClassificationQueries.visibleNodes

    static func node(_ row: PostgresRow, depthAt depthColumn: Int? = nil) throws -> Svx_Classification_V1_Node {
        var node = Svx_Classification_V1_Node()
        node.nodeID = try row.decode(UUID.self, at: 0).wire
        node.schemeID = try row.decode(UUID.self, at: 1).wire
        node.schemeName = try row.decode(String.self, at: 2)
        node.parentID = try row.decode(String.self, at: 3)
        node.name = try row.decode(String.self, at: 4)
        node.label = try row.decode(String.self, at: 5)
        node.description_p = try row.decode(String.self, at: 6)
        node.image = try row.decode(String.self, at: 7)
        node.ordinal = try row.decode(Int32.self, at: 8)
        node.system = try row.decode(Bool.self, at: 9)
        node.createdAtMs = UInt64(try row.decode(Int64.self, at: 10))
        if let depthColumn { node.depth = UInt32(try row.decode(Int32.self, at: depthColumn)) }
        return node
    }

    /// A node the caller can see, with its depth; NOT_FOUND naming `field` otherwise.
    static func loadNode(_ db: PostgresConnection, userID: UUID, nodeID: UUID, field: String) throws -> Svx_Classification_V1_Node {
        let rows = try db.query(
            """
            SELECT \(nodeColumnsWithDepth) FROM classification.nodes n JOIN classification.schemes s ON s.scheme_id = n.scheme_id
            WHERE n.node_id = $2 AND \(visible)
            """, userID, nodeID)
        guard let row = rows.first else { throw RPCStatus.notFound("node", field: field) }
        return try node(row, depthAt: 11)
    }

    /// A scheme the caller can see.
    struct SchemeRow {
        let id: UUID
        let name: String
        let system: Bool
        let userNodes: Bool
    }

    static func scheme(
        _ db: PostgresConnection, userID: UUID, _ reference: ClassificationValidation.SchemeReference, field: String
    ) throws -> SchemeRow {
        let (byID, byName): (UUID?, String) = switch reference {
        case .id(let id): (id, "")
        case .name(let name): (nil, name)
        }
        let rows = try db.query(
            """
            SELECT scheme_id, name, owner_id IS NULL, user_nodes FROM classification.schemes
            WHERE (owner_id IS NULL OR owner_id = $1) AND ($2::uuid IS NULL OR scheme_id = $2::uuid) AND ($3 = '' OR name = $3)
            ORDER BY owner_id NULLS FIRST LIMIT 1
            """, userID, byID, byName)
        guard let row = rows.first else { throw RPCStatus.notFound("scheme", field: field) }
        return SchemeRow(
            id: try row.decode(UUID.self, at: 0), name: try row.decode(String.self, at: 1),
            system: try row.decode(Bool.self, at: 2), userNodes: try row.decode(Bool.self, at: 3))
    }

    /// The ids of the visible nodes a reference names (one for an id; every node of that name for `scheme:name`).
    static func nodeIDs(_ db: PostgresConnection, userID: UUID, _ reference: NodeReference, field: String) throws -> [UUID] {
        let rows: [PostgresRow]
        switch reference {
        case .id(let id):
            rows = try db.query("SELECT n.node_id FROM classification.nodes n WHERE n.node_id = $2 AND \(visible)", userID, id)
        case .named(let schemeReference, let name):
            // No limit: a user has at most 10 000 nodes, and a name may be shared by many of them.
            let scheme = try scheme(db, userID: userID, schemeReference, field: field)
            rows = try db.query(
                """
                SELECT n.node_id FROM classification.nodes n
                WHERE n.scheme_id = $2 AND n.name = $3 AND \(visible) ORDER BY n.node_id
                """, userID, scheme.id, name)
        }
        let ids = try rows.map { try $0.decode(UUID.self, at: 0) }
        guard !ids.isEmpty else { throw RPCStatus.notFound("node", field: field) }
        return ids
    }

    /// The one node a reference names; `scheme:name` naming several is FAILED_PRECONDITION (give the id).
    static func singleNodeID(_ db: PostgresConnection, userID: UUID, _ reference: NodeReference, field: String) throws -> UUID {
        let ids = try nodeIDs(db, userID: userID, reference, field: field)
        guard ids.count == 1 else {
            throw RPCStatus(
                .failedPrecondition, "\(ids.count) nodes have that name in the scheme: give the node id",
                details: ["field": field, "reason": "ambiguous_node"])
        }
        return ids[0]
    }
}
