/// Cryppo: Meeco-compatible encryption strings over OpenSSL (see meeco-compat.md §1).
///
/// ```swift
/// let key = try SymmetricKey.random()
/// let s = try Cryppo.encrypt(Array("secret".utf8), key: key)   // "Aes256Gcm.….…"
/// let plain = try Cryppo.decrypt(s, key: key)
/// ```
public enum Cryppo {
    /// The AAD Cryppo feeds to GCM and stores as `ad`.
    public static let authData = "none"
    static let authDataBytes: [UInt8] = Array("none".utf8)
    /// `A` + empty BSON document: the artefacts of every RSA string (`QQUAAAAA`).
    static let emptyRSAArtefacts: [UInt8] = [0x41, 5, 0, 0, 0, 0]

    // MARK: Symmetric key

    /// Encrypts with AES-256-GCM under `key` (random 12-byte IV) → `Aes256Gcm.ciphertext.artefacts`.
    public static func encrypt(_ plaintext: [UInt8], key: SymmetricKey) throws -> String {
        try plaintext.withUnsafeBytes { try encrypt(bytes: $0, key: key) }
    }

    /// ``encrypt(_:key:)`` over a raw buffer.
    public static func encrypt(bytes plaintext: UnsafeRawBufferPointer, key: SymmetricKey) throws -> String {
        let iv = try SecureRandom.bytes(count: AES256GCM.ivLength)
        return try encrypt(bytes: plaintext, key: key, iv: iv)
    }

    /// Encrypts with a caller-chosen IV. Only for test vectors: reusing an IV with the same key breaks GCM.
    public static func encrypt(bytes plaintext: UnsafeRawBufferPointer, key: SymmetricKey, iv: [UInt8],
                               derivation: DerivationArtefacts? = nil) throws -> String {
        let sealed = try AES256GCM.seal(bytes: plaintext, key: key, iv: iv, aad: authDataBytes)
        let artefacts = EncryptionArtefacts(iv: iv, tag: sealed.tag, authData: authData)
        return sealed.ciphertext.withUnsafeBytes {
            serialize(strategy: .aes256Gcm, ciphertext: $0, artefacts: artefacts.encoded(), derivation: derivation?.encoded())
        }
    }

    /// Decrypts an `Aes256Gcm` string (3 parts, current or legacy artefacts) with `key`.
    public static func decrypt(_ string: String, key: SymmetricKey) throws -> [UInt8] {
        let parsed = try CryppoString(parsing: string)
        return try decrypt(parsed, key: key)
    }

    /// Decrypts a parsed AES-256-GCM string with `key` (derivation artefacts, if any, are ignored).
    public static func decrypt(_ parsed: CryppoString, key: SymmetricKey) throws -> [UInt8] {
        guard parsed.strategy == .aes256Gcm, let artefacts = parsed.artefacts else {
            throw CryppoError(.unknownStrategy, "\(parsed.strategy.rawValue) strings are decrypted with an RSA private key, not a symmetric key")
        }
        return try AES256GCM.open(parsed.ciphertext, key: key, iv: artefacts.iv, tag: artefacts.tag,
                                  aad: Array(artefacts.authData.utf8))
    }

    // MARK: Passphrase (derived key)

    /// Derives a key from `passphrase` with fresh artefacts and encrypts → 5-part string.
    public static func encrypt(_ plaintext: [UInt8], passphrase: String) throws -> String {
        let derivation = try DerivationArtefacts.random()
        let key = try derivation.deriveKey(passphrase: passphrase)
        let iv = try SecureRandom.bytes(count: AES256GCM.ivLength)
        return try plaintext.withUnsafeBytes { try encrypt(bytes: $0, key: key, iv: iv, derivation: derivation) }
    }

    /// Decrypts a 5-part string with `passphrase`: UTF-8 first, then Latin-1 (legacy writers), as the
    /// compatibility page requires.
    public static func decrypt(_ string: String, passphrase: String) throws -> [UInt8] {
        let parsed = try CryppoString(parsing: string)
        guard let derivation = parsed.derivation else {
            throw CryppoError(.wrongPartCount, "not a derived-key Cryppo string (5 parts expected, it has 3)")
        }
        do {
            return try decrypt(parsed, key: try derivation.deriveKey(passphrase: passphrase))
        } catch let error as CryppoError where error.code == .authenticationFailed {
            guard let latin1 = latin1Bytes(passphrase), latin1 != Array(passphrase.utf8) else { throw error }
            return try decrypt(parsed, key: try derivation.deriveKey(passphraseBytes: latin1))
        }
    }

    /// Derivation artefacts alone (`Pbkdf2Hmac.B64(artefacts)`, or any string whose last two parts are that).
    public static func parseDerivationArtefacts(_ string: String) throws -> DerivationArtefacts {
        let parts = string.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count >= 2 else {
            throw CryppoError(.wrongPartCount, "derivation artefacts need 2 parts (Pbkdf2Hmac.artefacts), got \(parts.count)")
        }
        return try CryppoString.parseDerivation(
            name: String(decoding: parts[parts.count - 2], as: UTF8.self), payload: Array(parts[parts.count - 1]))
    }

    /// `Pbkdf2Hmac.B64(artefacts)`.
    public static func serialize(derivation: DerivationArtefacts) -> String {
        "Pbkdf2Hmac.\(Base64URL.encode(derivation.encoded()))"
    }

    static func latin1Bytes(_ s: String) -> [UInt8]? {
        var out = [UInt8]()
        for scalar in s.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            out.append(UInt8(scalar.value))
        }
        return out
    }

    // MARK: RSA

    /// RSA-OAEP (SHA-1) → `Rsa4096.B64(ciphertext).QQUAAAAA`.
    public static func encrypt(_ plaintext: [UInt8], publicKey: RSAPublicKey) throws -> String {
        let ciphertext = try publicKey.encrypt(plaintext)
        return ciphertext.withUnsafeBytes {
            serialize(strategy: .rsa4096, ciphertext: $0, artefacts: emptyRSAArtefacts, derivation: nil)
        }
    }

    /// Decrypts an `Rsa4096` string.
    public static func decrypt(_ string: String, privateKey: RSAPrivateKey) throws -> [UInt8] {
        let parsed = try CryppoString(parsing: string)
        guard parsed.strategy == .rsa4096 else {
            throw CryppoError(.unknownStrategy, "\(parsed.strategy.rawValue) strings are decrypted with a symmetric key, not an RSA key")
        }
        return try privateKey.decrypt(parsed.ciphertext)
    }

    // MARK: Signatures

    /// `Sign.Rsa4096.B64(signature).B64(data)` (RSASSA-PKCS1-v1_5 SHA-256).
    public static func sign(_ data: [UInt8], privateKey: RSAPrivateKey) throws -> String {
        CryppoSignature(signature: try privateKey.sign(data), data: data).serialized
    }

    /// Parses a signature string and checks it. Malformed strings throw; a well-formed but invalid signature
    /// returns `nil`; a valid one returns the signed data.
    public static func verify(_ string: String, publicKey: RSAPublicKey) throws -> [UInt8]? {
        let parsed = try CryppoSignature(parsing: string)
        return parsed.isValid(publicKey: publicKey) ? parsed.data : nil
    }

    // MARK: Value verification

    /// Lowercase hex HMAC-SHA256(verification key, UTF-8 value), for shared slot values.
    public static func valueVerificationHash(key: [UInt8], value: String) -> String {
        Hex.encode(HMAC.sha256(key: key, message: Array(value.utf8)))
    }

    // MARK: Serialization

    static func serialize(strategy: EncryptionStrategy, ciphertext: [UInt8], artefacts: [UInt8], derivation: [UInt8]?) -> String {
        ciphertext.withUnsafeBytes { serialize(strategy: strategy, ciphertext: $0, artefacts: artefacts, derivation: derivation) }
    }

    /// Builds the whole string in one allocation (the ciphertext can be megabytes).
    static func serialize(strategy: EncryptionStrategy, ciphertext: UnsafeRawBufferPointer, artefacts: [UInt8],
                          derivation: [UInt8]?) -> String {
        let name = strategy.rawValue.utf8
        let derivationName = "Pbkdf2Hmac".utf8
        var length = name.count + 1 + Base64URL.encodedLength(ciphertext.count) + 1 + Base64URL.encodedLength(artefacts.count)
        if let derivation { length += 1 + derivationName.count + 1 + Base64URL.encodedLength(derivation.count) }
        return String(unsafeUninitializedCapacity: length) { out in
            var o = 0
            func put(_ bytes: some Collection<UInt8>) {
                for b in bytes {
                    out[o] = b
                    o += 1
                }
            }
            func put64(_ raw: UnsafeRawBufferPointer) {
                o += Base64URL.write(raw, into: UnsafeMutableBufferPointer(rebasing: out[o...]))
            }
            put(name)
            put(CollectionOfOne(UInt8(ascii: ".")))
            put64(ciphertext)
            put(CollectionOfOne(UInt8(ascii: ".")))
            artefacts.withUnsafeBytes { put64($0) }
            if let derivation {
                put(CollectionOfOne(UInt8(ascii: ".")))
                put(derivationName)
                put(CollectionOfOne(UInt8(ascii: ".")))
                derivation.withUnsafeBytes { put64($0) }
            }
            return o
        }
    }
}
