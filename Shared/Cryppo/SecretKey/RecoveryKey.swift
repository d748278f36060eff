/// The user's offline Recovery Key `R.1.<username>.<readable>` (reference/sharing.md §5a, docs/ADR-009-recovery.md)
/// and the two keys derived from it.
///
/// `readable` is the base58 of 32 random bytes with `-` after every 6 characters, like the Secret Key's. The Recovery
/// Key is shown once and never leaves the client; what leaves is derived from it by HKDF-SHA256 (RFC 5869) with the
/// 32 bytes as input key material and the ASCII username as salt:
/// - ``srpPassword``: info `svx-recovery-v1|srp`, 32 bytes as 64 lowercase hex characters: the SRP password of the
///   recovery credential in Auth (only its verifier is stored);
/// - ``wrappingKey()``: info `svx-recovery-v1|wrap`, 32 bytes: the AES-256 key (RWK) that wraps the recovery
///   keypair's private key in the Keystore.
///
/// Both are 256-bit values derived from 256 random bits: nothing the server stores can be attacked offline with less
/// than 2^128 work.
public struct RecoveryKey: Sendable, Equatable, CustomStringConvertible {
    /// The first part of every Recovery Key: tells it apart from a Secret Key (`1.<username>.<key>`).
    public static let prefix = "R"
    /// The format version (`"1"`).
    public let version: String
    /// The username it recovers.
    public let username: String
    /// The base58 text of the 32 bytes, without hyphens.
    public let key: String

    static let byteCount = 32
    static let srpInfo = Array("svx-recovery-v1|srp".utf8)
    static let wrapInfo = Array("svx-recovery-v1|wrap".utf8)

    /// Makes a new Recovery Key for `username` from 32 random bytes.
    public static func generate(username: String) throws -> RecoveryKey {
        var raw = try SecureRandom.bytes(count: byteCount)
        defer { secureZero(&raw) }
        return try RecoveryKey(version: "1", username: username, key: Base58.encode(raw))
    }

    /// Builds a Recovery Key from its parts; validates them (the key must be the base58 of exactly 32 bytes).
    public init(version: String = "1", username: String, key: String) throws {
        guard version == "1" else {
            throw CryppoError(.invalidFormat, "unsupported Recovery Key version \"\(version.prefix(8))\"")
        }
        guard !username.isEmpty, username.count <= 64, !username.contains("."),
            username.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F })
        else {
            throw CryppoError(.invalidFormat, "Recovery Key username must be 1-64 printable ASCII characters without '.'")
        }
        var raw = try Base58.decode(key)
        defer { secureZero(&raw) }
        guard raw.count == Self.byteCount else {
            throw CryppoError(.invalidLength, "a Recovery Key holds \(Self.byteCount) bytes, this one \(raw.count)")
        }
        self.version = version
        self.username = username
        self.key = key
    }

    /// Parses `R.1.<username>.<readable>`; hyphens and surrounding white space are ignored.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: " \t\r\n")
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == Self.prefix else {
            throw CryppoError(.invalidFormat, "a Recovery Key has the form R.1.<username>.<key>")
        }
        do {
            try self.init(version: String(parts[1]), username: String(parts[2]), key: String(parts[3].filter { $0 != "-" }))
        } catch let error as CryppoError {
            throw CryppoError(.invalidFormat, "malformed Recovery Key: \(error.message)")
        }
    }

    /// The readable key part: base58 with `-` after every 6 characters.
    public var readable: String { SecretKey.grouped(key) }

    /// `R.1.<username>.<readable>`.
    public var description: String { "\(Self.prefix).\(version).\(username).\(readable)" }

    /// The SRP password of the recovery credential: HKDF-SHA256(R, salt: username, info `svx-recovery-v1|srp`) as
    /// 64 lowercase hex characters, in ASCII bytes.
    public var srpPassword: [UInt8] {
        get throws {
            let derived = try derive(info: Self.srpInfo)
            return derived.withUnsafeBytes { Array(Hex.encode(Array($0)).utf8) }
        }
    }

    /// RWK: HKDF-SHA256(R, salt: username, info `svx-recovery-v1|wrap`), the AES-256 key that wraps the recovery
    /// private key.
    public func wrappingKey() throws -> SymmetricKey {
        try derive(info: Self.wrapInfo)
    }

    private func derive(info: [UInt8]) throws -> SymmetricKey {
        var raw = try Base58.decode(key)
        defer { secureZero(&raw) }
        return try HKDF.sha256(inputKeyMaterial: raw, salt: Array(username.utf8), info: info, outputLength: 32)
    }
}
