import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService

/// What Sharing asks of the Vault (``SharingService/vault``): the outline of an item the caller shares (sharing.md
/// §2.6: Sharing → Vault GetItemOutlines, with the caller's session, 5 s cap; the Vault answers for the caller's own
/// items only and never calls out). Slot names, labels, types and the item's label come from this answer, never
/// from the client.
extension SharingService {
    /// The outline of the caller's item `itemID`. Called before the share's transaction (no lock is held while the
    /// Vault answers).
    ///
    /// - An item the caller's Vault does not have (unknown or another user's): NOT_FOUND naming `item_id`, the one
    ///   answer for both.
    /// - The Vault switched off, unreachable, or answering anything else: UNAVAILABLE, nothing written.
    func itemOutline(_ itemID: UUID, _ context: RequestContext) throws -> Svx_Vault_V1_ItemOutline {
        let outline = try itemOutlines([itemID], context)[0]
        guard outline.found else { throw Self.itemNotFound }
        return outline
    }

    /// The outlines of the caller's items `itemIDs` (at most ``maximumOutlinesPerCall``, the Vault's limit), in the
    /// order asked; an item the caller's Vault does not have is `found` false. The Vault switched off, unreachable, or
    /// answering anything else (other items, another count): UNAVAILABLE.
    func itemOutlines(_ itemIDs: [UUID], _ context: RequestContext) throws -> [Svx_Vault_V1_ItemOutline] {
        guard let vault else {
            throw RPCStatus(.unavailable, "the vault service is not configured for sharing: items cannot be shared")
        }
        guard !itemIDs.isEmpty, itemIDs.count <= Self.maximumOutlinesPerCall else { throw RPCStatus(.internal, "internal error") }
        var request = Svx_Vault_V1_GetItemOutlinesRequest()
        request.itemIds = itemIDs.map(\.wire)
        let outlines: [Svx_Vault_V1_ItemOutline]
        do {
            outlines = try vault.call(VaultRPC.getItemOutlines, request, context: context).items
        } catch {
            switch error.code {
            case .unauthenticated, .unavailable, .deadlineExceeded:
                throw error
            default:
                // About Sharing's own request to the Vault, not the caller's: never passed on as it is.
                context.logger.error(
                    "vault refused GetItemOutlines", metadata: ["code": "\(error.code.name)", "message": "\(error.message)"])
                throw RPCStatus(.unavailable, "the vault service is unavailable, try again")
            }
        }
        guard outlines.map(\.itemID) == request.itemIds else {
            context.logger.error("vault answered GetItemOutlines with other items", metadata: ["count": "\(outlines.count)"])
            throw RPCStatus(.unavailable, "the vault service is unavailable, try again")
        }
        return outlines
    }

    /// Item ids of one GetItemOutlines (the Vault's limit).
    static let maximumOutlinesPerCall = 100

    /// The one answer for another user's item id and for an unknown one.
    static let itemNotFound = RPCStatus.notFound("item", field: "item_id")
}
