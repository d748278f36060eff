import COpenSSL

/// Ed25519 signatures (RFC 8032, pure mode) through OpenSSL's EVP interface.
///
/// svx uses them for one thing: proving possession of a key without showing it (the KEK check of
/// docs/ADR-004-keystore.md). A signing key is made from a 32-byte seed, which the caller derives from a
/// secret it already holds; the public key can be stored by a server that must verify proofs but must not be
/// able to make them.
public struct Ed25519SigningKey: Sendable {
    let handle: PKeyHandle

    /// Length of a seed, a public key: 32 bytes; of a signature: 64.
    public static let seedLength = 32
    public static let publicKeyLength = 32
    public static let signatureLength = 64

    /// The key whose RFC 8032 private key is `seed` (32 bytes). The caller wipes its copy of the seed.
    public init(seed: [UInt8]) throws {
        guard seed.count == Self.seedLength else {
            throw CryppoError(.invalidLength, "an Ed25519 seed is \(Self.seedLength) bytes, got \(seed.count)")
        }
        let key = seed.withUnsafeBufferPointer {
            EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
        }
        guard let key else { throw CryppoError.openSSL("EVP_PKEY_new_raw_private_key(ED25519)") }
        handle = PKeyHandle(key)
    }

    /// The 32-byte public key.
    public var publicKey: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.publicKeyLength)
        var length = out.count
        let ok = EVP_PKEY_get_raw_public_key(handle.pointer, &out, &length)
        precondition(ok == 1 && length == Self.publicKeyLength, "EVP_PKEY_get_raw_public_key(ED25519) failed")
        return out
    }

    /// The 64-byte signature of `message` (deterministic: the same key and message give the same signature).
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryppoError.openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, nil, nil, handle.pointer) == 1 else {
            throw CryppoError.openSSL("Ed25519 sign init")
        }
        var out = [UInt8](repeating: 0, count: Self.signatureLength)
        var length = out.count
        // An empty message still needs a valid pointer; the length passed is the real one.
        let one: [UInt8] = [0]
        let ok = message.withUnsafeBufferPointer { m in
            one.withUnsafeBufferPointer { fallback in
                EVP_DigestSign(ctx, &out, &length, m.baseAddress ?? fallback.baseAddress, m.count)
            }
        }
        guard ok == 1, length == Self.signatureLength else { throw CryppoError.openSSL("Ed25519 sign") }
        return out
    }
}

/// Verification of Ed25519 signatures against a raw 32-byte public key.
public enum Ed25519 {
    /// `true` when `signature` is a valid Ed25519 signature of `message` by `publicKey`. Anything malformed
    /// (a wrong length, a point that does not decode, a non-canonical S) is `false`, never an error. Only
    /// public values go in, so timing reveals nothing secret.
    public static func isValidSignature(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == Ed25519SigningKey.signatureLength,
            publicKey.count == Ed25519SigningKey.publicKeyLength
        else { return false }
        let key = publicKey.withUnsafeBufferPointer {
            EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
        }
        guard let key else {
            ERR_clear_error()
            return false
        }
        let handle = PKeyHandle(key)
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, handle.pointer) == 1 else {
            ERR_clear_error()
            return false
        }
        let one: [UInt8] = [0]
        let result = message.withUnsafeBufferPointer { m in
            one.withUnsafeBufferPointer { fallback in
                EVP_DigestVerify(ctx, signature, signature.count, m.baseAddress ?? fallback.baseAddress, m.count)
            }
        }
        if result != 1 { ERR_clear_error() }
        return withExtendedLifetime(handle) { result == 1 }
    }
}
