import SVXProto
import SVXRPC

/// The typed methods of `svx.vault.v1.Vault` (proto/svx/vault/v1/vault.proto), shared by the Vault service,
/// the client SDK, svx-load and the tests.
public enum VaultRPC {
    public static let getVaultUser = RPCMethod<Svx_Vault_V1_GetVaultUserRequest, Svx_Vault_V1_GetVaultUserResponse>("svx.vault.v1.Vault/GetVaultUser")
    public static let putVaultUser = RPCMethod<Svx_Vault_V1_PutVaultUserRequest, Svx_Vault_V1_PutVaultUserResponse>("svx.vault.v1.Vault/PutVaultUser")
    public static let listTemplates = RPCMethod<Svx_Vault_V1_ListTemplatesRequest, Svx_Vault_V1_ListTemplatesResponse>("svx.vault.v1.Vault/ListTemplates")
    public static let getTemplate = RPCMethod<Svx_Vault_V1_GetTemplateRequest, Svx_Vault_V1_GetTemplateResponse>("svx.vault.v1.Vault/GetTemplate")
    public static let createTemplate = RPCMethod<Svx_Vault_V1_CreateTemplateRequest, Svx_Vault_V1_CreateTemplateResponse>("svx.vault.v1.Vault/CreateTemplate")
    public static let deleteTemplate = RPCMethod<Svx_Vault_V1_DeleteTemplateRequest, Svx_Vault_V1_DeleteTemplateResponse>("svx.vault.v1.Vault/DeleteTemplate")
    public static let createItem = RPCMethod<Svx_Vault_V1_CreateItemRequest, Svx_Vault_V1_CreateItemResponse>("svx.vault.v1.Vault/CreateItem")
    public static let getItem = RPCMethod<Svx_Vault_V1_GetItemRequest, Svx_Vault_V1_GetItemResponse>("svx.vault.v1.Vault/GetItem")
    public static let listItems = RPCMethod<Svx_Vault_V1_ListItemsRequest, Svx_Vault_V1_ListItemsResponse>("svx.vault.v1.Vault/ListItems")
    public static let updateItem = RPCMethod<Svx_Vault_V1_UpdateItemRequest, Svx_Vault_V1_UpdateItemResponse>("svx.vault.v1.Vault/UpdateItem")
    public static let deleteItem = RPCMethod<Svx_Vault_V1_DeleteItemRequest, Svx_Vault_V1_DeleteItemResponse>("svx.vault.v1.Vault/DeleteItem")
    public static let createAttachment = RPCMethod<Svx_Vault_V1_CreateAttachmentRequest, Svx_Vault_V1_CreateAttachmentResponse>("svx.vault.v1.Vault/CreateAttachment")
    public static let uploadAttachmentBlock = RPCMethod<Svx_Vault_V1_UploadAttachmentBlockRequest, Svx_Vault_V1_UploadAttachmentBlockResponse>("svx.vault.v1.Vault/UploadAttachmentBlock")
    public static let finishAttachment = RPCMethod<Svx_Vault_V1_FinishAttachmentRequest, Svx_Vault_V1_FinishAttachmentResponse>("svx.vault.v1.Vault/FinishAttachment")
    public static let getAttachment = RPCMethod<Svx_Vault_V1_GetAttachmentRequest, Svx_Vault_V1_GetAttachmentResponse>("svx.vault.v1.Vault/GetAttachment")
    public static let checkEntities = RPCMethod<Svx_Vault_V1_CheckEntitiesRequest, Svx_Vault_V1_CheckEntitiesResponse>("svx.vault.v1.Vault/CheckEntities")
    public static let getAttachmentBlock = RPCMethod<Svx_Vault_V1_GetAttachmentBlockRequest, Svx_Vault_V1_GetAttachmentBlockResponse>("svx.vault.v1.Vault/GetAttachmentBlock")
    public static let getItemOutlines = RPCMethod<Svx_Vault_V1_GetItemOutlinesRequest, Svx_Vault_V1_GetItemOutlinesResponse>("svx.vault.v1.Vault/GetItemOutlines")
    public static let getSharedAttachmentBlock = RPCMethod<Svx_Vault_V1_GetSharedAttachmentBlockRequest, Svx_Vault_V1_GetSharedAttachmentBlockResponse>("svx.vault.v1.Vault/GetSharedAttachmentBlock")
}
