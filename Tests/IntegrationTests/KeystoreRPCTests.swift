import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// The Keystore's contract (proto/svx/keystore/v1/keystore.proto) through real processes: svx-auth and
/// svx-keystore on one PostgreSQL database, users signed up and logged in through Auth, every key made and
/// wrapped here as a client does. Each test starts its own pair of services.
@Suite(.serialized) struct KeystoreRPCTests {
    // MARK: CRUD

    @Test func createKEKThenGetKEKAndNoSecondKEK() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        #expect(user.credentialGeneration == 1)

        let (kek, pdk, created) = try await user.createKEK()
        #expect(created.credentialGeneration == 1)
        #expect(created.kekVersion == 1)
        #expect(created.derivation == KeyringClient.derivationArtefacts)
        #expect(abs(Int64(created.createdAtMs) - Int64(unixMilliseconds())) < 60_000)
        #expect(try Cryppo.decrypt(created.wrappedKek, key: pdk) == kek.bytes)

        for generation: UInt64 in [0, 1] {
            let got = try await user.call(KeystoreRPC.getKEK, .init(generation: generation))
            #expect(got.kek == created, "generation \(generation)")
            #expect(!got.passphraseChangePending)
        }
        #expect(await user.failure(KeystoreRPC.getKEK, .init(generation: 2))?.code == .notFound)

        let another = try Cryppo.encrypt(try SymmetricKey.random().bytes, key: pdk)
        #expect(await user.failure(KeystoreRPC.createKEK, .init(wrappedKek: another))?.code == .alreadyExists)
        #expect(try await user.call(KeystoreRPC.getKEK, .init(generation: 0)).kek == created)
    }

    @Test func dekCreateGetListDelete() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()

        let (privateDEK, privateKey) = try await user.createDEK(kek: kek, externalID: "share-1")
        #expect(UUID(uuidString: privateDEK.dekID) != nil)
        #expect(privateDEK.externalID == "share-1")
        #expect(privateDEK.kekVersion == 1)
        #expect(privateDEK.createdAtMs > 0)
        #expect(try Cryppo.decrypt(privateDEK.wrappedDek, key: kek) == privateKey)
        // Any number of DEKs without an external id.
        let (shareDEK, _) = try await user.createDEK(kek: kek)
        let (otherShareDEK, _) = try await user.createDEK(kek: kek)
        #expect(shareDEK.externalID.isEmpty && otherShareDEK.externalID.isEmpty)

        #expect(try await user.call(KeystoreRPC.getDEK, .init(id: privateDEK.dekID)).dek == privateDEK)
        #expect(try await user.call(KeystoreRPC.getDEK, .init(externalID: "share-1")).dek == privateDEK)
        #expect(try await user.call(KeystoreRPC.getDEK, .init(id: shareDEK.dekID)).dek == shareDEK)

        let taken = await user.failure(
            KeystoreRPC.createDEK, .init(wrapped: try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: kek), externalID: "share-1"))
        #expect(taken?.code == .alreadyExists)
        #expect(taken?.details["field"] == "external_id")

        #expect(try await user.allDEKs() == [privateDEK, shareDEK, otherShareDEK].sorted { $0.dekID < $1.dekID })

        _ = try await user.call(KeystoreRPC.deleteDEK, .init(id: shareDEK.dekID))
        #expect(await user.failure(KeystoreRPC.getDEK, .init(id: shareDEK.dekID))?.code == .notFound)
        #expect(await user.failure(KeystoreRPC.deleteDEK, .init(id: shareDEK.dekID))?.code == .notFound)
        #expect(try await user.allDEKs() == [privateDEK, otherShareDEK].sorted { $0.dekID < $1.dekID })

        // Deleting the DEK frees its external id.
        _ = try await user.call(KeystoreRPC.deleteDEK, .init(id: privateDEK.dekID))
        #expect(await user.failure(KeystoreRPC.getDEK, .init(externalID: "share-1"))?.code == .notFound)
        let (newPrivate, _) = try await user.createDEK(kek: kek, externalID: "share-1")
        #expect(newPrivate.dekID != privateDEK.dekID)
        #expect(try await user.call(KeystoreRPC.getDEK, .init(externalID: "share-1")).dek == newPrivate)
    }

    @Test func keypairCreateGetListDeleteFreesItsExternalIdentifiers() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let metadata = ["purpose": "connection", "label": "Bob / work \"é\""]

        let keypair = try await user.createKeypair(rsa, kek: kek, identifiers: ["conn-0", "conn-1"], metadata: metadata)
        #expect(UUID(uuidString: keypair.keypairID) != nil)
        #expect(keypair.publicKeyPem == (try rsa.publicKeyPEM))
        #expect(Set(keypair.externalIdentifiers) == ["conn-0", "conn-1"])
        #expect(keypair.metadata == metadata)
        #expect(keypair.kekVersion == 1)
        #expect(keypair.createdAtMs > 0)
        #expect(String(decoding: try Cryppo.decrypt(keypair.wrappedPrivateKey, key: kek), as: UTF8.self) == (try rsa.pem))

        #expect(try await user.call(KeystoreRPC.getKeypair, .init(id: keypair.keypairID)).keypair == keypair)
        for identifier in ["conn-0", "conn-1"] {
            #expect(try await user.call(KeystoreRPC.getKeypair, .init(externalIdentifier: identifier)).keypair == keypair)
        }

        let other = try await user.createKeypair(try RSAPrivateKey.generate(bits: 2048), kek: kek)
        #expect(other.externalIdentifiers.isEmpty && other.metadata.isEmpty)

        // One taken identifier refuses the whole keypair: its other identifier stays free, no keypair is added.
        let taken = await user.failure(
            KeystoreRPC.createKeypair, try .init(rsa, kek: kek, identifiers: ["fresh", "conn-1"]))
        #expect(taken?.code == .alreadyExists)
        #expect(taken?.details["field"] == "external_identifiers")
        #expect(await user.failure(KeystoreRPC.getKeypair, .init(externalIdentifier: "fresh"))?.code == .notFound)
        #expect(try await user.allKeypairs() == [keypair, other].sorted { $0.keypairID < $1.keypairID })

        _ = try await user.call(KeystoreRPC.deleteKeypair, .init(id: keypair.keypairID))
        #expect(await user.failure(KeystoreRPC.getKeypair, .init(id: keypair.keypairID))?.code == .notFound)
        for identifier in ["conn-0", "conn-1"] {
            #expect(await user.failure(KeystoreRPC.getKeypair, .init(externalIdentifier: identifier))?.code == .notFound)
        }
        #expect(await user.failure(KeystoreRPC.deleteKeypair, .init(id: keypair.keypairID))?.code == .notFound)
        #expect(try await user.allKeypairs() == [other])

        // Its external identifiers are free again.
        let replacement = try await user.createKeypair(rsa, kek: kek, identifiers: ["conn-1", "conn-0"])
        #expect(try await user.call(KeystoreRPC.getKeypair, .init(externalIdentifier: "conn-0")).keypair == replacement)
        #expect(try await user.call(KeystoreRPC.getKeypair, .init(externalIdentifier: "conn-1")).keypair == replacement)
    }

    // MARK: Isolation

    @Test func anotherUsersKeysAreNotFoundExactlyLikeUnknownOnes() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let alice = try await stack.newUser(passphrase: "alice")
        let bob = try await stack.newUser(passphrase: "bob")
        let (aliceKEK, _, _) = try await alice.createKEK()
        let (aliceDEK, _) = try await alice.createDEK(kek: aliceKEK, externalID: "private")
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let aliceKeypair = try await alice.createKeypair(rsa, kek: aliceKEK, identifiers: ["auth", "conn-1"])
        let aliceBefore = try stack.database.keystoreKeys()

        // A user without a KEK.
        #expect(await bob.failure(KeystoreRPC.getKEK, .init(generation: 0))?.code == .notFound)
        #expect(await bob.failure(KeystoreRPC.getKEK, .init(generation: 1))?.code == .notFound)
        let (bobKEK, _, _) = try await bob.createKEK()
        let (bobDEK, _) = try await bob.createDEK(kek: bobKEK)
        let bobKeypair = try await bob.createKeypair(rsa, kek: bobKEK)

        /// Bob's call with Alice's id fails exactly as with an id nobody has.
        func expectSameAsUnknown<Request, Response>(
            _ method: RPCMethod<Request, Response>, alices: Request, unknown: Request,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async {
            let withAlices = await bob.failure(method, alices)
            #expect(withAlices?.code == .notFound, "\(method.name)", sourceLocation: sourceLocation)
            #expect(withAlices == (await bob.failure(method, unknown)), "\(method.name)", sourceLocation: sourceLocation)
        }
        let unknown = unknownID()
        await expectSameAsUnknown(KeystoreRPC.getDEK, alices: .init(id: aliceDEK.dekID), unknown: .init(id: unknown))
        await expectSameAsUnknown(KeystoreRPC.getDEK, alices: .init(externalID: "private"), unknown: .init(externalID: "never-used"))
        await expectSameAsUnknown(KeystoreRPC.deleteDEK, alices: .init(id: aliceDEK.dekID), unknown: .init(id: unknown))
        await expectSameAsUnknown(KeystoreRPC.getKeypair, alices: .init(id: aliceKeypair.keypairID), unknown: .init(id: unknown))
        for identifier in ["auth", "conn-1"] {
            await expectSameAsUnknown(
                KeystoreRPC.getKeypair, alices: .init(externalIdentifier: identifier), unknown: .init(externalIdentifier: "never-used"))
        }
        await expectSameAsUnknown(
            KeystoreRPC.deleteKeypair, alices: .init(id: aliceKeypair.keypairID), unknown: .init(id: unknown))

        // Lists show only the caller's own keys.
        #expect(try await bob.allDEKs() == [bobDEK])
        #expect(try await bob.allKeypairs() == [bobKeypair])
        #expect(try await alice.allDEKs() == [aliceDEK])
        #expect(try await alice.allKeypairs() == [aliceKeypair])

        // External ids are unique per user: Bob can use Alice's (and learns nothing from it).
        let (bobPrivate, _) = try await bob.createDEK(kek: bobKEK, externalID: "private")
        let bobAuth = try await bob.createKeypair(rsa, kek: bobKEK, identifiers: ["auth", "conn-1"])
        #expect(try await bob.call(KeystoreRPC.getDEK, .init(externalID: "private")).dek == bobPrivate)
        #expect(try await bob.call(KeystoreRPC.getKeypair, .init(externalIdentifier: "auth")).keypair == bobAuth)

        // Alice's keys are untouched by all of it.
        #expect(try await alice.call(KeystoreRPC.getDEK, .init(externalID: "private")).dek == aliceDEK)
        #expect(try await alice.call(KeystoreRPC.getKeypair, .init(externalIdentifier: "auth")).keypair == aliceKeypair)
        #expect(try await alice.allDEKs() == [aliceDEK])
        #expect(try await alice.allKeypairs() == [aliceKeypair])
        let aliceRows = { (dump: String) in dump.split(separator: "\n").filter { $0.contains(alice.userID) } }
        #expect(aliceRows(try stack.database.keystoreKeys()) == aliceRows(aliceBefore))
    }

    // MARK: Validation

    @Test func wrappedKeysThatAreNotWrappedKeysAreRefusedAndNothingIsWritten() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let withoutKEK = try await stack.newUser()
        let (kek, pdk, _) = try await user.createKEK()
        let (dek, dekKey) = try await user.createDEK(kek: kek)
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let keypair = try await user.createKeypair(rsa, kek: kek)
        let pem = try rsa.pem
        let before = try stack.database.keystoreKeys()

        let raw = try SecureRandom.bytes(count: 32)
        let notWrapped: [(String, String)] = [
            ("empty", ""),
            ("plaintext key, base64", Base64URL.encodeStandard(raw)),
            ("plaintext key, base64url", Base64URL.encode(raw)),
            ("plaintext key, hex", Hex.encode(raw)),
            ("Rsa4096 string", try Cryppo.encrypt(raw, publicKey: try rsa.publicKey)),
            ("passphrase-derived (5 parts)", try Cryppo.encrypt(raw, passphrase: "a passphrase")),
            ("truncated Cryppo string", "Aes256Gcm.\(Base64URL.encode(raw))"),
            ("PEM private key", pem),
            ("over-long", "Aes256Gcm." + String(repeating: "A", count: 600) + ".QUFB"),
        ]
        let wrongSize: [(String, String)] = [
            ("wrapped 16-byte key", try Cryppo.encrypt(try SecureRandom.bytes(count: 16), key: kek)),
            ("wrapped 64-byte key", try Cryppo.encrypt(try SecureRandom.bytes(count: 64), key: kek)),
            ("wrapped PEM", try Cryppo.encrypt(Array(pem.utf8), key: kek)),
        ]
        /// A valid rotation of the user's keys to a new KEK.
        func rotation() throws -> Svx_Keystore_V1_RotateKEKRequest {
            try .init(expected: 1, generation: 1, newKEK: try SymmetricKey.random(), pdk: pdk,
                      deks: [(dek.dekID, dekKey)], keypairs: [(keypair.keypairID, pem)])
        }

        for (what, text) in notWrapped + wrongSize {
            await expectInvalidField("wrapped_dek", what: what) { _ = try await user.call(KeystoreRPC.createDEK, .init(wrapped: text)) }
            await expectInvalidField("wrapped_kek", what: what) {
                _ = try await withoutKEK.call(KeystoreRPC.createKEK, .init(wrappedKek: text))
            }
            await expectInvalidField("wrapped_kek", what: what) {
                _ = try await user.call(KeystoreRPC.stagePassphraseChange, .init(kekVersion: 1, wrappedKek: text))
            }
            var badKEK = try rotation()
            badKEK.wrappedKek = text
            await expectInvalidField("wrapped_kek", what: what) { _ = try await user.call(KeystoreRPC.rotateKEK, badKEK) }
            var badDEK = try rotation()
            badDEK.deks[0].wrappedKey = text
            await expectInvalidField("deks.wrapped_key", what: what) { _ = try await user.call(KeystoreRPC.rotateKEK, badDEK) }
        }

        let notWrappedPrivateKeys: [(String, String)] = notWrapped + [
            ("passphrase-derived PEM", try Cryppo.encrypt(Array(pem.utf8), passphrase: "a passphrase")),
            ("wrapped 32-byte key", try Cryppo.encrypt(raw, key: kek)),
            ("wrapped 20 000 bytes (over-long)", try Cryppo.encrypt(try SecureRandom.bytes(count: 20_000), key: kek)),
        ]
        for (what, text) in notWrappedPrivateKeys {
            await expectInvalidField("wrapped_private_key", what: what) {
                _ = try await user.call(
                    KeystoreRPC.createKeypair, .init(publicKeyPEM: try rsa.publicKeyPEM, wrappedPrivateKey: text))
            }
            var badKeypair = try rotation()
            badKeypair.keypairs[0].wrappedKey = text
            await expectInvalidField("keypairs.wrapped_key", what: what) { _ = try await user.call(KeystoreRPC.rotateKEK, badKeypair) }
        }

        #expect(try stack.database.keystoreKeys() == before)
        #expect(await withoutKEK.failure(KeystoreRPC.getKEK, .init(generation: 0))?.code == .notFound)
    }

    @Test func badFieldsAreRefusedWithTheFieldNamedAndNothingIsWritten() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let withoutKEK = try await stack.newUser()
        let (kek, pdk, _) = try await user.createKEK()
        let (dek, dekKey) = try await user.createDEK(kek: kek, externalID: "private")
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let keypair = try await user.createKeypair(rsa, kek: kek, identifiers: ["auth"])
        let publicKey = try rsa.publicKeyPEM
        let wrappedPEM = try Cryppo.encrypt(Array(try rsa.pem.utf8), key: kek)
        let wrappedKey = try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: kek)
        let before = try stack.database.keystoreKeys()
        func rotation() throws -> Svx_Keystore_V1_RotateKEKRequest {
            try .init(expected: 1, generation: 1, newKEK: try SymmetricKey.random(), pdk: pdk,
                      deks: [(dek.dekID, dekKey)], keypairs: [(keypair.keypairID, try rsa.pem)])
        }

        // Public keys: SPKI PEM of an RSA key of at least 2048 bits.
        let badPublicKeys: [(String, String)] = [
            ("empty", ""),
            ("not PEM", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host"),
            ("PEM private key", try rsa.pem),
            ("RSA-1024", rsa1024PublicKeyPEM),
            ("EC P-256", ecP256PublicKeyPEM),
            ("truncated PEM", String(publicKey.prefix(200))),
            ("over-long", publicKey + String(repeating: "A", count: 9000)),
        ]
        for (what, pem) in badPublicKeys {
            await expectInvalidField("public_key_pem", what: what) {
                _ = try await user.call(KeystoreRPC.createKeypair, .init(publicKeyPEM: pem, wrappedPrivateKey: wrappedPEM))
            }
        }

        // Derivation artefacts: svx's PBKDF2 parameters only.
        let badDerivations: [(String, Svx_Keystore_V1_DerivationArtefacts?, String)] = [
            ("missing", nil, "derivation"),
            ("wrong algorithm", .changed { $0.algorithm = "PBKDF2-HMAC-SHA1" }, "derivation.algorithm"),
            ("wrong salt source", .changed { $0.saltSource = "username" }, "derivation.salt_source"),
            ("1000 iterations", .changed { $0.iterations = 1000 }, "derivation.iterations"),
            ("16-byte key", .changed { $0.keyLength = 16 }, "derivation.key_length"),
            ("version 2", .changed { $0.version = 2 }, "derivation.version"),
        ]
        for (what, derivation, field) in badDerivations {
            await expectInvalidField(field, what: "CreateKEK, \(what)") {
                _ = try await withoutKEK.call(KeystoreRPC.createKEK, .init(wrappedKek: wrappedKey, derivation: derivation))
            }
            await expectInvalidField(field, what: "StagePassphraseChange, \(what)") {
                _ = try await user.call(
                    KeystoreRPC.stagePassphraseChange, .init(kekVersion: 1, wrappedKek: wrappedKey, derivation: derivation))
            }
            var rotate = try rotation()
            if let derivation { rotate.derivation = derivation } else { rotate.clearDerivation() }
            await expectInvalidField(field, what: "RotateKEK, \(what)") { _ = try await user.call(KeystoreRPC.rotateKEK, rotate) }
        }

        // Versions and generations: 0 is "missing".
        await expectInvalidField("kek_version") { _ = try await user.call(KeystoreRPC.createDEK, .init(wrapped: wrappedKey, kekVersion: 0)) }
        await expectInvalidField("kek_version") {
            _ = try await user.call(KeystoreRPC.createKeypair, .init(publicKeyPEM: publicKey, wrappedPrivateKey: wrappedPEM, kekVersion: 0))
        }
        await expectInvalidField("kek_version") {
            _ = try await user.call(KeystoreRPC.stagePassphraseChange, .init(kekVersion: 0, wrappedKek: wrappedKey))
        }
        var noExpectedVersion = try rotation()
        noExpectedVersion.expectedKekVersion = 0
        await expectInvalidField("expected_kek_version") { _ = try await user.call(KeystoreRPC.rotateKEK, noExpectedVersion) }
        var noGeneration = try rotation()
        noGeneration.credentialGeneration = 0
        await expectInvalidField("credential_generation") { _ = try await user.call(KeystoreRPC.rotateKEK, noGeneration) }
        await expectInvalidField("credential_generation") {
            _ = try await user.call(KeystoreRPC.commitPassphraseChange, .init(generation: 0))
        }
        await expectInvalidField("credential_generation") { _ = try await user.call(KeystoreRPC.getKEK, .init(generation: .max)) }

        // External identifiers and metadata.
        let badIdentifiers: [(String, [String])] = [
            ("empty", [""]),
            ("duplicate", ["conn-1", "conn-1"]),
            ("over-long", [String(repeating: "x", count: 129)]),
            ("control character", ["conn\u{7}1"]),
            ("newline", ["conn-1\n"]),
            ("leading space", [" auth"]),
            ("17 identifiers", (0..<17).map { "id-\($0)" }),
        ]
        for (what, identifiers) in badIdentifiers {
            await expectInvalidField("external_identifiers", what: what) {
                _ = try await user.call(
                    KeystoreRPC.createKeypair, .init(publicKeyPEM: publicKey, wrappedPrivateKey: wrappedPEM, identifiers: identifiers))
            }
        }
        let badMetadata: [(String, [String: String], String)] = [
            ("33 entries", Dictionary(uniqueKeysWithValues: (0..<33).map { ("key-\($0)", "value") }), "metadata"),
            ("empty key", ["": "value"], "metadata key"),
            ("control character in a key", ["ke\u{1}y": "value"], "metadata key"),
            ("over-long key", [String(repeating: "k", count: 65): "value"], "metadata key"),
            ("over-long value", ["key": String(repeating: "v", count: 1025)], "metadata"),
            ("NUL in a value", ["key": "a\u{0}b"], "metadata"),
        ]
        for (what, metadata, field) in badMetadata {
            await expectInvalidField(field, what: what) {
                _ = try await user.call(
                    KeystoreRPC.createKeypair, .init(publicKeyPEM: publicKey, wrappedPrivateKey: wrappedPEM, metadata: metadata))
            }
        }
        for (what, externalID) in [("over-long", String(repeating: "x", count: 129)), ("control character", "pri\u{1b}vate"),
                                   ("trailing space", "private ")] {
            await expectInvalidField("external_id", what: what) {
                _ = try await user.call(KeystoreRPC.createDEK, .init(wrapped: wrappedKey, externalID: externalID))
            }
            await expectInvalidField("external_id", what: what) { _ = try await user.call(KeystoreRPC.getDEK, .init(externalID: externalID)) }
            await expectInvalidField("external_identifier", what: what) {
                _ = try await user.call(KeystoreRPC.getKeypair, .init(externalIdentifier: externalID))
            }
        }

        // Ids: canonical UUIDs; Get by exactly one of id and external id.
        let dashless = unknownID().replacingOccurrences(of: "-", with: "")
        for (what, id) in [("empty", ""), ("not a uuid", "not-a-uuid"), ("uuid without dashes", dashless), ("number", "12345")] {
            if !id.isEmpty {
                await expectInvalidField("dek_id", what: what) { _ = try await user.call(KeystoreRPC.getDEK, .init(id: id)) }
                await expectInvalidField("keypair_id", what: what) { _ = try await user.call(KeystoreRPC.getKeypair, .init(id: id)) }
            }
            await expectInvalidField("dek_id", what: what) { _ = try await user.call(KeystoreRPC.deleteDEK, .init(id: id)) }
            await expectInvalidField("keypair_id", what: what) { _ = try await user.call(KeystoreRPC.deleteKeypair, .init(id: id)) }
            var badDEKID = try rotation()
            badDEKID.deks[0].id = id
            await expectInvalidField("deks.id", what: what) { _ = try await user.call(KeystoreRPC.rotateKEK, badDEKID) }
            var badKeypairID = try rotation()
            badKeypairID.keypairs[0].id = id
            await expectInvalidField("keypairs.id", what: what) { _ = try await user.call(KeystoreRPC.rotateKEK, badKeypairID) }
        }
        await expectInvalidField("dek_id", what: "both") {
            _ = try await user.call(KeystoreRPC.getDEK, .init(id: dek.dekID, externalID: "private"))
        }
        await expectInvalidField("dek_id", what: "neither") { _ = try await user.call(KeystoreRPC.getDEK, .init()) }
        await expectInvalidField("keypair_id", what: "both") {
            _ = try await user.call(KeystoreRPC.getKeypair, .init(id: keypair.keypairID, externalIdentifier: "auth"))
        }
        await expectInvalidField("keypair_id", what: "neither") { _ = try await user.call(KeystoreRPC.getKeypair, .init()) }

        // Pages.
        await expectInvalidField("page_size") { _ = try await user.call(KeystoreRPC.listDEKs, .init(pageSize: 501)) }
        await expectInvalidField("page_size") { _ = try await user.call(KeystoreRPC.listKeypairs, .init(pageSize: 501)) }
        for token in ["garbage", "0", dashless, String(repeating: "z", count: 36)] {
            await expectInvalidField("page_token", what: token) { _ = try await user.call(KeystoreRPC.listDEKs, .init(pageToken: token)) }
            await expectInvalidField("page_token", what: token) { _ = try await user.call(KeystoreRPC.listKeypairs, .init(pageToken: token)) }
        }
        #expect(try await user.call(KeystoreRPC.listDEKs, .init(pageSize: 500)).deks == [dek])

        #expect(try stack.database.keystoreKeys() == before)
    }

    /// The Keystore promises an SPKI PEM public key; text after the PEM block is not one, and stored as is it
    /// would be a place where plaintext (here: the private key) ends up in the database.
    @Test func publicKeyWithTextAfterThePEMBlockIsRefused() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let request = try Svx_Keystore_V1_CreateKeypairRequest(rsa, kek: kek)
        let before = try stack.database.keystoreKeys()
        for (what, suffix) in [("private key after the public key", "\n" + (try rsa.pem)), ("text after the public key", "hello")] {
            var withSuffix = request
            withSuffix.publicKeyPem += suffix
            await expectInvalidField("public_key_pem", what: what) { _ = try await user.call(KeystoreRPC.createKeypair, withSuffix) }
        }
        #expect(try stack.database.keystoreKeys() == before)
    }

    // MARK: KEK versions

    @Test func keysNeedAKEKAndItsCurrentVersion() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let kek = try SymmetricKey.random()
        let pdk = try SymmetricKey.random()
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let wrappedDEK = try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: kek)
        let wrappedKEK = try Cryppo.encrypt(kek.bytes, key: pdk)
        let empty = try stack.database.keystoreKeys()

        // No KEK yet: FAILED_PRECONDITION for everything that needs one. Staging and rotating need a KEK proof,
        // whose nonce a user without a KEK cannot get; a made-up one is refused.
        #expect(await user.failure(KeystoreRPC.createDEK, .init(wrapped: wrappedDEK))?.code == .failedPrecondition)
        #expect(await user.failure(KeystoreRPC.createKeypair, try .init(rsa, kek: kek))?.code == .failedPrecondition)
        #expect(await user.failure(KeystoreRPC.beginKEKProof, .init())?.code == .failedPrecondition)
        var madeUp = Svx_Keystore_V1_KEKProof()
        madeUp.challengeID = unknownID()
        madeUp.signature = Data(repeating: 7, count: 64)
        var stage = Svx_Keystore_V1_StagePassphraseChangeRequest(kekVersion: 1, wrappedKek: wrappedKEK)
        stage.kekProof = madeUp
        #expect(await user.failure(KeystoreRPC.stagePassphraseChange, stage)?.code == .permissionDenied)
        var rotation = try Svx_Keystore_V1_RotateKEKRequest(
            expected: 1, generation: 1, newKEK: try SymmetricKey.random(), pdk: pdk, deks: [], keypairs: [])
        rotation.kekProof = madeUp
        #expect(await user.failure(KeystoreRPC.rotateKEK, rotation)?.code == .permissionDenied)
        #expect(await user.failure(KeystoreRPC.commitPassphraseChange, .init(generation: 1))?.code == .failedPrecondition)
        #expect(try stack.database.keystoreKeys() == empty)

        // KEK at version 1: a key wrapped by "version 2" is ABORTED.
        _ = try await user.call(KeystoreRPC.createKEK, .init(wrappedKek: wrappedKEK, kekCheck: kek))
        let withKEK = try stack.database.keystoreKeys()
        let dekAhead = await user.failure(KeystoreRPC.createDEK, .init(wrapped: wrappedDEK, kekVersion: 2))
        #expect(dekAhead?.code == .aborted)
        #expect(dekAhead?.details["field"] == "kek_version")
        let keypairAhead = await user.failure(KeystoreRPC.createKeypair, try .init(rsa, kek: kek, kekVersion: 2))
        #expect(keypairAhead?.code == .aborted)
        #expect(keypairAhead?.details["field"] == "kek_version")
        #expect(try stack.database.keystoreKeys() == withKEK)

        #expect(try await user.call(KeystoreRPC.createDEK, .init(wrapped: wrappedDEK, kekVersion: 1)).dek.kekVersion == 1)
        #expect(try await user.createKeypair(rsa, kek: kek, kekVersion: 1).kekVersion == 1)
    }

    // MARK: Pagination

    @Test func listsPageThroughEveryKeyOnce() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        var created: Set<String> = []
        for _ in 0..<25 { created.insert(try await user.createDEK(kek: kek).dek.dekID) }

        let first = try await user.call(KeystoreRPC.listDEKs, .init(pageSize: 10))
        let second = try await user.call(KeystoreRPC.listDEKs, .init(pageSize: 10, pageToken: first.nextPageToken))
        let third = try await user.call(KeystoreRPC.listDEKs, .init(pageSize: 10, pageToken: second.nextPageToken))
        #expect([first.deks.count, second.deks.count, third.deks.count] == [Int]([10, 10, 5]))
        #expect(!first.nextPageToken.isEmpty && !second.nextPageToken.isEmpty)
        #expect(third.nextPageToken.isEmpty)
        let ids = (first.deks + second.deks + third.deks).map(\.dekID)
        #expect(ids.count == 25 && Set(ids) == created)
        #expect(ids == ids.sorted(), "in dek_id order")

        // Default page size (100), and a page exactly as large as what is left: no next page.
        let all = try await user.call(KeystoreRPC.listDEKs, .init())
        #expect(all.deks.map(\.dekID) == ids && all.nextPageToken.isEmpty)
        let exact = try await user.call(KeystoreRPC.listDEKs, .init(pageSize: 25))
        #expect(exact.deks.count == 25 && exact.nextPageToken.isEmpty)
        #expect(try await user.allDEKs(pageSize: 7).map(\.dekID) == ids)

        // Keypairs page the same way.
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        var keypairs: [String] = []
        for _ in 0..<3 { keypairs.append(try await user.createKeypair(rsa, kek: kek).keypairID) }
        let firstKeypairs = try await user.call(KeystoreRPC.listKeypairs, .init(pageSize: 2))
        let lastKeypairs = try await user.call(KeystoreRPC.listKeypairs, .init(pageSize: 2, pageToken: firstKeypairs.nextPageToken))
        #expect(firstKeypairs.keypairs.count == 2 && lastKeypairs.keypairs.count == 1 && lastKeypairs.nextPageToken.isEmpty)
        #expect((firstKeypairs.keypairs + lastKeypairs.keypairs).map(\.keypairID) == keypairs.sorted())
    }

    // MARK: Rotation

    /// `deks` DEKs and `keypairs` keypairs (RSA-2048) wrapped by `kek`, with what the client knows of them.
    func populate(_ user: TestUser, kek: SymmetricKey, deks: Int, keypairs: Int) async throws
        -> (deks: [(id: String, key: [UInt8])], keypairs: [(id: String, pem: String)])
    {
        var dekKeys: [(id: String, key: [UInt8])] = []
        for index in 0..<deks {
            let (dek, key) = try await user.createDEK(kek: kek, externalID: "dek-\(index)")
            dekKeys.append((dek.dekID, key))
        }
        var keypairPEMs: [(id: String, pem: String)] = []
        for index in 0..<keypairs {
            let rsa = try RSAPrivateKey.generate(bits: 2048)
            let keypair = try await user.createKeypair(rsa, kek: kek, identifiers: ["keypair-\(index)"], metadata: ["n": "\(index)"])
            keypairPEMs.append((keypair.keypairID, try rsa.pem))
        }
        return (dekKeys, keypairPEMs)
    }

    @Test func rotateKEKRewrapsEveryKeyAndKeepsTheKeysThemselves() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (oldKEK, pdk, _) = try await user.createKEK()
        let (deks, keypairs) = try await populate(user, kek: oldKEK, deks: 3, keypairs: 2)
        let dekBefore = try await user.allDEKs()
        let keypairsBefore = try await user.allKeypairs()

        let newKEK = try SymmetricKey.random()
        let request = try await user.proved(try Svx_Keystore_V1_RotateKEKRequest(
            expected: 1, generation: 1, newKEK: newKEK, pdk: pdk, deks: deks, keypairs: keypairs), kek: oldKEK)
        let rotated = try await user.call(KeystoreRPC.rotateKEK, request)
        #expect(rotated.kekVersion == 2 && rotated.rewrappedDeks == 3 && rotated.rewrappedKeypairs == 2)

        let kek = try await user.call(KeystoreRPC.getKEK, .init(generation: 0))
        #expect(kek.kek.kekVersion == 2 && kek.kek.credentialGeneration == 1 && !kek.passphraseChangePending)
        #expect(Array(kek.kekCheck) == (try KEKCheck.publicKey(for: newKEK)), "the KEK check moved to the new KEK")
        #expect(kek.kek.wrappedKek == request.wrappedKek)
        #expect(try Cryppo.decrypt(kek.kek.wrappedKek, key: pdk) == newKEK.bytes)

        let newWraps = Dictionary(uniqueKeysWithValues: (request.deks + request.keypairs).map { ($0.id, $0.wrappedKey) })
        for (id, key) in deks {
            let dek = try await user.call(KeystoreRPC.getDEK, .init(id: id)).dek
            let before = try #require(dekBefore.first { $0.dekID == id })
            #expect(dek.kekVersion == 2)
            #expect(dek.wrappedDek == newWraps[id])
            #expect(try Cryppo.decrypt(dek.wrappedDek, key: newKEK) == key, "the same DEK, wrapped by the new KEK")
            #expect(throws: (any Error).self) { try Cryppo.decrypt(dek.wrappedDek, key: oldKEK) }
            #expect(dek.externalID == before.externalID && dek.createdAtMs == before.createdAtMs)
        }
        for (id, pem) in keypairs {
            let keypair = try await user.call(KeystoreRPC.getKeypair, .init(id: id)).keypair
            let before = try #require(keypairsBefore.first { $0.keypairID == id })
            #expect(keypair.kekVersion == 2)
            #expect(keypair.wrappedPrivateKey == newWraps[id])
            let unwrapped = String(decoding: try Cryppo.decrypt(keypair.wrappedPrivateKey, key: newKEK), as: UTF8.self)
            #expect(unwrapped == pem, "the same private key, wrapped by the new KEK")
            #expect(try RSAPrivateKey(pem: unwrapped).publicKeyPEM == keypair.publicKeyPem)
            #expect(keypair.publicKeyPem == before.publicKeyPem && keypair.externalIdentifiers == before.externalIdentifiers)
            #expect(keypair.metadata == before.metadata && keypair.createdAtMs == before.createdAtMs)
        }

        // Keys wrapped by the old KEK are refused now, and so is a rotation from it.
        let afterRotation = try stack.database.keystoreKeys()
        let oldDEK = await user.failure(
            KeystoreRPC.createDEK, .init(wrapped: try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: oldKEK), kekVersion: 1))
        #expect(oldDEK?.code == .aborted)
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        #expect(await user.failure(KeystoreRPC.createKeypair, try .init(rsa, kek: oldKEK, kekVersion: 1))?.code == .aborted)
        // The same request again: its nonce is used up. Signed again by the old KEK: not the current check.
        // Signed by the new KEK (a valid proof): the version it starts from is stale.
        #expect(await user.failure(KeystoreRPC.rotateKEK, request)?.code == .permissionDenied)
        #expect(await user.failure(KeystoreRPC.rotateKEK, try await user.proved(request, kek: oldKEK))?.code == .permissionDenied)
        let stale = await user.failure(KeystoreRPC.rotateKEK, try await user.proved(request, kek: newKEK))
        #expect(stale?.code == .aborted)
        #expect(stale?.details["field"] == "expected_kek_version")
        #expect(try stack.database.keystoreKeys() == afterRotation)
        #expect(try await user.createDEK(kek: newKEK, kekVersion: 2).dek.kekVersion == 2)
    }

    @Test func rotateKEKIsAllOrNothing() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (oldKEK, pdk, _) = try await user.createKEK()
        let (deks, keypairs) = try await populate(user, kek: oldKEK, deks: 3, keypairs: 2)
        let newKEK = try SymmetricKey.random()
        let valid = try Svx_Keystore_V1_RotateKEKRequest(
            expected: 1, generation: 1, newKEK: newKEK, pdk: pdk, deks: deks, keypairs: keypairs)
        let unknownDEK = Svx_Keystore_V1_RewrappedKey(
            id: unknownID(), wrapped: try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: newKEK))
        let before = try stack.database.keystoreKeys()

        /// `valid` with one change refused with `code` (and `field`, if given); nothing written.
        func expectRefused(
            _ what: String, _ code: RPCStatus.Code, field: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
            _ change: (inout Svx_Keystore_V1_RotateKEKRequest) -> Void
        ) async throws {
            var request = valid
            change(&request)
            let failure = await user.failure(KeystoreRPC.rotateKEK, try await user.proved(request, kek: oldKEK))
            #expect(failure?.code == code, "\(what): \(failure.map { "\($0)" } ?? "succeeded")", sourceLocation: sourceLocation)
            if let field { #expect(failure?.details["field"] == field, "\(what)", sourceLocation: sourceLocation) }
            #expect(try stack.database.keystoreKeys() == before, "\(what): nothing changes", sourceLocation: sourceLocation)
        }

        try await expectRefused("a DEK missing", .aborted) { $0.deks.removeLast() }
        try await expectRefused("a keypair missing", .aborted) { $0.keypairs.removeFirst() }
        try await expectRefused("an unknown DEK id added", .aborted) { $0.deks.append(unknownDEK) }
        try await expectRefused("an unknown DEK id instead of one", .aborted) { $0.deks[1].id = unknownDEK.id }
        try await expectRefused("a DEK listed as a keypair", .aborted) {
            $0.keypairs.append(.init(id: deks[0].id, wrapped: $0.keypairs[0].wrappedKey))
        }
        try await expectRefused("a plaintext DEK in the middle", .invalidArgument, field: "deks.wrapped_key") {
            $0.deks[1].wrappedKey = Base64URL.encode(deks[1].key)
        }
        try await expectRefused("a plaintext private key in the middle", .invalidArgument, field: "keypairs.wrapped_key") {
            $0.keypairs[1].wrappedKey = keypairs[1].pem
        }
        try await expectRefused("a DEK id twice", .invalidArgument, field: "deks.id") { $0.deks[2].id = $0.deks[0].id }
        try await expectRefused("a DEK listed twice", .invalidArgument, field: "deks.id") { $0.deks.append($0.deks[0]) }
        try await expectRefused("a keypair listed twice", .invalidArgument, field: "keypairs.id") {
            $0.keypairs.append($0.keypairs[1])
        }
        try await expectRefused("not the session's credential generation", .aborted, field: "credential_generation") {
            $0.credentialGeneration = 2
        }
        try await expectRefused("a KEK version ahead", .aborted, field: "expected_kek_version") { $0.expectedKekVersion = 2 }

        // The same request without the flaw commits.
        #expect(try await user.call(KeystoreRPC.rotateKEK, try await user.proved(valid, kek: oldKEK)).kekVersion == 2)
        #expect(try await user.allDEKs().allSatisfy { $0.kekVersion == 2 })
        #expect(try await user.allKeypairs().allSatisfy { $0.kekVersion == 2 })
    }

    // MARK: Passphrase change

    @Test func passphraseChangeStagesThenCommitsOnlyAfterAuthMoved() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser(passphrase: "old")
        let (firstKEK, oldPDK, _) = try await user.createKEK()
        // One rotation first, so that KEK version 1 is a stale one.
        let kek = try SymmetricKey.random()
        _ = try await user.call(KeystoreRPC.rotateKEK, try await user.proved(try .init(
            expected: 1, generation: 1, newKEK: kek, pdk: oldPDK, deks: [], keypairs: []), kek: firstKEK))
        let current = try await user.call(KeystoreRPC.getKEK, .init(generation: 1)).kek
        #expect(current.kekVersion == 2)

        // Step 1: the KEK wrapped by the new PDK, staged under a new generation.
        let newPDK = try SymmetricKey.random()
        let stagedWrap = try Cryppo.encrypt(kek.bytes, key: newPDK)
        let stale = await user.failure(
            KeystoreRPC.stagePassphraseChange, try await user.proved(.init(kekVersion: 1, wrappedKek: stagedWrap), kek: kek))
        #expect(stale?.code == .aborted)
        #expect(await user.failure(KeystoreRPC.getKEK, .init(generation: 2))?.code == .notFound)
        let staged = try await user.call(
            KeystoreRPC.stagePassphraseChange, try await user.proved(.init(kekVersion: 2, wrappedKek: stagedWrap), kek: kek))
        #expect(staged.credentialGeneration == 2)

        let stagedKEK = try await user.call(KeystoreRPC.getKEK, .init(generation: 2))
        #expect(stagedKEK.kek.wrappedKek == stagedWrap)
        #expect(stagedKEK.kek.credentialGeneration == 2 && stagedKEK.kek.kekVersion == 2)
        #expect(!stagedKEK.passphraseChangePending)
        let oldKEK = try await user.call(KeystoreRPC.getKEK, .init(generation: 1))
        #expect(oldKEK.kek == current)
        #expect(oldKEK.passphraseChangePending)

        // While the change is pending: no rotation, and no commit before Auth moved.
        let rotation = try await user.proved(try Svx_Keystore_V1_RotateKEKRequest(
            expected: 2, generation: 1, newKEK: try SymmetricKey.random(), pdk: oldPDK, deks: [], keypairs: []), kek: kek)
        #expect(await user.failure(KeystoreRPC.rotateKEK, rotation)?.code == .failedPrecondition)
        #expect(await user.failure(KeystoreRPC.commitPassphraseChange, .init(generation: 2))?.code == .failedPrecondition)
        #expect(try await user.call(KeystoreRPC.getKEK, .init(generation: 1)).kek == current)
        #expect(try await user.call(KeystoreRPC.getKEK, .init(generation: 2)).kek.wrappedKek == stagedWrap)

        // Step 2 at Auth (compare-and-set), then step 3.
        _ = try await user.changeVerifier(to: "new", expected: 1, new: 2, current: "old")
        let again = await status { _ = try await user.changeVerifier(to: "other", expected: 1, new: 3, current: "new") }
        #expect(again?.code == .aborted)
        #expect(try await user.call(KeystoreRPC.commitPassphraseChange, .init(generation: 2)).removedWraps == 1)
        #expect(await user.failure(KeystoreRPC.getKEK, .init(generation: 1))?.code == .notFound)
        let committed = try await user.call(KeystoreRPC.getKEK, .init(generation: 2))
        #expect(committed.kek.wrappedKek == stagedWrap && !committed.passphraseChangePending)
        #expect(try await user.call(KeystoreRPC.commitPassphraseChange, .init(generation: 2)).removedWraps == 0, "idempotent")

        // A login with the new passphrase is at generation 2 and opens the same KEK with the new PDK.
        let login = try await stack.auth.login(username: user.username, password: password("new"))
        #expect(login.credentialGeneration == 2)
        let loggedIn = try await stack.client(.keystore).call(
            KeystoreRPC.getKEK, .init(generation: 0), sessionToken: login.token, timeout: .seconds(10))
        #expect(try Cryppo.decrypt(loggedIn.kek.wrappedKek, key: newPDK) == kek.bytes)
    }

    // MARK: No plaintext

    @Test func theDatabaseHoldsNoPlaintextKey() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, pdk, stored) = try await user.createKEK()
        let (dek, dekKey) = try await user.createDEK(kek: kek, externalID: "private")
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let keypair = try await user.createKeypair(rsa, kek: kek, identifiers: ["auth"])

        let dump = try stack.database.keystoreKeys()
        // The dump does hold the rows: their wrapped forms are there.
        for wrapped in [stored.wrappedKek, dek.wrappedDek, keypair.wrappedPrivateKey] { #expect(dump.contains(wrapped)) }
        for (what, key) in [("DEK", dekKey), ("KEK", kek.bytes), ("PDK", pdk.bytes)] {
            for encoded in [Hex.encode(key), Hex.encode(key).uppercased(), Base64URL.encode(key), Base64URL.encodeStandard(key)] {
                #expect(!dump.contains(encoded), "the \(what) in clear")
            }
        }
        let pem = try rsa.pem
        #expect(!dump.contains("PRIVATE KEY"))
        for line in pem.split(separator: "\n") where !line.hasPrefix("-----") && line.count >= 32 {
            #expect(!dump.contains(line), "a line of the private key PEM")
        }
        #expect(!dump.contains(Base64URL.encodeStandard(Array(pem.utf8)).prefix(64)))
    }
}

/// `openssl genrsa 1024 | openssl rsa -pubout`: too small for the Keystore.
let rsa1024PublicKeyPEM = """
    -----BEGIN PUBLIC KEY-----
    MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDYM0/vCXHbtkntE+ik4mpMD7s0
    gA/pcSZYBziorR3Z+o9SHsivRc3ahqBHoieSfLJ2wra03q83jPjEIpqk3vNcYGJn
    C9BKZta0K64RmdlZ7V5NaHfUZ7IWNA3/2IL6mTKppymHt6nWSNdEZjusJokifAi0
    Ehjgv+DQ13cnkPLQqwIDAQAB
    -----END PUBLIC KEY-----

    """

/// `openssl ecparam -genkey -name prime256v1 | openssl ec -pubout`: not an RSA key.
let ecP256PublicKeyPEM = """
    -----BEGIN PUBLIC KEY-----
    MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5rwl1q3U1zytLXyM5TuqibVEUL0P
    nI2JSMfI6nGOJgLSV0FV/OBo2rq1vIJtO9zvR6pAXeIc5BPqJbPeoK9/vw==
    -----END PUBLIC KEY-----

    """
