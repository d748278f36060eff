import COpenSSL

/// An OpenSSL object fetched once and shared read-only.
final class FetchedCipher: @unchecked Sendable {
    // @unchecked Sendable: EVP_CIPHER objects are immutable and reference-counted by OpenSSL; sharing across
    // threads is supported once fetched.
    let pointer: OpaquePointer
    init(_ name: String) {
        guard let p = EVP_CIPHER_fetch(nil, name, nil) else { fatalError("OpenSSL has no \(name)") }
        pointer = p
    }
    deinit { EVP_CIPHER_free(pointer) }
}

/// AES-256 in Galois/Counter Mode over OpenSSL EVP: 32-byte key, 12-byte IV, 16-byte tag kept apart from the
/// ciphertext (as Cryppo stores it in its artefacts).
public enum AES256GCM {
    public static let keyLength = 32
    public static let ivLength = 12
    public static let tagLength = 16

    static let cipher = FetchedCipher("AES-256-GCM")

    /// Encrypts `plaintext` and authenticates it together with `aad`.
    /// - Returns: the ciphertext (same length as the plaintext) and the 16-byte tag.
    public static func seal(
        _ plaintext: [UInt8], key: SymmetricKey, iv: [UInt8], aad: [UInt8] = []
    ) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        try plaintext.withUnsafeBytes { try seal(bytes: $0, key: key, iv: iv, aad: aad) }
    }

    /// ``seal(_:key:iv:aad:)`` over a raw buffer (no copy of the input).
    public static func seal(
        bytes plaintext: UnsafeRawBufferPointer, key: SymmetricKey, iv: [UInt8], aad: [UInt8] = []
    ) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        try check(key: key, iv: iv)
        guard plaintext.count < Int(Int32.max) else { throw CryppoError(.tooLarge, "plaintext too large for one GCM call") }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryppoError.openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let initOK = key.withUnsafeBytes { k in
            iv.withUnsafeBufferPointer { v in
                EVP_EncryptInit_ex2(ctx, cipher.pointer, k.bindMemory(to: UInt8.self).baseAddress, v.baseAddress, nil)
            }
        }
        guard initOK == 1 else { throw CryppoError.openSSL("AES-GCM init") }
        var outLength: Int32 = 0
        if !aad.isEmpty {
            guard EVP_EncryptUpdate(ctx, nil, &outLength, aad, Int32(aad.count)) == 1 else {
                throw CryppoError.openSSL("AES-GCM AAD")
            }
        }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
        var total = 0
        if plaintext.count > 0 {
            let ok = ciphertext.withUnsafeMutableBufferPointer { out in
                EVP_EncryptUpdate(ctx, out.baseAddress, &outLength,
                                  plaintext.bindMemory(to: UInt8.self).baseAddress, Int32(plaintext.count))
            }
            guard ok == 1 else { throw CryppoError.openSSL("AES-GCM encrypt") }
            total = Int(outLength)
        }
        var finalLength: Int32 = 0
        var scratch = [UInt8](repeating: 0, count: 16)
        guard EVP_EncryptFinal_ex(ctx, &scratch, &finalLength) == 1, total + Int(finalLength) == plaintext.count else {
            throw CryppoError.openSSL("AES-GCM final")
        }
        var tag = [UInt8](repeating: 0, count: tagLength)
        guard COpenSSL_GCM_get_tag(ctx, &tag, Int32(tagLength)) == 1 else { throw CryppoError.openSSL("AES-GCM tag") }
        return (ciphertext, tag)
    }

    /// Checks the tag and decrypts. Throws ``CryppoError/Code/authenticationFailed`` for a wrong key or any
    /// change to the ciphertext, IV, tag or AAD; no plaintext is released in that case.
    public static func open(
        _ ciphertext: [UInt8], key: SymmetricKey, iv: [UInt8], tag: [UInt8], aad: [UInt8] = []
    ) throws -> [UInt8] {
        try check(key: key, iv: iv)
        guard tag.count == tagLength else {
            throw CryppoError(.invalidLength, "AES-GCM tag must be \(tagLength) bytes, got \(tag.count)")
        }
        guard ciphertext.count < Int(Int32.max) else { throw CryppoError(.tooLarge, "ciphertext too large for one GCM call") }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryppoError.openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let initOK = key.withUnsafeBytes { k in
            iv.withUnsafeBufferPointer { v in
                EVP_DecryptInit_ex2(ctx, cipher.pointer, k.bindMemory(to: UInt8.self).baseAddress, v.baseAddress, nil)
            }
        }
        guard initOK == 1 else { throw CryppoError.openSSL("AES-GCM init") }
        var outLength: Int32 = 0
        if !aad.isEmpty {
            guard EVP_DecryptUpdate(ctx, nil, &outLength, aad, Int32(aad.count)) == 1 else {
                throw CryppoError.openSSL("AES-GCM AAD")
            }
        }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
        if ciphertext.count > 0 {
            let ok = plaintext.withUnsafeMutableBufferPointer { out in
                EVP_DecryptUpdate(ctx, out.baseAddress, &outLength, ciphertext, Int32(ciphertext.count))
            }
            guard ok == 1 else { throw CryppoError.openSSL("AES-GCM decrypt") }
        }
        guard COpenSSL_GCM_set_tag(ctx, tag, Int32(tagLength)) == 1 else { throw CryppoError.openSSL("AES-GCM tag") }
        var finalLength: Int32 = 0
        var scratch = [UInt8](repeating: 0, count: 16)
        guard EVP_DecryptFinal_ex(ctx, &scratch, &finalLength) == 1 else {
            ERR_clear_error()
            secureZero(&plaintext)
            throw CryppoError(.authenticationFailed, "decryption failed: wrong key or tampered data (AES-GCM tag mismatch)")
        }
        return plaintext
    }

    private static func check(key: SymmetricKey, iv: [UInt8]) throws {
        guard key.count == keyLength else {
            throw CryppoError(.invalidLength, "AES-256 key must be \(keyLength) bytes, got \(key.count)")
        }
        guard iv.count == ivLength else {
            throw CryppoError(.invalidLength, "AES-GCM IV must be \(ivLength) bytes, got \(iv.count)")
        }
    }
}
