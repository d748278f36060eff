import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// Security review H2: a session token, even from a login a minute ago, must not be enough to destroy a user's key
/// hierarchy. Staging a passphrase change and rotating prove possession of the KEK, ChangeVerifier proves the
/// passphrase, and wraps that leave use are kept aside for an operator's restore (docs/ADR-004-keystore.md,
/// docs/ADR-002-auth.md). Real svx-auth, svx-keystore, svx-vault and PostgreSQL; the attacker is a plain RPC client
/// holding the owner's fresh session token.
@Suite(.serialized) struct KEKPossessionTests {
    static let ownerPassphrase = "the owner's passphrase"

    /// Three items with values, as the owner stored them.
    func storeItems(_ stack: TestStack, _ session: AuthenticatedSession, _ keys: UnlockedKeys) async throws
        -> [String: String]
    {
        var stored: [String: String] = [:]
        for (index, value) in ["passport P1234567", "blood type 0-", "IBAN GB29 NWBK 6016 1331 9268 19"].enumerated() {
            let item = try await stack.vault.createItem(
                session: session, keys: keys, templateName: "secure_note", label: "item \(index)", values: [("note", value)])
            stored[item.id] = value
        }
        return stored
    }

    /// The owner logs in again, opens the keys and reads every item: nothing was lost.
    func expectOwnerReadsEverything(
        _ stack: TestStack, _ secretKey: SecretKey, _ items: [String: String], kek: SymmetricKey,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let (session, keys) = try await stack.logIn(secretKey, Self.ownerPassphrase)
        #expect(keys.kek == kek, sourceLocation: sourceLocation)
        #expect(keys.kekCheckVerified, sourceLocation: sourceLocation)
        for (id, value) in items {
            let item = try await stack.vault.item(session: session, keys: keys, id: id)
            #expect(item.slot(named: "note")?.value == value, sourceLocation: sourceLocation)
        }
    }

    /// A call with `token`, as an attacker who holds it makes it.
    func call<Request, Response>(
        _ client: RPCClient, _ method: RPCMethod<Request, Response>, _ request: Request, token: String
    ) async throws -> Response {
        try await client.call(method, request, sessionToken: token, timeout: .seconds(10))
    }

    /// A KEK proof over `transcript` by `signer` (any key) for a nonce the token got.
    func madeUpProof(
        _ keystore: RPCClient, token: String, signer: SymmetricKey, transcript: (String, [UInt8]) -> ProofTranscript
    ) async throws -> Svx_Keystore_V1_KEKProof {
        let challenge = try await call(keystore, KeystoreRPC.beginKEKProof, .init(), token: token)
        var proof = Svx_Keystore_V1_KEKProof()
        proof.challengeID = challenge.challengeID
        proof.signature = Data(try KEKCheck.signingKey(for: signer).sign(transcript(challenge.challengeID, Array(challenge.nonce)).bytes))
        return proof
    }

    func randomWrap(bytes: Int) throws -> String { try Cryppo.encrypt(try SecureRandom.bytes(count: bytes), key: try SymmetricKey.random()) }

    // MARK: The two exploits of the review

    /// Exploit (a): ListDEKs, ListKeypairs, then one RotateKEK with random wraps for everything. Refused however
    /// the attacker words it; the owner still reads every item.
    @Test func aFreshStolenTokenCannotReplaceEveryWrapWithGarbage() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp(Self.ownerPassphrase)
        try await stack.vault.ensureVaultUser(session: session, keys: keys)
        let items = try await storeItems(stack, session, keys)
        let before = try stack.database.keystoreKeys()

        let keystore = stack.keyring.keystore
        let token = session.token  // from a login a moment ago: "recently authenticated"
        let deks = try await call(keystore, KeystoreRPC.listDEKs, .init(pageSize: 500), token: token).deks
        let keypairs = try await call(keystore, KeystoreRPC.listKeypairs, .init(pageSize: 500), token: token).keypairs
        let attackerKEK = try SymmetricKey.random()
        var garbage = Svx_Keystore_V1_RotateKEKRequest()
        garbage.expectedKekVersion = 1
        garbage.credentialGeneration = session.credentialGeneration
        garbage.wrappedKek = try randomWrap(bytes: 32)
        garbage.derivation = KeyringClient.derivationArtefacts
        garbage.deks = try deks.map { .init(id: $0.dekID, wrapped: try randomWrap(bytes: 32)) }
        garbage.keypairs = try keypairs.map { .init(id: $0.keypairID, wrapped: try randomWrap(bytes: 256)) }
        garbage.newKekCheck = Data(try KEKCheck.publicKey(for: attackerKEK))

        // As before the fix: no proof at all.
        let bare = await status { _ = try await call(keystore, KeystoreRPC.rotateKEK, garbage, token: token) }
        #expect(bare?.code == .invalidArgument && bare?.details["field"] == "kek_proof", "\(String(describing: bare))")
        // A real nonce (the token can get one), signed by a key the attacker made up.
        var signed = garbage
        signed.kekProof = try await madeUpProof(keystore, token: token, signer: attackerKEK) { id, nonce in
            var request = garbage
            request.kekProof.challengeID = id
            return ProofTranscript.rotateKEK(request, userID: session.userID, nonce: nonce)
        }
        let forged = await status { _ = try await call(keystore, KeystoreRPC.rotateKEK, signed, token: token) }
        #expect(forged?.code == .permissionDenied && forged?.details["field"] == "kek_proof", "\(String(describing: forged))")
        // A nonce and 64 random bytes.
        var random = garbage
        random.kekProof.challengeID = try await call(keystore, KeystoreRPC.beginKEKProof, .init(), token: token).challengeID
        random.kekProof.signature = Data(try SecureRandom.bytes(count: 64))
        #expect(await status { _ = try await call(keystore, KeystoreRPC.rotateKEK, random, token: token) }?.code == .permissionDenied)

        #expect(try stack.database.keystoreKeys() == before, "no wrap changed")
        try await expectOwnerReadsEverything(stack, secretKey, items, kek: keys.kek)
    }

    /// Exploit (b): StagePassphraseChange with a random wrap, ChangeVerifier with the attacker's verifier, then
    /// CommitPassphraseChange. Every step is refused; the owner's passphrase and wrap stay.
    @Test func aFreshStolenTokenCannotStageGarbageChangeTheVerifierAndCommit() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp(Self.ownerPassphrase)
        try await stack.vault.ensureVaultUser(session: session, keys: keys)
        let items = try await storeItems(stack, session, keys)
        let keystore = stack.keyring.keystore
        let auth = stack.account.auth
        let token = session.token

        var stage = Svx_Keystore_V1_StagePassphraseChangeRequest(kekVersion: 1, wrappedKek: try randomWrap(bytes: 32))
        let bare = await status { _ = try await call(keystore, KeystoreRPC.stagePassphraseChange, stage, token: token) }
        #expect(bare?.code == .invalidArgument && bare?.details["field"] == "kek_proof", "\(String(describing: bare))")
        stage.kekProof = try await madeUpProof(keystore, token: token, signer: try SymmetricKey.random()) { id, nonce in
            var request = stage
            request.kekProof.challengeID = id
            return ProofTranscript.stagePassphraseChange(request, userID: session.userID, nonce: nonce)
        }
        let staged = await status { _ = try await call(keystore, KeystoreRPC.stagePassphraseChange, stage, token: token) }
        #expect(staged?.code == .permissionDenied, "\(String(describing: staged))")

        // The attacker's verifier, for generation 2 (what Stage would have handed out).
        let attackerPassword = try SecureRandom.bytes(count: 32)
        var change = Svx_Auth_V1_ChangeVerifierRequest()
        let salt = try SecureRandom.bytes(count: 32)
        change.srpSaltHex = Hex.encode(salt)
        change.srpVerifierHex = try srp.paddedHex(srp.verifier(salt: salt, username: session.username, password: attackerPassword))
        change.expectedGeneration = 1
        change.newGeneration = 2
        let unproved = await status { _ = try await call(auth, AuthRPC.changeVerifier, change, token: token) }
        #expect(unproved?.code == .invalidArgument && unproved?.details["field"] == "current_credentials.login_id")
        // A proof made with a guess of the passphrase (the attacker has neither it nor the Secret Key).
        let guess = try await stack.account.beginCredentialProof(
            username: session.username, srpPassword: try secretKey.srpPassword(passphrase: "a guess"))
        change.currentCredentials.loginID = guess.loginID
        change.currentCredentials = try guess.proof(
            purpose: AuthRPC.changeVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.changeVerifier(change, userID: session.userID).bytes))
        let guessed = await status { _ = try await call(auth, AuthRPC.changeVerifier, change, token: token) }
        #expect(guessed?.code == .permissionDenied && guessed?.details["field"] == "current_credentials", "\(String(describing: guessed))")

        let commit = await status {
            _ = try await call(keystore, KeystoreRPC.commitPassphraseChange, .init(generation: 2), token: token)
        }
        #expect(commit?.code == .failedPrecondition)
        #expect(try await stack.account.whoAmI(session).credentialGeneration == 1)
        #expect(try stack.wrapGenerations(session.userID) == [1])
        #expect(await status { _ = try await stack.account.logIn(username: session.username, srpPassword: attackerPassword) }?
            .code == .unauthenticated)
        try await expectOwnerReadsEverything(stack, secretKey, items, kek: keys.kek)
    }

    // MARK: Replays and other users

    /// A proof seen on the wire is good for the one request it was made for, once: moved onto another request it
    /// fails (and uses up its nonce), replayed it fails. What the attacker gains is at most a refused request.
    @Test func aCapturedProofNeitherReplaysNorMovesToAnotherRequest() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp(Self.ownerPassphrase)
        let keystore = stack.keyring.keystore
        let token = session.token

        /// The owner's Stage request, with a proof by the KEK over a fresh nonce (as the SDK makes it).
        func ownersStage() async throws -> Svx_Keystore_V1_StagePassphraseChangeRequest {
            var request = Svx_Keystore_V1_StagePassphraseChangeRequest(
                kekVersion: keys.kekVersion,
                wrappedKek: try Cryppo.encrypt(keys.kek.bytes, key: try secretKey.passphraseDerivedKey(passphrase: "next")))
            let challenge = try await stack.keyring.beginKEKProof(session: session)
            request.kekProof.challengeID = challenge.challengeID
            request.kekProof.signature = Data(try KEKCheck.signingKey(for: keys.kek).sign(
                ProofTranscript.stagePassphraseChange(request, userID: session.userID, nonce: Array(challenge.nonce)).bytes))
            return request
        }

        // Taken off the wire before it arrives and put on a garbage wrap: the signature does not cover that request.
        let captured = try await ownersStage()
        var moved = captured
        moved.wrappedKek = try randomWrap(bytes: 32)
        #expect(await status { _ = try await call(keystore, KeystoreRPC.stagePassphraseChange, moved, token: token) }?
            .code == .permissionDenied)
        // That used the nonce up: the owner's own request is refused too (a denial, nothing destroyed).
        #expect(await status { _ = try await call(keystore, KeystoreRPC.stagePassphraseChange, captured, token: token) }?
            .code == .permissionDenied)
        #expect(try stack.wrapGenerations(session.userID) == [1])

        // The owner's next request goes through; the same bytes again do not.
        let genuine = try await ownersStage()
        #expect(try await call(keystore, KeystoreRPC.stagePassphraseChange, genuine, token: token).credentialGeneration == 2)
        #expect(await status { _ = try await call(keystore, KeystoreRPC.stagePassphraseChange, genuine, token: token) }?
            .code == .permissionDenied)
        #expect(try stack.wrapGenerations(session.userID) == [1, 2])

        // The same for the credential proof of ChangeVerifier: moved onto another verifier it fails; replayed after
        // the owner's change it fails.
        var change = Svx_Auth_V1_ChangeVerifierRequest()
        let salt = try SecureRandom.bytes(count: 32)
        change.srpSaltHex = Hex.encode(salt)
        change.srpVerifierHex = try srp.paddedHex(srp.verifier(
            salt: salt, username: session.username, password: try secretKey.srpPassword(passphrase: "next")))
        change.expectedGeneration = 1
        change.newGeneration = 2
        var pending = try await CurrentCredentials(account: stack.account, secretKey: secretKey, passphrase: Self.ownerPassphrase).beginProof()
        change.currentCredentials.loginID = pending.loginID
        change.currentCredentials = try pending.proof(
            purpose: AuthRPC.changeVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.changeVerifier(change, userID: session.userID).bytes))
        var swapped = change
        let attackerSalt = try SecureRandom.bytes(count: 32)
        swapped.srpSaltHex = Hex.encode(attackerSalt)
        swapped.srpVerifierHex = try srp.paddedHex(srp.verifier(salt: attackerSalt, username: session.username, password: Array("mine".utf8)))
        #expect(await status { _ = try await call(stack.account.auth, AuthRPC.changeVerifier, swapped, token: token) }?
            .code == .permissionDenied)
        #expect(try await stack.account.whoAmI(session).credentialGeneration == 1)
        // That used the challenge up as well; the owner proves again and changes the passphrase.
        pending = try await CurrentCredentials(account: stack.account, secretKey: secretKey, passphrase: Self.ownerPassphrase).beginProof()
        change.currentCredentials.loginID = pending.loginID
        change.currentCredentials = try pending.proof(
            purpose: AuthRPC.changeVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.changeVerifier(change, userID: session.userID).bytes))
        let changed = try await call(stack.account.auth, AuthRPC.changeVerifier, change, token: token)
        try pending.verifyServerProof(changed.srpM2Hex)
        #expect(await status { _ = try await call(stack.account.auth, AuthRPC.changeVerifier, change, token: token) }?
            .code == .permissionDenied)
        let (_, after) = try await stack.logIn(secretKey, "next")
        #expect(after.kek == keys.kek && after.credentialGeneration == 2)
    }

    /// A nonce is bound to the user who asked for it: another user's is refused like an unknown one and stays
    /// usable by its owner.
    @Test func aProofForAnotherUsersNonceFails() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (_, alice, aliceKeys) = try await stack.signUp("alice's passphrase")
        let (_, bob, bobKeys) = try await stack.signUp("bob's passphrase")
        let keystore = stack.keyring.keystore
        let aliceChallenge = try await stack.keyring.beginKEKProof(session: alice)

        // Bob signs his own request with his own KEK over Alice's nonce.
        var bobs = Svx_Keystore_V1_StagePassphraseChangeRequest(
            kekVersion: 1, wrappedKek: try Cryppo.encrypt(bobKeys.kek.bytes, key: try SymmetricKey.random()))
        bobs.kekProof.challengeID = aliceChallenge.challengeID
        bobs.kekProof.signature = Data(try KEKCheck.signingKey(for: bobKeys.kek).sign(
            ProofTranscript.stagePassphraseChange(bobs, userID: bob.userID, nonce: Array(aliceChallenge.nonce)).bytes))
        let failure = await status { _ = try await call(keystore, KeystoreRPC.stagePassphraseChange, bobs, token: bob.token) }
        #expect(failure?.code == .permissionDenied && failure?.details["field"] == "kek_proof")

        // Alice's own valid request, sent with Bob's session: refused too.
        var alices = Svx_Keystore_V1_StagePassphraseChangeRequest(
            kekVersion: 1, wrappedKek: try Cryppo.encrypt(aliceKeys.kek.bytes, key: try SymmetricKey.random()))
        alices.kekProof.challengeID = aliceChallenge.challengeID
        alices.kekProof.signature = Data(try KEKCheck.signingKey(for: aliceKeys.kek).sign(
            ProofTranscript.stagePassphraseChange(alices, userID: alice.userID, nonce: Array(aliceChallenge.nonce)).bytes))
        #expect(await status { _ = try await call(keystore, KeystoreRPC.stagePassphraseChange, alices, token: bob.token) }?
            .code == .permissionDenied)
        #expect(try stack.wrapGenerations(bob.userID) == [1])

        // Neither touched Alice's nonce: her request goes through with it.
        #expect(try await call(keystore, KeystoreRPC.stagePassphraseChange, alices, token: alice.token).credentialGeneration == 2)
        #expect(try stack.wrapGenerations(alice.userID) == [1, 2])
    }

    // MARK: KEKs made before KEK checks

    /// A KEK from before this change has no check. Nobody can stage or rotate until one is set, and setting one
    /// needs a proof of the passphrase: a token alone cannot set a check of its own and then rotate.
    @Test func aKEKWithoutACheckGetsOneOnlyWithThePassphrase() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp(Self.ownerPassphrase)
        let database = try stack.database.connect()
        defer { database.close() }
        func storedCheck() throws -> [UInt8]? {
            try database.query("SELECT kek_check FROM keystore.users WHERE user_id = $1::uuid", session.userID)[0]
                .decode([UInt8]?.self, at: 0)
        }
        #expect(try storedCheck() == (try KEKCheck.publicKey(for: keys.kek)))
        _ = try database.execute("UPDATE keystore.users SET kek_check = NULL WHERE user_id = $1::uuid", session.userID)
        let keystore = stack.keyring.keystore
        let token = session.token

        // The token holder: no nonce, and no check of its own without the passphrase.
        let noNonce = await status { _ = try await call(keystore, KeystoreRPC.beginKEKProof, .init(), token: token) }
        #expect(noNonce?.code == .failedPrecondition && noNonce?.details["reason"] == "kek_check_missing")
        let attackerKEK = try SymmetricKey.random()
        var set = Svx_Keystore_V1_SetKEKCheckRequest()
        set.kekVersion = 1
        set.kekCheck = Data(try KEKCheck.publicKey(for: attackerKEK))
        let bare = await status { _ = try await call(keystore, KeystoreRPC.setKEKCheck, set, token: token) }
        #expect(bare?.code == .invalidArgument && bare?.details["field"] == "current_credentials.login_id")
        let guess = try await stack.account.beginCredentialProof(
            username: session.username, srpPassword: try secretKey.srpPassword(passphrase: "a guess"))
        set.currentCredentials.loginID = guess.loginID
        set.currentCredentials = try guess.proof(
            purpose: KeystoreRPC.setKEKCheck.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.setKEKCheck(set, userID: session.userID).bytes))
        let guessed = await status { _ = try await call(keystore, KeystoreRPC.setKEKCheck, set, token: token) }
        #expect(guessed?.code == .permissionDenied && guessed?.details["field"] == "current_credentials", "\(String(describing: guessed))")
        // The owner's proof taken off the wire and put on the attacker's check: the binding does not match.
        var owners = Svx_Keystore_V1_SetKEKCheckRequest()
        owners.kekVersion = 1
        owners.kekCheck = Data(try KEKCheck.publicKey(for: keys.kek))
        let credentials = CurrentCredentials(account: stack.account, secretKey: secretKey, passphrase: Self.ownerPassphrase)
        let pending = try await credentials.beginProof()
        owners.currentCredentials.loginID = pending.loginID
        owners.currentCredentials = try pending.proof(
            purpose: KeystoreRPC.setKEKCheck.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.setKEKCheck(owners, userID: session.userID).bytes))
        var swapped = owners
        swapped.kekCheck = set.kekCheck
        #expect(await status { _ = try await call(keystore, KeystoreRPC.setKEKCheck, swapped, token: token) }?.code == .permissionDenied)
        #expect(try storedCheck() == nil)

        // The owner without credentials: the keys open, the check stays unset, rotating is refused.
        let pdk = try secretKey.passphraseDerivedKey(passphrase: Self.ownerPassphrase)
        let fresh = try await stack.account.logIn(secretKey: secretKey, passphrase: Self.ownerPassphrase)
        #expect(try await stack.keyring.unlock(session: fresh, pdk: pdk).kekCheckVerified == false)
        let rotation = await status { _ = try await stack.keyring.rotate(session: fresh, pdk: pdk) }
        #expect(rotation?.code == .failedPrecondition && rotation?.details["reason"] == "kek_check_missing")
        #expect(try storedCheck() == nil)

        // With them (as `svx login` does), the check of the real KEK is set, and the rotation goes through.
        #expect(try await stack.keyring.unlock(session: fresh, pdk: pdk, credentials: credentials).kekCheckVerified)
        #expect(try storedCheck() == (try KEKCheck.publicKey(for: keys.kek)))
        let rotated = try await stack.keyring.rotate(session: fresh, pdk: pdk)
        #expect(rotated.kekVersion == 2 && rotated.kekCheckVerified)
        #expect(try storedCheck() == (try KEKCheck.publicKey(for: rotated.kek)))

        // A wrong check (a bug, or a Keystore that lies) is repaired the same way, and only that way.
        _ = try database.execute(
            "UPDATE keystore.users SET kek_check = $2 WHERE user_id = $1::uuid", session.userID,
            try KEKCheck.publicKey(for: attackerKEK))
        #expect(try await stack.keyring.unlock(session: fresh, pdk: pdk).kekCheckVerified == false)
        #expect(try await stack.keyring.unlock(session: fresh, pdk: pdk, credentials: credentials).kekCheckVerified)
        #expect(try storedCheck() == (try KEKCheck.publicKey(for: rotated.kek)))
    }

    /// `svx login` sets the check of an account made before KEK checks, and `svx keys rotate` then works.
    @Test func theCommandLineSetsAMissingCheckAtLogin() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let cli = try stack.commandLine()
        var environment = cli.environment
        environment["SVX_PASSPHRASE"] = Self.ownerPassphrase
        let signUp = try await ChildProcess.runSeparately(cli.svx, ["signup", "--json"], environment: environment, timeout: .seconds(120))
        #expect(signUp.status == 0, "\(signUp.stdout)\(signUp.stderr)")
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(signUp.stdout.utf8)) as? [String: Any])
        environment["SVX_SECRET_KEY"] = try #require(fields["secret_key"] as? String)
        let userID = try #require(fields["user_id"] as? String)
        func kekListing() async throws -> [String: Any] {
            let list = try await ChildProcess.runSeparately(cli.svx, ["keys", "list", "--json"], environment: environment)
            #expect(list.status == 0, "\(list.stdout)\(list.stderr)")
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
            return try #require(listed["kek"] as? [String: Any])
        }
        #expect(try await kekListing()["kek_check"] as? Bool == true)
        let database = try stack.database.connect()
        defer { database.close() }
        _ = try database.execute("UPDATE keystore.users SET kek_check = NULL WHERE user_id = $1::uuid", userID)
        #expect(try await kekListing()["kek_check"] as? Bool == false)

        let login = try await ChildProcess.run(cli.svx, ["login"], environment: environment, timeout: .seconds(60))
        #expect(login.status == 0, "\(login.output)")
        #expect(try await kekListing()["kek_check"] as? Bool == true)
        let rotate = try await ChildProcess.run(cli.svx, ["keys", "rotate"], environment: environment, timeout: .seconds(60))
        #expect(rotate.status == 0 && rotate.output.contains("KEK version 2"), "\(rotate.output)")
        #expect(try await kekListing()["kek_version"] as? Int == 2)
    }

    // MARK: Superseded wraps

    func supersededRows(_ database: PostgresConnection, _ userID: String) throws -> (keks: [String], keys: [String]) {
        let keks = try database.query(
            """
            SELECT credential_generation || ':' || kek_version || ':' || reason FROM keystore.superseded_kek_wraps
            WHERE user_id = $1::uuid ORDER BY superseded_at, credential_generation
            """, userID).map { try $0.decode(String.self, at: 0) }
        let keys = try database.query(
            """
            SELECT key_kind || ':' || kek_version FROM keystore.superseded_key_wraps
            WHERE user_id = $1::uuid ORDER BY superseded_at, key_kind
            """, userID).map { try $0.decode(String.self, at: 0) }
        return (keks, keys)
    }

    /// A rotation and a passphrase change keep the wraps they replace; a rotation that replaced everything with
    /// wraps that open nothing (a client holding the KEK, with a bug) is undone by the documented restore, and the
    /// owner reads every item again.
    @Test func replacedWrapsAreKeptAndTheDocumentedRestoreBringsThemBack() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp(Self.ownerPassphrase)
        try await stack.vault.ensureVaultUser(session: session, keys: keys)
        let items = try await storeItems(stack, session, keys)
        let database = try stack.database.connect()
        defer { database.close() }
        let pdk = try secretKey.passphraseDerivedKey(passphrase: Self.ownerPassphrase)

        // A passphrase change keeps generation 1's wrap aside; so does a rotation, with every key's old wrap.
        let changed = try await stack.passphraseChange.run(
            secretKey: secretKey, currentPassphrase: Self.ownerPassphrase, newPassphrase: Self.ownerPassphrase)
        #expect(changed.session.credentialGeneration == 2)
        #expect(try supersededRows(database, session.userID).keks == ["1:1:passphrase_changed"])
        let rotated = try await stack.keyring.rotate(session: changed.session, pdk: pdk)
        #expect(rotated.kekVersion == 2)
        var kept = try supersededRows(database, session.userID)
        #expect(kept.keks == ["1:1:passphrase_changed", "2:1:rotated"])
        #expect(kept.keys.sorted() == ["dek:1", "private_key:1"])

        // A client that holds the KEK but wraps garbage (a proof by the KEK is all the Keystore can ask for).
        var broken = Svx_Keystore_V1_RotateKEKRequest()
        broken.expectedKekVersion = 2
        broken.credentialGeneration = 2
        broken.wrappedKek = try randomWrap(bytes: 32)
        broken.derivation = KeyringClient.derivationArtefacts
        let inventory = try await stack.keyring.inventory(session: changed.session)
        broken.deks = try inventory.deks.map { .init(id: $0.id, wrapped: try randomWrap(bytes: 32)) }
        broken.keypairs = try inventory.keypairs.map { .init(id: $0.id, wrapped: try randomWrap(bytes: 300)) }
        broken.newKekCheck = Data(try KEKCheck.publicKey(for: try SymmetricKey.random()))
        let challenge = try await stack.keyring.beginKEKProof(session: changed.session)
        broken.kekProof.challengeID = challenge.challengeID
        broken.kekProof.signature = Data(try KEKCheck.signingKey(for: rotated.kek).sign(
            ProofTranscript.rotateKEK(broken, userID: session.userID, nonce: Array(challenge.nonce)).bytes))
        #expect(try await call(stack.keyring.keystore, KeystoreRPC.rotateKEK, broken, token: changed.session.token).kekVersion == 3)
        do {
            _ = try await stack.logIn(secretKey, Self.ownerPassphrase)
            Issue.record("the garbage KEK wrap opened")
        } catch let error as SVXClientError {
            #expect(error.code == .keyUnwrapFailed, "\(error)")
        }

        // The operator restores version 2 for generation 2 (Auth's now).
        let nothing = try await stack.database.restoreKEK(userID: session.userID, version: 7, generation: 2)
        #expect(nothing.status == 0 && nothing.output.contains("nothing to restore"), "\(nothing.output)")
        let restored = try await stack.database.restoreKEK(userID: session.userID, version: 2, generation: 2)
        #expect(restored.status == 0, "\(restored.output)")
        let version = try database.query("SELECT kek_version FROM keystore.users WHERE user_id = $1::uuid", session.userID)[0]
        #expect(try version.decode(Int32.self, at: 0) == 4, "a version above every one used")
        // What the restore replaced is kept aside in turn.
        kept = try supersededRows(database, session.userID)
        #expect(kept.keks.suffix(2) == ["2:2:rotated", "2:3:rotated"])
        #expect(kept.keys.filter { $0.hasSuffix(":3") }.sorted() == ["dek:3", "private_key:3"])

        // The owner's client, which has seen version 3, accepts 4 and reads everything; the KEK is version 2's.
        var remembered = try await stack.account.logIn(secretKey: secretKey, passphrase: Self.ownerPassphrase)
        remembered.highestKEKVersion = 3
        let unlocked = try await stack.keyring.unlock(session: remembered, pdk: pdk)
        #expect(unlocked.kekVersion == 4 && unlocked.kek == rotated.kek && unlocked.kekCheckVerified)
        try await expectOwnerReadsEverything(stack, secretKey, items, kek: rotated.kek)
        // And rotates again, normally.
        #expect(try await stack.keyring.rotate(session: remembered, pdk: pdk).kekVersion == 5)
    }

    /// Kept wraps go after SVX_KEYSTORE_WRAP_RETENTION_DAYS: the user's own when their wraps next change, and
    /// everyone's at the first request of a Keystore process (then hourly). Younger ones stay.
    @Test func keptWrapsArePurgedAfterTheRetention() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, session, _) = try await stack.signUp(Self.ownerPassphrase)
        let (otherKey, other, _) = try await stack.signUp("another user")
        let pdk = try secretKey.passphraseDerivedKey(passphrase: Self.ownerPassphrase)
        let database = try stack.database.connect()
        defer { database.close() }
        func count(_ userID: String) throws -> Int {
            let kept = try supersededRows(database, userID)
            return kept.keks.count + kept.keys.count
        }
        func age(_ userID: String, days: Int) throws {
            for table in ["superseded_kek_wraps", "superseded_key_wraps"] {
                _ = try database.execute(
                    "UPDATE keystore.\(table) SET superseded_at = superseded_at - $2::float8 * interval '1 day' WHERE user_id = $1::uuid",
                    userID, Double(days))
            }
        }

        _ = try await stack.keyring.rotate(session: session, pdk: pdk)  // v1 → v2: KEK wrap, private DEK, auth keypair
        #expect(try count(session.userID) == 3)
        // 13 days later (the default retention is 14): still there after the next rotation, which adds its own.
        try age(session.userID, days: 13)
        _ = try await stack.keyring.rotate(session: session, pdk: pdk)
        #expect(try count(session.userID) == 6)
        // Two more days: the first rotation's are past 14 days and go with the next change of this user's wraps.
        try age(session.userID, days: 2)
        _ = try await stack.keyring.rotate(session: session, pdk: pdk)
        #expect(try supersededRows(database, session.userID).keys.sorted() == ["dek:2", "dek:3", "private_key:2", "private_key:3"])

        // The Keystore started again with a 1-day retention sweeps everyone's at its first request.
        _ = try await stack.keyring.rotate(session: other, pdk: try otherKey.passphraseDerivedKey(passphrase: "another user"))
        #expect(try count(other.userID) == 3)
        try age(other.userID, days: 2)
        try await stack.restart(.keystore, environment: ["SVX_KEYSTORE_WRAP_RETENTION_DAYS": "1"])
        _ = try await stack.client(.keystore).call(KeystoreRPC.getKEK, .init(generation: 0), sessionToken: session.token, timeout: .seconds(10))
        #expect(try count(other.userID) == 0, "older than one day: purged")
        // This user's latest rotation is minutes old: kept; the one before was aged past a day: purged.
        #expect(try supersededRows(database, session.userID).keys.sorted() == ["dek:3", "private_key:3"])
    }

    // MARK: What the client checks (review L1, L2)

    /// The account public key must be the unwrapped private key's; a KEK version below one the client has seen
    /// is a rollback.
    @Test func theClientRefusesAForeignPublicKeyAndAnOlderKEK() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp(Self.ownerPassphrase)
        let pdk = try secretKey.passphraseDerivedKey(passphrase: Self.ownerPassphrase)
        let database = try stack.database.connect()
        defer { database.close() }

        // L1: a Keystore that swaps in a public key of its own.
        let foreign = try RSAPrivateKey.generate(bits: 2048).publicKeyPEM
        _ = try database.execute(
            "UPDATE keystore.keypairs SET public_key_pem = $2 WHERE user_id = $1::uuid AND keypair_id = $3::uuid",
            session.userID, foreign, keys.authKeypairID)
        do {
            _ = try await stack.keyring.unlock(session: session, pdk: pdk)
            Issue.record("a foreign public key was accepted")
        } catch let error as SVXClientError {
            #expect(error.code == .keystoreInconsistent, "\(error)")
        }
        _ = try database.execute(
            "UPDATE keystore.keypairs SET public_key_pem = $2 WHERE user_id = $1::uuid AND keypair_id = $3::uuid",
            session.userID, keys.authPublicKeyPEM, keys.authKeypairID)
        #expect(try await stack.keyring.unlock(session: session, pdk: pdk).authPublicKeyPEM == (try keys.authPrivateKey.publicKeyPEM))

        // L2: after a rotation to version 2, a Keystore serves version 1's wraps again (it kept them).
        let rotated = try await stack.keyring.rotate(session: session, pdk: pdk)
        let seen = session.remembering(kekVersion: rotated.kekVersion)
        _ = try database.executeScript(
            """
            UPDATE keystore.data_encryption_keys d SET wrapped_dek = s.wrapped_key, kek_version = 1
            FROM keystore.superseded_key_wraps s WHERE s.user_id = d.user_id AND s.key_id = d.dek_id AND s.key_kind = 'dek';
            UPDATE keystore.keypairs k SET wrapped_private_key = s.wrapped_key, kek_version = 1
            FROM keystore.superseded_key_wraps s WHERE s.user_id = k.user_id AND s.key_id = k.keypair_id AND s.key_kind = 'private_key';
            UPDATE keystore.kek_wraps w SET wrapped_kek = s.wrapped_kek, kek_version = 1
            FROM keystore.superseded_kek_wraps s WHERE s.user_id = w.user_id AND s.credential_generation = w.credential_generation;
            UPDATE keystore.users u SET kek_version = 1, kek_check = s.kek_check
            FROM keystore.superseded_kek_wraps s WHERE s.user_id = u.user_id;
            """)
        do {
            _ = try await stack.keyring.unlock(session: seen, pdk: pdk)
            Issue.record("a rollback to KEK version 1 was accepted")
        } catch let error as SVXClientError {
            #expect(error.code == .keystoreInconsistent && error.message.contains("rollback"), "\(error)")
        }
        // Without that memory the old KEK opens (the rollback itself cannot be told from the data).
        #expect(try await stack.keyring.unlock(session: session, pdk: pdk).kek == keys.kek)
    }
}
