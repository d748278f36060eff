import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Classifications through real svx-auth, svx-vault and svx-classification: Classify checked with the Vault,
/// listing under a subtree, the Vault's ListItems by node, deletions in the Vault taking their links with them,
/// and another user's entities and nodes out of reach.
@Suite(.serialized) struct ClassificationFlowTests {
    /// The entity ids ListEntities gives for `node`, page by page (`pageSize` 0: the default).
    func entities(_ user: TestUser, _ node: String, type: Svx_Classification_V1_EntityType = .unspecified, pageSize: UInt32 = 0)
        async throws -> [String]
    {
        var ids: [String] = []
        var token = ""
        for _ in 0..<1000 {
            let page = try await user.call(
                ClassificationRPC.listEntities, .init(node: node, type: type, pageSize: pageSize, pageToken: token))
            ids += page.entities.map(\.entityID)
            token = page.nextPageToken
            if token.isEmpty { return ids }
        }
        Issue.record("ListEntities did not reach its last page")
        return ids
    }

    func classify(_ user: TestUser, _ node: String, _ type: Svx_Classification_V1_EntityType, _ id: String) async throws {
        _ = try await user.call(ClassificationRPC.classify, .init(node: node, entity: .init(type, id)))
    }

    @Test func itemsAreListedUnderTheirNodeAndEveryAncestorOfIt() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let chain = try await user.createChain(prefix: "Level", count: 10)  // level_0 ... level_9, depth 10
        let other = try await user.createNode(label: "Elsewhere")
        var items: [Svx_Vault_V1_Item] = []
        for index in 0..<6 { items.append(try await user.createItem(template: "passport", label: "Passport \(index)")) }
        let ids = items.map(\.itemID)

        try await classify(user, chain[0].nodeID, .item, ids[0])
        try await classify(user, chain[4].nodeID, .item, ids[1])
        try await classify(user, "tag:level_9", .item, ids[2])  // scheme:name
        try await classify(user, chain[9].nodeID, .item, ids[2])  // twice: harmless
        try await classify(user, chain[2].nodeID, .item, ids[2])  // under two nodes of one subtree: listed once
        try await classify(user, other.nodeID, .item, ids[3])

        #expect(try await entities(user, chain[0].nodeID) == [ids[0], ids[1], ids[2]])
        #expect(try await entities(user, chain[0].nodeID, pageSize: 1) == [ids[0], ids[1], ids[2]])
        #expect(try await entities(user, "tag:level_4") == [ids[1], ids[2]])
        #expect(try await entities(user, "\(chain[4].schemeID):level_4") == [ids[1], ids[2]])  // the scheme by id
        #expect(try await entities(user, chain[9].nodeID, type: .item) == [ids[2]])
        #expect(try await entities(user, chain[9].nodeID, type: .slot).isEmpty)
        #expect(try await entities(user, other.nodeID) == [ids[3]])
        let nodes = try await user.call(ClassificationRPC.listEntityNodes, .init(entity: .init(.item, ids[2]))).nodes
        #expect(Set(nodes.map(\.name)) == ["level_2", "level_9"])

        // The Vault's listing by node: the same items, with their slots, in creation order, page by page.
        let (listed, pages) = try await user.allItems(.init(pageSize: 2, classificationNode: "tag:level_0"))
        #expect(listed.map(\.itemID) == [ids[0], ids[1], ids[2]])
        #expect(pages == 2)
        #expect(listed.allSatisfy { !$0.slots.isEmpty })
        // Combined with the Vault's own filters.
        let filtered = try await user.allItems(.init(labelContains: "passport 2", classificationNode: chain[0].nodeID))
        #expect(filtered.items.map(\.itemID) == [ids[2]])
        let unknown = await user.failure(VaultRPC.listItems, .init(classificationNode: "tag:no_such_node"))
        #expect(unknown?.code == .notFound && unknown?.details["field"] == "classification_node")

        // Unclassify: gone from every listing; a second time there is nothing to remove.
        _ = try await user.call(ClassificationRPC.unclassify, .init(node: chain[4].nodeID, entity: .init(.item, ids[1])))
        #expect(try await entities(user, chain[0].nodeID) == [ids[0], ids[2]])
        let again = await user.failure(ClassificationRPC.unclassify, .init(node: chain[4].nodeID, entity: .init(.item, ids[1])))
        #expect(again?.code == .notFound)
    }

    @Test func slotsAndTemplatesAreClassifiedToo() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let node = try await user.createNode(label: "Travel")
        let item = try await user.createItem(template: "passport", label: "My passport")
        let slot = try #require(item.slots.first)
        let own = try await user.call(VaultRPC.createTemplate, .init(
            name: "membership", label: "Membership", slots: [.init("number", "Number")])).template
        let system = try await user.template("passport")

        try await classify(user, node.nodeID, .slot, slot.slotID)
        try await classify(user, node.nodeID, .template, own.templateID)
        try await classify(user, node.nodeID, .template, system.templateID)  // a system template, for this user only

        let slots = try await user.call(ClassificationRPC.listEntities, .init(node: node.nodeID, type: .slot)).entities
        #expect(slots.map(\.entityID) == [slot.slotID])
        #expect(slots.first?.itemID == item.itemID)
        #expect(Set(try await entities(user, node.nodeID, type: .template)) == [own.templateID, system.templateID])

        // The wrong type for an id is an entity the caller does not have.
        let wrongType = await user.failure(ClassificationRPC.classify, .init(node: node.nodeID, entity: .init(.item, slot.slotID)))
        #expect(wrongType?.code == .notFound)
        let unknown = await user.failure(ClassificationRPC.classify, .init(node: node.nodeID, entity: .init(.item, UUID().uuidString)))
        #expect(unknown?.code == .notFound && unknown?.details["field"] == "entity.entity_id")
    }

    @Test func anEntityIsUnderAtMostAHundredNodes() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let item = try await user.createItem(template: "passport")
        var nodes: [Svx_Classification_V1_Node] = []
        for index in 0...100 { nodes.append(try await user.createNode(label: "Tag \(index)")) }
        for node in nodes.prefix(100) { try await classify(user, node.nodeID, .item, item.itemID) }
        let refused = await user.failure(ClassificationRPC.classify, .init(node: nodes[100].nodeID, entity: .init(.item, item.itemID)))
        #expect(refused?.code == .resourceExhausted)
        try await classify(user, nodes[0].nodeID, .item, item.itemID)  // an existing link again: still harmless
        let under = try await user.call(ClassificationRPC.listEntityNodes, .init(entity: .init(.item, item.itemID))).nodes
        #expect(under.count == 100)
    }

    @Test func deletingInTheVaultTakesTheLinksAlong() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let root = try await user.createNode(label: "Root")
        let leaf = try await user.createNode(parent: root.nodeID, label: "Leaf")
        let gone = try await user.createItem(template: "passport", label: "Gone")
        let kept = try await user.createItem(template: "passport", label: "Kept")
        let goneSlot = try #require(gone.slots.first)
        let keptSlots = Array(kept.slots.prefix(2))
        try #require(keptSlots.count == 2)
        let template = try await user.call(VaultRPC.createTemplate, .init(
            name: "card", label: "Card", slots: [.init("number", "Number")])).template

        try await classify(user, leaf.nodeID, .item, gone.itemID)
        try await classify(user, leaf.nodeID, .slot, goneSlot.slotID)
        try await classify(user, leaf.nodeID, .item, kept.itemID)
        for slot in keptSlots { try await classify(user, root.nodeID, .slot, slot.slotID) }
        try await classify(user, root.nodeID, .template, template.templateID)

        // DeleteItem: the item's link and its slots' links go.
        _ = try await user.call(VaultRPC.deleteItem, .init(itemID: gone.itemID))
        #expect(try await entities(user, root.nodeID, type: .item) == [kept.itemID])
        #expect(try await entities(user, root.nodeID, type: .slot).sorted() == keptSlots.map(\.slotID).sorted())
        let nodesOfGone = try await user.call(ClassificationRPC.listEntityNodes, .init(entity: .init(.item, gone.itemID)))
        #expect(nodesOfGone.nodes.isEmpty)
        let listed = try await user.allItems(.init(classificationNode: root.nodeID))
        #expect(listed.items.map(\.itemID) == [kept.itemID])
        // And it cannot be classified again.
        let reclassify = await user.failure(ClassificationRPC.classify, .init(node: leaf.nodeID, entity: .init(.item, gone.itemID)))
        #expect(reclassify?.code == .notFound)

        // UpdateItem removing a slot: that slot's link goes, the other stays.
        let current = try await user.getItem(kept.itemID)
        _ = try await user.update(current, remove: [keptSlots[0].name])
        #expect(try await entities(user, root.nodeID, type: .slot) == [keptSlots[1].slotID])

        // DeleteTemplate: its link goes.
        _ = try await user.call(VaultRPC.deleteTemplate, .init(id: template.templateID))
        #expect(try await entities(user, root.nodeID, type: .template).isEmpty)
        #expect(try await entities(user, root.nodeID) == [kept.itemID, keptSlots[1].slotID].sorted())
    }

    @Test func aForgottenEntityIsNotClassifiedAgainEvenWhileItStillExists() async throws {
        // What closes the race between a deletion and a Classify: the Vault calls ForgetEntities before its own
        // commit; a Classify after it is refused although the Vault still has the item at that moment.
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let node = try await user.createNode(label: "Race")
        let item = try await user.createItem(template: "passport")
        _ = try await user.call(ClassificationRPC.forgetEntities, .init(entities: [.init(.item, item.itemID)]), as: .vault)
        _ = try await user.getItem(item.itemID)  // still in the Vault
        let refused = await user.failure(ClassificationRPC.classify, .init(node: node.nodeID, entity: .init(.item, item.itemID)))
        #expect(refused?.code == .failedPrecondition && refused?.details["reason"] == "recently_deleted")
        let slot = try #require(item.slots.first)
        let slotRefused = await user.failure(ClassificationRPC.classify, .init(node: node.nodeID, entity: .init(.slot, slot.slotID)))
        #expect(slotRefused?.details["reason"] == "recently_deleted", "a slot of a forgotten item")
        // The same id twice in one call is harmless.
        _ = try await user.call(ClassificationRPC.forgetEntities, .init(entities: [.init(.item, item.itemID), .init(.item, item.itemID)]), as: .vault)
        #expect(try await entities(user, node.nodeID).isEmpty)
    }

    @Test func anotherUsersEntitiesAndNodesAreOutOfReach() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let alice = try await stack.newUser()
        let bob = try await stack.newUser()
        let aliceNode = try await alice.createNode(label: "Private")
        let aliceItem = try await alice.createItem(template: "passport")
        try await classify(alice, aliceNode.nodeID, .item, aliceItem.itemID)
        let bobNode = try await bob.createNode(label: "Private")  // the same name, another user: fine
        let bobItem = try await bob.createItem(template: "passport")

        // Bob's node on Alice's item, and Alice's node on Bob's item: both as unknown as a random id.
        let unknownItem = await bob.failure(ClassificationRPC.classify, .init(node: bobNode.nodeID, entity: .init(.item, UUID().uuidString)))
        let strangersItem = await bob.failure(ClassificationRPC.classify, .init(node: bobNode.nodeID, entity: .init(.item, aliceItem.itemID)))
        #expect(strangersItem != nil && strangersItem == unknownItem)
        let aliceSlot = try #require(aliceItem.slots.first)
        let strangersSlot = await bob.failure(ClassificationRPC.classify, .init(node: bobNode.nodeID, entity: .init(.slot, aliceSlot.slotID)))
        #expect(strangersSlot?.code == .notFound)
        let unknownNode = await bob.failure(ClassificationRPC.classify, .init(node: UUID().uuidString, entity: .init(.item, bobItem.itemID)))
        let strangersNode = await bob.failure(ClassificationRPC.classify, .init(node: aliceNode.nodeID, entity: .init(.item, bobItem.itemID)))
        #expect(strangersNode != nil && strangersNode == unknownNode)

        // Alice's node and links are invisible to Bob, and what Bob does leaves them alone.
        let list = await bob.failure(ClassificationRPC.listEntities, .init(node: aliceNode.nodeID))
        #expect(list?.code == .notFound)
        #expect(try await entities(bob, "tag:private").isEmpty)  // his own node of that name
        let nodes = try await bob.call(ClassificationRPC.listEntityNodes, .init(entity: .init(.item, aliceItem.itemID)))
        #expect(nodes.nodes.isEmpty)
        let unlink = await bob.failure(ClassificationRPC.unclassify, .init(node: aliceNode.nodeID, entity: .init(.item, aliceItem.itemID)))
        #expect(unlink?.code == .notFound)
        _ = try await bob.call(ClassificationRPC.forgetEntities, .init(entities: [.init(.item, aliceItem.itemID)]), as: .vault)
        let byNode = await bob.failure(VaultRPC.listItems, .init(classificationNode: aliceNode.nodeID))
        #expect(byNode?.code == .notFound)
        #expect(try await entities(alice, aliceNode.nodeID) == [aliceItem.itemID])
        // Bob's ForgetEntities marked only his own rows: Alice may still classify her item.
        try await classify(alice, "tag:private", .item, aliceItem.itemID)
    }

    /// The acceptance check of the Classification issue through the `svx` binary: a node tree, classified items,
    /// and the items under a parent node.
    @Test func commandLineTreeClassifyAndListByNode() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault, .classification])
        defer { stack.stop() }
        let cli = try stack.commandLine()
        let svx = cli.svx
        var environment = cli.environment
        environment["SVX_PASSPHRASE"] = "command line passphrase"

        func run(_ arguments: [String]) async throws -> String {
            let run = try await ChildProcess.runSeparately(svx, arguments, environment: environment, timeout: .seconds(120))
            #expect(run.status == 0, "\(arguments): \(run.stdout)\(run.stderr)")
            return run.stdout
        }
        func json(_ arguments: [String]) async throws -> Any {
            let output = try await run(arguments + ["--json"])
            return try JSONSerialization.jsonObject(with: Data(output.utf8))
        }
        let signUp = try #require(try await json(["signup"]) as? [String: Any])
        environment["SVX_SECRET_KEY"] = try #require(signUp["secret_key"] as? String)

        let homeNode = try #require(try await json(["nodes", "create", "tag", "Home"]) as? [String: Any])
        #expect(homeNode["name"] as? String == "home")
        _ = try await json(["nodes", "create", "tag", "Documents", "--parent", "tag:home"])
        _ = try await json(["nodes", "create", "tag", "Travel", "--parent", "tag:documents"])
        let tree = try await run(["nodes", "list", "tag"])
        #expect(tree.contains("home") && tree.contains("documents") && tree.contains("travel"), "\(tree)")

        var ids: [String] = []
        for (label, node) in [("Passport", "tag:travel"), ("Insurance", "tag:documents"), ("Unfiled", "")] {
            let item = try #require(try await json([
                "items", "create", "--template", "passport", "--label", label, "--set", "full_name=Ada Lovelace",
            ]) as? [String: Any])
            let id = try #require(item["item_id"] as? String)
            ids.append(id)
            if !node.isEmpty { _ = try await run(["classify", id, node]) }
        }
        func listed(_ node: String) async throws -> [String] {
            let list = try #require(try await json(["items", "list", "--node", node]) as? [String: Any])
            return (list["items"] as? [[String: Any]] ?? []).compactMap { $0["item_id"] as? String }
        }
        #expect(try await listed("tag:home") == [ids[0], ids[1]])  // under the parent: both, from its descendants
        #expect(try await listed("tag:travel") == [ids[0]])
        let human = try await run(["items", "list", "--node", "tag:documents"])
        #expect(human.contains("Passport") && human.contains("Insurance") && !human.contains("Unfiled"), "\(human)")

        // A cycle is refused with a clear message and a failing exit status.
        let cycle = try await ChildProcess.runSeparately(
            svx, ["nodes", "move", "tag:home", "--to", "tag:travel"], environment: environment, timeout: .seconds(60))
        #expect(cycle.status != 0 && cycle.stderr.contains("descendants"), "\(cycle.stdout)\(cycle.stderr)")

        _ = try await run(["items", "delete", ids[0]])
        #expect(try await listed("tag:home") == [ids[1]])
    }
}
