import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

let srp = SRPParameters.meeco
let loginFailedMessage = "invalid username or passphrase"

/// A test-side Auth client: sign-up and SRP login with the real SRP client math.
struct AuthTestClient {
    let client: RPCClient

    init(_ service: ServiceProcess) throws { client = try RPCClient(endpoint: service.endpoint) }

    func close() { client.close() }

    func reserve() async throws -> String {
        try await client.call(AuthRPC.reserveUsername, .init(), timeout: .seconds(5)).username
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
        return try await client.call(AuthRPC.register, request, timeout: .seconds(5)).userID
    }

    func begin(username: String, aHex: String) async throws -> Svx_Auth_V1_BeginLoginResponse {
        var request = Svx_Auth_V1_BeginLoginRequest()
        request.username = username
        request.srpAHex = aHex
        return try await client.call(AuthRPC.beginLogin, request, timeout: .seconds(5))
    }

    func finish(loginID: String, m1Hex: String) async throws -> Svx_Auth_V1_FinishLoginResponse {
        var request = Svx_Auth_V1_FinishLoginRequest()
        request.loginID = loginID
        request.srpM1Hex = m1Hex
        return try await client.call(AuthRPC.finishLogin, request, timeout: .seconds(5))
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

    /// `request` with a credential proof of `password` (BeginLogin, M1, and the binding to this request).
    func proved(
        _ request: Svx_Auth_V1_ChangeVerifierRequest, userID: String, username: String, password: [UInt8]
    ) async throws -> Svx_Auth_V1_ChangeVerifierRequest {
        var request = request
        let (srpClient, challenge, m1) = try await prepareLogin(username: username, password: password)
        request.currentCredentials.loginID = challenge.loginID
        request.currentCredentials = credentialProof(
            srpClient, loginID: challenge.loginID, m1Hex: m1, purpose: AuthRPC.changeVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.changeVerifier(request, userID: userID).bytes))
        return request
    }

    func validate(_ token: String) async throws -> Svx_Auth_V1_ValidateSessionResponse {
        var request = Svx_Auth_V1_ValidateSessionRequest()
        request.sessionToken = token
        return try await client.call(AuthRPC.validateSession, request, timeout: .seconds(5))
    }
}

/// A credential proof from a prepared login (``AuthTestClient/prepareLogin(username:password:)``) for the request
/// of method `purpose` whose transcript has SHA-256 `requestDigest`.
func credentialProof(
    _ srpClient: SRPClient, loginID: String, m1Hex: String, purpose: String, requestDigest: [UInt8]
) -> Svx_Auth_V1_CredentialProof {
    var proof = Svx_Auth_V1_CredentialProof()
    proof.loginID = loginID
    proof.srpM1Hex = m1Hex
    proof.bindingHex = Hex.encode(HMAC.sha256(
        key: srpClient.unverifiedSessionKey ?? [],
        message: ProofTranscript.credentialBinding(purpose: purpose, requestDigest: requestDigest)))
    return proof
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
