import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService

/// What the Vault asks of the Sharing service (``VaultService/sharing``, nil when switched off): to end the shares of
/// items and slots the Vault deletes (sharing.md §2.6, T19; docs/ADR-008-sharing.md, "Deletions in the Vault").
extension VaultService {
    /// Tells Sharing that the caller's items `itemIDs` and slots `slotIDs` are being deleted: every share of those
    /// items and every single-slot share of those slots is revoked (`item_deleted`), whole-item copies lose those
    /// slots. Called inside the deleting transaction, after Classification's ForgetEntities, while the item row is
    /// still locked, so that nothing is deleted unless Sharing has ended the shares (fail-closed, as
    /// ``forgetClassifications(_:_:)``: a failure rolls the deletion back and the client gets UNAVAILABLE and may
    /// retry; Sharing's side is idempotent). Sharing never calls out from this method. Nothing is called with
    /// sharing switched off or when nothing was removed.
    func forgetShares(itemIDs: [UUID], slotIDs: [UUID], _ context: RequestContext) throws {
        guard let sharing, !itemIDs.isEmpty || !slotIDs.isEmpty else { return }
        var request = Svx_Sharing_V1_ForgetSharedEntitiesRequest()
        request.itemIds = itemIDs.map(\.wire)
        request.slotIds = slotIDs.map(\.wire)
        do {
            _ = try sharing.call(SharingRPC.forgetSharedEntities, request, context: context)
        } catch {
            switch error.code {
            case .notFound, .invalidArgument, .outOfRange, .failedPrecondition, .permissionDenied, .aborted:
                // About the Vault's own request to the peer, not the caller's: the caller must not read it as an
                // answer about its item (NOT_FOUND, ABORTED mean something else from DeleteItem and UpdateItem).
                context.logger.error(
                    "sharing refused to forget entities",
                    metadata: ["code": "\(error.code.name)", "message": "\(error.message)"])
                throw RPCStatus(.unavailable, "the sharing service is unavailable, try again")
            default:
                throw error
            }
        }
    }
}
