import Cryppo
import Testing

@Suite struct AESGCMTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String, key: String, iv: String, plaintext: String, aad: String, ciphertext: String, tag: String
        var testDescription: String { name }
    }

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13-16 (256-bit keys, 96-bit IVs).
    static let cases: [Case] = [
        Case(name: "TC13", key: String(repeating: "00", count: 32), iv: String(repeating: "00", count: 12),
             plaintext: "", aad: "", ciphertext: "", tag: "530f8afbc74536b9a963b4f1c4cb738b"),
        Case(name: "TC14", key: String(repeating: "00", count: 32), iv: String(repeating: "00", count: 12),
             plaintext: String(repeating: "00", count: 16), aad: "", ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
             tag: "d0d1c8a799996bf0265b98b5d48ab919"),
        Case(name: "TC15", key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
             iv: "cafebabefacedbaddecaf888",
             plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
             aad: "",
             ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
             tag: "b094dac5d93471bdec1a502270e3cc6c"),
        Case(name: "TC16", key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
             iv: "cafebabefacedbaddecaf888",
             plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
             aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
             ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
             tag: "76fc6ece0f4e1768cddf8853bb2d551b"),
    ]

    @Test(arguments: cases)
    func knownAnswer(_ c: Case) throws {
        let key = SymmetricKey(bytes: hex(c.key))
        let sealed = try AES256GCM.seal(hex(c.plaintext), key: key, iv: hex(c.iv), aad: hex(c.aad))
        #expect(sealed.ciphertext == hex(c.ciphertext))
        #expect(sealed.tag == hex(c.tag))
        #expect(try AES256GCM.open(hex(c.ciphertext), key: key, iv: hex(c.iv), tag: hex(c.tag), aad: hex(c.aad)) == hex(c.plaintext))
        var badTag = hex(c.tag)
        badTag[15] ^= 0x80
        expectCryppoError(.authenticationFailed) {
            _ = try AES256GCM.open(hex(c.ciphertext), key: key, iv: hex(c.iv), tag: badTag, aad: hex(c.aad))
        }
        expectCryppoError(.authenticationFailed) {
            _ = try AES256GCM.open(hex(c.ciphertext), key: key, iv: hex(c.iv), tag: hex(c.tag), aad: utf8("other"))
        }
    }

    @Test func wrongLengths() throws {
        let key = try SymmetricKey.random()
        expectCryppoError(.invalidLength) { _ = try AES256GCM.seal([1], key: SymmetricKey(bytes: [1, 2, 3]), iv: [UInt8](repeating: 0, count: 12)) }
        expectCryppoError(.invalidLength) { _ = try AES256GCM.seal([1], key: key, iv: [0]) }
        expectCryppoError(.invalidLength) { _ = try AES256GCM.open([1], key: key, iv: [UInt8](repeating: 0, count: 12), tag: [1]) }
    }
}

@Suite struct KDFAndHashTests {
    /// RFC 7914 §11, PBKDF2-HMAC-SHA256.
    @Test func rfc7914() throws {
        let one = try PBKDF2.sha256(password: utf8("passwd"), salt: utf8("salt"), iterations: 1, keyLength: 64)
        #expect(one.bytes == hex("""
            55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05 f9 41 85 21 6d de 04 65 e6 8b 9d 57 c2 0d ac bc
            49 ca 9c cc f1 79 b6 45 99 16 64 b3 9d 77 ef 31 7c 71 b8 45 b1 e3 0b d5 09 11 20 41 d3 a1 97 83
            """))
        let two = try PBKDF2.sha256(password: utf8("Password"), salt: utf8("NaCl"), iterations: 80_000, keyLength: 64)
        #expect(two.bytes == hex("""
            4d dc d8 f6 0b 98 be 21 83 0c ee 5e f2 27 01 f9 64 1a 44 18 d0 4c 04 14 ae ff 08 87 6b 34 ab 56
            a1 d4 25 a1 22 58 33 54 9a db 84 1b 51 c9 b3 17 6a 27 2b de bb a1 d0 78 47 8f 62 b3 97 f3 3c 8d
            """))
    }

    @Test func pbkdf2Bounds() {
        expectCryppoError(.invalidArtefacts) { _ = try PBKDF2.sha256(password: [], salt: [1], iterations: 0) }
        expectCryppoError(.invalidArtefacts) { _ = try PBKDF2.sha256(password: [], salt: [1], iterations: 100_000_000) }
    }

    @Test func digests() {
        #expect(HashFunction.sha1.hash(utf8("abc")) == hex("a9993e364706816aba3e25717850c26c9cd0d89d"))
        #expect(HashFunction.sha256.hash(utf8("abc")) == hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(HashFunction.sha256.hash(utf8("a"), utf8("bc")) == HashFunction.sha256.hash(utf8("abc")))
        // FIPS 180-2 appendix C.1; SHA-512 makes the safety code of a connection.
        #expect(HashFunction.sha512.hash(utf8("abc")) == hex("""
            ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a
            2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f
            """))
        #expect(HashFunction.sha512.digestLength == 64)
        // RFC 4231 test case 2.
        #expect(HMAC.sha256(key: utf8("Jefe"), message: utf8("what do ya want for nothing?"))
            == hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
    }

    /// The streaming digest is the digest of the pieces in order, however the data is cut.
    @Test func streamingDigest() throws {
        let abc = StreamingDigest(.sha256)
        abc.update(utf8("a"))
        abc.update([])
        abc.update(utf8("bc"))
        #expect(abc.finish() == hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(StreamingDigest(.sha256).finish() == HashFunction.sha256.hash([]))

        let data = try SecureRandom.bytes(count: 10_000)
        let whole = HashFunction.sha256.hash(data)
        for cut in [1, 999, 4096, 9_999] {
            let pieces = StreamingDigest(.sha256)
            pieces.update(Array(data[..<cut]))
            data[cut...].withUnsafeBytes { pieces.update(bytes: $0) }
            #expect(pieces.finish() == whole, "cut at \(cut)")
        }
        // The same pieces in another order are another digest.
        let swapped = StreamingDigest(.sha256)
        swapped.update(Array(data[5_000...]))
        swapped.update(Array(data[..<5_000]))
        #expect(swapped.finish() != whole)
        let sha1 = StreamingDigest(.sha1)
        sha1.update(utf8("abc"))
        #expect(sha1.finish() == hex("a9993e364706816aba3e25717850c26c9cd0d89d"))
    }

    @Test func constantTimeCompare() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2], [1, 2, 3]))
        #expect(ConstantTime.equals([], []))
    }

    @Test func randomBytes() throws {
        let a = try SecureRandom.bytes(count: 32), b = try SecureRandom.bytes(count: 32)
        #expect(a.count == 32 && a != b)
        for _ in 0..<100 { #expect(try SecureRandom.integer(below: 7) < 7) }
    }

    @Test func base64() throws {
        #expect(Base64URL.encode([]) == "")
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8=")
        #expect(try Base64URL.decode("-_8=") == [0xfb, 0xff])
        #expect(try Base64URL.decode("-_8") == [0xfb, 0xff])
        #expect(try Base64URL.decode("QQ") == [0x41])
        expectCryppoError(.invalidBase64) { _ = try Base64URL.decode("+/8=") }
        expectCryppoError(.invalidBase64) { _ = try Base64URL.decode("QQ=") }
        expectCryppoError(.invalidBase64) { _ = try Base64URL.decode("Q") }
        expectCryppoError(.invalidBase64) { _ = try Base64URL.decode("QQ==QQ==") }
        expectCryppoError(.invalidBase64) { _ = try Base64URL.decode("QU JD") }
        for n in 0..<40 {
            let bytes = try SecureRandom.bytes(count: n)
            let text = Base64URL.encode(bytes)
            #expect(text.count % 4 == 0)
            #expect(try Base64URL.decode(text) == bytes)
            #expect(try Base64URL.decode(text.replacing("=", with: "")) == bytes)
        }
    }

    @Test func bigNumber() throws {
        let n = try BigNumber(hex: "0F")
        #expect(n.hex == "f")
        #expect(try n.hex(paddedTo: 4) == "000f")
        #expect(BigNumber(bytes: []).isZero && BigNumber(bytes: []).hex == "0")
        let m = BigNumber(13)
        #expect(try BigNumber(4).modExp(BigNumber(13), BigNumber(497)) == BigNumber(445))
        #expect(try BigNumber(20).mod(m) == BigNumber(7))
        #expect(try BigNumber(3).modSub(BigNumber(5), m) == BigNumber(11))
        #expect(try BigNumber(12).modAdd(BigNumber(5), m) == BigNumber(4))
        #expect(try BigNumber(12).modMul(BigNumber(5), m) == BigNumber(8))
        expectCryppoError(.invalidFormat) { _ = try BigNumber(hex: "xyz") }
        expectCryppoError(.invalidLength) { _ = try BigNumber(UInt(0x10000)).bytes(paddedTo: 2) }
    }
}

@Suite struct RSATests {
    @Test func fixtureRoundTrips() throws {
        let privateKey = Fixtures.privateKey
        #expect(privateKey.bits == 4096)
        let s = try Cryppo.encrypt(utf8("a share DEK of 32 bytes........."), publicKey: Fixtures.publicKey)
        #expect(s.hasPrefix("Rsa4096.") && s.hasSuffix(".QQUAAAAA"))
        #expect(try Cryppo.decrypt(s, privateKey: privateKey) == utf8("a share DEK of 32 bytes........."))
        expectCryppoError(.authenticationFailed) { _ = try Cryppo.decrypt(s, privateKey: Fixtures.otherPrivateKey) }
        // Maximum OAEP-SHA1 payload for 4096-bit keys: 512 - 42 = 470 bytes.
        _ = try Fixtures.publicKey.encrypt([UInt8](repeating: 7, count: 470))
        expectCryppoError(.tooLarge) { _ = try Fixtures.publicKey.encrypt([UInt8](repeating: 7, count: 471)) }
    }

    @Test func pemExportImport() throws {
        let privatePEM = try Fixtures.privateKey.pem
        #expect(privatePEM.hasPrefix("-----BEGIN RSA PRIVATE KEY-----\n"))
        #expect(privatePEM == (try Paths.fixture("rsa4096-private.pem")))
        let publicPEM = try Fixtures.privateKey.publicKeyPEM
        #expect(publicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
        #expect(publicPEM == (try Paths.fixture("rsa4096-public.pem")))
        // CRLF accepted.
        let crlf = publicPEM.replacing("\n", with: "\r\n")
        #expect(try RSAPublicKey(pem: crlf).pem == publicPEM)
        #expect(try RSAPrivateKey(pem: privatePEM.replacing("\n", with: "\r\n")).pem == privatePEM)
    }

    @Test func subjectPublicKeyInfoAndFingerprint() throws {
        let publicPEM = try Paths.fixture("rsa4096-public.pem")
        let body = publicPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let der = try Fixtures.publicKey.subjectPublicKeyInfoDER
        #expect(der == (try Base64URL.decodeStandard(body)))
        // `openssl pkey -pubin -in rsa4096-public.pem -outform DER | sha256sum`
        #expect(Hex.encode(try Fixtures.publicKey.fingerprintSHA256)
            == "137fd97e1937f392d511b6557dd03c8a8cef0631fef51ce897a16c9f7fda8255")
        #expect(try Fixtures.otherPrivateKey.publicKey.fingerprintSHA256 != (try Fixtures.publicKey.fingerprintSHA256))
        #expect(Hex.encode(try Fixtures.otherPrivateKey.publicKey.fingerprintSHA256)
            == "318e21b2342a8177004ff19dd274a38fddd76bb67bb349b2025b2ec8f400cbd4")
        // DER is canonical: the same key read from another PEM (CRLF) or taken from its private key, the same bytes.
        #expect(der.count == 550)
        #expect(try RSAPublicKey(pem: publicPEM.replacing("\n", with: "\r\n")).subjectPublicKeyInfoDER == der)
        #expect(try Fixtures.privateKey.publicKey.subjectPublicKeyInfoDER == der)
    }

    @Test func signAndVerify() throws {
        let s = try Cryppo.sign(utf8("signed data"), privateKey: Fixtures.privateKey)
        #expect(s.hasPrefix("Sign.Rsa4096."))
        #expect(try Cryppo.verify(s, publicKey: Fixtures.publicKey) == utf8("signed data"))
        #expect(try Cryppo.verify(s, publicKey: Fixtures.otherPrivateKey.publicKey) == nil)
        var parsed = try CryppoSignature(parsing: s)
        parsed.signature[100] ^= 1
        #expect(try Cryppo.verify(parsed.serialized, publicKey: Fixtures.publicKey) == nil)
    }

    @Test func badPEM() {
        expectCryppoError(.invalidKey) { _ = try RSAPublicKey(pem: "") }
        expectCryppoError(.invalidKey) { _ = try RSAPublicKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") }
        expectCryppoError(.invalidKey) { _ = try RSAPrivateKey(pem: "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n") }
        expectCryppoError(.invalidKey) { _ = try RSAPrivateKey(pem: (try? Paths.fixture("rsa4096-public.pem")) ?? "") }
    }

    /// The one test that really generates an RSA-4096 key (1-4 s).
    @Test func generatesRSA4096() throws {
        let key = try RSAPrivateKey.generate()
        #expect(key.bits == 4096)
        let reread = try RSAPrivateKey(pem: try key.pem)
        let s = try Cryppo.encrypt(utf8("x"), publicKey: try key.publicKey)
        #expect(try Cryppo.decrypt(s, privateKey: reread) == utf8("x"))
    }
}

@Suite struct Ed25519Tests {
    /// RFC 8032 §7.1, tests 1, 2 and 3: seed → public key, and the deterministic signature.
    static let vectors: [(seed: String, publicKey: String, message: String, signature: String)] = [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ]

    @Test func rfc8032() throws {
        for vector in Self.vectors {
            let key = try Ed25519SigningKey(seed: hex(vector.seed))
            #expect(key.publicKey == hex(vector.publicKey))
            #expect(try key.sign(hex(vector.message)) == hex(vector.signature))
            #expect(Ed25519.isValidSignature(hex(vector.signature), of: hex(vector.message), publicKey: hex(vector.publicKey)))
        }
    }

    @Test func anythingElseDoesNotVerify() throws {
        let key = try Ed25519SigningKey(seed: try SecureRandom.bytes(count: 32))
        let other = try Ed25519SigningKey(seed: try SecureRandom.bytes(count: 32))
        let message = Array("svx".utf8)
        let signature = try key.sign(message)
        #expect(Ed25519.isValidSignature(signature, of: message, publicKey: key.publicKey))
        #expect(!Ed25519.isValidSignature(signature, of: message, publicKey: other.publicKey))
        #expect(!Ed25519.isValidSignature(signature, of: Array("svy".utf8), publicKey: key.publicKey))
        for index in [0, 31, 32, 63] {
            var flipped = signature
            flipped[index] ^= 0x01
            #expect(!Ed25519.isValidSignature(flipped, of: message, publicKey: key.publicKey), "byte \(index)")
        }
        // Wrong lengths and junk are false, never a crash.
        #expect(!Ed25519.isValidSignature(Array(signature.dropLast()), of: message, publicKey: key.publicKey))
        #expect(!Ed25519.isValidSignature(signature, of: message, publicKey: Array(key.publicKey.dropLast())))
        #expect(!Ed25519.isValidSignature([UInt8](repeating: 0, count: 64), of: message, publicKey: [UInt8](repeating: 0, count: 32)))
        #expect(!Ed25519.isValidSignature([], of: [], publicKey: []))
        expectCryppoError(.invalidLength) { _ = try Ed25519SigningKey(seed: [UInt8](repeating: 1, count: 31)) }
    }
}
