import Cryppo
import Testing

/// The vectors printed on meeco-compat.md.
@Suite struct MeecoVectorTests {
    @Test func legacyArtefactsWithKnownIV() throws {
        let key = try SymmetricKey(base64URL: "-PlAlIWLIUwgnERS-_-t2VNBYc3Woc85o1MyAe4Tis8=")
        let string = "Aes256Gcm.njxkD8E8FUblb27R6hvN_Q==.LS0tCml2OiAhYmluYXJ5IHwtCiAgKzdhbXl4cjhBWEdQRlVuNwphdDogIWJpbmFyeSB8LQogIHQxa2hBTXBjSStjcENrcWNZUTVxWUE9PQphZDogbm9uZQo="
        #expect(try Cryppo.decrypt(string, key: key) == utf8("some secret data"))
        let parsed = try CryppoString(parsing: string)
        #expect(parsed.artefacts?.iv == hex("fbb6a6cb1afc01718f1549fb"))
        // Encrypting with the same IV reproduces ciphertext and tag.
        let again = try utf8("some secret data").withUnsafeBytes {
            try Cryppo.encrypt(bytes: $0, key: key, iv: hex("fbb6a6cb1afc01718f1549fb"))
        }
        let reparsed = try CryppoString(parsing: again)
        #expect(reparsed.ciphertext == parsed.ciphertext)
        #expect(reparsed.artefacts == parsed.artefacts)
        #expect(again.hasPrefix("Aes256Gcm.njxkD8E8FUblb27R6hvN_Q==.QUAAAAAF"))
    }

    @Test func byteExactCurrentWriter() throws {
        let ciphertext = try Base64URL.decode("J3pTWPyK5Y2t_JvK-Q9r90IBu7g=")
        let string = CryppoString(
            strategy: .aes256Gcm, ciphertext: ciphertext,
            artefacts: EncryptionArtefacts(iv: hex("2f6e2bf4b01114c2e3d22f4a"), tag: hex("f55b76a4136cc1ad2193aeeb3b82b4b8")))
        #expect(string.serialized == "Aes256Gcm.J3pTWPyK5Y2t_JvK-Q9r90IBu7g=.QUAAAAAFaXYADAAAAAAvbiv0sBEUwuPSL0oFYXQAEAAAAAD1W3akE2zBrSGTrus7grS4AmFkAAUAAABub25lAAA=")
        #expect(try CryppoString(parsing: string.serialized) == string)
    }

    @Test func pbkdf2Vector() throws {
        let key = try PBKDF2.sha256(password: utf8("GreatPassphrase#2001!"), salt: hex("f8d467297c3d710421a2f9f1b050b1402a514525"),
                                    iterations: 21_908, keyLength: 32)
        #expect(key.base64URL == "1rMApWtrHGQe4coUBxvCzbSo5KWAavLDXT5ajVWDP3E=")
        let artefacts = DerivationArtefacts(salt: hex("f8d467297c3d710421a2f9f1b050b1402a514525"), iterations: 21_908)
        #expect(try artefacts.deriveKey(passphrase: "GreatPassphrase#2001!") == key)
    }

    @Test func documentationExample() throws {
        let key = try SymmetricKey(base64URL: "3YazDa71zVVCzh_6JRd_M-J5bOKUS5HtFGLNR45prPg=")
        let s = "Aes256Gcm.MtK4.LS0tCml2OiAhYmluYXJ5IHwtCiAgdXN4NnozRnRUc2FldlBmdgphdDogIWJpbmFyeSB8LQogIHc2YmRTM252Z2o4TTZYSE9FUnhHd1E9PQphZDogbm9uZQo="
        #expect(try Cryppo.decrypt(s, key: key) == utf8("BMW"))
    }

    @Test func valueVerificationHash() {
        let key = Array(UInt8(0)...UInt8(0x3f))
        #expect(Cryppo.valueVerificationHash(key: key, value: "Toyota Corolla")
            == "98c1bf56d727968598a26c3fb00d988c06e5e31418d24423b0adaca053151e51")
    }

    @Test func base58() throws {
        #expect(Base58.encode(utf8("Hello World!")) == "2NEpo7TZRRrLZSi2U")
        #expect(try Base58.decode("2NEpo7TZRRrLZSi2U") == utf8("Hello World!"))
        #expect(Base58.encode([0, 0, 1]) == "112")
        #expect(try Base58.decode("112") == [0, 0, 1])
        expectCryppoError(.invalidFormat) { _ = try Base58.decode("0OIl") }
    }

    @Test func secretKeyWorkedExample() throws {
        let secret = try SecretKey(parsing: "1.M9znjHbD5Xi.xQCSCK-8A1d6d-emUjx8-YVGDcT-UhctWy-2rfHyv-7JNAgh-9")
        #expect(secret.username == "M9znjHbD5Xi")
        #expect(secret.secretKey == "xQCSCK8A1d6demUjx8YVGDcTUhctWy2rfHyv7JNAgh9")
        #expect(secret.description == "1.M9znjHbD5Xi.xQCSCK-8A1d6d-emUjx8-YVGDcT-UhctWy-2rfHyv-7JNAgh-9")
        #expect(try secret.passphraseDerivedKey(passphrase: "supersecretpassword").base64URL
            == "24rdL_ugryujjDLcvwt00ARWWMCF4kk4gJETJy6yRjs=")
        #expect(try secret.srpRawKey(passphrase: "supersecretpassword").bytes
            == hex("99add08f62e26c1e145479f42c3aa8688cbfc9b220238f69fbe7448a82967173"))
        #expect(try secret.srpPassword(passphrase: "supersecretpassword")
            == hex("c299c2adc390c28f62c3a26c1e145479c3b42c3ac2a868c28cc2bfc389c2b22023c28f69c3bbc3a744c28ac282c2967173"))
    }

    @Test func secretKeyGenerateAndParse() throws {
        for _ in 0..<20 {
            let secret = try SecretKey.generate(username: "abcDEF123")
            let text = secret.description
            #expect(text.hasPrefix("1.abcDEF123."))
            let groups = text.split(separator: ".")[2].split(separator: "-")
            #expect(groups.dropLast().allSatisfy { $0.count == 6 })
            #expect((1...6).contains(groups.last!.count))
            #expect(try SecretKey(parsing: text) == secret)
            #expect(try SecretKey(parsing: " \(text)\n") == secret)
            #expect(try SecretKey(parsing: "\t\(text)\r\n") == secret)
            #expect(try Base58.decode(secret.secretKey).count <= 32)
        }
    }

    @Test func malformedSecretKeys() {
        for bad in ["", "1.user", "2.user.abc", "1..abc", "1.user.", "1.user.abc0", "1.a.b.c", "1.us er.abc"] {
            expectCryppoError(.invalidFormat) { _ = try SecretKey(parsing: bad) }
        }
    }
}
