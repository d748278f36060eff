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
}
