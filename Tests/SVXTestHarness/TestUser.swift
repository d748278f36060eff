import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import Testing

/// A user of a ``TestStack``, signed up and logged in through the SDK (``AccountClient``): the one sign-up path of
/// tests, svx-load and the CLI. Its SRP password is the passphrase's bytes, without the Secret Key's PBKDF2 (a
/// test that needs the real derivation signs up with ``AccountClient/signUp(passphrase:)``).
public struct TestUser: Sendable {
    public let stack: TestStack
    public let username: String
    public let passphrase: String
    /// The session this user calls with.
    public let session: AuthenticatedSession
    /// A private DEK of this user's own making (the services never see it), for values a test writes to the Vault.
    public let dek: SymmetricKey

    public var userID: String { session.userID }
    public var sessionToken: String { session.token }
    public var credentialGeneration: UInt64 { session.credentialGeneration }
    /// What SRP takes as the password of this user.
    public var srpPassword: [UInt8] { Array(passphrase.utf8) }

    init(stack: TestStack, username: String, passphrase: String, session: AuthenticatedSession, dek: SymmetricKey) {
        self.stack = stack
        self.username = username
        self.passphrase = passphrase
        self.session = session
        self.dek = dek
    }

    /// Calls `method` on the service of the stack that answers it, with this user's session; `peer`: as that service's
    /// peer call would (its own key), for the methods meant for peers.
    public func call<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, as peer: TestService? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> Response {
        try await stack.client(for: method, as: peer).call(method, request, sessionToken: session.token, timeout: timeout)
    }

    /// The status the call fails with (nil if it succeeded).
    public func failure<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, as peer: TestService? = nil,
        timeout: Duration = .seconds(30)
    ) async -> RPCStatus? {
        await status { _ = try await call(method, request, as: peer, timeout: timeout) }
    }

    /// The same user with a new session (another SDK login).
    public func loggedInAgain() async throws -> TestUser {
        let session = try await stack.account.logIn(username: username, srpPassword: srpPassword)
        return TestUser(stack: stack, username: username, passphrase: passphrase, session: session, dek: dek)
    }

    /// The same user calling with `session` (e.g. one a test made by hand, or one that has ended).
    public func with(session: AuthenticatedSession) -> TestUser {
        TestUser(stack: stack, username: username, passphrase: passphrase, session: session, dek: dek)
    }

    /// Cryppo(private DEK, UTF-8 `value`), as a client writes a slot value.
    public func encrypt(_ value: String) throws -> String { try Cryppo.encrypt(Array(value.utf8), key: dek) }

    /// The UTF-8 text of a Cryppo string under the private DEK.
    public func decrypt(_ encrypted: String) throws -> String {
        String(decoding: try Cryppo.decrypt(encrypted, key: dek), as: UTF8.self)
    }
}

extension TestStack {
    /// A new account made through the SDK (ReserveUsername, Register, SRP login with the server's proof checked),
    /// logged in. With a Vault in the stack the user also has its Vault record (PutVaultUser) unless `vaultUser` is
    /// false.
    public func newUser(passphrase: String = "pw", vaultUser: Bool = true) async throws -> TestUser {
        let account = account
        let username = try await account.reserveUsername()
        _ = try await account.register(username: username, srpPassword: Array(passphrase.utf8))
        let session = try await account.logIn(username: username, srpPassword: Array(passphrase.utf8))
        let user = TestUser(stack: self, username: username, passphrase: passphrase, session: session, dek: try .random())
        if vaultUser && services.contains(.vault) {
            var request = Svx_Vault_V1_PutVaultUserRequest()
            request.privateDekExternalID = "private"
            _ = try await user.call(VaultRPC.putVaultUser, request)
        }
        return user
    }

    /// The stack's client of the service answering `method` (as `peer`'s peer calls, with its key, when given).
    public func client<Request, Response>(for method: RPCMethod<Request, Response>, as peer: TestService? = nil) -> RPCClient {
        guard let service = TestService(answering: method.name) else {
            preconditionFailure("\(method.name) is answered by every service: call client(_:) with the one meant")
        }
        return client(service, as: peer)
    }

    /// The status `method` fails with when called with no session (or with `token`); `peer` as in ``client(for:as:)``.
    public func anonymous<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, token: String = "", as peer: TestService? = nil,
        timeout: Duration = .seconds(10)
    ) async -> RPCStatus? {
        await status {
            _ = try await client(for: method, as: peer).call(method, request, sessionToken: token, timeout: timeout)
        }
    }
}
