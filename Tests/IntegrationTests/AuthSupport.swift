import Cryppo
import Foundation
import SRP
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// The Auth methods (proto/svx/auth/v1/auth.proto), as a client names them.
enum AuthMethods {
    static let reserveUsername = RPCMethod<Svx_Auth_V1_ReserveUsernameRequest, Svx_Auth_V1_ReserveUsernameResponse>("svx.auth.v1.Auth/ReserveUsername")
    static let register = RPCMethod<Svx_Auth_V1_RegisterRequest, Svx_Auth_V1_RegisterResponse>("svx.auth.v1.Auth/Register")
    static let beginLogin = RPCMethod<Svx_Auth_V1_BeginLoginRequest, Svx_Auth_V1_BeginLoginResponse>("svx.auth.v1.Auth/BeginLogin")
    static let finishLogin = RPCMethod<Svx_Auth_V1_FinishLoginRequest, Svx_Auth_V1_FinishLoginResponse>("svx.auth.v1.Auth/FinishLogin")
    static let logout = RPCMethod<Svx_Auth_V1_LogoutRequest, Svx_Auth_V1_LogoutResponse>("svx.auth.v1.Auth/Logout")
    static let listSessions = RPCMethod<Svx_Auth_V1_ListSessionsRequest, Svx_Auth_V1_ListSessionsResponse>("svx.auth.v1.Auth/ListSessions")
    static let revokeSession = RPCMethod<Svx_Auth_V1_RevokeSessionRequest, Svx_Auth_V1_RevokeSessionResponse>("svx.auth.v1.Auth/RevokeSession")
    static let changeVerifier = RPCMethod<Svx_Auth_V1_ChangeVerifierRequest, Svx_Auth_V1_ChangeVerifierResponse>("svx.auth.v1.Auth/ChangeVerifier")
    static let validateSession = RPCMethod<Svx_Auth_V1_ValidateSessionRequest, Svx_Auth_V1_ValidateSessionResponse>("svx.auth.v1.Auth/ValidateSession")
    static let whoAmI = RPCMethod<Svx_Rpc_V1_WhoAmIRequest, Svx_Rpc_V1_WhoAmIResponse>("svx.rpc.v1.Test/WhoAmI")
}

let srp = SRPParameters.meeco
let loginFailedMessage = "invalid username or passphrase"

/// A test-side Auth client: sign-up and SRP login with the real SRP client math.
struct AuthTestClient {
    let client: RPCClient

    init(_ service: ServiceProcess) throws { client = try RPCClient(endpoint: service.endpoint) }

    func close() { client.close() }

    func reserve() async throws -> String {
        try await client.call(AuthMethods.reserveUsername, .init(), timeout: .seconds(5)).username
    }

    /// Reserve → register with `password` (raw SRP password bytes). Returns (username, user id).
    func signUp(password: [UInt8]) async throws -> (username: String, userID: String) {
        let username = try await reserve()
        let userID = try await register(username: username, password: password)
        return (username, userID)
    }

    func register(username: String, password: [UInt8]) async throws -> String {
        var request = Svx_Auth_V1_RegisterRequest()
        request.username = username
        let salt = try SecureRandom.bytes(count: 32)
        request.srpSaltHex = Hex.encode(salt)
        request.srpVerifierHex = Hex.encode(try srp.verifier(salt: salt, username: username, password: password))
        return try await client.call(AuthMethods.register, request, timeout: .seconds(5)).userID
    }

    func begin(username: String, aHex: String) async throws -> Svx_Auth_V1_BeginLoginResponse {
        var request = Svx_Auth_V1_BeginLoginRequest()
        request.username = username
        request.srpAHex = aHex
        return try await client.call(AuthMethods.beginLogin, request, timeout: .seconds(5))
    }

    func finish(loginID: String, m1Hex: String) async throws -> Svx_Auth_V1_FinishLoginResponse {
        var request = Svx_Auth_V1_FinishLoginRequest()
        request.loginID = loginID
        request.srpM1Hex = m1Hex
        return try await client.call(AuthMethods.finishLogin, request, timeout: .seconds(5))
    }

    /// BeginLogin and the client's M1 (not yet sent).
    func prepareLogin(username: String, password: [UInt8]) async throws -> (SRPClient, Svx_Auth_V1_BeginLoginResponse, String) {
        var srpClient = try SRPClient(username: username, password: password)
        let challenge = try await begin(username: username, aHex: Hex.encode(srpClient.publicKey))
        let m1 = try srpClient.respond(salt: try Hex.decode(challenge.srpSaltHex), serverPublicKey: try Hex.decode(challenge.srpBHex))
        return (srpClient, challenge, Hex.encode(m1))
    }

    /// A full login; checks the server's proof M2.
    func login(username: String, password: [UInt8]) async throws -> Svx_Auth_V1_FinishLoginResponse {
        var (srpClient, challenge, m1) = try await prepareLogin(username: username, password: password)
        let response = try await finish(loginID: challenge.loginID, m1Hex: m1)
        try srpClient.verify(serverProof: try Hex.decode(response.srpM2Hex))
        return response
    }

    func validate(_ token: String) async throws -> Svx_Auth_V1_ValidateSessionResponse {
        var request = Svx_Auth_V1_ValidateSessionRequest()
        request.sessionToken = token
        return try await client.call(AuthMethods.validateSession, request, timeout: .seconds(5))
    }
}

/// The status a call fails with (nil if it succeeded).
func status(_ body: () async throws -> Void) async -> RPCStatus? {
    do {
        try await body()
        return nil
    } catch let status as RPCStatus {
        return status
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

/// Every row of every table of the auth schema as text (for "no secret in plain form" checks).
func dumpAuthSchema(_ database: TestDatabase) throws -> String {
    let connection = try database.connect()
    defer { connection.close() }
    var text = ""
    for table in ["users", "username_reservations", "login_challenges", "sessions", "throttle_buckets", "server_secrets"] {
        for row in try connection.query("SELECT row_to_json(t)::text FROM auth.\(table) t") {
            text += try row.decode(String.self, at: 0) + "\n"
        }
    }
    return text
}

func password(_ text: String) -> [UInt8] { Array(text.utf8) }
