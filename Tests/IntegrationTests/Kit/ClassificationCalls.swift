import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Classification calls of a ``TestUser``.
extension TestUser {
    @discardableResult
    func createNode(
        scheme: String = "tag", parent: String = "", label: String, name: String = "", ordinal: Int32 = 0
    ) async throws -> Svx_Classification_V1_Node {
        try await call(ClassificationRPC.createNode, .init(scheme: scheme, parentID: parent, name: name, label: label, ordinal: ordinal)).node
    }

    /// `count` nodes, each under the one before (the first under `parent`), labelled `<prefix> <level>`.
    func createChain(scheme: String = "tag", parent: String = "", prefix: String, count: Int) async throws -> [Svx_Classification_V1_Node] {
        var chain: [Svx_Classification_V1_Node] = []
        for level in 0..<count {
            chain.append(try await createNode(scheme: scheme, parent: chain.last?.nodeID ?? parent, label: "\(prefix) \(level)"))
        }
        return chain
    }

    /// ListSubtree of a node, or (`node` empty) of the scheme's roots.
    func subtree(scheme: String = "tag", node: String = "", maxDepth: UInt32 = 0) async throws -> [Svx_Classification_V1_Node] {
        try await call(ClassificationRPC.listSubtree, .init(scheme: node.isEmpty ? scheme : "", nodeID: node, maxDepth: maxDepth)).nodes
    }

    func search(_ query: String, scheme: String = "", limit: UInt32 = 0) async throws -> [Svx_Classification_V1_Node] {
        try await call(ClassificationRPC.searchNodes, .init(query: query, scheme: scheme, limit: limit)).nodes
    }

    func schemes() async throws -> [Svx_Classification_V1_Scheme] {
        try await call(ClassificationRPC.listSchemes, .init()).schemes
    }

    func move(_ node: String, under parent: String) async throws -> Svx_Classification_V1_Node {
        try await call(ClassificationRPC.moveNode, .init(nodeID: node, newParentID: parent)).node
    }

    /// What the user can see of its classification data: its schemes and every node of each, as
    /// `scheme: name(depth) parent` lines (for "nothing changed").
    func snapshot() async throws -> [String] {
        var lines: [String] = []
        for scheme in try await schemes() where scheme.userNodes {
            lines.append("scheme \(scheme.name) \(scheme.schemeID) \(scheme.label) \(scheme.description_p)")
            for node in try await subtree(scheme: scheme.schemeID) {
                lines.append("  \(scheme.name): \(node.name)(\(node.depth)) \(node.nodeID) parent \(node.parentID) "
                    + "\(node.label) \(node.description_p) \(node.image) \(node.ordinal)")
            }
        }
        return lines
    }
}

/// `(name, depth)` of each node, in order.
func namesAndDepths(_ nodes: [Svx_Classification_V1_Node]) -> [String] {
    nodes.map { "\($0.name)@\($0.depth)" }
}

// MARK: Requests

extension Svx_Classification_V1_CreateSchemeRequest {
    init(name: String = "", label: String, description: String = "") {
        self.init()
        self.name = name
        self.label = label
        self.description_p = description
    }
}

extension Svx_Classification_V1_DeleteSchemeRequest {
    init(scheme: String, cascade: Bool = false) {
        self.init()
        self.scheme = scheme
        self.cascade = cascade
    }
}

extension Svx_Classification_V1_CreateNodeRequest {
    init(scheme: String = "tag", parentID: String = "", name: String = "", label: String, description: String = "",
         image: String = "", ordinal: Int32 = 0) {
        self.init()
        self.scheme = scheme
        self.parentID = parentID
        self.name = name
        self.label = label
        self.description_p = description
        self.image = image
        self.ordinal = ordinal
    }
}

extension Svx_Classification_V1_UpdateNodeRequest {
    init(nodeID: String, name: String? = nil, label: String? = nil, description: String? = nil, image: String? = nil,
         ordinal: Int32? = nil) {
        self.init()
        self.nodeID = nodeID
        if let name { self.name = name }
        if let label { self.label = label }
        if let description { self.description_p = description }
        if let image { self.image = image }
        if let ordinal { self.ordinal = ordinal }
    }
}

extension Svx_Classification_V1_MoveNodeRequest {
    init(nodeID: String, newParentID: String = "") {
        self.init()
        self.nodeID = nodeID
        self.newParentID = newParentID
    }
}

extension Svx_Classification_V1_DeleteNodeRequest {
    init(nodeID: String, cascade: Bool = false) {
        self.init()
        self.nodeID = nodeID
        self.cascade = cascade
    }
}

extension Svx_Classification_V1_SearchNodesRequest {
    init(query: String = "", scheme: String = "", limit: UInt32 = 0) {
        self.init()
        self.query = query
        self.scheme = scheme
        self.limit = limit
    }
}

extension Svx_Classification_V1_ListSubtreeRequest {
    init(scheme: String = "", nodeID: String = "", maxDepth: UInt32 = 0) {
        self.init()
        self.scheme = scheme
        self.nodeID = nodeID
        self.maxDepth = maxDepth
    }
}

extension Svx_Classification_V1_Entity {
    init(_ type: Svx_Classification_V1_EntityType, _ id: String) {
        self.init()
        self.type = type
        entityID = id
    }
}

extension Svx_Classification_V1_ClassifyRequest {
    init(node: String, entity: Svx_Classification_V1_Entity?) {
        self.init()
        self.node = node
        if let entity { self.entity = entity }
    }
}

extension Svx_Classification_V1_UnclassifyRequest {
    init(node: String, entity: Svx_Classification_V1_Entity?) {
        self.init()
        self.node = node
        if let entity { self.entity = entity }
    }
}

extension Svx_Classification_V1_ListEntityNodesRequest {
    init(entity: Svx_Classification_V1_Entity?) {
        self.init()
        if let entity { self.entity = entity }
    }
}

extension Svx_Classification_V1_ListEntitiesRequest {
    init(node: String, type: Svx_Classification_V1_EntityType = .unspecified, pageSize: UInt32 = 0, pageToken: String = "") {
        self.init()
        self.node = node
        self.type = type
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

extension Svx_Classification_V1_ForgetEntitiesRequest {
    init(entities: [Svx_Classification_V1_Entity]) {
        self.init()
        self.entities = entities
    }
}
