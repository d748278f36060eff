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
