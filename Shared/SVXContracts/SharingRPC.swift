import SVXProto
import SVXRPC

/// The typed methods of `svx.sharing.v1.Sharing` (proto/svx/sharing/v1/sharing.proto), shared by the Sharing service,
/// the client SDK, svx-load and the tests.
public enum SharingRPC {
    public static let createInvitation = RPCMethod<Svx_Sharing_V1_CreateInvitationRequest, Svx_Sharing_V1_CreateInvitationResponse>("svx.sharing.v1.Sharing/CreateInvitation")
    public static let getInvitation = RPCMethod<Svx_Sharing_V1_GetInvitationRequest, Svx_Sharing_V1_GetInvitationResponse>("svx.sharing.v1.Sharing/GetInvitation")
    public static let acceptInvitation = RPCMethod<Svx_Sharing_V1_AcceptInvitationRequest, Svx_Sharing_V1_AcceptInvitationResponse>("svx.sharing.v1.Sharing/AcceptInvitation")
    public static let listInvitations = RPCMethod<Svx_Sharing_V1_ListInvitationsRequest, Svx_Sharing_V1_ListInvitationsResponse>("svx.sharing.v1.Sharing/ListInvitations")
    public static let revokeInvitation = RPCMethod<Svx_Sharing_V1_RevokeInvitationRequest, Svx_Sharing_V1_RevokeInvitationResponse>("svx.sharing.v1.Sharing/RevokeInvitation")
    public static let listConnections = RPCMethod<Svx_Sharing_V1_ListConnectionsRequest, Svx_Sharing_V1_ListConnectionsResponse>("svx.sharing.v1.Sharing/ListConnections")
    public static let getConnection = RPCMethod<Svx_Sharing_V1_GetConnectionRequest, Svx_Sharing_V1_GetConnectionResponse>("svx.sharing.v1.Sharing/GetConnection")
    public static let renameConnection = RPCMethod<Svx_Sharing_V1_RenameConnectionRequest, Svx_Sharing_V1_RenameConnectionResponse>("svx.sharing.v1.Sharing/RenameConnection")
    public static let deleteConnection = RPCMethod<Svx_Sharing_V1_DeleteConnectionRequest, Svx_Sharing_V1_DeleteConnectionResponse>("svx.sharing.v1.Sharing/DeleteConnection")

    // Part II: shares.
    public static let createShare = RPCMethod<Svx_Sharing_V1_CreateShareRequest, Svx_Sharing_V1_CreateShareResponse>("svx.sharing.v1.Sharing/CreateShare")
    public static let listOutgoingShares = RPCMethod<Svx_Sharing_V1_ListOutgoingSharesRequest, Svx_Sharing_V1_ListOutgoingSharesResponse>("svx.sharing.v1.Sharing/ListOutgoingShares")
    public static let listItemShares = RPCMethod<Svx_Sharing_V1_ListItemSharesRequest, Svx_Sharing_V1_ListItemSharesResponse>("svx.sharing.v1.Sharing/ListItemShares")
    public static let revokeShare = RPCMethod<Svx_Sharing_V1_RevokeShareRequest, Svx_Sharing_V1_RevokeShareResponse>("svx.sharing.v1.Sharing/RevokeShare")
    public static let updateShares = RPCMethod<Svx_Sharing_V1_UpdateSharesRequest, Svx_Sharing_V1_UpdateSharesResponse>("svx.sharing.v1.Sharing/UpdateShares")
    public static let listIncomingShares = RPCMethod<Svx_Sharing_V1_ListIncomingSharesRequest, Svx_Sharing_V1_ListIncomingSharesResponse>("svx.sharing.v1.Sharing/ListIncomingShares")
    public static let getIncomingShare = RPCMethod<Svx_Sharing_V1_GetIncomingShareRequest, Svx_Sharing_V1_GetIncomingShareResponse>("svx.sharing.v1.Sharing/GetIncomingShare")
    public static let acceptShare = RPCMethod<Svx_Sharing_V1_AcceptShareRequest, Svx_Sharing_V1_AcceptShareResponse>("svx.sharing.v1.Sharing/AcceptShare")
    public static let rejectShare = RPCMethod<Svx_Sharing_V1_RejectShareRequest, Svx_Sharing_V1_RejectShareResponse>("svx.sharing.v1.Sharing/RejectShare")
    public static let deleteIncomingShare = RPCMethod<Svx_Sharing_V1_DeleteIncomingShareRequest, Svx_Sharing_V1_DeleteIncomingShareResponse>("svx.sharing.v1.Sharing/DeleteIncomingShare")
    public static let getSharedAttachmentBlock = RPCMethod<Svx_Sharing_V1_GetSharedAttachmentBlockRequest, Svx_Sharing_V1_GetSharedAttachmentBlockResponse>("svx.sharing.v1.Sharing/GetSharedAttachmentBlock")

    // Part III: what the Vault calls when items or slots are deleted (never a client's call in the product).
    public static let forgetSharedEntities = RPCMethod<Svx_Sharing_V1_ForgetSharedEntitiesRequest, Svx_Sharing_V1_ForgetSharedEntitiesResponse>("svx.sharing.v1.Sharing/ForgetSharedEntities")
}
