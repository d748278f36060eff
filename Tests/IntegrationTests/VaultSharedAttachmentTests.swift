import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// GetSharedAttachmentBlock (issue #20, attachments in shares): the Vault serves the Sharing service, calling with a
/// recipient's session, the blocks of a file that is still in the named slot of the named item of its owner; nothing
/// else, and nobody else (PeerOnlyMethodsTests: users and other services are PERMISSION_DENIED).
@Suite struct VaultSharedAttachmentTests {
    @Test(.enabled(if: TestTransport.security.mode == .curve, "the suite runs over CURVE: callers are identified"))
    func theSharingServiceReadsOnlyAFileStillInTheSlotItNames() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let alice = try await stack.newUser()
        let bob = try await stack.newUser()

        let (content, file, blocks, item, scan, remark) = try await Self.filedItem(alice)
        func request(
            owner: String? = nil, item itemID: String? = nil, slot: String? = nil, attachment: String? = nil, index: UInt32 = 0
        ) -> Svx_Vault_V1_GetSharedAttachmentBlockRequest {
            .init(owner: owner ?? alice.userID, item: itemID ?? item.itemID, slot: slot ?? scan,
                  attachment: attachment ?? file.attachmentID, index: index)
        }

        // As the Sharing service, with Bob's session: every block as Alice stored it, and the file's record without
        // its wrapped key (that one is under Alice's DEK).
        for index in 0..<2 {
            let answer = try await bob.call(VaultRPC.getSharedAttachmentBlock, request(index: UInt32(index)), as: .sharing)
            #expect(answer.encryptedBlock == blocks[index])
            #expect(answer.attachment.attachmentID == file.attachmentID)
            #expect(answer.attachment.encryptedMetadata == file.encryptedMetadata)
            #expect(answer.attachment.plaintextSize == UInt64(content.count) && answer.attachment.blockCount == 2)
            #expect(answer.attachment.wrappedDek.isEmpty)
        }
        expect(await bob.failure(VaultRPC.getSharedAttachmentBlock, request(index: 2), as: .sharing), .outOfRange, field: "index")

        // Whatever does not name Alice's file in its own slot is NOT_FOUND, alike.
        let unattached = try await alice.uploadAttachment(try SecureRandom.bytes(count: 10)).attachment
        let notFound = [
            ("another owner", request(owner: bob.userID)),
            ("another item", request(item: unknownID())),
            ("a slot with no file", request(slot: remark)),
            ("a file in no slot", request(attachment: unattached.attachmentID)),
            ("an unknown file", request(attachment: unknownID())),
        ]
        for (what, wrong) in notFound {
            let answer = await bob.failure(VaultRPC.getSharedAttachmentBlock, wrong, as: .sharing)
            expect(answer, .notFound, what)
            #expect(anonymized(answer, wrong.attachmentID)?.message == "attachment not found", "\(what): \(String(describing: answer))")
        }
        await expectInvalidField("owner_id") { _ = try await bob.call(VaultRPC.getSharedAttachmentBlock, request(owner: "alice"), as: .sharing) }

        // A file replaced in the slot: the old one is no longer served, the new one is.
        let replacement = try await alice.uploadAttachment(try SecureRandom.bytes(count: 99))
        _ = try await alice.update(item, upsert: [
            .init(name: "scan", label: "Scan", type: "attachment", value: try alice.encrypt("scan2.pdf"), attachmentID: replacement.attachment.attachmentID),
        ])
        expect(await bob.failure(VaultRPC.getSharedAttachmentBlock, request(), as: .sharing), .notFound, "the replaced file")
        let current = try await bob.call(
            VaultRPC.getSharedAttachmentBlock, request(attachment: replacement.attachment.attachmentID), as: .sharing)
        #expect(current.encryptedBlock == replacement.blocks[0])
    }

    /// Over plain TCP no caller is identified, so nobody may read another user's file on Sharing's word: every call is
    /// PERMISSION_DENIED, the owner's own included (the method never serves a user).
    @Test func overPlainTCPEveryCallIsRefused() async throws {
        let plaintext = ["SVX_TRANSPORT": "plaintext"]
        let stack = try await TestStack.start(
            [.auth, .keystore, .vault], environment: [.auth: plaintext, .keystore: plaintext, .vault: plaintext])
        defer { stack.stop() }
        let alice = try await stack.newUser()
        let bob = try await stack.newUser()
        let (_, file, _, item, scan, _) = try await Self.filedItem(alice)
        let request = Svx_Vault_V1_GetSharedAttachmentBlockRequest(
            owner: alice.userID, item: item.itemID, slot: scan, attachment: file.attachmentID, index: 0)
        for caller in [bob, alice] {
            let refused = await caller.failure(VaultRPC.getSharedAttachmentBlock, request)
            expect(refused, .permissionDenied)
            #expect(refused?.message.contains("SVX_TRANSPORT=plaintext") == true, "\(String(describing: refused))")
        }
        // The owner's own read still works over plain TCP.
        #expect(try await alice.call(VaultRPC.getAttachmentBlock, .init(id: file.attachmentID, index: 0)).encryptedBlock.hasPrefix("Aes256Gcm."))
    }

    /// Alice's item "Files" with a file of two blocks (a full one and a short one) in its attachment slot `scan` and a
    /// valued slot `remark`: the file's bytes, its record, its blocks as stored, the item and the two slots' ids.
    static func filedItem(_ alice: TestUser) async throws -> (
        content: [UInt8], file: Svx_Vault_V1_Attachment, blocks: [String], item: Svx_Vault_V1_Item, scan: String, remark: String
    ) {
        let content = try SecureRandom.bytes(count: attachmentBlockSize + 1_000)
        let (file, _, blocks) = try await alice.uploadAttachment(content)
        let item = try await alice.createItem(template: "secure_note", label: "Files", slots: [
            .init(name: "scan", label: "Scan", type: "attachment", value: try alice.encrypt("scan.pdf"), attachmentID: file.attachmentID),
            .init(name: "remark", label: "Remark", type: "key_value", value: try alice.encrypt("nothing to see")),
        ])
        let scan = try #require(item.slots.first { $0.name == "scan" }).slotID
        let remark = try #require(item.slots.first { $0.name == "remark" }).slotID
        return (content, file, blocks, item, scan, remark)
    }
}

extension Svx_Vault_V1_GetSharedAttachmentBlockRequest {
    init(owner: String, item: String, slot: String, attachment: String, index: UInt32) {
        self.init()
        ownerID = owner
        itemID = item
        slotID = slot
        attachmentID = attachment
        self.index = index
    }
}
