import Cryppo
import Foundation
import SRP
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

let loginFailedMessage = "invalid username or passphrase"
let recoveryFailedMessage = "invalid username or recovery key"

/// A random recovery SRP password P_r as the Recovery Key gives it (64 lowercase hex characters, here random
/// rather than derived: Auth only ever sees its verifier and SRP proofs).
func recoveryPassword() throws -> [UInt8] { Array(Hex.encode(try SecureRandom.bytes(count: 32)).utf8) }

/// The SRP group and hash of svx (Meeco's), for verifiers a test puts in a request of its own making.
let srp = SRPParameters.meeco

/// `text` as the raw SRP password a test user has (no Secret Key, no PBKDF2).
func password(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Auth as its own tests call it: accounts are made and logged in through the SDK (``AccountClient``); the
/// protocol's steps (BeginLogin, FinishLogin, a credential proof) are also there one by one, for tests of what
/// Auth does with each.
struct AuthTestClient {
    let client: RPCClient
    private let ownsClient: Bool

    /// Calls through the stack's own Auth client.
    init(_ stack: TestStack) {
        client = stack.client(.auth)
        ownsClient = false
    }

    /// A client of its own whose connection leaves from `sourceAddress` (another loopback address, so svx-auth sees
    /// another caller: ZeroMQ's `tcp://source:0;destination` form). ``close()`` ends it.
    init(_ stack: TestStack, sourceAddress: String) throws {
        let destination = stack[.auth].endpoint.replacingOccurrences(of: "tcp://", with: "")
        client = try TestTransport.client("auth", endpoint: "tcp://\(sourceAddress):0;\(destination)")
        ownsClient = true
    }

    /// Closes a client of its own (the stack closes its shared one).
    func close() { if ownsClient { client.close() } }

    var account: AccountClient { AccountClient(auth: client) }

    func reserve() async throws -> String { try await account.reserveUsername() }

    /// Reserve → register with `password` (raw SRP password bytes), through the SDK. Returns (username, user id).
    func signUp(password: [UInt8]) async throws -> (username: String, userID: String) {
        let username = try await reserve()
        return (username, try await register(username: username, password: password))
    }

    func register(username: String, password: [UInt8]) async throws -> String {
        try await account.register(username: username, srpPassword: password)
    }

    /// An SDK login (the server's proof M2 checked).
    func login(username: String, password: [UInt8]) async throws -> AuthenticatedSession {
        try await account.logIn(username: username, srpPassword: password)
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

    /// BeginLogin and the client's M1 (not yet sent), for tests of what FinishLogin does with it.
    func prepareLogin(username: String, password: [UInt8]) async throws -> (SRPClient, Svx_Auth_V1_BeginLoginResponse, String) {
        var srpClient = try SRPClient(username: username, password: password)
        let challenge = try await begin(username: username, aHex: Hex.encode(srpClient.publicKey))
        let m1 = try srpClient.respond(salt: try Hex.decode(challenge.srpSaltHex), serverPublicKey: try Hex.decode(challenge.srpBHex))
        return (srpClient, challenge, Hex.encode(m1))
    }

    /// A login step by step (BeginLogin, M1, FinishLogin, M2 checked), answering what FinishLogin answered.
    func loginByHand(username: String, password: [UInt8]) async throws -> Svx_Auth_V1_FinishLoginResponse {
        var (srpClient, challenge, m1) = try await prepareLogin(username: username, password: password)
        let response = try await finish(loginID: challenge.loginID, m1Hex: m1)
        try srpClient.verify(serverProof: try Hex.decode(response.srpM2Hex))
        return response
    }

    /// `request` with the SDK's credential proof of `password` (BeginLogin, M1, and the binding to this request).
    func proved(
        _ request: Svx_Auth_V1_ChangeVerifierRequest, userID: String, username: String, password: [UInt8]
    ) async throws -> Svx_Auth_V1_ChangeVerifierRequest {
        var request = request
        let pending = try await account.beginCredentialProof(username: username, srpPassword: password)
        request.currentCredentials.loginID = pending.loginID
        request.currentCredentials = try pending.proof(
            purpose: AuthRPC.changeVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.changeVerifier(request, userID: userID).bytes))
        return request
    }

    /// `request` with the SDK's credential proof of `password`, bound to this SetRecoveryVerifier request.
    func proved(
        _ request: Svx_Auth_V1_SetRecoveryVerifierRequest, userID: String, username: String, password: [UInt8]
    ) async throws -> Svx_Auth_V1_SetRecoveryVerifierRequest {
        var request = request
        let pending = try await account.beginCredentialProof(username: username, srpPassword: password)
        request.currentCredentials.loginID = pending.loginID
        request.currentCredentials = try pending.proof(
            purpose: AuthRPC.setRecoveryVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.setRecoveryVerifier(request, userID: userID).bytes))
        return request
    }

    /// A SetRecoveryVerifier request for `recoveryPassword` (a fresh salt), without its credential proof.
    func recoveryVerifierRequest(username: String, recoveryPassword: [UInt8]) throws -> Svx_Auth_V1_SetRecoveryVerifierRequest {
        var request = Svx_Auth_V1_SetRecoveryVerifierRequest()
        let salt = try SecureRandom.bytes(count: 32)
        request.srpSaltHex = Hex.encode(salt)
        request.srpVerifierHex = Hex.encode(try srp.verifier(salt: salt, username: username, password: recoveryPassword))
        return request
    }

    /// Enrols `recoveryPassword` as the recovery credential of the user of `session` (proving `password`).
    @discardableResult
    func enrolRecovery(
        session: AuthenticatedSession, username: String, password: [UInt8], recoveryPassword: [UInt8]
    ) async throws -> Svx_Auth_V1_SetRecoveryVerifierResponse {
        let request = try await proved(
            try recoveryVerifierRequest(username: username, recoveryPassword: recoveryPassword),
            userID: session.userID, username: username, password: password)
        return try await client.call(AuthRPC.setRecoveryVerifier, request, sessionToken: session.token, timeout: .seconds(5))
    }

    func beginRecovery(username: String, aHex: String) async throws -> Svx_Auth_V1_BeginRecoveryResponse {
        var request = Svx_Auth_V1_BeginRecoveryRequest()
        request.username = username
        request.srpAHex = aHex
        return try await client.call(AuthRPC.beginRecovery, request, timeout: .seconds(5))
    }

    func finishRecovery(loginID: String, m1Hex: String) async throws -> Svx_Auth_V1_FinishRecoveryResponse {
        var request = Svx_Auth_V1_FinishRecoveryRequest()
        request.loginID = loginID
        request.srpM1Hex = m1Hex
        return try await client.call(AuthRPC.finishRecovery, request, timeout: .seconds(5))
    }

    /// BeginRecovery and the client's M1 for `recoveryPassword` (not yet sent).
    func prepareRecovery(
        username: String, recoveryPassword: [UInt8]
    ) async throws -> (SRPClient, Svx_Auth_V1_BeginRecoveryResponse, String) {
        var srpClient = try SRPClient(username: username, password: recoveryPassword)
        let challenge = try await beginRecovery(username: username, aHex: Hex.encode(srpClient.publicKey))
        let m1 = try srpClient.respond(salt: try Hex.decode(challenge.srpSaltHex), serverPublicKey: try Hex.decode(challenge.srpBHex))
        return (srpClient, challenge, Hex.encode(m1))
    }

    /// A recovery step by step (BeginRecovery, M1, FinishRecovery, M2 checked): the RECOVERY session's answer.
    func recover(username: String, recoveryPassword: [UInt8]) async throws -> Svx_Auth_V1_FinishRecoveryResponse {
        var (srpClient, challenge, m1) = try await prepareRecovery(username: username, recoveryPassword: recoveryPassword)
        let response = try await finishRecovery(loginID: challenge.loginID, m1Hex: m1)
        try srpClient.verify(serverProof: try Hex.decode(response.srpM2Hex))
        return response
    }

    /// CompleteRecovery with the verifier of `newPassword` (a fresh salt), from the session of `token`, with a proof of
    /// `recoveryPassword` (a BeginRecovery challenge bound to the request; Auth's M2 checked), or none when nil.
    func completeRecovery(
        token: String, userID: String, username: String, recoveryPassword: [UInt8]?, newPassword: [UInt8], from: UInt64,
        to: UInt64
    ) async throws -> Svx_Auth_V1_CompleteRecoveryResponse {
        var request = Svx_Auth_V1_CompleteRecoveryRequest()
        let salt = try SecureRandom.bytes(count: 32)
        request.srpSaltHex = Hex.encode(salt)
        request.srpVerifierHex = Hex.encode(try srp.verifier(salt: salt, username: username, password: newPassword))
        request.expectedGeneration = from
        request.newGeneration = to
        guard let recoveryPassword else {
            return try await client.call(AuthRPC.completeRecovery, request, sessionToken: token, timeout: .seconds(5))
        }
        var (srpClient, challenge, m1) = try await prepareRecovery(username: username, recoveryPassword: recoveryPassword)
        request.recoveryCredentials.loginID = challenge.loginID
        request.recoveryCredentials = credentialProof(
            srpClient, loginID: challenge.loginID, m1Hex: m1, purpose: AuthRPC.completeRecovery.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.completeRecovery(request, userID: userID).bytes))
        let response = try await client.call(AuthRPC.completeRecovery, request, sessionToken: token, timeout: .seconds(5))
        try srpClient.verify(serverProof: try Hex.decode(response.srpM2Hex))
        return response
    }

    func recoveryStatus(token: String) async throws -> Svx_Auth_V1_GetRecoveryStatusResponse {
        try await client.call(AuthRPC.getRecoveryStatus, .init(), sessionToken: token, timeout: .seconds(5))
    }

    func cancelRecovery(token: String) async throws -> Svx_Auth_V1_CancelRecoveryResponse {
        try await client.call(AuthRPC.cancelRecovery, .init(), sessionToken: token, timeout: .seconds(5))
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

extension TestStack {
    /// Auth as its tests call it, through the stack's client.
    var auth: AuthTestClient { AuthTestClient(self) }
}
