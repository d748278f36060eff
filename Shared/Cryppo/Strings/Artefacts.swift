/// The encryption artefacts of an AES-256-GCM Cryppo string: IV, tag and the additional authenticated data.
public struct EncryptionArtefacts: Sendable, Equatable {
    /// The 12-byte GCM IV.
    public var iv: [UInt8]
    /// The 16-byte GCM tag.
    public var tag: [UInt8]
    /// The AAD as stored; Cryppo always uses `"none"`, and these bytes are fed to GCM.
    public var authData: String

    public init(iv: [UInt8], tag: [UInt8], authData: String = "none") {
        self.iv = iv
        self.tag = tag
        self.authData = authData
    }

    /// `A` + BSON `{iv, at, ad}` in cryppo-js order.
    public func encoded() -> [UInt8] {
        if iv.count == 12, tag.count == 16, authData == Cryppo.authData, Self.canonicalTemplate.count == 65 {
            var out = Self.canonicalTemplate
            out.replaceSubrange(Self.canonicalIV, with: iv)
            out.replaceSubrange(Self.canonicalTag, with: tag)
            return out
        }
        return generalEncoding()
    }

    func generalEncoding() -> [UInt8] {
        MiniBSON.write(versionByte: 0x41, [
            ("iv", .binary(subtype: 0, iv)), ("at", .binary(subtype: 0, tag)), ("ad", .string(authData)),
        ])
    }

    /// Reads current (BSON) or legacy (YAML) artefacts.
    public init(decoding bytes: [UInt8]) throws {
        if let canonical = Self.decodeCanonical(bytes) {
            self = canonical
            return
        }
        let fields = try ArtefactFields(bytes, versionByte: 0x41, kind: "encryption")
        guard let iv = fields.binary("iv"), let tag = fields.binary("at") else {
            throw CryppoError(.invalidArtefacts, "encryption artefacts lack `iv` or `at`")
        }
        guard iv.count == AES256GCM.ivLength else {
            throw CryppoError(.invalidLength, "AES-GCM IV must be \(AES256GCM.ivLength) bytes, got \(iv.count)")
        }
        guard tag.count == AES256GCM.tagLength else {
            throw CryppoError(.invalidLength, "AES-GCM tag must be \(AES256GCM.tagLength) bytes, got \(tag.count)")
        }
        self.init(iv: iv, tag: tag, authData: fields.string("ad") ?? "none")
    }
}

extension EncryptionArtefacts {
    /// The 65 bytes cryppo-js and svx write (`A`, then `{iv: 12 bytes, at: 16 bytes, ad: "none"}` in that order),
    /// with the IV at 14..<26 and the tag at 35..<51. Matching it byte for byte skips the general BSON reader on
    /// the hot path; anything else (other order, other lengths, legacy YAML) takes the general path.
    static let canonicalTemplate: [UInt8] = {
        let template = EncryptionArtefacts(iv: [UInt8](repeating: 0, count: 12), tag: [UInt8](repeating: 0, count: 16))
        return template.generalEncoding()
    }()
    static let canonicalIV = 14..<26
    static let canonicalTag = 35..<51

    static func decodeCanonical(_ bytes: [UInt8]) -> EncryptionArtefacts? {
        let template = canonicalTemplate
        guard bytes.count == template.count else { return nil }
        for i in 0..<template.count where !canonicalIV.contains(i) && !canonicalTag.contains(i) {
            if bytes[i] != template[i] { return nil }
        }
        return EncryptionArtefacts(iv: Array(bytes[canonicalIV]), tag: Array(bytes[canonicalTag]), authData: Cryppo.authData)
    }
}

/// PBKDF2-HMAC-SHA256 derivation artefacts: salt, iterations and key length.
public struct DerivationArtefacts: Sendable, Equatable {
    public var salt: [UInt8]
    public var iterations: Int
    public var keyLength: Int
    /// `"SHA256"` when written by current libraries; absent in older artefacts (SHA-256 is then implied).
    public var hash: String?

    public init(salt: [UInt8], iterations: Int, keyLength: Int = 32, hash: String? = "SHA256") {
        self.salt = salt
        self.iterations = iterations
        self.keyLength = keyLength
        self.hash = hash
    }

    /// The fewest PBKDF2 iterations svx writes (OWASP's figure for PBKDF2-HMAC-SHA256). Meeco's libraries write
    /// 20 000 + random[0, 2 000); readers take the count from the artefacts (1 ... ``PBKDF2/maximumIterations``), so
    /// compatibility only needs svx to read such strings, and a passphrase string has no second factor.
    public static let minimumWrittenIterations = 600_000

    /// Fresh artefacts: 20-byte random salt, ``minimumWrittenIterations`` + random[0, 2 000) iterations (the
    /// random part as in Cryppo), 32 bytes.
    public static func random() throws -> DerivationArtefacts {
        DerivationArtefacts(
            salt: try SecureRandom.bytes(count: 20),
            iterations: minimumWrittenIterations + Int(try SecureRandom.integer(below: 2_000)))
    }

    /// Derives the key from a passphrase encoded as UTF-8.
    public func deriveKey(passphrase: String) throws -> SymmetricKey {
        try deriveKey(passphraseBytes: Array(passphrase.utf8))
    }

    /// Derives the key from raw passphrase bytes.
    public func deriveKey(passphraseBytes: [UInt8]) throws -> SymmetricKey {
        if let hash, hash.uppercased().replacing("-", with: "") != "SHA256" {
            throw CryppoError(.invalidArtefacts, "unsupported PBKDF2 hash \(hash)")
        }
        guard keyLength == 32 else { throw CryppoError(.invalidArtefacts, "derived key length must be 32, got \(keyLength)") }
        return try PBKDF2.sha256(password: passphraseBytes, salt: salt, iterations: iterations, keyLength: keyLength)
    }

    /// `K` + BSON `{iv, i, l, hash}` in cryppo-js order.
    public func encoded() -> [UInt8] {
        var fields: [(String, BSONValue)] = [
            ("iv", .binary(subtype: 0, salt)), ("i", .int32(Int32(clamping: iterations))),
            ("l", .int32(Int32(clamping: keyLength))),
        ]
        if let hash { fields.append(("hash", .string(hash))) }
        return MiniBSON.write(versionByte: 0x4B, fields)
    }

    /// Reads current (BSON) or legacy (YAML) derivation artefacts.
    public init(decoding bytes: [UInt8]) throws {
        let fields = try ArtefactFields(bytes, versionByte: 0x4B, kind: "derivation")
        guard let salt = fields.binary("iv"), let iterations = fields.integer("i") else {
            throw CryppoError(.invalidArtefacts, "derivation artefacts lack `iv` (salt) or `i` (iterations)")
        }
        guard !salt.isEmpty, salt.count <= 1024 else {
            throw CryppoError(.invalidLength, "PBKDF2 salt of \(salt.count) bytes")
        }
        guard iterations >= 1, iterations <= PBKDF2.maximumIterations else {
            throw CryppoError(.invalidArtefacts, "PBKDF2 iterations out of range: \(iterations)")
        }
        self.init(salt: salt, iterations: iterations, keyLength: fields.integer("l") ?? 32, hash: fields.string("hash"))
    }
}

/// Field access over either artefact encoding.
struct ArtefactFields {
    enum Storage {
        case bson([String: BSONValue])
        case yaml([String: YAMLValue])
    }
    let storage: Storage

    init(_ bytes: [UInt8], versionByte: UInt8, kind: String) throws {
        if bytes.starts(with: Array("---".utf8)) {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw CryppoError(.invalidArtefacts, "legacy \(kind) artefacts are not UTF-8")
            }
            storage = .yaml(try MiniYAML.read(text))
        } else {
            guard let first = bytes.first else { throw CryppoError(.invalidArtefacts, "empty \(kind) artefacts") }
            guard first == versionByte else {
                throw CryppoError(.invalidArtefacts,
                    "unknown \(kind) artefacts version byte 0x\(String(first, radix: 16)) (expected '\(Character(Unicode.Scalar(versionByte)))')")
            }
            storage = .bson(try MiniBSON.read(bytes[1...]))
        }
    }

    var isEmpty: Bool {
        switch storage {
        case .bson(let f): f.isEmpty
        case .yaml(let f): f.values.allSatisfy { $0 == .scalar("") }
        }
    }

    func binary(_ key: String) -> [UInt8]? {
        switch storage {
        case .bson(let f): if case .binary(_, let b)? = f[key] { return b }
        case .yaml(let f): if case .binary(let b)? = f[key] { return b }
        }
        return nil
    }

    func string(_ key: String) -> String? {
        switch storage {
        case .bson(let f): if case .string(let s)? = f[key] { return s }
        case .yaml(let f): if case .scalar(let s)? = f[key] { return s }
        }
        return nil
    }

    func integer(_ key: String) -> Int? {
        switch storage {
        case .bson(let f): return f[key]?.integer
        case .yaml(let f): if case .scalar(let s)? = f[key] { return Int(s) }
        }
        return nil
    }
}
