import COpenSSL

/// Hash functions used by Cryppo, SRP and the SDK (SHA-512: the safety code of a connection).
public enum HashFunction: Sendable, Hashable, CustomStringConvertible {
    case sha1
    case sha256
    case sha512

    /// Output length in bytes.
    public var digestLength: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha512: 64
        }
    }

    public var description: String {
        switch self {
        case .sha1: "SHA-1"
        case .sha256: "SHA-256"
        case .sha512: "SHA-512"
        }
    }

    var md: OpaquePointer {
        switch self {
        case .sha1: EVP_sha1()
        case .sha256: EVP_sha256()
        case .sha512: EVP_sha512()
        }
    }

    /// The digest of `data`.
    public func hash(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash(bytes: $0) }
    }

    /// The digest of the concatenation of `parts` (no copy into one buffer).
    public func hash(_ parts: [UInt8]...) -> [UInt8] {
        hash(parts: parts)
    }

    /// The digest of the concatenation of `parts`.
    public func hash(parts: [[UInt8]]) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: digestLength)
        var length: UInt32 = 0
        guard EVP_DigestInit_ex(ctx, md, nil) == 1 else { fatalError("EVP_DigestInit_ex(\(self)) failed") }
        for part in parts where !part.isEmpty {
            part.withUnsafeBytes { _ = EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }
        }
        _ = EVP_DigestFinal_ex(ctx, &out, &length)
        return out
    }

    /// The digest of a raw buffer.
    public func hash(bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: digestLength)
        var length: UInt32 = 0
        // EVP_Digest cannot fail for SHA-1/SHA-256/SHA-512 with a valid buffer short of memory exhaustion.
        let ok = EVP_Digest(bytes.baseAddress, bytes.count, &out, &length, md, nil)
        precondition(ok == 1, "EVP_Digest(\(self)) failed")
        return out
    }
}

/// A digest computed over data that arrives in pieces (a file block by block), never all in memory at once.
///
/// ```swift
/// let digest = StreamingDigest(.sha256)
/// digest.update(firstBlock)
/// digest.update(secondBlock)
/// let value = digest.finish()   // == HashFunction.sha256.hash(firstBlock + secondBlock)
/// ```
/// Not for use from several tasks at once; ``finish()`` may be called once.
public final class StreamingDigest {
    public let function: HashFunction
    private let context: OpaquePointer
    private var finished = false

    public init(_ function: HashFunction) {
        self.function = function
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        guard EVP_DigestInit_ex(context, function.md, nil) == 1 else { fatalError("EVP_DigestInit_ex(\(function)) failed") }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds `bytes` after everything added so far.
    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update(bytes: $0) }
    }

    /// Adds a raw buffer after everything added so far.
    public func update(bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "StreamingDigest.update after finish")
        guard bytes.count > 0 else { return }
        // EVP_DigestUpdate cannot fail for SHA-1/SHA-256 on an initialised context.
        _ = EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    /// The digest of everything added, in order.
    public func finish() -> [UInt8] {
        precondition(!finished, "StreamingDigest.finish called twice")
        finished = true
        var out = [UInt8](repeating: 0, count: function.digestLength)
        var length: UInt32 = 0
        _ = EVP_DigestFinal_ex(context, &out, &length)
        return out
    }
}

/// HMAC-SHA256.
public enum HMAC {
    /// HMAC-SHA256(key, message), 32 bytes.
    public static func sha256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                COpenSSL.HMAC(EVP_sha256(), k.baseAddress, Int32(k.count),
                              m.bindMemory(to: UInt8.self).baseAddress, m.count, &out, &length)
            }
        }
        precondition(ok != nil, "HMAC-SHA256 failed")
        return out
    }
}

/// HKDF (RFC 5869) with HMAC-SHA256: extract, then expand.
public enum HKDF {
    /// The most bytes one HKDF-SHA256 can give: 255 blocks of 32.
    public static let maximumOutputLength = 255 * 32

    /// Derives `outputLength` bytes from `inputKeyMaterial`. An empty `salt` means 32 zero bytes (RFC 5869 §2.2).
    public static func sha256(
        inputKeyMaterial: [UInt8], salt: [UInt8], info: [UInt8], outputLength: Int
    ) throws -> SymmetricKey {
        guard outputLength >= 1, outputLength <= maximumOutputLength else {
            throw CryppoError(.invalidLength, "HKDF output length must be 1...\(maximumOutputLength), got \(outputLength)")
        }
        var prk = extract(inputKeyMaterial: inputKeyMaterial, salt: salt)
        defer { secureZero(&prk) }
        var output = [UInt8]()
        output.reserveCapacity(outputLength + 32)
        defer { secureZero(&output) }
        var block = [UInt8]()
        defer { secureZero(&block) }
        var counter: UInt8 = 1
        while output.count < outputLength {
            var message = block + info + [counter]
            block = HMAC.sha256(key: prk, message: message)
            secureZero(&message)
            output += block
            counter &+= 1
        }
        return SymmetricKey(bytes: output[0..<outputLength])
    }

    /// The extract step: PRK = HMAC-SHA256(salt, IKM).
    public static func extract(inputKeyMaterial: [UInt8], salt: [UInt8]) -> [UInt8] {
        HMAC.sha256(key: salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt, message: inputKeyMaterial)
    }
}

/// PBKDF2 (RFC 8018) with HMAC-SHA256.
public enum PBKDF2 {
    /// Upper bound on iterations accepted from untrusted artefacts (a DoS guard): 10 million.
    public static let maximumIterations = 10_000_000

    /// Derives `keyLength` bytes from `password` and `salt`.
    public static func sha256(password: [UInt8], salt: [UInt8], iterations: Int, keyLength: Int = 32) throws -> SymmetricKey {
        guard iterations >= 1, iterations <= maximumIterations else {
            throw CryppoError(.invalidArtefacts, "PBKDF2 iterations must be 1...\(maximumIterations), got \(iterations)")
        }
        guard keyLength >= 1, keyLength <= 1024 else {
            throw CryppoError(.invalidLength, "PBKDF2 key length must be 1...1024, got \(keyLength)")
        }
        var out = [UInt8](repeating: 0, count: keyLength)
        defer { secureZero(&out) }
        // Empty inputs still need a valid pointer; the lengths passed are the real ones.
        let passwordBuffer = password.isEmpty ? [0] : password
        let saltBuffer = salt.isEmpty ? [0] : salt
        let ok = passwordBuffer.withUnsafeBufferPointer { p in
            saltBuffer.withUnsafeBufferPointer { s in
                p.withMemoryRebound(to: CChar.self) { pc in
                    PKCS5_PBKDF2_HMAC(pc.baseAddress, Int32(password.count), s.baseAddress, Int32(salt.count),
                                      Int32(iterations), EVP_sha256(), Int32(keyLength), &out)
                }
            }
        }
        guard ok == 1 else { throw CryppoError.openSSL("PBKDF2") }
        return SymmetricKey(bytes: out)
    }
}
