import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// The per-user quota of live tombstones in Classification (review M4): ForgetEntities purges the user's expired
/// tombstones first, counts the live ones, and refuses (RESOURCE_EXHAUSTED, nothing written) past the quota; the
/// Vault's deletion that asked then fails closed.
@Suite(.serialized) struct ClassificationQuotaTests {
    static func randomID() -> String { UUID().uuidString.lowercased() }

    /// The user's tombstones, live or not, in the database.
    static func tombstones(_ database: TestDatabase, _ userID: String) throws -> Int64 {
        let connection = try database.connect()
        defer { connection.close() }
        return try connection.query(
            "SELECT count(*) FROM classification.forgotten_entities WHERE user_id = $1::uuid", userID
        )[0].decode(Int64.self, at: 0)
    }

    /// Ages `count` of the user's tombstones (or all) past the hour they are kept.
    static func expire(_ database: TestDatabase, _ userID: String, count: Int? = nil) throws {
        let connection = try database.connect()
        defer { connection.close() }
        _ = try connection.execute(
            """
            UPDATE classification.forgotten_entities SET created_at = now() - interval '2 hours'
            WHERE (user_id, entity_id) IN (SELECT user_id, entity_id FROM classification.forgotten_entities
                                           WHERE user_id = $1::uuid ORDER BY entity_id LIMIT $2)
            """, userID, count ?? Int.max)
    }

    static func forget(_ ids: [String]) -> Svx_Classification_V1_ForgetEntitiesRequest {
        .init(entities: ids.map { .init(.item, $0) })
    }

    static func expectTombstoneQuota(_ failure: RPCStatus?, limit: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(failure?.code == .resourceExhausted, "\(String(describing: failure))", sourceLocation: sourceLocation)
        #expect(failure?.details["quota"] == "tombstones", sourceLocation: sourceLocation)
        #expect(failure?.details["limit"] == String(limit), sourceLocation: sourceLocation)
        let retryAfter = failure?.details["retry_after_ms"].flatMap(Int.init) ?? 0
        #expect(retryAfter > 0 && retryAfter <= 3_600_000, "retry_after_ms \(retryAfter)", sourceLocation: sourceLocation)
    }

    @Test func liveTombstonesAtTheQuotaRefuseForgettingAndExpiredOnesDoNotCount() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification], environment: [.classification: ["SVX_CLASSIFICATION_MAX_TOMBSTONES": "4"]])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let first = (0..<3).map { _ in Self.randomID() }
        _ = try await user.call(ClassificationRPC.forgetEntities, Self.forget(first), as: .vault)

        // Two more when one is left: refused as a whole, nothing written.
        let before = try ClassificationTreeTests.rowCounts(stack.database)
        Self.expectTombstoneQuota(
            await user.failure(ClassificationRPC.forgetEntities, Self.forget([Self.randomID(), Self.randomID()]), as: .vault), limit: 4)
        #expect(try ClassificationTreeTests.rowCounts(stack.database) == before)
        // One fits; then the quota is full.
        let fourth = Self.randomID()
        _ = try await user.call(ClassificationRPC.forgetEntities, Self.forget([fourth]), as: .vault)
        #expect(try Self.tombstones(stack.database, user.userID) == 4)
        Self.expectTombstoneQuota(await user.failure(ClassificationRPC.forgetEntities, Self.forget([Self.randomID()]), as: .vault), limit: 4)
        // Forgetting again what is already forgotten adds no tombstone: still allowed at the quota.
        _ = try await user.call(ClassificationRPC.forgetEntities, Self.forget([first[0], fourth]), as: .vault)
        #expect(try Self.tombstones(stack.database, user.userID) == 4)

        // Another user has its own quota.
        let other = try await stack.newUser()
        _ = try await other.call(ClassificationRPC.forgetEntities, Self.forget((0..<4).map { _ in Self.randomID() }), as: .vault)
        #expect(try Self.tombstones(stack.database, other.userID) == 4)

        // Expired tombstones do not count, and go in the transaction that needs their room.
        try Self.expire(stack.database, user.userID, count: 2)
        let fresh = [Self.randomID(), Self.randomID()]
        _ = try await user.call(ClassificationRPC.forgetEntities, Self.forget(fresh), as: .vault)
        #expect(try Self.tombstones(stack.database, user.userID) == 4, "the 2 expired ones were purged")
        Self.expectTombstoneQuota(await user.failure(ClassificationRPC.forgetEntities, Self.forget([Self.randomID()]), as: .vault), limit: 4)
        #expect(try Self.tombstones(stack.database, other.userID) == 4, "another user's tombstones are untouched")
    }

    /// At the quota the Vault's deletion fails closed: nothing is deleted in the Vault, the item's classification
    /// stays, and the caller sees the refusal. Once tombstones expire, the deletion goes through.
    @Test func theVaultsDeletionFailsClosedAtTheQuota() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification], environment: [.classification: ["SVX_CLASSIFICATION_MAX_TOMBSTONES": "20"]])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let node = try await user.createNode(label: "Work")
        let item = try await user.createItem(template: "login", label: "mail")
        _ = try await user.call(ClassificationRPC.classify, .init(node: node.nodeID, entity: .init(.item, item.itemID)))
        _ = try await user.call(ClassificationRPC.forgetEntities, Self.forget((0..<20).map { _ in Self.randomID() }), as: .vault)

        let refused = await user.failure(VaultRPC.deleteItem, .init(itemID: item.itemID))
        Self.expectTombstoneQuota(refused, limit: 20)
        let stillThere = try await user.getItem(item.itemID)
        #expect(stillThere.version == item.version && stillThere.slots.map(\.slotID) == item.slots.map(\.slotID))
        let classified = try await user.call(ClassificationRPC.listEntities, .init(node: node.nodeID, type: .unspecified, pageSize: 0, pageToken: ""))
        #expect(classified.entities.map(\.entityID) == [item.itemID])
        #expect(try Self.tombstones(stack.database, user.userID) == 20)

        try Self.expire(stack.database, user.userID)
        _ = try await user.call(VaultRPC.deleteItem, .init(itemID: item.itemID))
        #expect(await user.failure(VaultRPC.getItem, .init(itemID: item.itemID))?.code == .notFound)
        #expect(try await user.call(ClassificationRPC.listEntities, .init(node: node.nodeID, type: .unspecified, pageSize: 0, pageToken: "")).entities.isEmpty)
        // Only the deletion's own tombstone is left (the item's; its slots are covered by it).
        #expect(try Self.tombstones(stack.database, user.userID) == 1)
    }
}
