import Foundation
import Logging
import SVXContracts
import SVXProto
import SVXRPC
import Synchronization
import Testing

/// A real svx-vault whose Classification is an in-process stand-in: what the Vault asks it to forget, and how
/// ListItems pages through its ListEntities (the real Classification service has its own suite).
@Suite struct VaultWithFakeClassificationTests {
    /// Answers ListEntities from `classified` (node → entity ids, as if classified by the caller) in id order
    /// after the page token, and records ForgetEntities.
    final class FakeClassification: Sendable {
        let classified = Mutex<[String: [String]]>([:])
        let forgotten = Mutex<[[Svx_Classification_V1_Entity]]>([])
        let forgetAnswer = Mutex<RPCStatus.Code>(.ok)
        let sessionTokens = Mutex<Set<String>>([])
        let listCalls = Atomic<Int>(0)
        let server: RPCServer<Void>

        init() throws {
            let router = RPCRouter<Void>()
            server = RPCServer(
                configuration: .init(endpoint: "tcp://127.0.0.1:*", workerCount: 2), router: router,
                logger: Logger(label: "fake-classification"), makeWorker: { _ in () })
            router.register(ClassificationRPC.listEntities) { [self] request, context, _ in
                listCalls.add(1, ordering: .relaxed)
                _ = sessionTokens.withLock { $0.insert(context.sessionToken) }
                if request.node == "bad" { throw RPCStatus(.invalidArgument, "node is malformed", details: ["field": "node"]) }
                guard let ids = classified.withLock({ $0[request.node] }) else {
                    throw RPCStatus(.notFound, "node not found", details: ["field": "node"])
                }
                #expect(request.type == .item)
                let after = ids.filter { request.pageToken.isEmpty || $0 > request.pageToken }.sorted()
                let page = after.prefix(Int(request.pageSize))
                var response = Svx_Classification_V1_ListEntitiesResponse()
                response.entities = page.map {
                    var entity = Svx_Classification_V1_Entity()
                    entity.type = .item
                    entity.entityID = $0
                    return entity
                }
                if after.count > page.count { response.nextPageToken = page.last! }
                return response
            }
            router.register(ClassificationRPC.forgetEntities) { [self] request, context, _ in
                _ = sessionTokens.withLock { $0.insert(context.sessionToken) }
                let code = forgetAnswer.withLock { $0 }
                guard code == .ok else { throw RPCStatus(code, "fake refusal") }
                forgotten.withLock { $0.append(request.entities) }
                return .init()
            }
            try server.start()
        }

        var endpoint: String { server.boundEndpoint! }

        /// What was forgotten since the last call, as `type:id` strings.
        func takeForgotten() -> [[String]] {
            forgotten.withLock { calls in
                defer { calls = [] }
                return calls.map { $0.map { "\($0.type):\($0.entityID)" } }
            }
        }
    }

    @Test func deletionsAreForgottenAndListItemsPagesThroughTheNode() async throws {
        let classification = try FakeClassification()
        defer { classification.server.shutdown() }
        let stack = try await VaultStack.start(classification: classification.endpoint)
        defer { stack.stop() }
        let alice = try await stack.newUser()
        let bob = try await stack.newUser()

        var items: [Svx_Vault_V1_Item] = []
        for index in 0..<8 { items.append(try await alice.createItem(template: "login", label: index % 2 == 0 ? "even \(index)" : "odd \(index)")) }
        let bobItem = try await bob.createItem(template: "login")
        let gone = UUID().uuidString.lowercased()  // classified, then deleted: the Vault no longer has it
        let ids = items.map(\.itemID)
        classification.classified.withLock {
            $0["tag:work"] = [ids[0], ids[2], ids[3], ids[5], ids[6], ids[7], gone, bobItem.itemID]
            // Many ids the Vault does not have before one it has: pages come back short, with a token.
            // (ids below every time-ordered item id).
            $0["tag:sparse"] = (0..<30).map { String(format: "00000000-0000-4000-8000-%012x", $0) } + [ids[4]]
        }

        let work = [ids[0], ids[2], ids[3], ids[5], ids[6], ids[7]].sorted()
        for pageSize: UInt32 in [0, 1, 2, 4, 500] {
            for includeSlots in [true, false] {
                let (listed, _) = try await alice.allItems(.init(pageSize: pageSize, includeSlots: includeSlots, classificationNode: "tag:work"))
                #expect(listed.map(\.itemID) == work, "page size \(pageSize)")
                #expect(listed.allSatisfy { $0.slots.isEmpty != includeSlots })
            }
        }
        let first = try await alice.call(VaultRPC.listItems, .init(pageSize: 2, classificationNode: "tag:work"))
        #expect(first.items.map(\.itemID) == Array(work.prefix(2)))
        #expect(first.nextPageToken == work[1])
        // Other filters combine; a page token starts after it.
        let even = try await alice.allItems(.init(pageSize: 2, labelContains: "EVEN", classificationNode: "tag:work")).items
        #expect(even.map(\.label) == ["even 0", "even 2", "even 6"])
        let rest = try await alice.allItems(.init(pageToken: ids[3], classificationNode: "tag:work")).items
        #expect(rest.map(\.itemID) == [ids[5], ids[6], ids[7]])
        #expect(try await bob.allItems(.init(classificationNode: "tag:work")).items.map(\.itemID) == [bobItem.itemID])

        // At most 5 rounds of ListEntities a page: a short (here empty) page with a token, then the item.
        let calls = classification.listCalls.load(ordering: .relaxed)
        let sparse = try await alice.call(VaultRPC.listItems, .init(pageSize: 2, classificationNode: "tag:sparse"))
        #expect(sparse.items.isEmpty && !sparse.nextPageToken.isEmpty)
        #expect(classification.listCalls.load(ordering: .relaxed) - calls == 5)
        #expect(try await alice.allItems(.init(pageSize: 2, classificationNode: "tag:sparse")).items.map(\.itemID) == [ids[4]])

        // The peer's NOT_FOUND and INVALID_ARGUMENT are about classification_node.
        let missing = await alice.failure(VaultRPC.listItems, .init(classificationNode: "tag:missing"))
        #expect(missing?.code == .notFound && missing?.details["field"] == "classification_node", "\(String(describing: missing))")
        await expectInvalidField("classification_node", what: "peer says malformed") {
            _ = try await alice.call(VaultRPC.listItems, .init(classificationNode: "bad"))
        }
        #expect(classification.sessionTokens.withLock { $0 } == [alice.sessionToken, bob.sessionToken])

        // Forgetting: the item (its slots go with it), the removed slots, the template; nothing when nothing goes.
        _ = classification.takeForgotten()
        let target = items[0]
        let removed = target.slots.filter { ["password", "notes"].contains($0.name) }.map(\.slotID)
        #expect(removed.count == 2)
        let relabelled = try await alice.update(target, label: "relabelled")
        #expect(classification.takeForgotten().isEmpty)
        let updated = try await alice.update(relabelled, remove: ["password", "notes"])
        #expect(updated.slots.count == target.slots.count - 2)
        #expect(classification.takeForgotten().map { Set($0) } == [Set(removed.map { "slot:\($0)" })])
        #expect(await alice.failure(VaultRPC.updateItem, .init(itemID: target.itemID, expectedVersion: 1, remove: ["website"]))?.code == .aborted)
        #expect(classification.takeForgotten().isEmpty)
        _ = try await alice.call(VaultRPC.deleteItem, .init(itemID: target.itemID))
        #expect(classification.takeForgotten() == [["item:\(target.itemID)"]])
        #expect(await alice.failure(VaultRPC.deleteItem, .init(itemID: target.itemID))?.code == .notFound)
        #expect(await alice.failure(VaultRPC.deleteItem, .init(itemID: bobItem.itemID))?.code == .notFound)
        let template = try await alice.call(VaultRPC.createTemplate, .init(
            name: "gym", label: "Gym", slots: [.init("member_number", "Member number")])).template
        _ = try await alice.call(VaultRPC.deleteTemplate, .init(id: template.templateID))
        #expect(classification.takeForgotten() == [["template:\(template.templateID)"]])
        let system = try await alice.template("passport")
        #expect(await alice.failure(VaultRPC.deleteTemplate, .init(id: system.templateID))?.code == .permissionDenied)
        #expect(classification.takeForgotten().isEmpty)
        // Deleted items are simply not listed.
        #expect(try await alice.allItems(.init(classificationNode: "tag:work")).items.map(\.itemID) == Array(work.dropFirst()))

        // A refusal from Classification is not an answer about the item: UNAVAILABLE, nothing deleted.
        classification.forgetAnswer.withLock { $0 = .notFound }
        let refused = await alice.failure(VaultRPC.deleteItem, .init(itemID: ids[1]))
        #expect(refused?.code == .unavailable, "\(String(describing: refused))")
        #expect(try await alice.getItem(ids[1]).itemID == ids[1])
        classification.forgetAnswer.withLock { $0 = .unauthenticated }
        #expect(await alice.failure(VaultRPC.deleteItem, .init(itemID: ids[1]))?.code == .unauthenticated)
        classification.forgetAnswer.withLock { $0 = .ok }
        _ = try await alice.call(VaultRPC.deleteItem, .init(itemID: ids[1]))
        #expect(classification.takeForgotten() == [["item:\(ids[1])"]])
    }
}
