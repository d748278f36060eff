import ArgumentParser
import ClassificationSQL
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import Synchronization

/// `svx-load classification-list`: the entities under a node whose subtree classifies N items (default 10 000):
/// ListEntities of the subtree's root (first page of 100, descendants included), beside the same SQL through raw
/// libpq; then the Vault's ListItems by that node (Vault -> Classification -> Vault's own rows).
/// The tree (`tag:bench_root`, 10 children, 100 grandchildren) and the links are made once and kept.
struct ClassificationListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classification-list",
        abstract: "ListEntities under a node with N classified items beside raw libpq, and ListItems by node.")

    @OptionGroup var options: VaultLoadOptions

    @Option(help: "The svx-classification endpoint (loopback only).")
    var classificationEndpoint: String = "tcp://127.0.0.1:7105"

    @Option(help: "Items classified under the tree (the benchmark user's vault must hold them: vault-seed first).")
    var items: Int = 10_000

    @Option(help: "Entities a page.")
    var pageSize: Int = 100

    func validate() throws {
        try validateLoopback(classificationEndpoint)
        guard (1...1_000_000).contains(items), (1...500).contains(pageSize) else {
            throw ValidationError("--items must be in 1...1000000 and --page-size in 1...500")
        }
    }

    func run() throws {
        let databaseURL = try options.databaseURL(service: "classification")
        let user = try VaultBenchUser.openWaiting(options.endpoints)
        guard let userID = UUID(uuidString: user.userID) else { throw ValidationError("bad user id in the credentials") }
        let ids = try user.itemIDs(vaultEndpoint: options.endpoints.vaultEndpoint, limit: items)
        guard ids.count == items else {
            printFlushed("classification-list: the vault holds \(ids.count) items, not \(items): run vault-seed --items \(items) first")
            throw ExitCode.failure
        }
        let client = try LoadTransport.client(endpoint: classificationEndpoint, configuration: .init(maxInFlight: 64, defaultTimeout: .seconds(30)))
        defer { client.close() }
        let tree = try BenchTree.ensure(client, token: user.token)
        try BenchTree.classify(ids, under: tree.leaves, root: tree.root, endpoint: classificationEndpoint, token: user.token)

        printFlushed("svx-load classification-list: \(classificationEndpoint), \(items) items under tag:bench_root (111 nodes, 3 levels), page of \(pageSize), \(options.shape.shape.describe()); \(options.rounds) round(s) per target")
        printFlushed("  list-entities = ListEntities(node: root, type item, first page) (RPCClient.callBlocking -> svx-classification -> PostgreSQL)")
        printFlushed("  raw           = ListEntities' own recursive query (ClassificationSQL) through SVXStore.PostgresConnection as svx_classification, one connection per client")
        let (svx, _) = try VaultComparison(options: options, what: "list-entities").run(
            svx: ListEntitiesTarget(endpoint: classificationEndpoint, token: user.token, root: tree.root, pageSize: pageSize),
            raw: RawListEntitiesTarget(conninfo: databaseURL, userID: userID, root: tree.root, pageSize: pageSize),
            svxTitle: "list-entities: ListEntities under a node with \(items) classified items",
            rawTitle: "raw libpq: the subtree and its links, first page", goal: "no goal set; reported beside the raw limit")
        if svx.requests == 0 { throw ExitCode.failure }

        printFlushed("\n  vault-list-by-node = Vault ListItems(classification_node: root id, page \(pageSize), without slots): svx-vault asks svx-classification, then reads its items")
        var shape = options.shape.shape
        shape.duration = .seconds(max(1, options.shape.duration / 2))
        let result = try LoadRunner(
            shape: shape,
            target: VaultListByNodeTarget(
                endpoint: options.endpoints.vaultEndpoint, token: user.token, node: tree.root.wire, pageSize: pageSize),
            label: "vault-list-by-node"
        ).run(progress: true)
        printFlushed(result.summary(title: "vault-list-by-node: ListItems by node, \(items) classified items"))
        if result.requests == 0 { throw ExitCode.failure }
    }
}

/// The benchmark's tree in `tag`: bench_root, bench_c0...9 under it, bench_c<i>_<j> under each (100 leaves).
enum BenchTree {
    static func ensure(_ client: RPCClient, token: String) throws -> (root: UUID, leaves: [UUID]) {
        var subtree = Svx_Classification_V1_ListSubtreeRequest()
        subtree.scheme = "tag"
        let existing = try client.callBlocking(ClassificationRPC.listSubtree, subtree, sessionToken: token).nodes
        func node(_ name: String, parent: String) throws -> String {
            if let found = existing.first(where: { $0.name == name && $0.parentID == parent }) { return found.nodeID }
            var create = Svx_Classification_V1_CreateNodeRequest()
            create.scheme = "tag"
            create.parentID = parent
            create.name = name
            create.label = name
            return try client.callBlocking(ClassificationRPC.createNode, create, sessionToken: token).node.nodeID
        }
        let root = try node("bench_root", parent: "")
        var leaves: [UUID] = []
        for i in 0..<10 {
            let child = try node("bench_c\(i)", parent: root)
            for j in 0..<10 { leaves.append(UUID(uuidString: try node("bench_c\(i)_\(j)", parent: child))!) }
        }
        return (UUID(uuidString: root)!, leaves)
    }

    /// Links every id not yet under the tree to a leaf (round robin), 8 threads of blocking Classify calls.
    static func classify(_ ids: [UUID], under leaves: [UUID], root: UUID, endpoint: String, token: String) throws {
        let client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 64, defaultTimeout: .seconds(30)))
        defer { client.close() }
        var done = Set<UUID>()
        var list = Svx_Classification_V1_ListEntitiesRequest()
        list.node = root.wire
        list.pageSize = 500
        repeat {
            let page = try client.callBlocking(ClassificationRPC.listEntities, list, sessionToken: token)
            for entity in page.entities { if let id = UUID(uuidString: entity.entityID) { done.insert(id) } }
            list.pageToken = page.nextPageToken
        } while !list.pageToken.isEmpty
        let missing = ids.enumerated().filter { !done.contains($0.element) }
        guard !missing.isEmpty else {
            printFlushed("  \(ids.count) items already classified under the tree")
            return
        }
        printFlushed("  classifying \(missing.count) items (Classify: svx-classification asks svx-vault each time) ...")
        let start = ContinuousClock.now
        let next = AtomicCounter()
        let failures = AtomicCounter()
        runLanes(window: 8) {
            while true {
                let index = next.next()
                guard index < missing.count else { return }
                var request = Svx_Classification_V1_ClassifyRequest()
                request.node = leaves[missing[index].offset % leaves.count].wire
                request.entity.type = .item
                request.entity.entityID = missing[index].element.wire
                do { _ = try client.callBlocking(ClassificationRPC.classify, request, sessionToken: token) } catch { _ = failures.next() }
            }
        }
        let seconds = (ContinuousClock.now - start).seconds
        printFlushed(String(format: "  classified %d items in %.1f s (%.0f Classify/s, 8 threads), %d failed",
                            missing.count, seconds, Double(missing.count) / seconds, failures.value))
        if failures.value > 0 { throw RPCStatus(.internal, "\(failures.value) Classify calls failed") }
    }
}

struct ListEntitiesTarget: LoadTarget {
    let endpoint: String
    let token: String
    let root: UUID
    let pageSize: Int

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 16, defaultTimeout: timeout))
        var request = Svx_Classification_V1_ListEntitiesRequest()
        request.node = root.wire
        request.type = .item
        request.pageSize = UInt32(pageSize)
        let expected = pageSize
        return RPCLoadClient(client: client, timeout: timeout) { [request] client, _ in
            let response = try client.callBlocking(ClassificationRPC.listEntities, request, sessionToken: token, timeout: timeout)
            guard response.entities.count == expected else { throw RPCStatus(.internal, "a short page") }
        }
    }
}

struct RawListEntitiesTarget: LoadTarget {
    let conninfo: String
    let userID: UUID
    let root: UUID
    let pageSize: Int

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let nodes = uuidArrayLiteral([root])
        let limit = pageSize + 1
        return PostgresLoadClient(connection: try rawConnection(conninfo)) { db, _ in
            // ListEntities' own statement (ClassificationSQL): one copy for the service and this baseline.
            let rows = try db.query(ClassificationQueries.listEntities, userID, nodes, Int32(1), UUID?.none, limit)
            guard rows.count == limit else { throw RawFailure("a short page") }
            for row in rows {
                _ = try row.decode(UUID.self, at: 0)
                _ = try row.decode(Int32.self, at: 1)
            }
        }
    }
}

struct VaultListByNodeTarget: LoadTarget {
    let endpoint: String
    let token: String
    let node: String
    let pageSize: Int

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 16, defaultTimeout: timeout))
        var request = Svx_Vault_V1_ListItemsRequest()
        request.classificationNode = node
        request.pageSize = UInt32(pageSize)
        let expected = pageSize
        return RPCLoadClient(client: client, timeout: timeout) { [request] client, _ in
            let response = try client.callBlocking(VaultRPC.listItems, request, sessionToken: token, timeout: timeout)
            guard response.items.count == expected else { throw RPCStatus(.internal, "a short page") }
        }
    }
}

/// A counter shared by threads.
final class AtomicCounter: Sendable {
    private let state = Mutex(0)
    func next() -> Int { state.withLock { value in defer { value += 1 }; return value } }
    var value: Int { state.withLock { $0 } }
}
