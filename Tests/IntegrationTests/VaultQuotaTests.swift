import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Per-user quotas of the Vault (security review M4): checked in the write's own transaction, RESOURCE_EXHAUSTED
/// naming the quota, nothing written, exact under concurrent writes of one user, and other users unaffected.
@Suite(.serialized) struct VaultQuotaTests {
    @Test func itemsBeyondTheQuotaAreRefusedAndNothingIsWritten() async throws {
        let stack = try await TestStack.start([.auth, .vault], environment: [.vault: ["SVX_VAULT_QUOTA_ITEMS": "3"]])
        defer { stack.stop() }
        let user = try await stack.newUser()
        var items: [Svx_Vault_V1_Item] = []
        for index in 0..<3 { items.append(try await user.createItem(template: "passport", label: "p\(index)")) }
        let refused = await user.failure(VaultRPC.createItem, .init(templateName: "passport", label: "p3"))
        #expect(refused?.code == .resourceExhausted)
        #expect(refused?.details["quota"] == "items")
        #expect(refused?.details["limit"] == "3")
        #expect(try await user.allItems().items.count == 3)
        #expect(try itemRows(stack, user) == 3)
        // Another user has a quota of its own.
        let other = try await stack.newUser()
        _ = try await other.createItem(template: "passport")
        // Deleting one makes room again.
        _ = try await user.call(VaultRPC.deleteItem, .init(itemID: items[0].itemID))
        _ = try await user.createItem(template: "passport", label: "again")
        #expect(try itemRows(stack, user) == 3)
    }

    @Test func concurrentCreatesNeverOvershootTheQuota() async throws {
        let stack = try await TestStack.start([.auth, .vault], environment: [.vault: ["SVX_VAULT_QUOTA_ITEMS": "3"]])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let outcomes = await withTaskGroup(of: RPCStatus?.self) { group in
            for index in 0..<12 {
                group.addTask { await user.failure(VaultRPC.createItem, .init(templateName: "passport", label: "c\(index)")) }
            }
            return await group.reduce(into: [RPCStatus?]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == nil }.count == 3)
        #expect(outcomes.compactMap { $0 }.allSatisfy { $0.code == .resourceExhausted && $0.details["quota"] == "items" })
        #expect(try itemRows(stack, user) == 3)
    }

    @Test func attachmentBytesAndUnfinishedUploadsHaveQuotas() async throws {
        let stack = try await TestStack.start([.auth, .vault], environment: [.vault: [
            "SVX_VAULT_QUOTA_ATTACHMENT_BYTES": String(3 << 20), "SVX_VAULT_QUOTA_UNFINISHED_UPLOADS": "2",
        ]])
        defer { stack.stop() }
        let user = try await stack.newUser()
        // 2 MiB finished, then 2 MiB more would exceed 3 MiB: refused when created, before any block is sent.
        _ = try await user.uploadAttachment([UInt8](repeating: 1, count: 2 << 20))
        let request = try Svx_Vault_V1_CreateAttachmentRequest(
            size: 2 << 20, dek: user.dek, attachmentKey: try .random())
        let tooLarge = await user.failure(VaultRPC.createAttachment, request)
        #expect(tooLarge?.code == .resourceExhausted)
        #expect(tooLarge?.details["quota"] == "attachment_bytes")
        #expect(try attachmentRows(stack, user) == 1)

        // Two uploads left unfinished, a third refused; once one of them is a day old, it is cleaned and room is made.
        let first = try await user.uploadAttachment([1, 2, 3], finish: false).attachment
        _ = try await user.uploadAttachment([4, 5, 6], finish: false)
        let small = try Svx_Vault_V1_CreateAttachmentRequest(size: 3, dek: user.dek, attachmentKey: try .random())
        let third = await user.failure(VaultRPC.createAttachment, small)
        #expect(third?.code == .resourceExhausted)
        #expect(third?.details["quota"] == "unfinished_uploads")
        #expect(try attachmentRows(stack, user) == 3)
        let db = try stack.database.connect()
        defer { db.close() }
        #expect(try db.execute(
            "UPDATE vault.attachments SET created_at = now() - interval '2 days' WHERE attachment_id = $1::uuid",
            first.attachmentID) == 1)
        _ = try await user.call(VaultRPC.createAttachment, small)
        #expect(try attachmentRows(stack, user) == 3)
        #expect(try db.query("SELECT 1 FROM vault.attachments WHERE attachment_id = $1::uuid", first.attachmentID).isEmpty)
        // The usage kept by the triggers matches the rows.
        let usage = try #require(try db.query(
            """
            SELECT u.attachment_bytes = (SELECT sum(plaintext_size) FROM vault.attachments a WHERE a.user_id = u.user_id),
                u.unfinished_attachments = (SELECT count(*) FROM vault.attachments a WHERE a.user_id = u.user_id AND NOT complete)
            FROM vault.user_usage u WHERE u.user_id = $1::uuid
            """, user.userID).first)
        #expect(try usage.decode(Bool.self, at: 0))
        #expect(try usage.decode(Bool.self, at: 1))
    }
}

private func itemRows(_ stack: TestStack, _ user: TestUser) throws -> Int64 {
    let db = try stack.database.connect()
    defer { db.close() }
    return try db.query("SELECT count(*) FROM vault.items WHERE user_id = $1::uuid", user.userID)[0].decode(Int64.self, at: 0)
}

private func attachmentRows(_ stack: TestStack, _ user: TestUser) throws -> Int64 {
    let db = try stack.database.connect()
    defer { db.close() }
    return try db.query("SELECT count(*) FROM vault.attachments WHERE user_id = $1::uuid", user.userID)[0].decode(Int64.self, at: 0)
}
