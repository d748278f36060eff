import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Attachments: files encrypted by the client in 1 MiB blocks, uploaded and downloaded one block per call (no
/// message near the size limit), stored in PostgreSQL (committed before the answer, like every write).
extension VaultService {
    static let attachmentColumns = """
        attachment_id, encrypted_metadata, wrapped_dek, plaintext_size, block_count, block_size, complete,
        \(epochMilliseconds("created_at"))
        """

    static func attachment(_ row: PostgresRow) throws -> Svx_Vault_V1_Attachment {
        var attachment = Svx_Vault_V1_Attachment()
        attachment.attachmentID = try row.decode(UUID.self, at: 0).wire
        attachment.encryptedMetadata = try row.decode(String.self, at: 1)
        attachment.wrappedDek = try row.decode(String.self, at: 2)
        attachment.plaintextSize = UInt64(try row.decode(Int64.self, at: 3))
        attachment.blockCount = UInt32(try row.decode(Int32.self, at: 4))
        attachment.blockSize = UInt32(try row.decode(Int32.self, at: 5))
        attachment.complete = try row.decode(Bool.self, at: 6)
        attachment.createdAtMs = UInt64(try row.decode(Int64.self, at: 7))
        return attachment
    }

    /// The plaintext size of block `index`: `block_size`, or what is left for the last one.
    static func blockBytes(index: UInt32, plaintextSize: UInt64, blockSize: UInt32) -> Int {
        Int(min(UInt64(blockSize), plaintextSize - UInt64(index) * UInt64(blockSize)))
    }

    func createAttachment(
        _ request: Svx_Vault_V1_CreateAttachmentRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_CreateAttachmentResponse {
        _ = try FieldValidation.aesGCMString(
            request.encryptedMetadata, field: "encrypted_metadata",
            maximumCharacters: VaultValidation.maximumMetadataCharacters,
            ciphertextBytes: 1...VaultValidation.maximumMetadataCharacters, what: "the file's metadata")
        _ = try FieldValidation.aesGCMString(
            request.wrappedDek, field: "wrapped_dek", maximumCharacters: 512, ciphertextBytes: 32...32, what: "a 32-byte key")
        guard request.blockSize == VaultValidation.blockSize else {
            throw FieldValidation.invalid("block_size", "block_size must be \(VaultValidation.blockSize) (1 MiB)")
        }
        guard request.plaintextSize >= 1, request.plaintextSize <= VaultValidation.maximumAttachmentBytes else {
            throw FieldValidation.invalid(
                "plaintext_size", "plaintext_size must be 1 to \(VaultValidation.maximumAttachmentBytes) bytes (256 MiB)")
        }
        let blocks = (request.plaintextSize + UInt64(request.blockSize) - 1) / UInt64(request.blockSize)
        guard UInt64(request.blockCount) == blocks else {
            throw FieldValidation.invalid("block_count", "block_count must be \(blocks) for \(request.plaintextSize) bytes")
        }
        housekeepingIfDue(context, worker)
        let userID = try session.userUUID
        let row = try worker.database.transaction { db in
            // The caller's own uploads given up (unfinished after a day) go first, so what counts is what is live.
            _ = try db.execute(
                """
                DELETE FROM vault.attachments
                WHERE user_id = $1 AND NOT complete AND created_at < now() - interval '1 day'
                """, userID)
            let row = try db.query(
                """
                INSERT INTO vault.attachments (user_id, attachment_id, encrypted_metadata, wrapped_dek, plaintext_size,
                    block_count, block_size)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING \(Self.attachmentColumns)
                """, userID, UUID(), request.encryptedMetadata, request.wrappedDek,
                Int64(request.plaintextSize), Int32(request.blockCount), Int32(request.blockSize))[0]
            // After the insert: the size counts from now on, for the upload in progress too.
            let usage = try Self.usage(db, userID: userID)
            try quotas.unfinishedAttachments.check(used: usage.unfinished, adding: 0)
            try quotas.attachmentBytes.check(used: usage.attachmentBytes, adding: 0)
            return row
        }
        var response = Svx_Vault_V1_CreateAttachmentResponse()
        response.attachment = try Self.attachment(row)
        return response
    }

    func uploadAttachmentBlock(
        _ request: Svx_Vault_V1_UploadAttachmentBlockRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_UploadAttachmentBlockResponse {
        let id = try FieldValidation.uuid(request.attachmentID, field: "attachment_id")
        let block = try FieldValidation.aesGCMString(
            request.encryptedBlock, field: "encrypted_block", maximumCharacters: VaultValidation.maximumBlockCharacters,
            ciphertextBytes: 1...Int(VaultValidation.blockSize), what: "a block")
        let userID = try session.userUUID
        try worker.database.transaction { db in
            let rows = try db.query(
                "SELECT plaintext_size, block_count, block_size, complete FROM vault.attachments WHERE user_id = $1 AND attachment_id = $2 FOR SHARE",
                userID, id)
            guard let row = rows.first else { throw RPCStatus.notFound("attachment", field: "attachment_id") }
            guard try !row.decode(Bool.self, at: 3) else {
                throw RPCStatus(.failedPrecondition, "the attachment is complete: its blocks cannot change")
            }
            let size = UInt64(try row.decode(Int64.self, at: 0))
            let count = UInt32(try row.decode(Int32.self, at: 1))
            guard request.index < count else {
                throw FieldValidation.invalid("index", "index must be below block_count (\(count))")
            }
            let expected = Self.blockBytes(index: request.index, plaintextSize: size, blockSize: UInt32(try row.decode(Int32.self, at: 2)))
            guard block.ciphertext.count == expected else {
                throw FieldValidation.invalid(
                    "encrypted_block", "block \(request.index) must hold \(expected) bytes, not \(block.ciphertext.count)")
            }
            _ = try db.execute(
                """
                INSERT INTO vault.attachment_blocks (user_id, attachment_id, block_index, encrypted_block) VALUES ($1, $2, $3, $4)
                ON CONFLICT (user_id, attachment_id, block_index) DO UPDATE SET encrypted_block = EXCLUDED.encrypted_block
                """, userID, id, Int32(request.index), request.encryptedBlock)
        }
        return .init()
    }

    func finishAttachment(
        _ request: Svx_Vault_V1_FinishAttachmentRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_FinishAttachmentResponse {
        let id = try FieldValidation.uuid(request.attachmentID, field: "attachment_id")
        let userID = try session.userUUID
        let attachment = try worker.database.transaction { db -> Svx_Vault_V1_Attachment in
            let rows = try db.query(
                """
                SELECT (SELECT min(g) FROM generate_series(0, a.block_count - 1) g
                        WHERE NOT EXISTS (SELECT 1 FROM vault.attachment_blocks b
                                          WHERE b.user_id = a.user_id AND b.attachment_id = a.attachment_id AND b.block_index = g))
                FROM vault.attachments a WHERE a.user_id = $1 AND a.attachment_id = $2 FOR UPDATE
                """, userID, id)
            guard let row = rows.first else { throw RPCStatus.notFound("attachment", field: "attachment_id") }
            if let missing = try row.decode(Int32?.self, at: 0) {
                throw RPCStatus(
                    .failedPrecondition, "block \(missing) of the attachment has not been uploaded", details: ["index": "\(missing)"])
            }
            let done = try db.query(
                "UPDATE vault.attachments SET complete = true WHERE user_id = $1 AND attachment_id = $2 RETURNING \(Self.attachmentColumns)",
                userID, id)
            return try Self.attachment(done[0])
        }
        var response = Svx_Vault_V1_FinishAttachmentResponse()
        response.attachment = attachment
        return response
    }

    func getAttachment(
        _ request: Svx_Vault_V1_GetAttachmentRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_GetAttachmentResponse {
        let id = try FieldValidation.uuid(request.attachmentID, field: "attachment_id")
        let rows = try worker.database.query(
            "SELECT \(Self.attachmentColumns) FROM vault.attachments WHERE user_id = $1 AND attachment_id = $2",
            try session.userUUID, id)
        guard let row = rows.first else { throw RPCStatus.notFound("attachment", field: "attachment_id") }
        var response = Svx_Vault_V1_GetAttachmentResponse()
        response.attachment = try Self.attachment(row)
        return response
    }

    func getAttachmentBlock(
        _ request: Svx_Vault_V1_GetAttachmentBlockRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_GetAttachmentBlockResponse {
        let id = try FieldValidation.uuid(request.attachmentID, field: "attachment_id")
        let rows = try worker.database.query(
            """
            SELECT a.block_count, b.encrypted_block FROM vault.attachments a
            LEFT JOIN vault.attachment_blocks b
                ON b.user_id = a.user_id AND b.attachment_id = a.attachment_id AND b.block_index = $3
            WHERE a.user_id = $1 AND a.attachment_id = $2
            """, try session.userUUID, id, Int32(clamping: request.index))
        guard let row = rows.first else { throw RPCStatus.notFound("attachment", field: "attachment_id") }
        guard request.index < UInt32(try row.decode(Int32.self, at: 0)) else {
            throw RPCStatus(.outOfRange, "index is past the last block", details: ["field": "index"])
        }
        guard let block = try row.decode(String?.self, at: 1) else {
            throw RPCStatus(.failedPrecondition, "block \(request.index) has not been uploaded", details: ["field": "index"])
        }
        var response = Svx_Vault_V1_GetAttachmentBlockResponse()
        response.encryptedBlock = block
        return response
    }
}

/// GetSharedAttachmentBlock: the Sharing service's read of an attachment slot it serves to a share's recipient (issue
/// #20, attachments in shares). Registered for the Sharing service's key alone (``ServiceRoutes/registerAuthenticated(_:peers:)``):
/// the session is the recipient's, not the owner's, and what makes the read legitimate is Sharing's check of the
/// share, which the peer key vouches for. Only a complete attachment that is still in the named slot of the named item
/// is served, so a file replaced or deleted since the share was made (whose key the share does not hold) is NOT_FOUND,
/// like one that never existed. One query; never calls out.
extension VaultService {
    func getSharedAttachmentBlock(
        _ request: Svx_Vault_V1_GetSharedAttachmentBlockRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_GetSharedAttachmentBlockResponse {
        let owner = try FieldValidation.uuid(request.ownerID, field: "owner_id")
        let item = try FieldValidation.uuid(request.itemID, field: "item_id")
        let slot = try FieldValidation.uuid(request.slotID, field: "slot_id")
        let attachmentID = try FieldValidation.uuid(request.attachmentID, field: "attachment_id")
        let rows = try worker.database.query(
            """
            SELECT a.attachment_id, a.encrypted_metadata, a.wrapped_dek, a.plaintext_size, a.block_count, a.block_size,
                   a.complete, \(epochMilliseconds("a.created_at")), b.encrypted_block
            FROM vault.slots s
            JOIN vault.attachments a ON a.user_id = s.user_id AND a.attachment_id = s.attachment_id AND a.complete
            LEFT JOIN vault.attachment_blocks b
                ON b.user_id = a.user_id AND b.attachment_id = a.attachment_id AND b.block_index = $5
            WHERE s.user_id = $1 AND s.item_id = $2 AND s.slot_id = $3 AND s.attachment_id = $4
            """, owner, item, slot, attachmentID, Int32(clamping: request.index))
        guard let row = rows.first else { throw RPCStatus.notFound("attachment", field: "attachment_id") }
        var attachment = try Self.attachment(row)
        guard request.index < attachment.blockCount else {
            throw RPCStatus(.outOfRange, "index is past the last block", details: ["field": "index"])
        }
        // A complete attachment has every block (FinishAttachment checked): a missing one is the database's fault.
        guard let block = try row.decode(String?.self, at: 8) else {
            throw RPCStatus(.internal, "block \(request.index) of a complete attachment is missing")
        }
        attachment.wrappedDek = ""
        var response = Svx_Vault_V1_GetSharedAttachmentBlockResponse()
        response.attachment = attachment
        response.encryptedBlock = block
        context.logger.info(
            "shared attachment block read",
            metadata: ["owner_id": "\(owner.wire)", "attachment_id": "\(attachmentID.wire)", "index": "\(request.index)"])
        return response
    }
}
