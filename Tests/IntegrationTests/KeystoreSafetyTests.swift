import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// The Keystore's guards against losing keys: what a stale, hostile or unlucky client can and cannot destroy.
/// docs/ADR-004-keystore.md.
@Suite(.serialized) struct KeystoreSafetyTests {
    func generations(_ stack: TestStack, _ user: TestUser) throws -> [Int64] {
        let connection = try stack.database.connect()
        defer { connection.close() }
        return try connection.query(
            "SELECT credential_generation FROM keystore.kek_wraps WHERE user_id = $1::uuid ORDER BY 1", user.userID
        ).map { try $0.decode(Int64.self, at: 0) }
    }

    func stage(_ user: TestUser, _ kek: SymmetricKey, version: UInt32 = 1) async throws -> UInt64 {
        let wrapped = try Cryppo.encrypt(kek.bytes, key: try SymmetricKey.random())
        return try await user.call(
            KeystoreRPC.stagePassphraseChange, try await user.proved(.init(kekVersion: version, wrappedKek: wrapped), kek: kek)
        ).credentialGeneration
    }

    /// A verifier moved to a generation that has no wrap (a client that skipped the Keystore step, or a stolen
    /// fresh token) does not make the Keystore drop the wrap that the owner's passphrase still opens.
    @Test func theLastWrapTheOwnersPassphraseOpensIsNeverDeleted() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        _ = try await user.changeVerifier(to: "hijacked", expected: 1, new: 2)  // no staged wrap for 2
        #expect(try await stage(user, kek) == 3)
        let commit = await user.failure(KeystoreRPC.commitPassphraseChange, .init(generation: 2))
        #expect(commit?.code == .failedPrecondition)
        #expect(try generations(stack, user) == [1, 3])  // generation 1's wrap is kept for recovery
    }

    /// Staged wraps that can never become current are deleted, so abandoned changes neither pile up nor block a
    /// rotation: here A (generation 2) and B (3) are staged from 1 and A's change reaches Auth first.
    @Test func stagedWrapsThatCanNoLongerWinAreDeleted() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, pdk, _) = try await user.createKEK()
        let a = try await stage(user, kek)
        let b = try await stage(user, kek)
        #expect((a, b) == (2, 3))
        #expect(try await user.call(KeystoreRPC.getKEK, .init(generation: 1)).passphraseChangePending)
        _ = try await user.changeVerifier(to: "A", expected: 1, new: a)
        #expect(try await user.call(KeystoreRPC.commitPassphraseChange, .init(generation: a)).removedWraps == 2)
        #expect(try generations(stack, user) == [2])  // B was staged from 1, which Auth has left

        // Nothing pending: a rotation goes through (with a fresh login at generation 2).
        let fresh = try await stack.auth.login(username: user.username, password: password("A"))
        let rotation = user.with(session: fresh)
        let rotate = try Svx_Keystore_V1_RotateKEKRequest(
            expected: 1, generation: 2, newKEK: try SymmetricKey.random(), pdk: pdk, deks: [], keypairs: [])
        #expect(try await rotation.call(KeystoreRPC.rotateKEK, try await rotation.proved(rotate, kek: kek)).kekVersion == 2)
    }

    @Test func atMostSixteenWrapsPerUser() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        for expected in 2...16 { #expect(try await stage(user, kek) == UInt64(expected)) }
        let refused = await status { _ = try await stage(user, kek) }
        #expect(refused?.code == .resourceExhausted)
        #expect(try generations(stack, user).count == 16)
        // A change that reaches Auth from generation 1 makes the other fourteen dead: they go at the commit.
        _ = try await user.changeVerifier(to: "new", expected: 1, new: 16)
        _ = try await user.call(KeystoreRPC.commitPassphraseChange, .init(generation: 16))
        #expect(try generations(stack, user) == [16])
    }

    /// Generations cannot be pushed to the edge of their range (an overflow would stop the Keystore).
    @Test func generationsMoveBySmallSteps() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        for new: UInt64 in [UInt64(Int64.max), UInt64.max, 1 + 1_001] {
            let failure = await status { _ = try await user.changeVerifier(to: "x", expected: 1, new: new) }
            #expect(failure?.code == .invalidArgument, "\(new)")
            #expect(failure?.details["field"] == "new_generation")
        }
        _ = try await user.changeVerifier(to: "x", expected: 1, new: 1_001)
    }

    /// Staging a change and rotating replace keys: a session from an older login cannot.
    @Test func stagingAndRotatingNeedARecentLogin() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: [.auth: ["SVX_AUTH_REAUTH_WINDOW_MS": "1000"]])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, pdk, _) = try await user.createKEK()
        try await Task.sleep(for: .milliseconds(1_500))
        let staged = await status { _ = try await stage(user, kek) }
        #expect(staged?.code == .failedPrecondition)
        #expect(staged?.details["reason"] == "reauthentication_required")
        let rotate = try Svx_Keystore_V1_RotateKEKRequest(
            expected: 1, generation: 1, newKEK: try SymmetricKey.random(), pdk: pdk, deks: [], keypairs: [])
        let rotated = await user.failure(KeystoreRPC.rotateKEK, try await user.proved(rotate, kek: kek))
        #expect(rotated?.details["reason"] == "reauthentication_required")
        #expect(try generations(stack, user) == [1])
        // Reading still works with the older session.
        _ = try await user.call(KeystoreRPC.getKEK, .init(generation: 1))
    }

    /// The private DEK and the account keypair are never deleted (the next login would quietly replace them and
    /// everything they protect would be lost).
    @Test func thePrivateDEKAndTheAccountKeypairCannotBeDeleted() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let (dek, _) = try await user.createDEK(kek: kek, externalID: "private")
        let keypair = try await user.createKeypair(try RSAPrivateKey.generate(bits: 2048), kek: kek, identifiers: ["auth", "other"])
        let dekFailure = await user.failure(KeystoreRPC.deleteDEK, .init(id: dek.dekID))
        #expect(dekFailure?.code == .failedPrecondition)
        var deleteKeypair = Svx_Keystore_V1_DeleteKeypairRequest()
        deleteKeypair.keypairID = keypair.keypairID
        #expect(await user.failure(KeystoreRPC.deleteKeypair, deleteKeypair)?.code == .failedPrecondition)
        _ = try await user.call(KeystoreRPC.getDEK, .init(id: dek.dekID))
        // Another user's ids stay NOT_FOUND, reserved or not.
        let other = try await stack.newUser()
        #expect(await other.failure(KeystoreRPC.deleteDEK, .init(id: dek.dekID))?.code == .notFound)
        #expect(await other.failure(KeystoreRPC.deleteKeypair, deleteKeypair)?.code == .notFound)
    }

    /// What OpenSSL's parser skips (bytes after the key inside the base64 body) is not stored: the Keystore keeps
    /// the key as OpenSSL writes it back.
    @Test func publicKeysAreStoredInCanonicalForm() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let privateKey = try RSAPrivateKey.generate(bits: 2048)
        let canonical = try privateKey.publicKeyPEM
        let body = canonical.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let der = try #require(Data(base64Encoded: body)) + Data("smuggled plaintext".utf8)
        let padded = der.base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        let tampered = "-----BEGIN PUBLIC KEY-----\n\(padded)\n-----END PUBLIC KEY-----\n"
        var request = try Svx_Keystore_V1_CreateKeypairRequest(privateKey, kek: kek)
        request.publicKeyPem = tampered
        switch await status({ _ = try await user.call(KeystoreRPC.createKeypair, request) }) {
        case nil:
            // OpenSSL accepted it: what is stored is the key alone.
            let stored = try await user.allKeypairs()
            #expect(stored.map(\.publicKeyPem) == [canonical])
            #expect(!(try stack.database.keystoreKeys()).contains("smuggled"))
        case let failure?:
            #expect(failure.code == .invalidArgument)
        }
    }

    /// A key created while a rotation holds the user's row waits for it, then is refused: the KEK it was wrapped
    /// by is gone. Deterministic: the test holds the row lock and commits the "rotation" itself.
    @Test func aKeyCreatedDuringARotationIsRefusedAfterIt() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let connection = try stack.database.connect()
        defer { connection.close() }
        _ = try connection.execute("BEGIN")
        _ = try connection.query("SELECT kek_version FROM keystore.users WHERE user_id = $1::uuid FOR UPDATE", user.userID)
        let request = Svx_Keystore_V1_CreateDEKRequest(wrapped: try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: kek))
        let keypairRequest = try Svx_Keystore_V1_CreateKeypairRequest(try RSAPrivateKey.generate(bits: 2048), kek: kek)
        async let dek = status { _ = try await user.call(KeystoreRPC.createDEK, request) }
        async let keypair = status { _ = try await user.call(KeystoreRPC.createKeypair, keypairRequest) }
        // Both wait on the lock (bounded: their deadline is 10 s); then the "rotation" commits.
        try await Task.sleep(for: .milliseconds(500))
        _ = try connection.execute("UPDATE keystore.users SET kek_version = 2 WHERE user_id = $1::uuid", user.userID)
        _ = try connection.execute("COMMIT")
        #expect(await dek?.code == .aborted)
        #expect(await keypair?.code == .aborted)
        let deks = try await user.allDEKs()
        let keypairs = try await user.allKeypairs()
        #expect(deks.isEmpty && keypairs.isEmpty)
    }
}
