import SVXProto
import SVXRPC

/// The typed methods of `svx.keystore.v1.Keystore` (proto/svx/keystore/v1/keystore.proto), shared by the
/// Keystore service, the client SDK, svx-load and the tests.
public enum KeystoreRPC {
    public static let createKEK = RPCMethod<Svx_Keystore_V1_CreateKEKRequest, Svx_Keystore_V1_CreateKEKResponse>("svx.keystore.v1.Keystore/CreateKEK")
    public static let getKEK = RPCMethod<Svx_Keystore_V1_GetKEKRequest, Svx_Keystore_V1_GetKEKResponse>("svx.keystore.v1.Keystore/GetKEK")
    public static let stagePassphraseChange = RPCMethod<Svx_Keystore_V1_StagePassphraseChangeRequest, Svx_Keystore_V1_StagePassphraseChangeResponse>("svx.keystore.v1.Keystore/StagePassphraseChange")
    public static let commitPassphraseChange = RPCMethod<Svx_Keystore_V1_CommitPassphraseChangeRequest, Svx_Keystore_V1_CommitPassphraseChangeResponse>("svx.keystore.v1.Keystore/CommitPassphraseChange")
    public static let createDEK = RPCMethod<Svx_Keystore_V1_CreateDEKRequest, Svx_Keystore_V1_CreateDEKResponse>("svx.keystore.v1.Keystore/CreateDEK")
    public static let getDEK = RPCMethod<Svx_Keystore_V1_GetDEKRequest, Svx_Keystore_V1_GetDEKResponse>("svx.keystore.v1.Keystore/GetDEK")
    public static let listDEKs = RPCMethod<Svx_Keystore_V1_ListDEKsRequest, Svx_Keystore_V1_ListDEKsResponse>("svx.keystore.v1.Keystore/ListDEKs")
    public static let deleteDEK = RPCMethod<Svx_Keystore_V1_DeleteDEKRequest, Svx_Keystore_V1_DeleteDEKResponse>("svx.keystore.v1.Keystore/DeleteDEK")
    public static let createKeypair = RPCMethod<Svx_Keystore_V1_CreateKeypairRequest, Svx_Keystore_V1_CreateKeypairResponse>("svx.keystore.v1.Keystore/CreateKeypair")
    public static let getKeypair = RPCMethod<Svx_Keystore_V1_GetKeypairRequest, Svx_Keystore_V1_GetKeypairResponse>("svx.keystore.v1.Keystore/GetKeypair")
    public static let listKeypairs = RPCMethod<Svx_Keystore_V1_ListKeypairsRequest, Svx_Keystore_V1_ListKeypairsResponse>("svx.keystore.v1.Keystore/ListKeypairs")
    public static let deleteKeypair = RPCMethod<Svx_Keystore_V1_DeleteKeypairRequest, Svx_Keystore_V1_DeleteKeypairResponse>("svx.keystore.v1.Keystore/DeleteKeypair")
    public static let rotateKEK = RPCMethod<Svx_Keystore_V1_RotateKEKRequest, Svx_Keystore_V1_RotateKEKResponse>("svx.keystore.v1.Keystore/RotateKEK")
    public static let beginKEKProof = RPCMethod<Svx_Keystore_V1_BeginKEKProofRequest, Svx_Keystore_V1_BeginKEKProofResponse>("svx.keystore.v1.Keystore/BeginKEKProof")
    public static let setKEKCheck = RPCMethod<Svx_Keystore_V1_SetKEKCheckRequest, Svx_Keystore_V1_SetKEKCheckResponse>("svx.keystore.v1.Keystore/SetKEKCheck")
    public static let putRecoveryKey = RPCMethod<Svx_Keystore_V1_PutRecoveryKeyRequest, Svx_Keystore_V1_PutRecoveryKeyResponse>("svx.keystore.v1.Keystore/PutRecoveryKey")
    public static let getRecoveryKey = RPCMethod<Svx_Keystore_V1_GetRecoveryKeyRequest, Svx_Keystore_V1_GetRecoveryKeyResponse>("svx.keystore.v1.Keystore/GetRecoveryKey")
    public static let deleteRecoveryKey = RPCMethod<Svx_Keystore_V1_DeleteRecoveryKeyRequest, Svx_Keystore_V1_DeleteRecoveryKeyResponse>("svx.keystore.v1.Keystore/DeleteRecoveryKey")
}
