import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC

/// Sign-up, login and sessions against Auth (reference/meeco-compat.md §2-4). Every piece of
/// crypto happens here, on the client: the passphrase and the Secret Key never leave it; Auth sees
/// only the SRP salt, the verifier, A and M1.
public struct AccountClient: Sendable {
    public let auth: RPCClient
    public let parameters: SRPParameters
    public var timeout: Duration

    public init(auth: RPCClient, parameters: SRPParameters = .meeco, timeout: Duration = .seconds(10)) {
        self.auth = auth
        self.parameters = parameters
        self.timeout = timeout
    }

    /// What sign-up produced: the Secret Key, shown to the user once, and a first session.
    public struct SignUp: Sendable {
        public let secretKey: SecretKey
        public let session: AuthenticatedSession
    }

    /// Sign-up: a server-generated username → a new Secret Key → SRP salt and verifier from the
    /// passphrase → register → log in. If the login after a successful registration fails, the error
    /// is ``SignUpLoginFailed``, which carries the Secret Key.
    public func signUp(passphrase: String) async throws -> SignUp {
        guard !passphrase.isEmpty else { throw SVXClientError(.invalidInput, "the passphrase is empty") }
        let secretKey = try SecretKey.generate(username: try await reserveUsername())
        let password = try secretKey.srpPassword(passphrase: passphrase)
        _ = try await register(username: secretKey.username, srpPassword: password)
        do {
            let session = try await logIn(username: secretKey.username, srpPassword: password)
            return SignUp(secretKey: secretKey, session: session)
        } catch {
            throw SignUpLoginFailed(secretKey: secretKey.description, underlying: error)
        }
    }

    /// A username made by Auth and held for this client for a while (the first step of a sign-up).
    public func reserveUsername() async throws -> String {
        try await auth.call(AuthRPC.reserveUsername, .init(), timeout: timeout).username
    }

    /// Registers a reserved `username` with a fresh SRP salt and the verifier of an already derived SRP password
    /// (``SecretKey/srpPassword(passphrase:)``; tools that make many accounts pass raw bytes). Returns the user id.
    public func register(username: String, srpPassword: [UInt8]) async throws -> String {
        var register = Svx_Auth_V1_RegisterRequest()
        register.username = username
        (register.srpSaltHex, register.srpVerifierHex) = try newVerifier(username: username, srpPassword: srpPassword)
        return try await auth.call(AuthRPC.register, register, timeout: timeout).userID
    }

    /// A fresh 32-byte SRP salt and the verifier of `srpPassword` with it, as the wire carries them (lowercase hex):
    /// what Register, ChangeVerifier, SetRecoveryVerifier and CompleteRecovery send.
    public func newVerifier(username: String, srpPassword: [UInt8]) throws -> (saltHex: String, verifierHex: String) {
        let salt = try SecureRandom.bytes(count: 32)
        return (Hex.encode(salt), try parameters.paddedHex(parameters.verifier(salt: salt, username: username, password: srpPassword)))
    }

    /// Login with the Secret Key and the passphrase.
    public func logIn(secretKey: SecretKey, passphrase: String) async throws -> AuthenticatedSession {
        try await logIn(username: secretKey.username, srpPassword: try secretKey.srpPassword(passphrase: passphrase))
    }

    /// SRP-6a with an already derived SRP password (PBKDF2 done): BeginLogin → proof → FinishLogin,
    /// and the server's proof M2 checked before the session is trusted.
    public func logIn(username: String, srpPassword: [UInt8]) async throws -> AuthenticatedSession {
        let begun = try await beginLogin(username: username, srpPassword: srpPassword)
        var srp = begun.srp
        var finish = Svx_Auth_V1_FinishLoginRequest()
        finish.loginID = begun.challenge.loginID
        finish.srpM1Hex = Hex.encode(begun.m1)
        let result = try await auth.call(AuthRPC.finishLogin, finish, timeout: timeout)
        do {
            _ = try srp.verify(serverProof: try Hex.decode(result.srpM2Hex))
        } catch {
            throw SVXClientError(.serverProofMismatch, "the server could not prove it knows the verifier: refusing the session")
        }
        var session = AuthenticatedSession(
            username: username, userID: result.userID, sessionID: result.sessionID, token: result.sessionToken,
            expiresAt: Date(wireMilliseconds: result.expiresAtMs),
            credentialGeneration: result.credentialGeneration)
        session.pendingRecovery = result.hasPendingRecovery ? PendingRecovery.from(result.pendingRecovery) : nil
        return session
    }

    /// BeginLogin and the client's proof M1 for it: the first half of every SRP exchange (a login, or a credential
    /// proof that a later request carries).
    func beginLogin(
        username: String, srpPassword: [UInt8]
    ) async throws -> (srp: SRPClient, challenge: Svx_Auth_V1_BeginLoginResponse, m1: [UInt8]) {
        var srp = try SRPClient(parameters: parameters, username: username, password: srpPassword)
        var begin = Svx_Auth_V1_BeginLoginRequest()
        begin.username = username
        begin.srpAHex = Hex.encode(srp.publicKey)
        let challenge = try await auth.call(AuthRPC.beginLogin, begin, timeout: timeout)
        do {
            let m1 = try srp.respond(salt: try Hex.decode(challenge.srpSaltHex), serverPublicKey: try Hex.decode(challenge.srpBHex))
            return (srp, challenge, m1)
        } catch {
            throw SVXClientError(.malformedResponse, "Auth sent an unusable login challenge: \(error)")
        }
    }

    /// Ends the session at Auth.
    public func logOut(_ session: AuthenticatedSession) async throws {
        _ = try await auth.call(AuthRPC.logout, .init(), sessionToken: session.token, timeout: timeout)
    }

    /// Who the session belongs to, as Auth sees it now (UNAUTHENTICATED once it has ended).
    public func whoAmI(_ session: AuthenticatedSession) async throws -> AccountIdentity {
        var request = Svx_Auth_V1_ValidateSessionRequest()
        request.sessionToken = session.token
        return AuthWire.identity(
            try await auth.call(AuthRPC.validateSession, request, sessionToken: session.token, timeout: timeout))
    }

    /// The user's live sessions, oldest first.
    public func sessions(_ session: AuthenticatedSession) async throws -> [SessionInfo] {
        try await auth.call(AuthRPC.listSessions, .init(), sessionToken: session.token, timeout: timeout).sessions
            .map(AuthWire.session)
    }

    /// Ends one of the user's sessions.
    public func revokeSession(id: String, using session: AuthenticatedSession) async throws {
        var request = Svx_Auth_V1_RevokeSessionRequest()
        request.sessionID = id
        _ = try await auth.call(AuthRPC.revokeSession, request, sessionToken: session.token, timeout: timeout)
    }
}
