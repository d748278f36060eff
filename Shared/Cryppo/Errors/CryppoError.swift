import COpenSSL

/// The one error type thrown by Cryppo: a stable ``Code`` to match on and a human-readable message.
///
/// Messages never contain key material, passphrases or plaintext.
public struct CryppoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, coarse enough for callers to branch on. New codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A Cryppo string does not have the expected number of `.`-separated parts.
        public static let wrongPartCount = Code("wrongPartCount")
        /// The strategy named in a Cryppo string is not one svx knows.
        public static let unknownStrategy = Code("unknownStrategy")
        /// Base64 (URL-safe or standard) that does not decode.
        public static let invalidBase64 = Code("invalidBase64")
        /// Artefacts (BSON or legacy YAML) that are truncated, malformed or miss a field.
        public static let invalidArtefacts = Code("invalidArtefacts")
        /// A key, IV, tag or salt of the wrong length.
        public static let invalidLength = Code("invalidLength")
        /// Authentication failed: wrong key or passphrase, or tampered data.
        public static let authenticationFailed = Code("authenticationFailed")
        /// A PEM key that cannot be read, or a key of the wrong kind or size.
        public static let invalidKey = Code("invalidKey")
        /// Text that is not what was expected (hex, base58, a Secret Key, UTF-8...).
        public static let invalidFormat = Code("invalidFormat")
        /// Input larger than a limit.
        public static let tooLarge = Code("tooLarge")
        /// An OpenSSL call failed for a reason not caused by the input.
        public static let openSSL = Code("openSSL")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// An OpenSSL failure, with the library's last queued error (which is then cleared).
    static func openSSL(_ what: String) -> CryppoError {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return CryppoError(.openSSL, "\(what) failed") }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return CryppoError(.openSSL, "\(what) failed: \(text)")
    }
}
