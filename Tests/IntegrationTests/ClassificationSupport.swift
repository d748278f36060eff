import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// svx-auth, svx-vault and svx-classification on one database, wired to each other: both check sessions with this
/// Auth, the Vault knows the Classification endpoint (it tells it about deletions) and Classification knows the
/// Vault's (it checks entities there). The Vault side is a ``VaultStack``; `stop()` ends every process.
struct ClassificationStack {
    let vaultStack: VaultStack
    let classification: ServiceProcess
    let classificationClient: RPCClient

    var database: TestDatabase { vaultStack.database }

    static func start(classificationEnvironment: [String: String] = [:]) async throws -> ClassificationStack {
        let (auth, database) = try await startService("auth")
        var started = [auth]
        do {
            // The classification port first: the Vault must know it before Classification (which needs the
            // Vault's endpoint) starts.
            let port = try freeLoopbackPort()
            let (vault, _) = try await startService("vault", in: database, environment: [
                "SVX_AUTH_ENDPOINT": auth.endpoint, "SVX_CLASSIFICATION_ENDPOINT": "tcp://127.0.0.1:\(port)",
            ])
            started.append(vault)
            let (classification, _) = try await startService("classification", in: database, environment: [
                "SVX_AUTH_ENDPOINT": auth.endpoint, "SVX_VAULT_ENDPOINT": vault.endpoint,
            ].merging(classificationEnvironment) { wired, _ in wired }, port: port)
            started.append(classification)
            let authClient = try AuthTestClient(auth)
            let vaultClient: RPCClient, classificationClient: RPCClient
            do { vaultClient = try RPCClient(endpoint: vault.endpoint) } catch {
                authClient.close()
                throw error
            }
            do { classificationClient = try RPCClient(endpoint: classification.endpoint) } catch {
                vaultClient.close()
                authClient.close()
                throw error
            }
            return ClassificationStack(
                vaultStack: VaultStack(
                    auth: auth, vault: vault, database: database, authClient: authClient, vaultClient: vaultClient),
                classification: classification, classificationClient: classificationClient)
        } catch {
            for process in started.reversed() { process.stop() }
            throw error
        }
    }

    func stop() {
        classificationClient.close()
        classification.stop()
        vaultStack.stop()
    }

    /// Sign-up, login and PutVaultUser (``VaultStack/newUser(passphrase:vaultUser:)``), with a Classification client.
    func newUser() async throws -> ClassificationUser {
        ClassificationUser(vaultUser: try await vaultStack.newUser(), classification: classificationClient)
    }

    /// A Classification call with no session (or `token`).
    func anonymous<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request, token: String = "")
        async -> RPCStatus?
    {
        await status { _ = try await classificationClient.call(method, request, sessionToken: token, timeout: .seconds(10)) }
    }
}

/// A logged-in user: ``VaultUser`` for the Vault, and Classification calls with the same session.
struct ClassificationUser {
    let vaultUser: VaultUser
    let classification: RPCClient

    var userID: String { vaultUser.userID }

    func call<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request) async throws -> Response {
        try await classification.call(method, request, sessionToken: vaultUser.sessionToken, timeout: .seconds(30))
    }

    /// The status the call fails with (nil if it succeeded).
    func failure<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request) async -> RPCStatus? {
        await status { _ = try await call(method, request) }
    }

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
