import SVXProto
import SVXRPC

/// The typed methods of `svx.auth.v1.Auth` (proto/svx/auth/v1/auth.proto), shared by the Auth
/// service, the services that validate sessions, and the client SDK, so that a method's name and
/// its message types are written once.
public enum AuthRPC {
    public static let reserveUsername = RPCMethod<Svx_Auth_V1_ReserveUsernameRequest, Svx_Auth_V1_ReserveUsernameResponse>("svx.auth.v1.Auth/ReserveUsername")
    public static let register = RPCMethod<Svx_Auth_V1_RegisterRequest, Svx_Auth_V1_RegisterResponse>("svx.auth.v1.Auth/Register")
    public static let beginLogin = RPCMethod<Svx_Auth_V1_BeginLoginRequest, Svx_Auth_V1_BeginLoginResponse>("svx.auth.v1.Auth/BeginLogin")
    public static let finishLogin = RPCMethod<Svx_Auth_V1_FinishLoginRequest, Svx_Auth_V1_FinishLoginResponse>("svx.auth.v1.Auth/FinishLogin")
    public static let logout = RPCMethod<Svx_Auth_V1_LogoutRequest, Svx_Auth_V1_LogoutResponse>("svx.auth.v1.Auth/Logout")
    public static let listSessions = RPCMethod<Svx_Auth_V1_ListSessionsRequest, Svx_Auth_V1_ListSessionsResponse>("svx.auth.v1.Auth/ListSessions")
    public static let revokeSession = RPCMethod<Svx_Auth_V1_RevokeSessionRequest, Svx_Auth_V1_RevokeSessionResponse>("svx.auth.v1.Auth/RevokeSession")
    public static let changeVerifier = RPCMethod<Svx_Auth_V1_ChangeVerifierRequest, Svx_Auth_V1_ChangeVerifierResponse>("svx.auth.v1.Auth/ChangeVerifier")
    public static let verifyCredentials = RPCMethod<Svx_Auth_V1_VerifyCredentialsRequest, Svx_Auth_V1_VerifyCredentialsResponse>("svx.auth.v1.Auth/VerifyCredentials")
    public static let validateSession = RPCMethod<Svx_Auth_V1_ValidateSessionRequest, Svx_Auth_V1_ValidateSessionResponse>("svx.auth.v1.Auth/ValidateSession")
    public static let setRecoveryVerifier = RPCMethod<Svx_Auth_V1_SetRecoveryVerifierRequest, Svx_Auth_V1_SetRecoveryVerifierResponse>("svx.auth.v1.Auth/SetRecoveryVerifier")
    public static let deleteRecoveryVerifier = RPCMethod<Svx_Auth_V1_DeleteRecoveryVerifierRequest, Svx_Auth_V1_DeleteRecoveryVerifierResponse>("svx.auth.v1.Auth/DeleteRecoveryVerifier")
    public static let getRecoveryStatus = RPCMethod<Svx_Auth_V1_GetRecoveryStatusRequest, Svx_Auth_V1_GetRecoveryStatusResponse>("svx.auth.v1.Auth/GetRecoveryStatus")
    public static let beginRecovery = RPCMethod<Svx_Auth_V1_BeginRecoveryRequest, Svx_Auth_V1_BeginRecoveryResponse>("svx.auth.v1.Auth/BeginRecovery")
    public static let finishRecovery = RPCMethod<Svx_Auth_V1_FinishRecoveryRequest, Svx_Auth_V1_FinishRecoveryResponse>("svx.auth.v1.Auth/FinishRecovery")
    public static let cancelRecovery = RPCMethod<Svx_Auth_V1_CancelRecoveryRequest, Svx_Auth_V1_CancelRecoveryResponse>("svx.auth.v1.Auth/CancelRecovery")
    public static let completeRecovery = RPCMethod<Svx_Auth_V1_CompleteRecoveryRequest, Svx_Auth_V1_CompleteRecoveryResponse>("svx.auth.v1.Auth/CompleteRecovery")
}
