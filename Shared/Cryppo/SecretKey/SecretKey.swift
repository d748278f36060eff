/// The user's Secret Key `1.<username>.<readable>` (meeco-compat.md §2) and the keys derived from it.
///
/// `readable` is the base58 of 32 random bytes with `-` after every 6 characters; ``secretKey`` is the same
/// without hyphens and is the PBKDF2 salt source. The Secret Key never leaves the client.
public struct SecretKey: Sendable, Equatable, CustomStringConvertible {
    /// PBKDF2 iterations for the PDK and the SRP password: exactly 100 000.
    public static let iterations = 100_000

    /// The format version (`"1"`).
    public let version: String
    /// The username the server generated.
    public let username: String
    /// The base58 text without hyphens.
    public let secretKey: String

    /// Makes a new Secret Key for `username` from 32 random bytes.
    public static func generate(username: String) throws -> SecretKey {
        var raw = try SecureRandom.bytes(count: 32)
        defer { secureZero(&raw) }
        return try SecretKey(version: "1", username: username, secretKey: Base58.encode(raw))
    }

    /// Builds a Secret Key from its parts; validates them.
    public init(version: String = "1", username: String, secretKey: String) throws {
        guard version == "1" else { throw CryppoError(.invalidFormat, "unsupported Secret Key version \"\(version.prefix(8))\"") }
        guard !username.isEmpty, !username.contains("."), username.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 }) else {
            throw CryppoError(.invalidFormat, "Secret Key username must be non-empty printable ASCII without '.'")
        }
        guard !secretKey.isEmpty else { throw CryppoError(.invalidFormat, "Secret Key has an empty key part") }
        _ = try Base58.decode(secretKey)
        self.version = version
        self.username = username
        self.secretKey = secretKey
    }

    /// Parses `1.<username>.<readable>`; hyphens in the readable part are removed.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: " \t\r\n")
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw CryppoError(.invalidFormat, "a Secret Key has the form 1.<username>.<key> (3 parts), got \(parts.count)")
        }
        let key = parts[2].filter { $0 != "-" }
        do {
            try self.init(version: String(parts[0]), username: String(parts[1]), secretKey: String(key))
        } catch let error as CryppoError {
            throw CryppoError(.invalidFormat, "malformed Secret Key: \(error.message)")
        }
    }

    /// The readable form: base58 with `-` after every 6 characters.
    public var readable: String { Self.grouped(secretKey) }

    /// `text` with `-` after every 6 characters: how the Secret Key and the Recovery Key are written for people.
    static func grouped(_ text: String) -> String {
        var out = ""
        for (i, c) in text.enumerated() {
            if i > 0, i % 6 == 0 { out.append("-") }
            out.append(c)
        }
        return out
    }

    /// `1.<username>.<readable>`.
    public var description: String { "\(version).\(username).\(readable)" }

    /// PDK = PBKDF2-HMAC-SHA256(passphrase UTF-8, salt = ASCII of ``secretKey``, 100 000, 32 bytes).
    public func passphraseDerivedKey(passphrase: String) throws -> SymmetricKey {
        try PBKDF2.sha256(password: Array(passphrase.utf8), salt: Array(secretKey.utf8),
                          iterations: Self.iterations, keyLength: 32)
    }

    /// The 32 raw bytes before the SRP password quirk: PBKDF2 with the reversed ``secretKey`` as salt.
    public func srpRawKey(passphrase: String) throws -> SymmetricKey {
        try PBKDF2.sha256(password: Array(passphrase.utf8), salt: Array(secretKey.utf8.reversed()),
                          iterations: Self.iterations, keyLength: 32)
    }

    /// The SRP password P: each byte of ``srpRawKey(passphrase:)`` as a code point U+0000…U+00FF, UTF-8 encoded.
    public func srpPassword(passphrase: String) throws -> [UInt8] {
        try srpRawKey(passphrase: passphrase).withUnsafeBytes { SecretKey.srpPassword(rawKey: Array($0)) }
    }

    /// The UTF-8 quirk on its own: bytes < 0x80 stay, others become two bytes (0xC0|b>>6, 0x80|b&0x3F).
    public static func srpPassword(rawKey: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(rawKey.count * 2)
        for b in rawKey {
            if b < 0x80 {
                out.append(b)
            } else {
                out.append(0xC0 | b >> 6)
                out.append(0x80 | b & 0x3F)
            }
        }
        return out
    }
}

extension String {
    /// Without leading and trailing characters made only of the scalars in `set` (so "\r\n", one Character in
    /// Swift, goes too when `set` has "\r" and "\n").
    func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        func trimmed(_ c: Character) -> Bool { c.unicodeScalars.allSatisfy { scalars.contains($0) } }
        var s = Substring(self)
        while let f = s.first, trimmed(f) { s.removeFirst() }
        while let l = s.last, trimmed(l) { s.removeLast() }
        return String(s)
    }
}
