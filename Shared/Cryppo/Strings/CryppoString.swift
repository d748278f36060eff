#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Encryption strategies named in Cryppo strings.
public enum EncryptionStrategy: String, Sendable, CaseIterable {
    case aes256Gcm = "Aes256Gcm"
    case rsa4096 = "Rsa4096"
}

/// A parsed Cryppo ciphertext string (forms with a key and with a derived key).
///
/// - `Strategy.B64(ciphertext).B64(artefacts)`
/// - `Strategy.B64(ciphertext).B64(artefacts).Pbkdf2Hmac.B64(derivation artefacts)`
public struct CryppoString: Sendable, Equatable {
    /// Largest Cryppo string accepted (guards memory against oversized input): 128 MiB.
    public static let maximumLength = 128 * 1024 * 1024
    /// Largest base64 artefacts part accepted.
    static let maximumArtefactsLength = 8192

    public var strategy: EncryptionStrategy
    public var ciphertext: [UInt8]
    /// For AES-256-GCM: IV, tag, AAD. For RSA: `nil` (its artefacts are an empty document).
    public var artefacts: EncryptionArtefacts?
    /// Present in the derived-key form.
    public var derivation: DerivationArtefacts?

    public init(strategy: EncryptionStrategy, ciphertext: [UInt8], artefacts: EncryptionArtefacts?,
                derivation: DerivationArtefacts? = nil) {
        self.strategy = strategy
        self.ciphertext = ciphertext
        self.artefacts = artefacts
        self.derivation = derivation
    }

    /// Parses a 3-part or 5-part Cryppo string. Every malformed input is a ``CryppoError``.
    public init(parsing string: String) throws {
        guard string.utf8.count <= Self.maximumLength else {
            throw CryppoError(.tooLarge, "Cryppo string longer than \(Self.maximumLength) bytes")
        }
        // Work on the contiguous UTF-8 bytes: splitting and decoding through String views is ~20x slower for
        // megabyte ciphertexts.
        var text = string
        let parsed = try text.withUTF8 { buffer in try Self.parse(buffer) }
        self = parsed
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws -> CryppoString {
        var parts: [Range<Int>] = []
        var start = 0
        // memchr: a byte loop over a megabyte ciphertext costs as much as decoding it.
        while parts.count <= 5, start <= buffer.count, let base = buffer.baseAddress,
            let hit = memchr(base + start, Int32(UInt8(ascii: ".")), buffer.count - start)
        {
            let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            parts.append(start..<i)
            start = i + 1
        }
        parts.append(start..<buffer.count)
        guard parts.count == 3 || parts.count == 5 else {
            throw CryppoError(.wrongPartCount,
                "a Cryppo string has 3 parts (Strategy.ciphertext.artefacts) or 5 (… .Pbkdf2Hmac.artefacts), got \(parts.count > 5 ? "more than 5" : String(parts.count))")
        }
        func slice(_ i: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: buffer[parts[i]]) }
        let name = String(decoding: slice(0), as: UTF8.self)
        guard let strategy = EncryptionStrategy(rawValue: name) else {
            throw CryppoError(.unknownStrategy, "unknown encryption strategy \"\(name.prefix(32))\"")
        }
        guard parts[2].count <= Self.maximumArtefactsLength else { throw CryppoError(.tooLarge, "artefacts part too long") }
        let ciphertext = try Base64URL.decode(buffer: slice(1), table: Base64URL.urlTable, name: "URL-safe base64 (ciphertext)")
        let artefactBytes = try Base64URL.decode(buffer: slice(2), table: Base64URL.urlTable, name: "URL-safe base64 (artefacts)")
        let artefacts: EncryptionArtefacts?
        switch strategy {
        case .aes256Gcm:
            artefacts = try EncryptionArtefacts(decoding: artefactBytes)
        case .rsa4096:
            let fields = try ArtefactFields(artefactBytes, versionByte: 0x41, kind: "RSA")
            guard fields.isEmpty else { throw CryppoError(.invalidArtefacts, "RSA artefacts must be empty") }
            artefacts = nil
        }
        var derivation: DerivationArtefacts? = nil
        if parts.count == 5 {
            derivation = try parseDerivation(name: String(decoding: slice(3), as: UTF8.self), payload: Array(slice(4)))
        }
        return CryppoString(strategy: strategy, ciphertext: ciphertext, artefacts: artefacts, derivation: derivation)
    }

    static func parseDerivation(name strategy: String, payload: [UInt8]) throws -> DerivationArtefacts {
        guard strategy == "Pbkdf2Hmac" else {
            throw CryppoError(.unknownStrategy, "unknown derivation strategy \"\(strategy.prefix(32))\"")
        }
        guard payload.count <= maximumArtefactsLength else { throw CryppoError(.tooLarge, "derivation artefacts too long") }
        let bytes = try payload.withUnsafeBufferPointer {
            try Base64URL.decode(buffer: $0, table: Base64URL.urlTable, name: "URL-safe base64 (derivation artefacts)")
        }
        return try DerivationArtefacts(decoding: bytes)
    }

    /// The serialized string (padded URL-safe base64, current BSON artefacts).
    public var serialized: String {
        let artefactBytes: [UInt8] = artefacts?.encoded() ?? Cryppo.emptyRSAArtefacts
        return Cryppo.serialize(strategy: strategy, ciphertext: ciphertext, artefacts: artefactBytes,
                                derivation: derivation?.encoded())
    }
}

/// A parsed Cryppo signature string: `Sign.Rsa4096.B64(signature).B64(signed data)`.
public struct CryppoSignature: Sendable, Equatable {
    public var signature: [UInt8]
    public var data: [UInt8]

    public init(signature: [UInt8], data: [UInt8]) {
        self.signature = signature
        self.data = data
    }

    public init(parsing string: String) throws {
        guard string.utf8.count <= CryppoString.maximumLength else {
            throw CryppoError(.tooLarge, "signature string longer than \(CryppoString.maximumLength) bytes")
        }
        let parts = string.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else {
            throw CryppoError(.wrongPartCount, "a Cryppo signature has 4 parts (Sign.Rsa4096.signature.data), got \(parts.count)")
        }
        guard parts[0] == "Sign" else { throw CryppoError(.unknownStrategy, "not a signature: first part must be \"Sign\"") }
        guard parts[1] == "Rsa4096" else {
            throw CryppoError(.unknownStrategy, "unknown signature strategy \"\(parts[1].prefix(32))\"")
        }
        signature = try Base64URL.decode(parts[2])
        data = try Base64URL.decode(parts[3])
    }

    public var serialized: String {
        "Sign.Rsa4096.\(Base64URL.encode(signature)).\(Base64URL.encode(data))"
    }

    /// `true` when the signature is valid for ``data`` under `publicKey`.
    public func isValid(publicKey: RSAPublicKey) -> Bool {
        publicKey.verify(signature: signature, data: data)
    }
}
