import COpenSSL

/// Owns one `EVP_PKEY`. Freed in deinit; the init never frees then throws (see stack-notes: double free).
final class PKeyHandle: @unchecked Sendable {
    // @unchecked Sendable: the EVP_PKEY is never mutated after creation; OpenSSL 3 allows concurrent use of a
    // const EVP_PKEY from several threads, each operation creating its own EVP_PKEY_CTX.
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }  // EVP_PKEY_free clears private key material (BN_clear_free).
}

/// A memory BIO, freed in deinit.
private final class MemoryBIO {
    let pointer: OpaquePointer
    init(reading bytes: [UInt8]) throws {
        guard let p = bytes.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw CryppoError.openSSL("BIO_new_mem_buf")
        }
        // BIO_new_mem_buf does not copy: `bytes` must outlive the BIO. Callers keep it alive in scope.
        pointer = p
    }
    init() throws {
        guard let p = BIO_new(BIO_s_mem()) else { throw CryppoError.openSSL("BIO_new") }
        pointer = p
    }
    deinit { BIO_free(pointer) }
    var contents: String {
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = COpenSSL_BIO_get_mem_data(pointer, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }
}

private func pemBytes(_ pem: String) -> [UInt8] {
    // OpenSSL's PEM reader accepts "\r\n" as well as "\n"; normalise anyway for robustness.
    Array(pem.replacingCRLF().utf8)
}

extension String {
    fileprivate func replacingCRLF() -> String {
        guard contains("\r") else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.filter { $0 != "\r" }))
    }
}

private func checkRSA(_ key: OpaquePointer, minimumBits: Int) throws {
    guard EVP_PKEY_is_a(key, "RSA") == 1 else { throw CryppoError(.invalidKey, "the PEM key is not an RSA key") }
    let bits = Int(EVP_PKEY_get_bits(key))
    guard bits >= minimumBits else {
        throw CryppoError(.invalidKey, "RSA key of \(bits) bits is too small (minimum \(minimumBits))")
    }
}

/// An RSA public key (SPKI PEM, `-----BEGIN PUBLIC KEY-----`).
public struct RSAPublicKey: Sendable {
    let handle: PKeyHandle

    init(handle: PKeyHandle) { self.handle = handle }

    /// Reads an SPKI PEM public key (`\n` or `\r\n` line ends). Keys under 2048 bits are refused.
    public init(pem: String) throws {
        let bytes = pemBytes(pem)
        let bio = try MemoryBIO(reading: bytes)
        let key: OpaquePointer? = withExtendedLifetime(bytes) { PEM_read_bio_PUBKEY(bio.pointer, nil, nil, nil) }
        guard let key else {
            ERR_clear_error()
            throw CryppoError(.invalidKey, "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)")
        }
        let handle = PKeyHandle(key)  // owns it from here, also if the check below throws
        try checkRSA(key, minimumBits: 2048)
        self.handle = handle
    }

    /// Size of the modulus in bits.
    public var bits: Int { Int(EVP_PKEY_get_bits(handle.pointer)) }

    /// SPKI PEM with `\n` line ends.
    public var pem: String {
        get throws {
            let bio = try MemoryBIO()
            guard PEM_write_bio_PUBKEY(bio.pointer, handle.pointer) == 1 else { throw CryppoError.openSSL("PEM_write_bio_PUBKEY") }
            return bio.contents
        }
    }

    /// The DER SubjectPublicKeyInfo: the bytes the base64 body of ``pem`` holds.
    public var subjectPublicKeyInfoDER: [UInt8] {
        get throws {
            let length = i2d_PUBKEY(handle.pointer, nil)
            guard length > 0 else { throw CryppoError.openSSL("i2d_PUBKEY") }
            var der = [UInt8](repeating: 0, count: Int(length))
            let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
                var cursor = buffer.baseAddress  // i2d_PUBKEY moves it past what it wrote
                return i2d_PUBKEY(handle.pointer, &cursor)
            }
            guard written == length else { throw CryppoError.openSSL("i2d_PUBKEY") }
            return der
        }
    }

    /// The key's fingerprint as svx's key confirmation uses it, fpr(K) = SHA-256 of ``subjectPublicKeyInfoDER``
    /// (32 bytes; printed as lowercase hex).
    public var fingerprintSHA256: [UInt8] {
        get throws { HashFunction.sha256.hash(try subjectPublicKeyInfoDER) }
    }

    /// RSA-OAEP with SHA-1 and MGF1-SHA-1, empty label (as Cryppo). At most 470 bytes for a 4096-bit key.
    public func encrypt(_ plaintext: [UInt8]) throws -> [UInt8] {
        let maxLength = (bits + 7) / 8 - 42
        guard plaintext.count <= maxLength else {
            throw CryppoError(.tooLarge, "RSA-OAEP can encrypt at most \(maxLength) bytes with this key, got \(plaintext.count)")
        }
        guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, handle.pointer, nil) else { throw CryppoError.openSSL("EVP_PKEY_CTX_new") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_encrypt_init(ctx) == 1, setOAEP(ctx) else { throw CryppoError.openSSL("RSA-OAEP init") }
        var length = 0
        guard EVP_PKEY_encrypt(ctx, nil, &length, plaintext, plaintext.count) == 1 else { throw CryppoError.openSSL("RSA-OAEP") }
        var out = [UInt8](repeating: 0, count: length)
        guard EVP_PKEY_encrypt(ctx, &out, &length, plaintext, plaintext.count) == 1 else { throw CryppoError.openSSL("RSA-OAEP") }
        return Array(out.prefix(length))
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature. Returns `false` for any invalid signature.
    public func verify(signature: [UInt8], data: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit_ex(ctx, nil, "SHA256", nil, nil, handle.pointer, nil) == 1 else {
            ERR_clear_error()
            return false
        }
        let result = EVP_DigestVerify(ctx, signature, signature.count, data, data.count)
        ERR_clear_error()
        return result == 1
    }
}

private func setOAEP(_ ctx: OpaquePointer) -> Bool {
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1
        && EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1
        && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) == 1
}

/// An RSA private key (PKCS#1 PEM, `-----BEGIN RSA PRIVATE KEY-----`). The key material is cleared by OpenSSL
/// when the last copy of this value is released.
public struct RSAPrivateKey: Sendable {
    let handle: PKeyHandle

    /// Generates a new key (4096 bits by default; takes 1-4 s on a small VM).
    public static func generate(bits: Int = 4096) throws -> RSAPrivateKey {
        guard bits >= 2048, bits <= 16384 else { throw CryppoError(.invalidKey, "RSA key size must be 2048...16384 bits") }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else { throw CryppoError.openSSL("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1 else {
            throw CryppoError.openSSL("RSA keygen init")
        }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_generate(ctx, &key) == 1, let key else { throw CryppoError.openSSL("RSA key generation") }
        return RSAPrivateKey(handle: PKeyHandle(key))
    }

    init(handle: PKeyHandle) { self.handle = handle }

    /// Reads a PEM private key: PKCS#1 (`RSA PRIVATE KEY`) or unencrypted PKCS#8 (`PRIVATE KEY`).
    public init(pem: String) throws {
        let bytes = pemBytes(pem)
        let bio = try MemoryBIO(reading: bytes)
        // A nil password callback with an encrypted PEM would prompt on the terminal: pass an empty passphrase.
        var empty: [CChar] = [0]
        let key: OpaquePointer? = withExtendedLifetime(bytes) {
            PEM_read_bio_PrivateKey(bio.pointer, nil, nil, &empty)
        }
        guard let key else {
            ERR_clear_error()
            throw CryppoError(.invalidKey, "not an unencrypted PEM RSA private key (expected -----BEGIN RSA PRIVATE KEY-----)")
        }
        let handle = PKeyHandle(key)
        try checkRSA(key, minimumBits: 2048)
        self.handle = handle
    }

    /// Size of the modulus in bits.
    public var bits: Int { Int(EVP_PKEY_get_bits(handle.pointer)) }

    /// The matching public key.
    public var publicKey: RSAPublicKey {
        get throws { try RSAPublicKey(pem: try publicKeyPEM) }
    }

    /// SPKI PEM of the public half.
    public var publicKeyPEM: String {
        get throws { try RSAPublicKey(handle: handle).pem }
    }

    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`) with `\n` line ends. The returned String is not wiped.
    public var pem: String {
        get throws {
            let bio = try MemoryBIO()
            guard PEM_write_bio_PrivateKey_traditional(bio.pointer, handle.pointer, nil, nil, 0, nil, nil) == 1 else {
                throw CryppoError.openSSL("PEM_write_bio_PrivateKey_traditional")
            }
            return bio.contents
        }
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1) decryption. Any failure is ``CryppoError/Code/authenticationFailed``.
    public func decrypt(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let modulusBytes = (bits + 7) / 8
        guard ciphertext.count == modulusBytes else {
            throw CryppoError(.invalidLength, "RSA ciphertext must be \(modulusBytes) bytes, got \(ciphertext.count)")
        }
        guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, handle.pointer, nil) else { throw CryppoError.openSSL("EVP_PKEY_CTX_new") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_decrypt_init(ctx) == 1, setOAEP(ctx) else { throw CryppoError.openSSL("RSA-OAEP init") }
        var length = 0
        guard EVP_PKEY_decrypt(ctx, nil, &length, ciphertext, ciphertext.count) == 1 else { throw CryppoError.openSSL("RSA-OAEP") }
        var out = [UInt8](repeating: 0, count: length)
        guard EVP_PKEY_decrypt(ctx, &out, &length, ciphertext, ciphertext.count) == 1 else {
            ERR_clear_error()
            secureZero(&out)
            throw CryppoError(.authenticationFailed, "RSA-OAEP decryption failed: wrong key or tampered data")
        }
        // The plaintext (a share DEK) is returned in this very buffer: its unused tail is wiped and dropped in
        // place, so no copy is left behind.
        if length < out.count {
            out.withUnsafeMutableBytes { raw in OPENSSL_cleanse(raw.baseAddress! + length, raw.count - length) }
            out.removeLast(out.count - length)
        }
        return out
    }

    /// RSASSA-PKCS1-v1_5 signature over SHA-256(data).
    public func sign(_ data: [UInt8]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryppoError.openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit_ex(ctx, nil, "SHA256", nil, nil, handle.pointer, nil) == 1 else {
            throw CryppoError.openSSL("sign init")
        }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, data, data.count) == 1 else { throw CryppoError.openSSL("sign") }
        var out = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &out, &length, data, data.count) == 1 else { throw CryppoError.openSSL("sign") }
        return Array(out.prefix(length))
    }
}
