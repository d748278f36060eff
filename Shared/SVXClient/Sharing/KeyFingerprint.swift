import Cryppo

/// `fpr(K)`: the SHA-256 of the DER SubjectPublicKeyInfo of an RSA public key (sharing.md §2.2), 32 bytes, shown
/// as lowercase hex. The two fingerprints of a connection are what its proofs and its safety code are made of.
///
/// DER is canonical, so the same key gives the same fingerprint whichever PEM carried it (line ends, line lengths).
public struct KeyFingerprint: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let byteCount = 32

    /// The 32 bytes of the digest.
    public let bytes: [UInt8]

    /// The fingerprint of `publicKey`.
    public init(publicKey: RSAPublicKey) throws {
        bytes = try publicKey.fingerprintSHA256
    }

    /// The fingerprint of the RSA public key in `publicKeyPEM` (SPKI PEM). A PEM that holds no RSA public key of at
    /// least 2048 bits is ``SVXClientError/Code/invalidInput``.
    public init(publicKeyPEM: String) throws {
        let key: RSAPublicKey
        do {
            key = try RSAPublicKey(pem: publicKeyPEM)
        } catch {
            throw SVXClientError(.invalidInput, "not an RSA public key: \(error)")
        }
        try self.init(publicKey: key)
    }

    /// A fingerprint as sent on the wire (`other_key_sha256`): exactly 64 hex digits, lowercase.
    public init(hex: String) throws {
        guard hex.utf8.count == 2 * Self.byteCount, hex.utf8.allSatisfy(Self.isLowercaseHexDigit) else {
            throw SVXClientError(.invalidInput, "a key fingerprint is 64 lowercase hex digits")
        }
        bytes = try Hex.decode(hex)
    }

    /// Lowercase hex, 64 digits.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    /// Byte by byte, as unsigned numbers: the order in which the safety code puts the two fingerprints.
    public static func < (lhs: KeyFingerprint, rhs: KeyFingerprint) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    static func isLowercaseHexDigit(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
    }
}
