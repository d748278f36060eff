import Cryppo
import SVXRPC

extension FieldValidation {
    /// A Cryppo string made with a key (not a passphrase): `Aes256Gcm.<ciphertext>.<artefacts>` with a 12-byte IV,
    /// a 16-byte tag, and a ciphertext of `ciphertextBytes` bytes. This is how every service refuses plaintext
    /// where the client's ciphertext belongs: a value, a key or a PEM in clear is not such a string.
    /// `what` names what the ciphertext should hold, for the message ("a 32-byte key").
    public static func aesGCMString(
        _ text: String, field: String, maximumCharacters: Int, ciphertextBytes: ClosedRange<Int>, what: String
    ) throws(RPCStatus) -> CryppoString {
        guard !text.isEmpty else { throw invalid(field, "\(field) is required") }
        guard text.utf8.count <= maximumCharacters else {
            throw invalid(field, "\(field) is longer than \(maximumCharacters) characters")
        }
        if text.hasPrefix("-----BEGIN") {
            throw invalid(field, "\(field) is a plaintext PEM key: encrypt it on the client first")
        }
        let parsed: CryppoString
        do {
            parsed = try CryppoString(parsing: text)
        } catch {
            throw invalid(
                field, "\(field) is not a Cryppo string (Aes256Gcm.<ciphertext>.<artefacts>): plaintext is refused")
        }
        guard parsed.strategy == .aes256Gcm else {
            throw invalid(field, "\(field) must be encrypted with Aes256Gcm, not \(parsed.strategy.rawValue)")
        }
        guard parsed.derivation == nil else {
            throw invalid(field, "\(field) must be encrypted with a key, not a passphrase-derived Cryppo string")
        }
        guard let artefacts = parsed.artefacts, artefacts.iv.count == 12, artefacts.tag.count == 16 else {
            throw invalid(field, "\(field) needs AES-GCM artefacts with a 12-byte IV and a 16-byte tag")
        }
        guard ciphertextBytes.contains(parsed.ciphertext.count) else {
            let expected = ciphertextBytes.lowerBound == ciphertextBytes.upperBound
                ? "\(ciphertextBytes.lowerBound)" : "\(ciphertextBytes.lowerBound)-\(ciphertextBytes.upperBound)"
            throw invalid(field, "\(field) holds \(parsed.ciphertext.count) bytes; \(what) is \(expected) bytes")
        }
        return parsed
    }
}

extension FieldValidation {
    /// Ciphertext of an RSA key of 2048 to 16384 bits.
    public static let rsaCiphertextBytes = 256...2048

    /// A Cryppo string made with an RSA public key: `Rsa4096.<ciphertext>.<empty artefacts>` (RSA-OAEP; Meeco names
    /// the strategy after its usual key size), with a ciphertext of exactly `modulusBytes` bytes (the key the string
    /// must be encrypted for) or, when that key is not known yet, of an RSA modulus size. Plaintext, an `Aes256Gcm`
    /// string and a passphrase-derived string are refused. Returns the ciphertext's length.
    @discardableResult
    public static func rsaString(_ text: String, field: String, modulusBytes: Int? = nil) throws(RPCStatus) -> Int {
        guard !text.isEmpty else { throw invalid(field, "\(field) is required") }
        guard text.utf8.count <= 4_096 else { throw invalid(field, "\(field) is longer than 4096 characters") }
        if text.hasPrefix("-----BEGIN") {
            throw invalid(field, "\(field) is a plaintext PEM key: encrypt it on the client first")
        }
        let parsed: CryppoString
        do {
            parsed = try CryppoString(parsing: text)
        } catch {
            throw invalid(field, "\(field) is not a Cryppo string (Rsa4096.<ciphertext>.<artefacts>): plaintext is refused")
        }
        guard parsed.strategy == .rsa4096 else {
            throw invalid(field, "\(field) must be encrypted with Rsa4096 (RSA-OAEP), not \(parsed.strategy.rawValue)")
        }
        guard parsed.derivation == nil else {
            throw invalid(field, "\(field) must be encrypted with a public key, not a passphrase-derived Cryppo string")
        }
        if let modulusBytes {
            guard parsed.ciphertext.count == modulusBytes else {
                throw invalid(
                    field,
                    "\(field) holds \(parsed.ciphertext.count) bytes; RSA ciphertext for the recipient's key is \(modulusBytes) bytes")
            }
        } else {
            guard rsaCiphertextBytes.contains(parsed.ciphertext.count) else {
                throw invalid(field, "\(field) holds \(parsed.ciphertext.count) bytes: not RSA ciphertext")
            }
        }
        return parsed.ciphertext.count
    }
}
