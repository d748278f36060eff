import Cryppo
import SVXRPC

extension FieldValidation {
    /// A public key PEM is at most this many characters (an RSA-16384 SPKI PEM is about 2.9 KB).
    public static let maximumPublicKeyCharacters = 8 * 1024
    /// The largest RSA modulus accepted, in bits (the smallest is Cryppo's 2048).
    public static let maximumPublicKeyBits = 16_384

    /// An RSA public key as SPKI PEM, 2048 to 16384 bits; returns its canonical PEM (what is stored, and what two
    /// PEMs of one key are compared by). The Keystore stores keypairs' public keys this way; Sharing checks the
    /// public key a caller names against the one its Keystore holds.
    public static func publicKeyPEM(_ text: String, field: String = "public_key_pem") throws(RPCStatus) -> String {
        try rsaPublicKey(text, field: field).pem
    }

    /// ``publicKeyPEM(_:field:)`` with the parsed key: `pem` canonical as OpenSSL writes the key back, so nothing the
    /// parser skipped (bytes after the key inside the base64 body, say) is kept.
    public static func rsaPublicKey(_ text: String, field: String = "public_key_pem") throws(RPCStatus)
        -> (key: RSAPublicKey, pem: String)
    {
        guard !text.isEmpty else { throw invalid(field, "\(field) is required") }
        guard text.utf8.count <= maximumPublicKeyCharacters else {
            throw invalid(field, "\(field) is longer than \(maximumPublicKeyCharacters) characters")
        }
        guard text.hasPrefix("-----BEGIN PUBLIC KEY-----") else {
            throw invalid(field, "\(field) must be an SPKI PEM public key (-----BEGIN PUBLIC KEY-----)")
        }
        // Exactly one PEM block: OpenSSL reads the first and ignores the rest, which would be stored as it came.
        let end = "-----END PUBLIC KEY-----"
        guard let endRange = text.range(of: end),
            text[endRange.upperBound...].unicodeScalars.allSatisfy({ " \t\r\n".unicodeScalars.contains($0) }),
            text.components(separatedBy: "-----BEGIN").count == 2
        else {
            throw invalid(field, "\(field) must hold exactly one PEM public key and nothing else")
        }
        let key: RSAPublicKey
        do {
            key = try RSAPublicKey(pem: text)
        } catch {
            throw invalid(field, "\(field) is not an RSA public key of at least 2048 bits")
        }
        guard key.bits <= maximumPublicKeyBits else {
            throw invalid(field, "\(field) is an RSA key of \(key.bits) bits (at most \(maximumPublicKeyBits))")
        }
        guard let canonical = try? key.pem else { throw invalid(field, "\(field) cannot be re-encoded") }
        return (key, canonical)
    }
}
