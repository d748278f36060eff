import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService
import SVXStore
import SharingSQL

/// Files in shares (docs/ADR-008-sharing.md, "Attachments in shares"): a recipient reads the blocks of the file in an
/// attachment slot of its share through Sharing, which checks the share's rules and then asks the Vault as the Sharing
/// service (Vault/GetSharedAttachmentBlock answers Sharing's CURVE key alone) for the block of the file that is still
/// in that slot of the owner's item. The file's key travels in the share's content, under the share's DEK; neither
/// service can read a block.
extension SharingService {
    /// How long the files of a share stay readable after the content fetch that consumed it (a view-once share's
    /// one): long enough to download 256 MiB on a slow line, short enough to keep "once" meaning once.
    static let consumedFileWindowSeconds: Int32 = 15 * 60

    /// The block `index` of the file in slot `slot_id` of the caller's incoming share `share_id`.
    ///
    /// The share must let its content be read now (ACTIVE, unexpired: otherwise the refusal a content fetch gets), or
    /// be a share consumed by its last permitted fetch less than ``consumedFileWindowSeconds`` ago (and not past its
    /// expiry, not revoked since up its chain, its connection live). The slot must carry a file (NOT_FOUND `slot_id`
    /// otherwise, as for a file the owner has since replaced or deleted). Read-only: one statement here,
    /// one call to the Vault with the recipient's session, no lock held while it answers.
    func getSharedAttachmentBlock(
        _ request: Svx_Sharing_V1_GetSharedAttachmentBlockRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Sharing_V1_GetSharedAttachmentBlockResponse {
        let shareID = try FieldValidation.uuid(request.shareID, field: "share_id")
        let slotID = try FieldValidation.uuid(request.slotID, field: "slot_id")
        let userID = try session.userUUID
        let rows = try worker.database.query(SharingQueries.sharedFile, userID, shareID, slotID)
        guard let first = rows.first else { throw SharingRefusal.shareNotFound(field: "share_id").status }
        let share = try ShareRow(first)
        let liveFile = try first.decode(UUID?.self, at: SharingQueries.shareColumnCount)
        let windowFile = try first.decode(UUID?.self, at: SharingQueries.shareColumnCount + 1)
        let attachmentID: UUID
        if let refusal = share.lifecycle.fileReadRefusal(at: share.now) {
            // A view-once share consumed by its one fetch: its files for a while after it.
            guard share.state == .consumed, let windowFile else { throw refusal.status }
            attachmentID = windowFile
        } else {
            guard let liveFile else { throw Self.noSharedFile }
            attachmentID = liveFile
        }
        let answer = try sharedAttachmentBlock(
            ownerID: share.ownerID, itemID: share.itemID, slotID: slotID, attachmentID: attachmentID,
            index: request.index, context)
        var response = Svx_Sharing_V1_GetSharedAttachmentBlockResponse()
        response.attachment.attachmentID = answer.attachment.attachmentID
        response.attachment.encryptedMetadata = answer.attachment.encryptedMetadata
        response.attachment.plaintextSize = answer.attachment.plaintextSize
        response.attachment.blockCount = answer.attachment.blockCount
        response.attachment.blockSize = answer.attachment.blockSize
        response.encryptedBlock = answer.encryptedBlock
        return response
    }

    /// The one answer for a slot of the share that carries no file, one that is not the share's, and a file the
    /// owner has replaced or deleted since the share was written.
    static let noSharedFile = RPCStatus(
        .notFound, "attachment not found: the share holds no file in this slot (or the owner has replaced or removed it)",
        details: ["field": "slot_id"])

    /// Vault/GetSharedAttachmentBlock, with the recipient's session. The Vault's NOT_FOUND (the file is no longer in
    /// that slot) and OUT_OF_RANGE (`index`) are the caller's answers, in Sharing's words; the Vault unreachable,
    /// switched off or refusing anything else (never the caller's fault): UNAVAILABLE, logged.
    func sharedAttachmentBlock(
        ownerID: UUID, itemID: UUID, slotID: UUID, attachmentID: UUID, index: UInt32, _ context: RequestContext
    ) throws -> Svx_Vault_V1_GetSharedAttachmentBlockResponse {
        guard let vault else {
            throw RPCStatus(.unavailable, "the vault service is not configured for sharing: shared files cannot be read")
        }
        var request = Svx_Vault_V1_GetSharedAttachmentBlockRequest()
        request.ownerID = ownerID.wire
        request.itemID = itemID.wire
        request.slotID = slotID.wire
        request.attachmentID = attachmentID.wire
        request.index = index
        let response: Svx_Vault_V1_GetSharedAttachmentBlockResponse
        do {
            response = try vault.call(VaultRPC.getSharedAttachmentBlock, request, context: context)
        } catch {
            switch error.code {
            case .notFound:
                throw Self.noSharedFile
            case .outOfRange:
                throw RPCStatus(.outOfRange, "index \(index) is past the file's last block", details: ["field": "index"])
            case .unauthenticated, .unavailable, .deadlineExceeded:
                throw error
            default:
                context.logger.error(
                    "vault refused GetSharedAttachmentBlock",
                    metadata: ["code": "\(error.code.name)", "message": "\(error.message)"])
                throw RPCStatus(.unavailable, "the vault service is unavailable, try again")
            }
        }
        guard response.attachment.attachmentID == attachmentID.wire, !response.encryptedBlock.isEmpty else {
            context.logger.error("vault answered GetSharedAttachmentBlock with another file or no block")
            throw RPCStatus(.unavailable, "the vault service is unavailable, try again")
        }
        return response
    }
}
