import Cryppo
import Testing

@Suite struct HKDFTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String, ikm: [UInt8], salt: [UInt8], info: [UInt8], length: Int, prk: String, okm: String
        var testDescription: String { name }
    }

    /// RFC 5869 Appendix A, test cases 1-3 (HKDF-SHA256).
    static let cases: [Case] = [
        Case(name: "A.1", ikm: [UInt8](repeating: 0x0b, count: 22), salt: Array(0x00...0x0c), info: Array(0xf0...0xf9),
             length: 42,
             prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
             okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
        Case(name: "A.2", ikm: Array(0x00...0x4f), salt: Array(0x60...0xaf), info: Array(0xb0...0xff), length: 82,
             prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
             okm: """
                b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87
                """),
        Case(name: "A.3", ikm: [UInt8](repeating: 0x0b, count: 22), salt: [], info: [], length: 42,
             prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
             okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
    ]

    @Test(arguments: cases)
    func rfc5869(_ c: Case) throws {
        #expect(HKDF.extract(inputKeyMaterial: c.ikm, salt: c.salt) == hex(c.prk))
        let okm = try HKDF.sha256(inputKeyMaterial: c.ikm, salt: c.salt, info: c.info, outputLength: c.length)
        #expect(okm.bytes == hex(c.okm))
        // A shorter output is a prefix of the longer one (the expand step's blocks do not depend on L).
        let prefix = try HKDF.sha256(inputKeyMaterial: c.ikm, salt: c.salt, info: c.info, outputLength: 20)
        #expect(prefix.bytes == Array(hex(c.okm).prefix(20)))
    }

    @Test func outputLengthBounds() throws {
        expectCryppoError(.invalidLength) { _ = try HKDF.sha256(inputKeyMaterial: [1], salt: [], info: [], outputLength: 0) }
        expectCryppoError(.invalidLength) {
            _ = try HKDF.sha256(inputKeyMaterial: [1], salt: [], info: [], outputLength: 255 * 32 + 1)
        }
        #expect(try HKDF.sha256(inputKeyMaterial: [1], salt: [], info: [], outputLength: 255 * 32).count == 255 * 32)
    }
}

@Suite struct RecoveryKeyTests {
    /// A worked example: the 32 bytes 0x00...0x1f for the username M9znjHbD5Xi. The expected values were computed
    /// with Python's `hmac` module (an independent HKDF written from RFC 5869, and base58 with Bitcoin's alphabet).
    @Test func workedExample() throws {
        let recovery = try RecoveryKey(parsing: "R.1.M9znjHbD5Xi.1thX6L-ZfHDZZ-KUs92f-ebYZhY-RcXddm-zfzF2N-vTkPNE")
        #expect(recovery.username == "M9znjHbD5Xi")
        #expect(try Base58.decode(recovery.key) == Array(0x00...0x1f))
        #expect(try recovery.srpPassword == utf8("62518b56f56fc5707db77e81de5c933b3f2051496311ab0ed523c68bc1445c3b"))
        #expect(try recovery.wrappingKey().bytes == hex("11710d24c6058ab08c45516a077e334607580a4999b9ad722d91c40b7cd82b14"))
        #expect(recovery.description == "R.1.M9znjHbD5Xi.1thX6L-ZfHDZZ-KUs92f-ebYZhY-RcXddm-zfzF2N-vTkPNE")
    }

    @Test func theUsernameIsTheSalt() throws {
        let a = try RecoveryKey(username: "alice", key: "1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE")
        let b = try RecoveryKey(username: "bob", key: "1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE")
        #expect(try a.srpPassword != b.srpPassword)
        #expect(try a.wrappingKey() != b.wrappingKey())
        #expect(try a.wrappingKey().bytes != Array(try Hex.decode(String(decoding: a.srpPassword, as: UTF8.self))))
    }

    @Test func generateAndParse() throws {
        var seen = Set<String>()
        for _ in 0..<20 {
            let recovery = try RecoveryKey.generate(username: "abcDEF123")
            let text = recovery.description
            #expect(text.hasPrefix("R.1.abcDEF123."))
            let groups = text.split(separator: ".")[3].split(separator: "-")
            #expect(groups.dropLast().allSatisfy { $0.count == 6 })
            #expect(try RecoveryKey(parsing: "  \(text)\n") == recovery)
            #expect(try Base58.decode(recovery.key).count == 32)
            seen.insert(recovery.key)
        }
        #expect(seen.count == 20)
    }

    @Test func malformedRecoveryKeys() {
        let key = "1thX6L-ZfHDZZ-KUs92f-ebYZhY-RcXddm-zfzF2N-vTkPNE"
        for bad in [
            "", "R.1.user", "1.user.\(key)", "R.2.user.\(key)", "R.1..\(key)", "R.1.user.", "X.1.user.\(key)",
            "R.1.us er.\(key)", "R.1.user.\(key)0", "R.1.user.1thX6L", "R.1.user.\(key)\(key)",
        ] {
            expectCryppoError(.invalidFormat) { _ = try RecoveryKey(parsing: bad) }
        }
    }
}
