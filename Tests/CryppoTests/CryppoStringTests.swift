import Cryppo
import Testing

@Suite struct CryppoStringTests {
    static let key = try! SymmetricKey(base64URL: "sfB3gwp8bJ41-cIBS3lPf5QdO6jzOYT2W_33lOzy2fc=")

    @Test(arguments: [0, 1, 15, 16, 17, 100, 1024, 65_537])
    func roundTripWithKey(size: Int) throws {
        let plaintext = try SecureRandom.bytes(count: size)
        let s = try Cryppo.encrypt(plaintext, key: Self.key)
        #expect(s.split(separator: ".", omittingEmptySubsequences: false).count == 3)
        #expect(try Cryppo.decrypt(s, key: Self.key) == plaintext)
        let parsed = try CryppoString(parsing: s)
        #expect(parsed.serialized == s)
    }

    @Test func roundTripWithPassphrase() throws {
        let s = try Cryppo.encrypt(utf8("hello"), passphrase: "pässphrase")
        let parts = s.split(separator: ".")
        #expect(parts.count == 5 && parts[3] == "Pbkdf2Hmac")
        #expect(parts[4].hasPrefix("S0EAAAAFaXYAFAAAAA"))  // 'K' + BSON, iv first (cryppo-js order)
        let derivation = try Cryppo.parseDerivationArtefacts(s)
        #expect(derivation.salt.count == 20 && (600_000..<602_000).contains(derivation.iterations))
        #expect(derivation.keyLength == 32 && derivation.hash == "SHA256")
        #expect(try Cryppo.parseDerivationArtefacts(Cryppo.serialize(derivation: derivation)) == derivation)
        #expect(try Cryppo.decrypt(s, passphrase: "pässphrase") == utf8("hello"))
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(s, passphrase: "wrong") }
        expectCryppoError(.wrongPartCount) { _ = try Cryppo.decrypt(try Cryppo.encrypt([1], key: Self.key), passphrase: "x") }
    }

    /// Security review L5: svx writes at least 600 000 PBKDF2 iterations, and still reads the ~20 000 that Meeco's
    /// libraries write (every passphrase entry of the cross-library corpus).
    @Test func writesManyIterationsReadsMeecosFewer() throws {
        #expect(DerivationArtefacts.minimumWrittenIterations == 600_000)
        for _ in 0..<20 {
            let fresh = try DerivationArtefacts.random()
            #expect(fresh.iterations >= 600_000 && fresh.iterations < 602_000 && fresh.salt.count == 20)
        }
        let written = try Cryppo.encrypt(utf8("strong"), passphrase: "p")
        #expect(try Cryppo.parseDerivationArtefacts(written).iterations >= 600_000)
        let entries = try CompatCorpus.withDerivedKey()
        #expect(entries.count > 40)
        for entry in entries {
            let iterations = try Cryppo.parseDerivationArtefacts(entry.serialized).iterations
            #expect((20_000..<22_000).contains(iterations), "#\(entry.index): \(iterations) iterations")
            #expect(try Cryppo.decrypt(entry.serialized, passphrase: entry.passphrase) == utf8(entry.expected), "#\(entry.index)")
        }
        // A count of exactly 20 000, as a reader must take it.
        let twenty = DerivationArtefacts(salt: [UInt8](repeating: 3, count: 20), iterations: 20_000)
        let s = try [UInt8]([4, 5, 6]).withUnsafeBytes {
            try Cryppo.encrypt(bytes: $0, key: try twenty.deriveKey(passphrase: "p"), iv: [UInt8](repeating: 2, count: 12),
                               derivation: twenty)
        }
        #expect(try Cryppo.decrypt(s, passphrase: "p") == [4, 5, 6])
    }

    @Test func latin1PassphraseFallback() throws {
        // A legacy writer that fed the passphrase as Latin-1 bytes.
        let derivation = DerivationArtefacts(salt: [UInt8](repeating: 9, count: 20), iterations: 1000)
        let key = try derivation.deriveKey(passphraseBytes: [0x63, 0x61, 0x66, 0xE9])  // "café" in Latin-1
        let s = try [UInt8]([1, 2, 3]).withUnsafeBytes {
            try Cryppo.encrypt(bytes: $0, key: key, iv: [UInt8](repeating: 1, count: 12), derivation: derivation)
        }
        #expect(try Cryppo.decrypt(s, passphrase: "café") == [1, 2, 3])
    }

    @Test func unpaddedBase64Accepted() throws {
        let s = try Cryppo.encrypt(utf8("x"), key: Self.key)
        #expect(try Cryppo.decrypt(s.replacing("=", with: ""), key: Self.key) == utf8("x"))
    }

    @Test func artefactsInAnyOrder() throws {
        // Ruby's order (ad, at, iv) from the corpus reads; hand-built doc with extra int64 field too.
        let parsed = try CryppoString(parsing: CompatCorpus.withDerivedKey()[0].serialized)
        #expect(parsed.artefacts?.iv.count == 12)
        #expect(parsed.derivation?.iterations == 20030)
    }

    // MARK: Adversarial

    static func sample() throws -> (String, [Substring]) {
        let s = try Cryppo.encrypt(utf8("attack at dawn"), key: key)
        return (s, s.split(separator: ".", omittingEmptySubsequences: false))
    }

    @Test func tamperedTagCiphertextIV() throws {
        let (s, _) = try Self.sample()
        var parsed = try CryppoString(parsing: s)
        var t = parsed
        t.artefacts!.tag[0] ^= 1
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(t.serialized, key: Self.key) }
        t = parsed
        t.ciphertext[3] ^= 0x40
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(t.serialized, key: Self.key) }
        t = parsed
        t.artefacts!.iv[11] ^= 1
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(t.serialized, key: Self.key) }
        t = parsed
        t.artefacts!.authData = "nonf"
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(t.serialized, key: Self.key) }
        t = parsed
        t.ciphertext.removeLast()
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(t.serialized, key: Self.key) }
        parsed.ciphertext.append(0)
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(parsed.serialized, key: Self.key) }
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(s, key: try SymmetricKey.random()) }
        expectCryppoError(.invalidLength) { _ = try Cryppo.decrypt(s, key: SymmetricKey(bytes: [1, 2])) }
    }

    @Test func wrongIVAndTagLengths() throws {
        let (_, parts) = try Self.sample()
        for (iv, tag) in [(11, 16), (13, 16), (12, 15), (12, 17), (0, 16)] {
            let artefacts = EncryptionArtefacts(iv: [UInt8](repeating: 0, count: iv), tag: [UInt8](repeating: 0, count: tag))
            let s = "Aes256Gcm.\(parts[1]).\(Base64URL.encode(artefacts.encoded()))"
            expectCryppoError(.invalidLength) { _ = try Cryppo.decrypt(s, key: Self.key) }
        }
    }

    @Test func wrongPartCounts() throws {
        let (s, parts) = try Self.sample()
        for bad in ["", "Aes256Gcm", "Aes256Gcm.\(parts[1])", s + ".x", s + ".Pbkdf2Hmac.x.y", "a.b.c.d.e.f.g"] {
            expectCryppoError(.wrongPartCount) { _ = try Cryppo.decrypt(bad, key: Self.key) }
        }
        expectCryppoError(.wrongPartCount) { _ = try CryppoSignature(parsing: "Sign.Rsa4096.AAAA") }
        expectCryppoError(.wrongPartCount) { _ = try Cryppo.parseDerivationArtefacts("SzYAAAA") }
    }

    @Test func unknownStrategies() throws {
        let (_, parts) = try Self.sample()
        for name in ["Aes128Gcm", "aes256gcm", "", "Aes256Gcm "] {
            expectCryppoError(.unknownStrategy) { _ = try Cryppo.decrypt("\(name).\(parts[1]).\(parts[2])", key: Self.key) }
        }
        let derived = try Cryppo.encrypt([1], passphrase: "p").split(separator: ".")
        let swapped = derived[0...2].joined(separator: ".") + ".Scrypt." + derived[4]
        expectCryppoError(.unknownStrategy) { _ = try Cryppo.decrypt(swapped, passphrase: "p") }
        // An RSA string handed to the symmetric path and the other way round.
        let rsa = try Cryppo.encrypt([1], publicKey: Fixtures.publicKey)
        expectCryppoError(.unknownStrategy) { _ = try Cryppo.decrypt(rsa, key: Self.key) }
        expectCryppoError(.unknownStrategy) { _ = try Cryppo.decrypt(parts.joined(separator: "."), privateKey: Fixtures.privateKey) }
        expectCryppoError(.unknownStrategy) { _ = try CryppoSignature(parsing: "Sign.Rsa2048.AAAA.AAAA") }
        expectCryppoError(.unknownStrategy) { _ = try CryppoSignature(parsing: "Sig.Rsa4096.AAAA.AAAA") }
    }

    @Test func badBase64() throws {
        let (_, parts) = try Self.sample()
        for (i, replacement) in [(1, "a+b/"), (1, "ab cd"), (2, "QUAAAAA*"), (1, "A"), (2, "QQ=A")] {
            var p = parts
            p[i] = Substring(replacement)
            expectCryppoError(.invalidBase64) { _ = try Cryppo.decrypt(p.joined(separator: "."), key: Self.key) }
        }
    }

    @Test func truncatedAndMalformedArtefacts() throws {
        let (_, parts) = try Self.sample()
        let good = try Base64URL.decode(parts[2])
        var cases: [[UInt8]] = (0..<good.count).map { Array(good.prefix($0)) }  // every truncation
        cases.append(good + [0])  // trailing garbage
        cases.append([0x42] + good.dropFirst())  // wrong version byte
        var lying = good
        lying[1] = 0xFF  // declared length too large
        cases.append(lying)
        var badField = good
        badField[5] = 0x03  // embedded document type: unsupported
        cases.append(badField)
        cases.append([0x41] + Array("---\nnot yaml".utf8))
        cases.append(Array("---\niv: !binary |-\n  AAAA\n".utf8))  // legacy without `at`
        cases.append(Array("---\niv: &a x\n".utf8))
        for artefacts in cases {
            let s = "Aes256Gcm.\(parts[1]).\(Base64URL.encode(artefacts))"
            do {
                _ = try Cryppo.decrypt(s, key: Self.key)
                Issue.record("accepted malformed artefacts \(artefacts)")
            } catch let error as CryppoError {
                #expect([.invalidArtefacts, .invalidLength, .invalidBase64].contains(error.code), "\(error)")
            }
        }
    }

    @Test func oversizedInput() throws {
        let huge = "Aes256Gcm." + String(repeating: "A", count: CryppoString.maximumLength) + ".QQ"
        expectCryppoError(.tooLarge) { _ = try CryppoString(parsing: huge) }
        let (_, parts) = try Self.sample()
        expectCryppoError(.tooLarge) {
            _ = try CryppoString(parsing: "Aes256Gcm.\(parts[1]).\(String(repeating: "A", count: 10_000))")
        }
        let derivation = DerivationArtefacts(salt: [1], iterations: 50_000_000)
        expectCryppoError(.invalidArtefacts) {
            _ = try Cryppo.parseDerivationArtefacts(Cryppo.serialize(derivation: derivation))
        }
    }

    @Test func legacyArtefactShapes() throws {
        let iv = [UInt8](repeating: 1, count: 12), tag = [UInt8](repeating: 2, count: 16)
        let ruby = "---\n'ad': none\n'at': !!binary |-\n  AgICAgICAgICAgICAgICAg==\n'iv': !!binary |-\n  AQEBAQEBAQEBAQEB\n"
        #expect(try EncryptionArtefacts(decoding: utf8(ruby)) == EncryptionArtefacts(iv: iv, tag: tag))
        let derivation = "---\niv: !binary |-\n  AQEBAQEBAQEBAQEBAQEBAQEBAQE=\ni: 20729\nl: 32\nhash: SHA256\n"
        let d = try DerivationArtefacts(decoding: utf8(derivation))
        #expect(d.iterations == 20729 && d.keyLength == 32 && d.salt.count == 20 && d.hash == "SHA256")
        // RSA legacy shapes.
        for rsa in ["---\n{}\n", "---\n'ad': ''\n'at': ''\n'iv': ''\n"] {
            let ct = try Fixtures.publicKey.encrypt([5])
            let s = "Rsa4096.\(Base64URL.encode(ct)).\(Base64URL.encode(utf8(rsa)))"
            #expect(try Cryppo.decrypt(s, privateKey: Fixtures.privateKey) == [5])
        }
    }
}

/// Random mutations of valid strings: every outcome is a value or a CryppoError, never a crash.
@Suite struct MutationTests {
    @Test func randomMutationsNeverCrash() throws {
        let key = try SymmetricKey.random()
        let seeds = [
            try Cryppo.encrypt(utf8("mutate me please"), key: key),
            try Cryppo.encrypt(utf8("and me"), passphrase: "p"),
            try #require(CompatCorpus.withKey().first { $0.format == "legacy" && $0.strategy == "Aes256Gcm" }).serialized,
            try #require(CompatCorpus.withDerivedKey().first { $0.format == "legacy" }).serialized,
        ]
        let alphabet = Array("AQ-_=.+/ \n\0KZaz09é".unicodeScalars)
        var generator = SystemRandomNumberGenerator()
        var accepted = 0
        for seed in seeds {
            for _ in 0..<300 {
                var scalars = Array(seed.unicodeScalars)
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    let i = Int.random(in: 0..<scalars.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: scalars[i] = alphabet.randomElement(using: &generator)!
                    case 1: scalars.remove(at: i)
                    default: scalars.insert(alphabet.randomElement(using: &generator)!, at: i)
                    }
                    if scalars.isEmpty { scalars = ["A"] }
                }
                let mutated = String(String.UnicodeScalarView(scalars))
                do {
                    _ = try CryppoString(parsing: mutated)
                    _ = try Cryppo.decrypt(mutated, key: key)
                    accepted += 1
                } catch is CryppoError {
                    // expected
                }
            }
        }
        // Only mutations of padding (unpadded input is accepted) or of base64 bits that decode to the same bytes can
        // still authenticate: well under half.
        #expect(accepted < seeds.count * 300 / 2)
    }

    @Test func randomArtefactBytesNeverCrash() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let count = Int.random(in: 0..<80, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if !bytes.isEmpty, Bool.random(using: &generator) { bytes[0] = 0x41 }
            if bytes.count >= 5, Bool.random(using: &generator) {
                let n = UInt32(bytes.count - 1)
                bytes[1] = UInt8(n & 0xFF); bytes[2] = UInt8(n >> 8 & 0xFF); bytes[3] = 0; bytes[4] = 0
            }
            _ = try? EncryptionArtefacts(decoding: bytes)
            _ = try? DerivationArtefacts(decoding: [0x4B] + bytes.dropFirst())
        }
    }
}

@Suite struct CanonicalArtefactTests {
    /// The fast path for cryppo-js-layout artefacts and the general BSON reader agree.
    @Test func fastPathMatchesGeneralReader() throws {
        for _ in 0..<50 {
            let a = EncryptionArtefacts(iv: try SecureRandom.bytes(count: 12), tag: try SecureRandom.bytes(count: 16))
            let bytes = a.encoded()
            #expect(bytes.count == 65)
            // The template writer and the general BSON writer agree byte for byte.
            var b = a
            b.authData = "nonf"
            var general = b.encoded()
            general.replaceSubrange(59..<63, with: utf8("none"))
            #expect(general == bytes)
            #expect(try EncryptionArtefacts(decoding: bytes) == a)
            // Same fields in Ruby's order take the general path and give the same value.
            var ruby = "---\n'ad': none\n'at': !!binary |-\n  \(Base64URL.encodeStandard(a.tag))\n"
            ruby += "'iv': !!binary |-\n  \(Base64URL.encodeStandard(a.iv))\n"
            #expect(try EncryptionArtefacts(decoding: utf8(ruby)) == a)
        }
        // A changed AAD string is not canonical and is read as written.
        var other = EncryptionArtefacts(iv: [UInt8](repeating: 1, count: 12), tag: [UInt8](repeating: 2, count: 16))
        other.authData = "nonf"
        #expect(try EncryptionArtefacts(decoding: other.encoded()).authData == "nonf")
    }
}
