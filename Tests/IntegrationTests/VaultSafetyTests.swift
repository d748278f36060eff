import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Edges of the Vault found in review: what one user's odd input must not do to the service or to its own data.
@Suite struct VaultSafetyTests {
    @Test func ordinalsAreBoundedAndNeverOverflow() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        await expectInvalidField("slots.ordinal", what: "Int32.max") {
            _ = try await user.createItem(template: "login", slots: [.init(name: "a", label: "A", ordinal: .max)])
        }
        let template = await user.failure(VaultRPC.createTemplate, .init(name: "mine", label: "Mine", slots: [.init("x", "X", ordinal: .max)]))
        #expect(template?.code == .invalidArgument)
        // The largest ordinal, then a slot after it: placed, not overflowed (the service is still there).
        let item = try await user.createItem(template: "login", slots: [.init(name: "a", label: "A", ordinal: 100_000)])
        let updated = try await user.update(item, upsert: [.init(name: "b", label: "B")])
        #expect(updated.slots.first { $0.name == "b" }?.ordinal == 100_000)
        _ = try await user.getItem(item.itemID)
    }

    @Test func anItemHoldsAtMostOneMebibyteOfEncryptedValues() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let value = try user.encrypt(filler(45_000))  // ~60 KB as a Cryppo string
        let slots = (0..<17).map { Svx_Vault_V1_SlotInput(name: "s\($0)", label: "S", value: value) }
        let item = try await user.createItem(template: "secure_note", slots: slots)
        let before = try stack.database.dump(schema: "vault")
        let more = (17..<20).map { Svx_Vault_V1_SlotInput(name: "s\($0)", label: "S", value: value) }
        await expectInvalidField("upsert_slots", what: "over 1 MiB") { _ = try await user.update(item, upsert: more) }
        #expect(try stack.database.dump(schema: "vault") == before)
        await expectInvalidField("slots", what: "over 1 MiB at creation") {
            _ = try await user.createItem(template: "secure_note", slots: slots + more)
        }
    }

    @Test func attachmentsFollowTheirSlotsThroughUpdates() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let content = Array("scan".utf8)
        let (file, _, _) = try await user.uploadAttachment(content)
        var item = try await user.createItem(
            template: "secure_note", slots: [.init(name: "scan", label: "Scan", type: "attachment", attachmentID: file.attachmentID)])
        // Upserted without an attachment id (a new value for its file name, say): the slot keeps its file.
        item = try await user.update(item, upsert: [.init(name: "scan", value: try user.encrypt("scan.pdf"))])
        #expect(item.slots.first { $0.name == "scan" }?.attachmentID == file.attachmentID)
        #expect(try await user.downloadAttachment(file.attachmentID) == content)
        // Moved to another slot in one update: the file stays (and the old slot is gone).
        item = try await user.update(
            item, upsert: [.init(name: "moved", label: "Moved", attachmentID: file.attachmentID)], remove: ["scan"])
        #expect(item.slots.first { $0.name == "moved" }?.attachmentID == file.attachmentID)
        #expect(item.slots.first { $0.name == "moved" }?.slotType == "attachment")
        #expect(try await user.downloadAttachment(file.attachmentID) == content)
        // An update that changes nothing leaves the version alone.
        let same = try await user.update(item)
        #expect(same.version == item.version)
    }

    @Test func templateDescriptionsRefuseControlCharacters() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        await expectInvalidField("description", what: "NUL in a description") {
            _ = try await user.call(VaultRPC.createTemplate, .init(name: "mine", label: "Mine", description: "a\u{0}b", slots: []))
        }
    }
}
