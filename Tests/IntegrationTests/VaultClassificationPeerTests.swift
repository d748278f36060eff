import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// The Vault's side of Classification through a real svx-vault: CheckEntities (what Classification asks), and
/// what happens to ListItems by node and to deletions when Classification is switched off or unreachable.
@Suite struct VaultClassificationPeerTests {
    @Test func checkEntitiesAndDeletionsWithClassificationSwitchedOff() async throws {
        let stack = try await TestStack.start([.auth, .vault])  // no Classification: switched off
        defer { stack.stop() }
        let alice = try await stack.newUser()
        let bob = try await stack.newUser()

        let item = try await alice.createItem(template: "login", label: "mail")
        let slot = try #require(item.slots.first { $0.name == "password" })
        let own = try await alice.call(VaultRPC.createTemplate, .init(
            name: "gym", label: "Gym", slots: [.init("member_number", "Member number")])).template
        let system = try await alice.template("passport")
        #expect(system.system)
        let bobItem = try await bob.createItem(template: "login")
        let bobSlot = try #require(bobItem.slots.first)
        let bobTemplate = try await bob.call(VaultRPC.createTemplate, .init(
            name: "gym", label: "Gym", slots: [.init("member_number", "Member number")])).template
        let unknown = UUID().uuidString.lowercased()

        // Answers in the order asked; a stranger's ids exactly like unknown ones.
        let asked: [(Svx_Vault_V1_EntityKind, String, Bool)] = [
            (.item, item.itemID, true), (.slot, slot.slotID, true), (.template, own.templateID, true),
            (.template, system.templateID, true), (.item, bobItem.itemID, false), (.slot, bobSlot.slotID, false),
            (.template, bobTemplate.templateID, false), (.item, unknown, false), (.slot, unknown, false),
            (.template, unknown, false), (.slot, item.itemID, false), (.item, slot.slotID, false),
            (.item, item.itemID.uppercased(), true),
        ]
        let checks = try await alice.call(VaultRPC.checkEntities, .init(asked.map { .init($0.0, $0.1) }), as: .classification).checks
        #expect(checks.map(\.found) == asked.map(\.2))
        #expect(checks[1].itemID == item.itemID)
        #expect(checks.enumerated().allSatisfy { $0.offset == 1 || $0.element.itemID.isEmpty })
        // Bob sees his own, not Alice's.
        let bobChecks = try await bob.call(VaultRPC.checkEntities, .init([
            .init(.item, bobItem.itemID), .init(.slot, bobSlot.slotID), .init(.template, bobTemplate.templateID),
            .init(.item, item.itemID), .init(.slot, slot.slotID), .init(.template, own.templateID),
        ]), as: .classification).checks
        #expect(bobChecks.map(\.found) == [true, true, true, false, false, false])
        #expect(bobChecks[1].itemID == bobItem.itemID)
        #expect(try await alice.call(VaultRPC.checkEntities, .init([]), as: .classification).checks.isEmpty)

        // Malformed input, refused naming the field.
        await expectInvalidField("entities.id", what: "not a uuid") {
            _ = try await alice.call(VaultRPC.checkEntities, .init([.init(.item, item.itemID), .init(.item, "nope")]), as: .classification)
        }
        await expectInvalidField("entities.id", what: "empty id") {
            _ = try await alice.call(VaultRPC.checkEntities, .init([.init(.slot, "")]), as: .classification)
        }
        await expectInvalidField("entities.kind", what: "unspecified kind") {
            _ = try await alice.call(VaultRPC.checkEntities, .init([.init(.unspecified, item.itemID)]), as: .classification)
        }
        await expectInvalidField("entities.kind", what: "unknown kind") {
            _ = try await alice.call(VaultRPC.checkEntities, .init([.init(.UNRECOGNIZED(9), item.itemID)]), as: .classification)
        }
        let many = (0..<500).map { _ in Svx_Vault_V1_EntityReference(.item, UUID().uuidString.lowercased()) }
        #expect(try await alice.call(VaultRPC.checkEntities, .init(many), as: .classification).checks.count == 500)
        await expectInvalidField("entities", what: "501 entities") {
            _ = try await alice.call(VaultRPC.checkEntities, .init(many + [.init(.item, item.itemID)]), as: .classification)
        }
        #expect(await stack.anonymous(VaultRPC.checkEntities, .init([.init(.item, item.itemID)]), as: .classification)?.code == .unauthenticated)

        // ListItems by node: a malformed node is INVALID_ARGUMENT, a well-formed one UNAVAILABLE (switched off).
        let off = await alice.failure(VaultRPC.listItems, .init(classificationNode: "tag:work"))
        #expect(off?.code == .unavailable, "\(String(describing: off))")
        #expect(off?.details["field"] == "classification_node")
        #expect(await alice.failure(VaultRPC.listItems, .init(classificationNode: UUID().uuidString))?.code == .unavailable)
        for malformed in ["tag:\u{1}work", filler(201), " tag:work"] {
            await expectInvalidField("classification_node", what: "node \(malformed.prefix(8))") {
                _ = try await alice.call(VaultRPC.listItems, .init(classificationNode: malformed))
            }
        }
        #expect(try await alice.allItems().items.map(\.itemID) == [item.itemID])

        // Deletions work without Classification.
        let updated = try await alice.update(item, remove: ["password"])
        #expect(!updated.slots.contains { $0.name == "password" })
        #expect(try await alice.call(VaultRPC.checkEntities, .init([.init(.slot, slot.slotID)]), as: .classification).checks.map(\.found) == [false])
        _ = try await alice.call(VaultRPC.deleteTemplate, .init(id: own.templateID))
        _ = try await alice.call(VaultRPC.deleteItem, .init(itemID: item.itemID))
        let gone = try await alice.call(VaultRPC.checkEntities, .init([
            .init(.item, item.itemID), .init(.template, own.templateID), .init(.template, system.templateID),
        ]), as: .classification).checks
        #expect(gone.map(\.found) == [false, false, true])
        #expect(await alice.failure(VaultRPC.getItem, .init(itemID: item.itemID))?.code == .notFound)
    }

    /// Forgetting is fail-closed: with Classification unreachable, nothing is deleted and the caller gets
    /// UNAVAILABLE (after the peer call's 5 s bound), and may retry. Changes that delete nothing still work.
    @Test func deletionsAreRefusedWhileClassificationIsUnreachable() async throws {
        let closed = try freeLoopbackPort()  // nothing listens there
        let stack = try await TestStack.start(
            [.auth, .vault], environment: [.vault: ["SVX_CLASSIFICATION_ENDPOINT": "tcp://127.0.0.1:\(closed)"]])
        defer { stack.stop() }
        let alice = try await stack.newUser()
        let item = try await alice.createItem(template: "login", label: "mail")
        let other = try await alice.createItem(template: "login", label: "bank")
        let template = try await alice.call(VaultRPC.createTemplate, .init(
            name: "gym", label: "Gym", slots: [.init("member_number", "Member number")])).template
        let relabelled = try await alice.update(other, label: "bank 2")  // removes nothing: no peer call
        #expect(relabelled.version == other.version + 1)

        // Concurrently (on different rows: none waits for another's lock), each bounded by the request's deadline,
        // longer than the peer call's 5 s.
        async let deleteItem = alice.failure(VaultRPC.deleteItem, .init(itemID: item.itemID), timeout: .seconds(9))
        async let removeSlot = alice.failure(VaultRPC.updateItem, .init(
            itemID: other.itemID, expectedVersion: relabelled.version, remove: ["password"]), timeout: .seconds(9))
        async let deleteTemplate = alice.failure(VaultRPC.deleteTemplate, .init(id: template.templateID), timeout: .seconds(9))
        async let listByNode = alice.failure(VaultRPC.listItems, .init(classificationNode: "tag:work"), timeout: .seconds(9))
        let failures = await [deleteItem, removeSlot, deleteTemplate, listByNode]
        // UNAVAILABLE, not the client's DEADLINE_EXCEEDED: the Vault answered within each request's 9 s deadline
        // (the peer call is bounded), so nothing hangs. No wall-clock assertion: a loaded CI machine stretches it.
        for failure in failures {
            #expect(failure?.code == .unavailable, "\(String(describing: failure))")
        }

        // Nothing was deleted.
        let stillThere = try await alice.getItem(item.itemID)
        #expect(stillThere.version == item.version && stillThere.slots.map(\.slotID) == item.slots.map(\.slotID))
        let kept = try await alice.getItem(other.itemID)
        #expect(kept.version == relabelled.version)
        #expect(kept.slots.contains { $0.name == "password" })
        #expect(try await alice.template("gym").templateID == template.templateID)
        #expect(try await alice.allItems().items.map(\.itemID) == [item.itemID, other.itemID])
    }
}
