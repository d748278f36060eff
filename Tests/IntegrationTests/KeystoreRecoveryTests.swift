import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// The Keystore's side of account recovery with an offline Recovery Key (docs/ADR-004-keystore.md, "Recovery key"):
/// PutRecoveryKey, GetRecoveryKey, DeleteRecoveryKey and the recovery wrap RotateKEK must carry. Real svx-auth,
/// svx-keystore and PostgreSQL; a real RSA-4096 recovery keypair and real KEKs made with Cryppo. What a RECOVERY
/// session does (its stage marks the key spent, the commit of that generation deletes it) needs Auth's recovery
/// methods and is tested end to end with them.
@Suite(.serialized) struct KeystoreRecoveryTests {
    /// One recovery keypair for the suite: RSA-4096 generation is slow.
    static let recoveryKey: RSAPrivateKey = {
        do { return try RSAPrivateKey.generate(bits: 4096) } catch { preconditionFailure("RSA-4096 generation failed: \(error)") }
    }()

    /// How many recovery keys the keystore holds for `user`, read in the database.
    func storedRecoveryKeys(_ stack: TestStack, _ user: TestUser) throws -> Int64 {
        let connection = try stack.database.connect()
        defer { connection.close() }
        return try connection.query(
            "SELECT count(*) FROM keystore.recovery_keys WHERE user_id = $1::uuid", user.userID)[0].decode(Int64.self, at: 0)
    }

    /// The generation that spent `user`'s recovery key (nil: unused), read in the database.
    func spentBy(_ stack: TestStack, _ user: TestUser) throws -> Int64? {
        let connection = try stack.database.connect()
        defer { connection.close() }
        return try connection.query(
            "SELECT spent_by_generation FROM keystore.recovery_keys WHERE user_id = $1::uuid", user.userID
        )[0].decode(Int64?.self, at: 0)
    }

    @Test func anEnrolledRecoveryKeyReadsBackAndOpensTheKEK() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let rwk = try SymmetricKey.random()
        #expect(await user.failure(KeystoreRPC.getRecoveryKey, .init())?.code == .notFound)

        #expect(try await user.putRecoveryKey(Self.recoveryKey, rwk: rwk, kek: kek) == false)
        let stored = try await user.call(KeystoreRPC.getRecoveryKey, .init()).recoveryKey
        let sent = try Svx_Keystore_V1_PutRecoveryKeyRequest(Self.recoveryKey, rwk: rwk, kek: kek)
        #expect(try RSAPublicKey(pem: stored.publicKeyPem).pem == (try Self.recoveryKey.publicKey.pem))
        #expect(stored.publicKeyPem == sent.publicKeyPem)
        #expect(stored.kekVersion == 1)
        #expect(stored.createdAtMs > 0)
        #expect(stored.kekCheck == Data(try KEKCheck.publicKey(for: kek)))
        #expect(try stored.openedKEK(rwk: rwk) == kek.bytes)

        // Replaced: another RWK (a new Recovery Key), the same keypair.
        let otherRWK = try SymmetricKey.random()
        #expect(try await user.putRecoveryKey(Self.recoveryKey, rwk: otherRWK, kek: kek) == true)
        let replaced = try await user.call(KeystoreRPC.getRecoveryKey, .init()).recoveryKey
        #expect(replaced.wrappedPrivateKey != stored.wrappedPrivateKey)
        #expect(try replaced.openedKEK(rwk: otherRWK) == kek.bytes)
        #expect(throws: (any Error).self) { _ = try replaced.openedKEK(rwk: rwk) }
        #expect(try storedRecoveryKeys(stack, user) == 1)

        // Deleted, idempotently.
        #expect(try await user.call(KeystoreRPC.deleteRecoveryKey, .init()).removed == true)
        #expect(try await user.call(KeystoreRPC.deleteRecoveryKey, .init()).removed == false)
        let gone = await user.failure(KeystoreRPC.getRecoveryKey, .init())
        #expect(gone?.code == .notFound && gone?.message == "no recovery key", "\(String(describing: gone))")
        #expect(try storedRecoveryKeys(stack, user) == 0)
    }

    /// Another user's recovery key is answered exactly like none; that user can neither read nor delete it.
    @Test func anotherUserCannotSeeOrDeleteTheRecoveryKey() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let owner = try await stack.newUser()
        let (kek, _, _) = try await owner.createKEK()
        try await owner.putRecoveryKey(Self.recoveryKey, rwk: try SymmetricKey.random(), kek: kek)
        let other = try await stack.newUser()
        _ = try await other.createKEK()
        let seen = await other.failure(KeystoreRPC.getRecoveryKey, .init())
        let none = await (try await stack.newUser()).failure(KeystoreRPC.getRecoveryKey, .init())
        #expect(seen?.code == .notFound)
        #expect(seen == none, "\(String(describing: seen)) vs \(String(describing: none))")
        #expect(try await other.call(KeystoreRPC.deleteRecoveryKey, .init()).removed == false)
        #expect(try storedRecoveryKeys(stack, owner) == 1)
        _ = try await owner.call(KeystoreRPC.getRecoveryKey, .init())
    }

    /// Enrolling and deleting need a session from a recent login (reading does not: a RECOVERY session reads it).
    @Test func enrollingAndDeletingNeedARecentLogin() async throws {
        // The default window; the older session is aged in the database (as Auth's own role could), so that a loaded
        // machine cannot push the fresh login's calls out of a short window.
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        try {
            let connection = try stack.database.connect()
            defer { connection.close() }
            #expect(try connection.execute(
                "UPDATE auth.sessions SET created_at = now() - interval '2 hours' WHERE session_id = $1::uuid",
                user.session.sessionID) == 1)
        }()
        let request = try Svx_Keystore_V1_PutRecoveryKeyRequest(Self.recoveryKey, rwk: try SymmetricKey.random(), kek: kek)
        let put = await user.failure(KeystoreRPC.putRecoveryKey, try await user.proved(request, kek: kek))
        #expect(put?.code == .failedPrecondition && put?.details["reason"] == "reauthentication_required", "\(String(describing: put))")
        #expect(try storedRecoveryKeys(stack, user) == 0)

        // A fresh login enrols; the older session can still read it but not delete it.
        let fresh = try await user.loggedInAgain()
        try await fresh.putRecoveryKey(Self.recoveryKey, rwk: try SymmetricKey.random(), kek: kek)
        let deleted = await user.failure(KeystoreRPC.deleteRecoveryKey, .init())
        #expect(deleted?.code == .failedPrecondition && deleted?.details["reason"] == "reauthentication_required")
        _ = try await user.call(KeystoreRPC.getRecoveryKey, .init())
        #expect(try storedRecoveryKeys(stack, user) == 1)
    }

    /// A session alone cannot enrol a recovery key (one whose private half the holder of a stolen session knows would
    /// give it the KEK at the next rotation): the request must be proved by the current KEK.
    @Test func enrollingNeedsAProofOfTheKEK() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let attackerKEK = try SymmetricKey.random()
        let request = try Svx_Keystore_V1_PutRecoveryKeyRequest(Self.recoveryKey, rwk: try SymmetricKey.random(), kek: kek)

        let bare = await user.failure(KeystoreRPC.putRecoveryKey, request)
        #expect(bare?.code == .invalidArgument && bare?.details["field"] == "kek_proof", "\(String(describing: bare))")
        // Signed by another KEK's check key.
        let forged = await user.failure(KeystoreRPC.putRecoveryKey, try await user.proved(request, kek: attackerKEK))
        #expect(forged?.code == .permissionDenied && forged?.details["field"] == "kek_proof", "\(String(describing: forged))")
        // A real proof moved onto another request (the signature covers every field).
        var moved = try await user.proved(request, kek: kek)
        moved.kekRecoveryWrap = try Cryppo.encrypt(attackerKEK.bytes, publicKey: try Self.recoveryKey.publicKey)
        #expect(await user.failure(KeystoreRPC.putRecoveryKey, moved)?.code == .permissionDenied)
        // A nonce and 64 random bytes.
        var random = request
        random.kekProof.challengeID = try await user.call(KeystoreRPC.beginKEKProof, .init()).challengeID
        random.kekProof.signature = Data(try SecureRandom.bytes(count: 64))
        #expect(await user.failure(KeystoreRPC.putRecoveryKey, random)?.code == .permissionDenied)
        #expect(try storedRecoveryKeys(stack, user) == 0)

        // A stale KEK version, properly proved: ABORTED.
        var stale = request
        stale.kekVersion = 2
        let aborted = await user.failure(KeystoreRPC.putRecoveryKey, try await user.proved(stale, kek: kek))
        #expect(aborted?.code == .aborted && aborted?.details["field"] == "kek_version", "\(String(describing: aborted))")
        #expect(try storedRecoveryKeys(stack, user) == 0)
    }

    /// What is not a recovery key is refused naming the field, and nothing is stored: plaintext, other strategies, a
    /// passphrase-derived string, a key of another size.
    @Test func whatIsNotARecoveryKeyIsRefusedNamingTheField() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let rwk = try SymmetricKey.random()
        let valid = try Svx_Keystore_V1_PutRecoveryKeyRequest(Self.recoveryKey, rwk: rwk, kek: kek)
        let small = try RSAPrivateKey.generate(bits: 2048)
        let privatePEM = try Self.recoveryKey.pem

        let cases: [(String, String, (inout Svx_Keystore_V1_PutRecoveryKeyRequest) throws -> Void)] = [
            ("public_key_pem", "missing", { $0.publicKeyPem = "" }),
            ("public_key_pem", "a 2048-bit key", { $0.publicKeyPem = try small.publicKeyPEM }),
            ("public_key_pem", "the private key's PEM", { $0.publicKeyPem = privatePEM }),
            ("public_key_pem", "not a PEM", { $0.publicKeyPem = "ssh-rsa AAAA" }),
            ("wrapped_private_key", "missing", { $0.wrappedPrivateKey = "" }),
            ("wrapped_private_key", "a plaintext PEM", { $0.wrappedPrivateKey = privatePEM }),
            ("wrapped_private_key", "an Rsa4096 string", {
                $0.wrappedPrivateKey = try Cryppo.encrypt(rwk.bytes, publicKey: try Self.recoveryKey.publicKey)
            }),
            ("wrapped_private_key", "a passphrase-derived string", {
                $0.wrappedPrivateKey = try Cryppo.encrypt(Array(privatePEM.utf8), passphrase: "a passphrase")
            }),
            ("wrapped_private_key", "a wrapped 32-byte key", { $0.wrappedPrivateKey = try Cryppo.encrypt(kek.bytes, key: rwk) }),
            ("kek_recovery_wrap", "missing", { $0.kekRecoveryWrap = "" }),
            ("kek_recovery_wrap", "the KEK in clear", { $0.kekRecoveryWrap = Data(kek.bytes).base64EncodedString() }),
            ("kek_recovery_wrap", "an Aes256Gcm string", { $0.kekRecoveryWrap = try Cryppo.encrypt(kek.bytes, key: rwk) }),
            ("kek_recovery_wrap", "an Rsa4096 string for a 2048-bit key", {
                $0.kekRecoveryWrap = try Cryppo.encrypt(kek.bytes, publicKey: try small.publicKey)
            }),
            ("kek_version", "missing", { $0.kekVersion = 0 }),
            ("public_key_mac", "missing", { $0.publicKeyMac = Data() }),
            ("public_key_mac", "16 bytes", { $0.publicKeyMac = Data(repeating: 7, count: 16) }),
        ]
        for (field, what, change) in cases {
            var request = valid
            try change(&request)
            // Shapes are checked before the proof: no nonce is spent on them.
            let failure = await user.failure(KeystoreRPC.putRecoveryKey, request)
            #expect(failure?.code == .invalidArgument, "\(what): \(String(describing: failure))")
            #expect(failure?.details["field"] == field, "\(what): \(String(describing: failure))")
        }
        #expect(try storedRecoveryKeys(stack, user) == 0)
        // The valid request goes through.
        #expect(try await user.call(KeystoreRPC.putRecoveryKey, try await user.proved(valid, kek: kek)).replaced == false)
    }

    /// While a recovery key is enrolled, every rotation must re-wrap the new KEK for it (else the recovery key would
    /// open a KEK that opens nothing); without one, a recovery wrap is a stale client's and refused.
    @Test func aRotationCarriesTheRecoveryWrapWhileARecoveryKeyIsEnrolled() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, pdk, _) = try await user.createKEK()
        let (dek, dekKey) = try await user.createDEK(kek: kek)
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let keypair = try await user.createKeypair(rsa, kek: kek)
        let rwk = try SymmetricKey.random()
        try await user.putRecoveryKey(Self.recoveryKey, rwk: rwk, kek: kek)
        let before = try stack.database.keystoreKeys()

        let newKEK = try SymmetricKey.random()
        let rotate = try Svx_Keystore_V1_RotateKEKRequest(
            expected: 1, generation: user.credentialGeneration, newKEK: newKEK, pdk: pdk,
            deks: [(dek.dekID, dekKey)], keypairs: [(keypair.keypairID, try rsa.pem)])
        let missing = await user.failure(KeystoreRPC.rotateKEK, try await user.proved(rotate, kek: kek))
        #expect(missing?.code == .failedPrecondition, "\(String(describing: missing))")
        #expect(missing?.details["reason"] == "recovery_wrap_required")
        var wrongStrategy = rotate
        wrongStrategy.kekRecoveryWrap = try Cryppo.encrypt(newKEK.bytes, key: rwk)
        let wrong = await user.failure(KeystoreRPC.rotateKEK, wrongStrategy)
        #expect(wrong?.code == .invalidArgument && wrong?.details["field"] == "kek_recovery_wrap", "\(String(describing: wrong))")
        #expect(try stack.database.keystoreKeys() == before, "nothing rotated")

        var carried = rotate
        try carried.carryRecovery(Self.recoveryKey, newKEK: newKEK)
        var withoutMAC = carried
        withoutMAC.recoveryPublicKeyMac = Data()
        let noMAC = await user.failure(KeystoreRPC.rotateKEK, withoutMAC)
        #expect(noMAC?.code == .invalidArgument && noMAC?.details["field"] == "recovery_public_key_mac", "\(String(describing: noMAC))")
        // A wrap made for a recovery key that was replaced since it was read (enable --replace racing the rotation):
        // ABORTED, nothing rotated.
        var forAnotherKey = carried
        forAnotherKey.recoveryPublicKeySha256 = Data(HashFunction.sha256.hash(Array("another public key".utf8)))
        let replaced = await user.failure(KeystoreRPC.rotateKEK, try await user.proved(forAnotherKey, kek: kek))
        #expect(replaced?.code == .aborted && replaced?.details["field"] == "recovery_public_key_sha256", "\(String(describing: replaced))")
        #expect(try stack.database.keystoreKeys() == before, "nothing rotated")
        #expect(try await user.call(KeystoreRPC.rotateKEK, try await user.proved(carried, kek: kek)).kekVersion == 2)
        let rotated = try await user.call(KeystoreRPC.getRecoveryKey, .init()).recoveryKey
        #expect(rotated.kekVersion == 2)
        #expect(rotated.kekRecoveryWrap == carried.kekRecoveryWrap && rotated.publicKeyMac == carried.recoveryPublicKeyMac)
        #expect(RecoveryKeyMAC.verify(Array(rotated.publicKeyMac), publicKey: try Self.recoveryKey.publicKey, kek: newKEK))
        #expect(rotated.kekCheck == Data(try KEKCheck.publicKey(for: newKEK)))
        #expect(try rotated.openedKEK(rwk: rwk) == newKEK.bytes)
        // The replaced recovery wrap is kept aside with the other replaced wraps, for an operator's restore.
        let kept = try {
            let connection = try stack.database.connect()
            defer { connection.close() }
            return try connection.query(
                """
                SELECT kek_version, wrapped_key FROM keystore.superseded_key_wraps
                WHERE user_id = $1::uuid AND key_kind = 'recovery_wrap'
                """, user.userID).map { (try $0.decode(Int32.self, at: 0), try $0.decode(String.self, at: 1)) }
        }()
        #expect(kept.count == 1 && kept.first?.0 == 1)
        #expect(try kept.first.map { try Cryppo.decrypt($0.1, privateKey: Self.recoveryKey) } == kek.bytes)

        // Without a recovery key, a recovery wrap is refused and nothing rotates; without it the rotation goes through.
        #expect(try await user.call(KeystoreRPC.deleteRecoveryKey, .init()).removed)
        let newerKEK = try SymmetricKey.random()
        var next = try Svx_Keystore_V1_RotateKEKRequest(
            expected: 2, generation: user.credentialGeneration, newKEK: newerKEK, pdk: pdk,
            deks: [(dek.dekID, dekKey)], keypairs: [(keypair.keypairID, try rsa.pem)])
        try next.carryRecovery(Self.recoveryKey, newKEK: newerKEK)
        let unenrolled = await user.failure(KeystoreRPC.rotateKEK, try await user.proved(next, kek: newKEK))
        #expect(unenrolled?.code == .aborted && unenrolled?.details["field"] == "kek_recovery_wrap", "\(String(describing: unenrolled))")
        #expect(try await user.call(KeystoreRPC.getKEK, .init()).kek.kekVersion == 2)
        next.kekRecoveryWrap = ""
        let strayMAC = await user.failure(KeystoreRPC.rotateKEK, try await user.proved(next, kek: newKEK))
        #expect(strayMAC?.code == .invalidArgument && strayMAC?.details["field"] == "recovery_public_key_mac")
        next.recoveryPublicKeyMac = Data()
        let strayDigest = await user.failure(KeystoreRPC.rotateKEK, try await user.proved(next, kek: newKEK))
        #expect(strayDigest?.code == .invalidArgument && strayDigest?.details["field"] == "recovery_public_key_sha256")
        next.recoveryPublicKeySha256 = Data()
        #expect(try await user.call(KeystoreRPC.rotateKEK, try await user.proved(next, kek: newKEK)).kekVersion == 3)
    }

    /// A normal passphrase change (Stage, ChangeVerifier, Commit by a full session) keeps the KEK, so the recovery key
    /// stays as it was.
    @Test func theRecoveryKeySurvivesANormalPassphraseChange() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let rwk = try SymmetricKey.random()
        try await user.putRecoveryKey(Self.recoveryKey, rwk: rwk, kek: kek)
        let enrolled = try await user.call(KeystoreRPC.getRecoveryKey, .init()).recoveryKey

        let wrapped = try Cryppo.encrypt(kek.bytes, key: try SymmetricKey.random())
        let staged = try await user.call(
            KeystoreRPC.stagePassphraseChange, try await user.proved(.init(kekVersion: 1, wrappedKek: wrapped), kek: kek)
        ).credentialGeneration
        #expect(staged == 2)
        _ = try await user.changeVerifier(to: "next", expected: 1, new: staged)
        #expect(try await user.call(KeystoreRPC.commitPassphraseChange, .init(generation: staged)).removedWraps == 1)

        #expect(try await user.call(KeystoreRPC.getRecoveryKey, .init()).recoveryKey == enrolled)
        #expect(try spentBy(stack, user) == nil)
    }

    /// The documented restore (scripts/keystore-restore-kek.sql) puts back the recovery wrap of the restored version
    /// when it was made for the recovery key the user has now, and lists the recovery key when it was not.
    @Test func theRestorePutsBackTheRecoveryWrapOfTheRestoredVersion() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, pdk, _) = try await user.createKEK()
        let rwk = try SymmetricKey.random()
        try await user.putRecoveryKey(Self.recoveryKey, rwk: rwk, kek: kek)
        func rotate(from version: UInt32, current: SymmetricKey, to next: SymmetricKey) async throws {
            var request = try Svx_Keystore_V1_RotateKEKRequest(
                expected: version, generation: user.credentialGeneration, newKEK: next, pdk: pdk, deks: [], keypairs: [])
            try request.carryRecovery(Self.recoveryKey, newKEK: next)
            #expect(try await user.call(KeystoreRPC.rotateKEK, try await user.proved(request, kek: current)).kekVersion == version + 1)
        }
        let second = try SymmetricKey.random()
        try await rotate(from: 1, current: kek, to: second)
        let broken = try SymmetricKey.random()  // say, a KEK whose wraps turned out to open nothing
        try await rotate(from: 2, current: second, to: broken)

        let restored = try await stack.database.restoreKEK(userID: user.userID, version: 2, generation: 1)
        #expect(restored.status == 0, "\(restored.output)")
        #expect(!restored.output.contains("recovery_key"), "\(restored.output)")
        let key = try await user.call(KeystoreRPC.getRecoveryKey, .init()).recoveryKey
        #expect(key.kekVersion == 4)
        #expect(key.kekCheck == Data(try KEKCheck.publicKey(for: second)))
        #expect(try key.openedKEK(rwk: rwk) == second.bytes)
        // ... with the public key's MAC by that KEK, kept beside the wrap.
        #expect(RecoveryKeyMAC.verify(Array(key.publicKeyMac), publicKey: try Self.recoveryKey.publicKey, kek: second))

        // Rotated again, then enrolled anew (another Recovery Key): the kept wrap of version 4 was made for the
        // earlier enrolment, so the restore leaves the recovery key alone and lists it.
        let third = try SymmetricKey.random()
        try await rotate(from: 4, current: second, to: third)
        let newRWK = try SymmetricKey.random()
        try await user.putRecoveryKey(Self.recoveryKey, rwk: newRWK, kek: third, kekVersion: 5)
        let again = try await stack.database.restoreKEK(userID: user.userID, version: 4, generation: 1)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("recovery_key"), "\(again.output)")
        let left = try await user.call(KeystoreRPC.getRecoveryKey, .init()).recoveryKey
        #expect(left.kekVersion == 5)
        #expect(try left.openedKEK(rwk: newRWK) == third.bytes)
    }

    /// CommitPassphraseChange deletes the recovery key spent by exactly the generation Auth is at, and no other. A
    /// RECOVERY session's stage (which sets `spent_by_generation`) needs Auth's recovery methods: here the mark is set
    /// in the database, as that stage leaves it, on wraps staged by a full session.
    @Test func theCommitDeletesOnlyTheRecoveryKeySpentByItsGeneration() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        try await user.putRecoveryKey(Self.recoveryKey, rwk: try SymmetricKey.random(), kek: kek)
        func markSpent(_ generation: Int64?) throws {
            let connection = try stack.database.connect()
            defer { connection.close() }
            _ = try connection.execute(
                "UPDATE keystore.recovery_keys SET spent_by_generation = $2 WHERE user_id = $1::uuid", user.userID, generation)
        }
        func stage() async throws -> UInt64 {
            let wrapped = try Cryppo.encrypt(kek.bytes, key: try SymmetricKey.random())
            return try await user.call(
                KeystoreRPC.stagePassphraseChange, try await user.proved(.init(kekVersion: 1, wrappedKek: wrapped), kek: kek)
            ).credentialGeneration
        }

        // PutRecoveryKey clears the mark.
        try markSpent(7)
        #expect(try await user.putRecoveryKey(Self.recoveryKey, rwk: try SymmetricKey.random(), kek: kek) == true)
        #expect(try storedRecoveryKeys(stack, user) == 1)
        #expect(try spentBy(stack, user) == nil)

        // A recovery stage abandoned at 2; a normal change staged at 3 commits past it: the key stays.
        let abandoned = try await stage()
        try markSpent(Int64(abandoned))
        let normal = try await stage()
        #expect((abandoned, normal) == (2, 3))
        _ = try await user.changeVerifier(to: "second", expected: 1, new: normal)
        _ = try await user.call(KeystoreRPC.commitPassphraseChange, .init(generation: normal))
        #expect(try storedRecoveryKeys(stack, user) == 1)

        // The change the "recovery" staged reaches Auth: its commit deletes the key.
        let recovered = try await stage()
        try markSpent(Int64(recovered))
        _ = try await user.changeVerifier(to: "third", expected: normal, new: recovered, current: "second")
        _ = try await user.call(KeystoreRPC.commitPassphraseChange, .init(generation: recovered))
        #expect(try storedRecoveryKeys(stack, user) == 0)
        #expect(await user.failure(KeystoreRPC.getRecoveryKey, .init())?.code == .notFound)
    }
}
