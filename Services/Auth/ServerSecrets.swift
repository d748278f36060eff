import Cryppo
import SVXStore
import Synchronization

/// The server's own secret for fake salts, made once (the first replica to start wins: INSERT ... ON CONFLICT DO
/// NOTHING, then everyone reads the stored one) and cached in memory.
final class ServerSecrets: Sendable {
    private let fakeSaltKey = Mutex<[UInt8]?>(nil)

    /// Creates the secret if the table has none yet and caches it.
    func load(on database: PostgresConnection) throws -> [UInt8] {
        if let key = fakeSaltKey.withLock({ $0 }) { return key }
        _ = try database.execute(
            "INSERT INTO auth.server_secrets (name, secret) VALUES ('fake_salt', $1) ON CONFLICT (name) DO NOTHING",
            try SecureRandom.bytes(count: 32))
        let rows = try database.query("SELECT secret FROM auth.server_secrets WHERE name = 'fake_salt'")
        guard let row = rows.first else { throw DatabaseError(kind: .other, message: "server secret missing") }
        let key = try row.decode([UInt8].self, at: 0)
        fakeSaltKey.withLock { $0 = key }
        return key
    }
}

/// The salt and verifier an unknown username gets: deterministic (the same username always gets the same salt),
/// unpredictable without the server secret, the same shapes as real ones. A recovery (BeginRecovery) of a username
/// that is unknown or has no recovery credential gets fakes of its own, domain-separated from the login's: the
/// two answers for one username never share a salt, as a real user's two credentials do not.
enum FakeCredentials {
    /// HMAC-SHA256(secret, username) for a login, HMAC-SHA256(secret, "recovery-salt:" ‖ username) for a
    /// recovery: 32 bytes. (':' never occurs in a username, so the messages never collide.)
    static func salt(secret: [UInt8], username: String, for purpose: ChallengePurpose = .login) -> [UInt8] {
        switch purpose {
        case .login: HMAC.sha256(key: secret, message: Array(username.utf8))
        case .recovery: HMAC.sha256(key: secret, message: Array("recovery-salt:\(username)".utf8))
        }
    }

    /// 256 bytes of HMAC output reduced mod N, padded: a value shaped like g^x mod N. (':' never occurs in a
    /// username, so these messages never collide with a salt's, nor the login's with the recovery's.)
    static func verifier(secret: [UInt8], username: String, for purpose: ChallengePurpose = .login) throws -> [UInt8] {
        let parameters = WireValidation.parameters
        let domain = purpose == .login ? "verifier" : "recovery-verifier"
        var bytes: [UInt8] = []
        var block: UInt8 = 0
        while bytes.count < parameters.group.byteLength {
            block += 1
            bytes += HMAC.sha256(key: secret, message: Array("\(domain):\(block):\(username)".utf8))
        }
        let value = try BigNumber(bytes: Array(bytes.prefix(parameters.group.byteLength))).mod(parameters.group.N)
        return try parameters.pad(value.isZero ? BigNumber(1) : value)
    }
}
