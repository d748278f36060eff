import Cryppo
import Foundation
import SVXClient
import SVXStore
import SVXTestHarness
import Testing

/// A malicious Vault (security review M1): files uploaded through the SDK to real svx-auth, svx-keystore and
/// svx-vault, then their rows edited in PostgreSQL as the Vault's own role could, and downloaded through the SDK.
/// Every download of an altered attachment fails with ``SVXClientError/Code/integrityFailed`` and leaves nothing in
/// the destination directory; an honest one still succeeds.
@Suite(.serialized) struct VaultAttachmentIntegrityTests {
    /// Three full blocks and a short fourth, so that whole blocks can be swapped or repeated without a size changing.
    static let fileSize = 3 * VaultClient.attachmentBlockSize + 4_321

    @Test func aTamperedAttachmentIsNeverWritten() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let (_, session, keys) = try await stack.signUp("integrity passphrase")
        let item = try await stack.vault.createItem(session: session, keys: keys, templateName: "secure_note", label: "Files")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("svx-integrity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // One file per case, each in its own slot: the attachment id of each.
        var sources: [String: URL] = [:]
        var attachments: [String: String] = [:]
        defer { for source in sources.values { try? FileManager.default.removeItem(at: source) } }
        for slot in ["honest", "shrunk", "swapped", "repeated", "stripped", "moved"] {
            let source = try randomFile(bytes: Self.fileSize)
            sources[slot] = source
            let attached = try await stack.vault.attachFile(
                session: session, keys: keys, itemID: item.id, slotName: slot, fileURL: source)
            let attachmentID = try #require(attached.slot.attachmentID)
            attachments[slot] = attachmentID
        }
        let stored = try stack.blockCount(of: attachments["honest"]!)
        #expect(stored == 4)

        func download(_ slot: String) async throws -> AttachmentMetadata {
            try await stack.vault.downloadAttachment(
                session: session, keys: keys, itemID: item.id, slotName: slot, to: directory.appendingPathComponent("\(slot).bin"))
        }
        /// The download of `slot` fails naming the attachment the slot points to (`attachmentID`, default its own).
        func expectRefused(_ slot: String, attachmentID: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            do {
                let metadata = try await download(slot)
                Issue.record("slot \(slot): the altered attachment was written (\(metadata))", sourceLocation: sourceLocation)
            } catch let error as SVXClientError {
                #expect(error.code == .integrityFailed, "slot \(slot): \(error)", sourceLocation: sourceLocation)
                #expect(error.message.contains(attachmentID ?? attachments[slot]!), "slot \(slot): \(error)", sourceLocation: sourceLocation)
            }
            // Nothing under the destination's name, and no temporary file either.
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == [], sourceLocation: sourceLocation)
        }

        // Before anything is altered, each file comes back whole, with its digest.
        let before = try await download("swapped")
        #expect(try Data(contentsOf: directory.appendingPathComponent("swapped.bin")) == Data(contentsOf: sources["swapped"]!))
        #expect(before.sha256 == Hex.encode(HashFunction.sha256.hash([UInt8](try Data(contentsOf: sources["swapped"]!)))))
        try FileManager.default.removeItem(at: directory.appendingPathComponent("swapped.bin"))

        // As the Vault's own role: what a compromised Vault, or anyone with its database password, can do.
        let vaultRole = try stack.database.connect(role: TestDatabase.serviceRoles["vault"])
        defer { vaultRole.close() }

        // (a) A shorter file announced: the first two blocks of four.
        #expect(try vaultRole.execute(
            "UPDATE vault.attachments SET plaintext_size = $2, block_count = 2 WHERE attachment_id = $1::uuid",
            attachments["shrunk"]!, Int64(2 * VaultClient.attachmentBlockSize)) == 1)
        try await expectRefused("shrunk")

        // (b) Blocks 0 and 1 swapped (both full, both decrypt under the attachment's key).
        #expect(try vaultRole.execute("""
            UPDATE vault.attachment_blocks b SET encrypted_block = o.encrypted_block
            FROM vault.attachment_blocks o
            WHERE b.attachment_id = $1::uuid AND o.attachment_id = b.attachment_id AND o.user_id = b.user_id
              AND b.block_index IN (0, 1) AND o.block_index = 1 - b.block_index
            """, attachments["swapped"]!) == 2)
        try await expectRefused("swapped")

        // (c) Block 0 served again as block 2.
        #expect(try vaultRole.execute("""
            UPDATE vault.attachment_blocks b SET encrypted_block = o.encrypted_block
            FROM vault.attachment_blocks o
            WHERE b.attachment_id = $1::uuid AND o.attachment_id = b.attachment_id AND o.user_id = b.user_id
              AND b.block_index = 2 AND o.block_index = 0
            """, attachments["repeated"]!) == 1)
        try await expectRefused("repeated")

        // (d) The metadata dropped (the table's CHECK refuses an empty one, so the Vault's role drops the CHECK: it
        // owns the table).
        try vaultRole.executeScript("ALTER TABLE vault.attachments DROP CONSTRAINT attachments_encrypted_metadata_check")
        #expect(try vaultRole.execute(
            "UPDATE vault.attachments SET encrypted_metadata = '' WHERE attachment_id = $1::uuid", attachments["stripped"]!) == 1)
        try await expectRefused("stripped")

        // (e) Slot `moved` pointed at another of the user's files: whole and intact, but not the file the slot names.
        #expect(try vaultRole.execute("UPDATE vault.slots SET attachment_id = NULL WHERE attachment_id = $1::uuid", attachments["honest"]!) == 1)
        #expect(try vaultRole.execute(
            "UPDATE vault.slots SET attachment_id = $1::uuid WHERE attachment_id = $2::uuid", attachments["honest"]!,
            attachments["moved"]!) == 1)
        try await expectRefused("moved", attachmentID: attachments["honest"]!)
        // Put back where it was, the honest file still downloads, byte for byte.
        #expect(try vaultRole.execute(
            "UPDATE vault.slots SET attachment_id = $1::uuid WHERE attachment_id = $2::uuid", attachments["moved"]!,
            attachments["honest"]!) == 1)
        #expect(try vaultRole.execute(
            "UPDATE vault.slots SET attachment_id = $1::uuid WHERE item_id = $2::uuid AND name = 'honest'",
            attachments["honest"]!, item.id) == 1)
        let honest = try await download("honest")
        #expect(honest.size == UInt64(Self.fileSize) && honest.fileName == sources["honest"]!.lastPathComponent)
        #expect(try Data(contentsOf: directory.appendingPathComponent("honest.bin")) == Data(contentsOf: sources["honest"]!))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["honest.bin"])
    }
}

extension TestStack {
    /// The number of blocks stored for an attachment (read as the superuser).
    func blockCount(of attachmentID: String) throws -> Int {
        let connection = try database.connect()
        defer { connection.close() }
        return try connection.query(
            "SELECT count(*)::int FROM vault.attachment_blocks WHERE attachment_id = $1::uuid", attachmentID
        ).first?.decode(Int.self, at: 0) ?? 0
    }
}
