import Foundation
import SVXContracts
import SVXProto
import SVXRPC

/// The client half of the Classification service (proto/svx/classification/v1/classification.proto): schemes,
/// their trees of nodes, and classifications linking a node to one of the caller's items, slots or templates.
///
/// Nothing here is encrypted: node and scheme names, labels and descriptions are metadata stored as given (like
/// Meeco's), and a classification names an entity only by its Vault id. No item value ever goes through this client.
public struct ClassificationClient: Sendable {
    public let classification: RPCClient
    public var timeout: Duration

    public init(classification: RPCClient, timeout: Duration = .seconds(30)) {
        self.classification = classification
        self.timeout = timeout
    }

    /// The most nodes one search returns (the service's limit).
    public static let maximumSearchLimit = 500

    // MARK: Schemes

    /// The system schemes and the caller's own, by name.
    public func listSchemes(session: AuthenticatedSession) async throws -> [ClassificationScheme] {
        try await call(ClassificationRPC.listSchemes, .init(), session).schemes.map(ClassificationWire.scheme)
    }

    /// A scheme of the caller's own. An empty or nil `name` is derived from the label by the service.
    public func createScheme(
        session: AuthenticatedSession, name: String? = nil, label: String, description: String = ""
    ) async throws -> ClassificationScheme {
        var request = Svx_Classification_V1_CreateSchemeRequest()
        request.name = name ?? ""
        request.label = label
        request.description_p = description
        return ClassificationWire.scheme(try await call(ClassificationRPC.createScheme, request, session).scheme)
    }

    /// One of the caller's schemes (`scheme`: name or id). With nodes it is refused unless `cascade`, which takes
    /// its nodes and their classifications too.
    public func deleteScheme(
        session: AuthenticatedSession, scheme: String, cascade: Bool = false
    ) async throws -> ClassificationDeletion {
        var request = Svx_Classification_V1_DeleteSchemeRequest()
        request.scheme = scheme
        request.cascade = cascade
        let response = try await call(ClassificationRPC.deleteScheme, request, session)
        return ClassificationWire.deletion(nodes: response.deletedNodes, classifications: response.deletedClassifications)
    }

    // MARK: Nodes

    /// A node of the caller's in `scheme` (name or id), under `parentID` (nil: a root). An empty or nil `name` is
    /// derived from the label by the service.
    public func createNode(
        session: AuthenticatedSession, scheme: String, parentID: String? = nil, name: String? = nil, label: String,
        description: String = "", image: String = "", ordinal: Int32 = 0
    ) async throws -> ClassificationNode {
        var request = Svx_Classification_V1_CreateNodeRequest()
        request.scheme = scheme
        request.parentID = parentID ?? ""
        request.name = name ?? ""
        request.label = label
        request.description_p = description
        request.image = image
        request.ordinal = ordinal
        return ClassificationWire.node(try await call(ClassificationRPC.createNode, request, session).node)
    }

    /// Renames or edits one of the caller's nodes; nil fields are kept.
    public func updateNode(
        session: AuthenticatedSession, nodeID: String, name: String? = nil, label: String? = nil,
        description: String? = nil, image: String? = nil, ordinal: Int32? = nil
    ) async throws -> ClassificationNode {
        var request = Svx_Classification_V1_UpdateNodeRequest()
        request.nodeID = nodeID
        if let name { request.name = name }
        if let label { request.label = label }
        if let description { request.description_p = description }
        if let image { request.image = image }
        if let ordinal { request.ordinal = ordinal }
        return ClassificationWire.node(try await call(ClassificationRPC.updateNode, request, session).node)
    }

    /// Moves one of the caller's nodes, with its subtree, under `newParentID` (nil: makes it a root). A move under
    /// itself or a descendant is FAILED_PRECONDITION (details reason `cycle`).
    public func moveNode(session: AuthenticatedSession, nodeID: String, newParentID: String?) async throws -> ClassificationNode {
        var request = Svx_Classification_V1_MoveNodeRequest()
        request.nodeID = nodeID
        request.newParentID = newParentID ?? ""
        return ClassificationWire.node(try await call(ClassificationRPC.moveNode, request, session).node)
    }

    /// Deletes one of the caller's nodes. With children or classifications it is refused unless `cascade`, which
    /// takes its whole subtree and their classifications.
    public func deleteNode(session: AuthenticatedSession, nodeID: String, cascade: Bool = false) async throws -> ClassificationDeletion {
        var request = Svx_Classification_V1_DeleteNodeRequest()
        request.nodeID = nodeID
        request.cascade = cascade
        let response = try await call(ClassificationRPC.deleteNode, request, session)
        return ClassificationWire.deletion(nodes: response.deletedNodes, classifications: response.deletedClassifications)
    }

    /// Nodes whose name or label contains `query` (any case; empty: every node), in `scheme` (name or id) or in
    /// every scheme; by scheme then name. `limit` 1...500 (nil: the service's default, 50).
    public func searchNodes(
        session: AuthenticatedSession, query: String, scheme: String? = nil, limit: Int? = nil
    ) async throws -> [ClassificationNode] {
        var request = Svx_Classification_V1_SearchNodesRequest()
        request.query = query
        request.scheme = scheme ?? ""
        if let limit {
            guard (1...Self.maximumSearchLimit).contains(limit) else {
                throw SVXClientError(.invalidInput, "limit \(limit) is not in 1...\(Self.maximumSearchLimit)")
            }
            request.limit = UInt32(limit)
        }
        return try await call(ClassificationRPC.searchNodes, request, session).nodes.map(ClassificationWire.node)
    }

    /// The node `under` (an id) and its descendants, or, without it, the roots of `scheme` (name or id) and theirs;
    /// depth first, siblings by ordinal then name, at most `maxDepth` levels below (nil: all).
    public func listSubtree(
        session: AuthenticatedSession, scheme: String? = nil, under nodeID: String? = nil, maxDepth: Int? = nil
    ) async throws -> ClassificationSubtree {
        guard scheme != nil || nodeID != nil else { throw SVXClientError(.invalidInput, "a subtree needs a scheme or a node") }
        var request = Svx_Classification_V1_ListSubtreeRequest()
        request.scheme = scheme ?? ""
        request.nodeID = nodeID ?? ""
        if let maxDepth {
            guard maxDepth >= 1, let depth = UInt32(exactly: maxDepth) else {
                throw SVXClientError(.invalidInput, "depth \(maxDepth) is not a positive number of levels")
            }
            request.maxDepth = depth
        }
        let response = try await call(ClassificationRPC.listSubtree, request, session)
        return ClassificationSubtree(nodes: response.nodes.map(ClassificationWire.node), truncated: response.truncated)
    }

    /// The id a node reference means. An id is taken as given (the service checks it); a name is looked up in its
    /// scheme, or in `scheme` (name or id) for a bare name; a `scheme:name` outside `scheme`, a name nothing has, or
    /// a name several nodes share is an error (the last one lists their ids).
    public func resolveNodeID(session: AuthenticatedSession, _ reference: NodeReference, inScheme scheme: String? = nil) async throws -> String {
        switch reference {
        case .id(let id):
            return id
        case .name(let named, let name):
            guard let searched = named ?? scheme else {
                throw SVXClientError(.invalidInput, "node \(name) needs its scheme: give scheme:\(name) or the node's id")
            }
            let node = try await node(session: session, named: name, inScheme: searched)
            if let scheme, scheme != node.schemeName, scheme.lowercased() != node.schemeID.lowercased() {
                throw SVXClientError(.invalidInput, "node \(node.qualifiedName) is not in scheme \(scheme)")
            }
            return node.id
        }
    }

    /// The one node named `name` in `scheme` (name or id), found with a search, or with the scheme's whole tree
    /// when the search comes back full (it may then have left a node of that name out).
    public func node(session: AuthenticatedSession, named name: String, inScheme scheme: String) async throws -> ClassificationNode {
        var candidates = try await searchNodes(session: session, query: name, scheme: scheme, limit: Self.maximumSearchLimit)
        if candidates.count >= Self.maximumSearchLimit {
            candidates = try await listSubtree(session: session, scheme: scheme).nodes
        }
        return try NodeNameMatch.single(named: name, inScheme: scheme, among: candidates)
    }

    // MARK: Classifications

    /// Links `node` (an id, or `scheme:name` when exactly one visible node has that name) to one of the caller's
    /// entities. Linking twice is harmless. Answers the node.
    public func classify(session: AuthenticatedSession, node: String, entity: ClassificationEntity) async throws -> ClassificationNode {
        var request = Svx_Classification_V1_ClassifyRequest()
        request.node = node
        request.entity = ClassificationWire.entity(entity)
        return ClassificationWire.node(try await call(ClassificationRPC.classify, request, session).node)
    }

    /// Removes the link between `node` (an id, or `scheme:name`: every visible node of that name) and the entity.
    /// NOT_FOUND when there is none.
    public func unclassify(session: AuthenticatedSession, node: String, entity: ClassificationEntity) async throws {
        var request = Svx_Classification_V1_UnclassifyRequest()
        request.node = node
        request.entity = ClassificationWire.entity(entity)
        _ = try await call(ClassificationRPC.unclassify, request, session)
    }

    /// The nodes the entity is classified under, by scheme then name (none for an entity nobody classified).
    public func listEntityNodes(session: AuthenticatedSession, entity: ClassificationEntity) async throws -> [ClassificationNode] {
        var request = Svx_Classification_V1_ListEntityNodesRequest()
        request.entity = ClassificationWire.entity(entity)
        return try await call(ClassificationRPC.listEntityNodes, request, session).nodes.map(ClassificationWire.node)
    }

    /// One page of the caller's entities classified under `node` (an id or `scheme:name`) or any of its
    /// descendants, each once, in id order; `kind` nil lists every kind. `pageSize` 1...500 (nil: the service's
    /// default, 100).
    public func listEntities(
        session: AuthenticatedSession, node: String, kind: ClassificationEntity.Kind? = nil, pageSize: Int? = nil,
        pageToken: String? = nil
    ) async throws -> ClassifiedEntityPage {
        var request = Svx_Classification_V1_ListEntitiesRequest()
        request.node = node
        request.type = ClassificationWire.entityType(kind)
        if let pageSize {
            guard (1...500).contains(pageSize) else { throw SVXClientError(.invalidInput, "page size \(pageSize) is not in 1...500") }
            request.pageSize = UInt32(pageSize)
        }
        request.pageToken = pageToken ?? ""
        let response = try await call(ClassificationRPC.listEntities, request, session)
        return ClassifiedEntityPage(
            entities: try response.entities.map(ClassificationWire.entity),
            nextPageToken: response.nextPageToken.isEmpty ? nil : response.nextPageToken)
    }

    /// Every page of ``listEntities(session:node:kind:pageSize:pageToken:)``, at most `maximumPages` of 500 (a
    /// bound against a service that never ends its pages, not a limit anyone should meet).
    public func allEntities(
        session: AuthenticatedSession, node: String, kind: ClassificationEntity.Kind? = nil, maximumPages: Int = 2_000
    ) async throws -> [ClassificationEntity] {
        try await Paging.collect("classified entities", maximumPages: maximumPages) { token in
            let page = try await listEntities(
                session: session, node: node, kind: kind, pageSize: 500, pageToken: token.isEmpty ? nil : token)
            return (page.entities, page.nextPageToken ?? "")
        }
    }

    private func call<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, _ session: AuthenticatedSession
    ) async throws -> Response {
        try await classification.call(method, request, sessionToken: session.token, timeout: timeout)
    }
}
