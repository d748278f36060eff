import ArgumentParser
import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC

/// The benchmark user of the vault subcommands: signed up once, then reused from a credentials file (test
/// credentials only: a random SRP password, the last session token and a random private DEK, mode 0600 under
/// .svx/bench/). The DEK never leaves svx-load: the Vault sees only Cryppo strings made with it.
struct VaultBenchCredentials: Codable {
    var username: String
    var userID: String
    var srpPasswordHex: String
    var sessionToken: String
    var dekBase64URL: String

    enum CodingKeys: String, CodingKey {
        case username
        case userID = "user_id"
        case srpPasswordHex = "srp_password_hex"
        case sessionToken = "session_token"
        case dekBase64URL = "private_dek_base64url"
    }
}

/// The options every vault subcommand shares.
struct VaultEndpointOptions: ParsableArguments {
    @Option(help: "The svx-auth endpoint (loopback only).")
    var authEndpoint: String = "tcp://127.0.0.1:7101"

    @Option(help: "The svx-vault endpoint (loopback only).")
    var vaultEndpoint: String = "tcp://127.0.0.1:7103"

    @Option(help: "The benchmark user's credentials (created 0600 when missing; test credentials only).")
    var credentialsFile: String = ".svx/bench/vault-user.json"

    func validate() throws {
        try validateLoopback(authEndpoint)
        try validateLoopback(vaultEndpoint)
    }
}

/// A logged-in benchmark user: its session token, user id and DEK.
final class VaultBenchUser: Sendable {
    let username: String
    let userID: String
    let token: String
    let dek: SymmetricKey

    private init(_ credentials: VaultBenchCredentials) throws {
        username = credentials.username
        userID = credentials.userID
        token = credentials.sessionToken
        dek = try SymmetricKey(base64URL: credentials.dekBase64URL)
    }

    static let timeout = Duration.seconds(10)

    /// Reads the credentials file (or signs up a new user and writes it), makes sure the session is live (logs in
    /// again otherwise: sessions end after 30 min idle or 12 h), and makes sure the user has a vault record. Signing
    /// up and logging in go through the SDK's `AccountClient`, with the stored raw SRP password (no PBKDF2).
    static func open(_ options: VaultEndpointOptions) async throws -> VaultBenchUser {
        let auth = try LoadTransport.client(endpoint: options.authEndpoint)
        defer { auth.close() }
        let account = AccountClient(auth: auth, timeout: timeout)
        let path = options.credentialsFile
        var credentials: VaultBenchCredentials
        if FileManager.default.fileExists(atPath: path) {
            credentials = try JSONDecoder().decode(VaultBenchCredentials.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            if !(try await sessionIsLive(account, credentials)) {
                printFlushed("session of \(credentials.username) ended: logging in again")
                let session = try await account.logIn(
                    username: credentials.username, srpPassword: try Hex.decode(credentials.srpPasswordHex))
                credentials.sessionToken = session.token
                try writePrivately(credentials, to: path)
            }
            printFlushed("benchmark user \(credentials.username) (from \(path))")
        } else {
            credentials = try await signUp(account)
            try writePrivately(credentials, to: path)
            printFlushed("signed up benchmark user \(credentials.username) (credentials in \(path), 0600)")
        }
        let user = try VaultBenchUser(credentials)
        let vault = try LoadTransport.client(endpoint: options.vaultEndpoint)
        defer { vault.close() }
        do {
            _ = try await vault.call(VaultRPC.getVaultUser, .init(), sessionToken: user.token, timeout: timeout)
        } catch let status as RPCStatus where status.code == .notFound {
            var put = Svx_Vault_V1_PutVaultUserRequest()
            put.privateDekExternalID = "svx-load-bench-dek-\(user.userID)"
            _ = try await vault.call(VaultRPC.putVaultUser, put, sessionToken: user.token, timeout: timeout)
        }
        return user
    }

    /// ``open(_:)`` from a synchronous command (not from a task: it blocks the calling thread until done).
    static func openWaiting(_ options: VaultEndpointOptions) throws -> VaultBenchUser {
        try waitFor { try await open(options) }
    }

    private static func sessionIsLive(_ account: AccountClient, _ credentials: VaultBenchCredentials) async throws -> Bool {
        // Only the token matters to Auth; the rest of the session is what the credentials file keeps.
        let session = AuthenticatedSession(
            username: credentials.username, userID: credentials.userID, sessionID: "", token: credentials.sessionToken,
            expiresAt: .distantFuture, credentialGeneration: 0)
        do {
            _ = try await account.whoAmI(session)
            return true
        } catch where ServiceError(error)?.code == .unauthenticated {
            return false
        }
    }

    private static func signUp(_ account: AccountClient) async throws -> VaultBenchCredentials {
        let password = try SecureRandom.bytes(count: 32)
        let username = try await account.reserveUsername()
        _ = try await account.register(username: username, srpPassword: password)
        let session = try await account.logIn(username: username, srpPassword: password)
        return VaultBenchCredentials(
            username: username, userID: session.userID, srpPasswordHex: Hex.encode(password),
            sessionToken: session.token, dekBase64URL: try SymmetricKey.random().base64URL)
    }

    /// Every item id of the user, by ListItems pages of 500 (without slots), at most `limit` ids.
    func itemIDs(vaultEndpoint: String, limit: Int) throws -> [UUID] {
        let vault = try LoadTransport.client(endpoint: vaultEndpoint)
        defer { vault.close() }
        var ids: [UUID] = []
        var token = ""
        let start = ContinuousClock.now
        var lastPrint = start
        repeat {
            var request = Svx_Vault_V1_ListItemsRequest()
            request.pageSize = 500
            request.pageToken = token
            let page = try vault.callBlocking(VaultRPC.listItems, request, sessionToken: self.token, timeout: .seconds(30))
            for item in page.items {
                guard let id = UUID(uuidString: item.itemID) else { throw RPCStatus(.internal, "bad item id \(item.itemID)") }
                ids.append(id)
            }
            token = page.nextPageToken
            if ContinuousClock.now - lastPrint >= .seconds(1) {
                lastPrint = ContinuousClock.now
                printFlushed("  listing item ids: \(ids.count)")
            }
        } while !token.isEmpty && ids.count < limit
        printFlushed(String(format: "  %d item id(s) listed in %.1f s", ids.count, (ContinuousClock.now - start).seconds))
        return Array(ids.prefix(limit))
    }
}

extension UUID {
    /// The form the services send: lower case.
    var wire: String { uuidString.lowercased() }

    /// UUIDv7 like the Vault's item ids: 48 bits of Unix milliseconds, then random bits.
    static func timeOrdered() -> UUID {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let milliseconds = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

/// Writes `value` as JSON to `path` with mode 0600 (its directory 0700), replacing the file atomically: the
/// benchmark users' credentials files.
func writePrivately(_ value: some Encodable, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent()
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(value)
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp")
    _ = FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600])
    let handle = try FileHandle(forWritingTo: temporary)
    try handle.write(contentsOf: data)
    try handle.close()
    guard rename(temporary.path, path) == 0 else {
        throw ValidationError("cannot write \(path): errno \(errno)")
    }
}
