import Cryppo
import Testing

/// Every entry of ../shared/vectors/cryppo-compat.json (Meeco/cryppo spec/compat.json). When the file cannot be read,
/// every test here fails with the path it was looked for at (`CompatCorpus`).
@Suite struct CompatVectorTests {
    @Test func corpusIsComplete() throws {
        let corpus = try CompatCorpus.load()
        #expect(corpus.withKey.count == 95)
        #expect(corpus.withDerivedKey.count == 48)
        #expect(corpus.signatures.count == 16)
        let formats = Set(corpus.withKey.map { "\($0.strategy)/\($0.format)" })
        #expect(formats == ["Aes256Gcm/latest_version", "Aes256Gcm/legacy", "Rsa4096/latest_version", "Rsa4096/legacy"])
    }

    @Test(arguments: try CompatCorpus.withKey())
    func decryptsWithKey(_ entry: CompatCorpus.WithKey) throws {
        let plaintext: [UInt8]
        switch entry.strategy {
        case "Aes256Gcm":
            plaintext = try Cryppo.decrypt(entry.serialized, key: SymmetricKey(base64URL: entry.key))
        case "Rsa4096":
            plaintext = try Cryppo.decrypt(entry.serialized, privateKey: RSAPrivateKey(pem: entry.key))
        default:
            Issue.record("unknown strategy \(entry.strategy)")
            return
        }
        #expect(plaintext == utf8(entry.expected))
    }

    /// Re-serialising what we read gives current-format artefacts that read back to the same value.
    @Test(arguments: try CompatCorpus.withKey().filter { $0.strategy == "Aes256Gcm" })
    func reserializesInCurrentFormat(_ entry: CompatCorpus.WithKey) throws {
        let parsed = try CryppoString(parsing: entry.serialized)
        let rewritten = parsed.serialized
        #expect(rewritten.split(separator: ".")[2].hasPrefix("QUAAAAA"))  // 'A' + BSON of 0x40 bytes, iv first
        if entry.format == "latest_version", entry.serialized.split(separator: ".")[2].hasPrefix("QUAAAAAF") {
            #expect(rewritten == entry.serialized)  // written by cryppo-js: byte-identical
        }
        #expect(try Cryppo.decrypt(rewritten, key: SymmetricKey(base64URL: entry.key)) == utf8(entry.expected))
    }

    @Test(arguments: try CompatCorpus.withDerivedKey())
    func decryptsWithDerivedKey(_ entry: CompatCorpus.WithDerivedKey) throws {
        #expect(try Cryppo.decrypt(entry.serialized, passphrase: entry.passphrase) == utf8(entry.expected))
    }

    @Test(arguments: try CompatCorpus.signatures())
    func verifiesSignature(_ entry: CompatCorpus.Signature) throws {
        let publicKey = try RSAPublicKey(pem: entry.publicPEM)
        let data = try Cryppo.verify(entry.serialized, publicKey: publicKey)
        #expect(data != nil)
        // A flipped bit in the signed data must not verify.
        var parsed = try CryppoSignature(parsing: entry.serialized)
        if parsed.data.isEmpty { parsed.data = [0] } else { parsed.data[0] ^= 1 }
        #expect(try Cryppo.verify(parsed.serialized, publicKey: publicKey) == nil)
    }
}
