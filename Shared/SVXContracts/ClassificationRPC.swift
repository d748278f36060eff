import SVXProto
import SVXRPC

/// The typed methods of `svx.classification.v1.Classification` (proto/svx/classification/v1/classification.proto),
/// shared by the Classification service, the Vault (which asks it), the client SDK, svx-load and the tests.
public enum ClassificationRPC {
    public static let listSchemes = RPCMethod<Svx_Classification_V1_ListSchemesRequest, Svx_Classification_V1_ListSchemesResponse>("svx.classification.v1.Classification/ListSchemes")
    public static let createScheme = RPCMethod<Svx_Classification_V1_CreateSchemeRequest, Svx_Classification_V1_CreateSchemeResponse>("svx.classification.v1.Classification/CreateScheme")
    public static let deleteScheme = RPCMethod<Svx_Classification_V1_DeleteSchemeRequest, Svx_Classification_V1_DeleteSchemeResponse>("svx.classification.v1.Classification/DeleteScheme")
    public static let createNode = RPCMethod<Svx_Classification_V1_CreateNodeRequest, Svx_Classification_V1_CreateNodeResponse>("svx.classification.v1.Classification/CreateNode")
    public static let updateNode = RPCMethod<Svx_Classification_V1_UpdateNodeRequest, Svx_Classification_V1_UpdateNodeResponse>("svx.classification.v1.Classification/UpdateNode")
    public static let moveNode = RPCMethod<Svx_Classification_V1_MoveNodeRequest, Svx_Classification_V1_MoveNodeResponse>("svx.classification.v1.Classification/MoveNode")
    public static let deleteNode = RPCMethod<Svx_Classification_V1_DeleteNodeRequest, Svx_Classification_V1_DeleteNodeResponse>("svx.classification.v1.Classification/DeleteNode")
    public static let searchNodes = RPCMethod<Svx_Classification_V1_SearchNodesRequest, Svx_Classification_V1_SearchNodesResponse>("svx.classification.v1.Classification/SearchNodes")
    public static let listSubtree = RPCMethod<Svx_Classification_V1_ListSubtreeRequest, Svx_Classification_V1_ListSubtreeResponse>("svx.classification.v1.Classification/ListSubtree")
    public static let classify = RPCMethod<Svx_Classification_V1_ClassifyRequest, Svx_Classification_V1_ClassifyResponse>("svx.classification.v1.Classification/Classify")
    public static let unclassify = RPCMethod<Svx_Classification_V1_UnclassifyRequest, Svx_Classification_V1_UnclassifyResponse>("svx.classification.v1.Classification/Unclassify")
    public static let listEntityNodes = RPCMethod<Svx_Classification_V1_ListEntityNodesRequest, Svx_Classification_V1_ListEntityNodesResponse>("svx.classification.v1.Classification/ListEntityNodes")
    public static let listEntities = RPCMethod<Svx_Classification_V1_ListEntitiesRequest, Svx_Classification_V1_ListEntitiesResponse>("svx.classification.v1.Classification/ListEntities")
    public static let forgetEntities = RPCMethod<Svx_Classification_V1_ForgetEntitiesRequest, Svx_Classification_V1_ForgetEntitiesResponse>("svx.classification.v1.Classification/ForgetEntities")
}
