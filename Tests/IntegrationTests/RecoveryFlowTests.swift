import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// Account recovery with a Recovery Key (issue 18; reference/sharing.md §5a; docs/ADR-009-recovery.md) as the SDK and
/// the `svx` command line run it, through real svx-auth, svx-keystore (and the Vault and Sharing where items and shares
/// must still open) on PostgreSQL. The recovery delay is 0 unless a test says otherwise.
@Suite(.serialized) struct RecoveryFlowTests {
    static let noDelay: [TestService: [String: String]] = [.auth: ["SVX_AUTH_RECOVERY_DELAY_MS": "0"]]

    static func recovery(_ stack: TestStack) -> RecoveryClient { RecoveryClient(account: stack.account, keyring: stack.keyring) }

    /// A new user with the whole key hierarchy and a Recovery Key enrolled (right after sign-up, as `svx signup` offers).
    static func enrolledUser(_ stack: TestStack, _ passphrase: String) async throws
        -> (secretKey: SecretKey, session: AuthenticatedSession, keys: UnlockedKeys, recoveryKey: RecoveryKey)
    {
        let (secretKey, session, keys) = try await stack.signUp(passphrase)
        let recoveryKey = try await recovery(stack).enrol(
            session: session, keys: keys,
            credentials: CurrentCredentials(account: stack.account, secretKey: secretKey, passphrase: passphrase))
        return (secretKey, session, keys, recoveryKey)
    }

    /// Runs `sql` against the test database as its owner; returns the first column of the first row as text.
    static func scalar(_ stack: TestStack, _ sql: String, _ parameters: (any PostgresEncodable)?...) throws -> String? {
        let db = try stack.database.connect()
        defer { db.close() }
        return try db.query(sql, parameters: parameters).first.map { try $0.decode(String?.self, at: 0) } ?? nil
    }

    // MARK: The whole way back

    @Test func afterARotationARecoveryOpensEveryItemAndIncomingShareWithNewCredentials() async throws {
        let stack = try await SharingIntegrationTests.shareStack(environment: Self.noDelay)
        defer { stack.stop() }
        typealias Shares = SharingIntegrationTests.SharesClientTests
        let bob = try await Shares.member(stack)
        let recovery = Self.recovery(stack)
        let (secretKey, session, keys, recoveryKey) = try await Self.enrolledUser(stack, "alice's old passphrase")
        let aliceShares = SharesClient(
            sharing: SharingClient(sharing: stack.client(.sharing), keyring: stack.keyring, timeout: .seconds(60), keypairBits: 2048),
            vault: stack.vault, timeout: .seconds(60))
        let owner = Shares.Member(session: session, keys: keys, vault: stack.vault, shares: aliceShares)
        let item = try await owner.vault.createItem(
            session: session, keys: keys, templateName: "passport", label: "My passport", values: Shares.passport)
        // Bob shares his passport with Alice.
        let (bobSide, _) = try await Shares.connect(bob, owner)
        let bobsItem = try await Shares.passportItem(bob)
        let shared = try #require(try await bob.shares.createShare(
            session: bob.session, keys: bob.keys, itemID: bobsItem.id, to: [bobSide.id]).first)

        // Alice rotates her KEK: the recovery key gets the new KEK without the Recovery Key.
        let fresh = try await stack.account.logIn(secretKey: secretKey, passphrase: "alice's old passphrase")
        let rotated = try await stack.keyring.rotate(
            session: fresh, pdk: try secretKey.passphraseDerivedKey(passphrase: "alice's old passphrase"))
        #expect(rotated.kekVersion == 2 && rotated.kek != keys.kek)
        let stored = try #require(try await stack.keyring.recoveryKey(session: fresh))
        #expect(stored.kekVersion == 2)

        // She "loses" her Secret Key and passphrase; the Recovery Key alone brings her back.
        let pending = try await recovery.begin(recoveryKey: recoveryKey)
        #expect(pending.session.userID == session.userID && pending.usableAt <= Date().addingTimeInterval(1))
        let completed = try await recovery.complete(
            pending, recoveryKey: recoveryKey, newPassphrase: "alice's new passphrase", keepSecretKey: { _ in })
        #expect(completed.secretKey.username == secretKey.username && completed.secretKey != secretKey)
        #expect(completed.revokedSessions >= 3)  // sign-up, the fresh login, the recovery session
        #expect(completed.keys.kek == rotated.kek && completed.keys.privateDEK == keys.privateDEK)

        // Every item and every incoming share opens with what the new login unlocked.
        let (newSession, newKeys) = try await stack.logIn(completed.secretKey, "alice's new passphrase")
        let read = try await stack.vault.item(session: newSession, keys: newKeys, id: item.id)
        #expect(read.slots.compactMap(\.value).sorted() == Shares.passport.map(\.value).sorted())
        let received = try await aliceShares.incomingShare(session: newSession, keys: newKeys, id: shared.id)
        #expect(Shares.values(received.item) == Shares.expected)

        // The old credentials and every old session are gone; the Recovery Key is spent, in both services.
        #expect(await status {
            _ = try await stack.account.logIn(secretKey: secretKey, passphrase: "alice's old passphrase")
        }?.code == .unauthenticated)
        #expect(await status { _ = try await stack.account.whoAmI(session) }?.code == .unauthenticated)
        #expect(await status { _ = try await stack.account.whoAmI(fresh) }?.code == .unauthenticated)
        #expect(await status { _ = try await recovery.begin(recoveryKey: recoveryKey) }?.code == .unauthenticated)
        let after = try await recovery.status(session: newSession)
        #expect(!after.enrolled && !after.keystoreHasRecoveryKey && after.pending == nil)
        #expect(try stack.wrapGenerations(session.userID).count == 1)

        // A new Recovery Key can be made at once, and works.
        let again = try await recovery.enrol(
            session: newSession, keys: newKeys,
            credentials: CurrentCredentials(
                account: stack.account, secretKey: completed.secretKey, passphrase: "alice's new passphrase"))
        #expect(again != recoveryKey)
        #expect(try await recovery.status(session: newSession).isUsable)
        _ = try await recovery.begin(recoveryKey: again)
    }

    @Test func aWrongOrForeignRecoveryKeyIsRefusedLikeAFailedLogin() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: Self.noDelay)
        defer { stack.stop() }
        let recovery = Self.recovery(stack)
        let (secretKey, session, _, recoveryKey) = try await Self.enrolledUser(stack, "a passphrase")
        let (_, _, _, otherKey) = try await Self.enrolledUser(stack, "another passphrase")
        let (plainSecretKey, _, _) = try await stack.signUp("no recovery key")

        let wrong = try RecoveryKey.generate(username: secretKey.username)
        let foreign = try RecoveryKey(username: secretKey.username, key: otherKey.key)
        let unknown = try RecoveryKey.generate(username: "nobodyHere42")
        let unenrolled = try RecoveryKey.generate(username: plainSecretKey.username)
        // A Secret Key is not a Recovery Key, even with the right username.
        let secretAsRecovery = try? RecoveryKey(username: secretKey.username, key: secretKey.secretKey)
        for candidate in [wrong, foreign, unknown, unenrolled] + [secretAsRecovery].compactMap({ $0 }) {
            let refused = await status { _ = try await recovery.begin(recoveryKey: candidate) }
            #expect(refused?.code == .unauthenticated, "\(candidate.username)")
            #expect(refused?.message == "invalid username or recovery key")
        }
        // Nothing of the owner changed, and the right key still works.
        #expect(try await stack.account.whoAmI(session).userID == session.userID)
        _ = try await recovery.begin(recoveryKey: recoveryKey)
    }

    @Test func aRecoverySessionReachesOnlyTheRecoveryMethods() async throws {
        let stack = try await SharingIntegrationTests.shareStack(environment: Self.noDelay)
        defer { stack.stop() }
        let recovery = Self.recovery(stack)
        let (_, session, keys, recoveryKey) = try await Self.enrolledUser(stack, "a passphrase")
        let item = try await stack.vault.createItem(
            session: session, keys: keys, templateName: "secure_note", label: "Bank", values: [("note", "hunter2")])
        let token = try await recovery.begin(recoveryKey: recoveryKey).session.token

        func refusal<Request, Response>(_ service: TestService, _ method: RPCMethod<Request, Response>, _ request: Request)
            async -> RPCStatus?
        {
            await status { _ = try await stack.client(service).call(method, request, sessionToken: token, timeout: .seconds(10)) }
        }
        var getItem = Svx_Vault_V1_GetItemRequest()
        getItem.itemID = item.id
        var getDEK = Svx_Keystore_V1_GetDEKRequest()
        getDEK.dekID = keys.privateDEKID
        var getKEK = Svx_Keystore_V1_GetKEKRequest()
        getKEK.credentialGeneration = 1
        let refused: [(String, RPCStatus?)] = [
            ("GetItem", await refusal(.vault, VaultRPC.getItem, getItem)),
            ("ListItems", await refusal(.vault, VaultRPC.listItems, .init())),
            ("GetDEK", await refusal(.keystore, KeystoreRPC.getDEK, getDEK)),
            ("GetKEK", await refusal(.keystore, KeystoreRPC.getKEK, getKEK)),
            ("ListKeypairs", await refusal(.keystore, KeystoreRPC.listKeypairs, .init())),
            ("RotateKEK", await refusal(.keystore, KeystoreRPC.rotateKEK, .init())),
            ("ListIncomingShares", await refusal(.sharing, SharingRPC.listIncomingShares, .init())),
            ("ListConnections", await refusal(.sharing, SharingRPC.listConnections, .init())),
            ("ListSessions", await refusal(.auth, AuthRPC.listSessions, .init())),
            ("ChangeVerifier", await refusal(.auth, AuthRPC.changeVerifier, .init())),
        ]
        for (name, answer) in refused {
            #expect(answer?.code == .permissionDenied && answer?.details["reason"] == "recovery_session", "\(name): \(String(describing: answer))")
        }
        // What a recovery needs answers it.
        let stored = try await stack.client(.keystore).call(
            KeystoreRPC.getRecoveryKey, .init(), sessionToken: token, timeout: .seconds(10))
        #expect(stored.recoveryKey.kekVersion == keys.kekVersion && !stored.recoveryKey.kekRecoveryWrap.isEmpty)
        let own = try await stack.client(.auth).call(AuthRPC.getRecoveryStatus, .init(), sessionToken: token, timeout: .seconds(10))
        #expect(own.enrolled && own.hasPending)
    }

    @Test func aRecoveryWaitsForItsDelayAndTheOwnerSeesItAtLoginAndCancelsIt() async throws {
        let stack = try await TestStack.start(
            [.auth, .keystore], environment: [.auth: ["SVX_AUTH_RECOVERY_DELAY_MS": "3600000"]])
        defer { stack.stop() }
        let recovery = Self.recovery(stack)
        let (secretKey, _, _, recoveryKey) = try await Self.enrolledUser(stack, "owner's passphrase")
        let started = Date()
        let pending = try await recovery.begin(recoveryKey: recoveryKey)
        #expect(pending.usableAt >= started.addingTimeInterval(3590) && pending.usableAt <= Date().addingTimeInterval(3610))

        // Too early: nothing of the recovery can be done yet.
        let early = await status {
            _ = try await recovery.stage(pending, recoveryKey: recoveryKey, newPassphrase: "someone else's")
        }
        #expect(early?.code == .failedPrecondition && early?.details["reason"] == "recovery_delay", "\(String(describing: early))")
        #expect(Int(early?.details["retry_after_ms"] ?? "") ?? 0 > 3_500_000)

        // The owner logs in, sees it, and cancels it.
        let owner = try await stack.account.logIn(secretKey: secretKey, passphrase: "owner's passphrase")
        let seen = try #require(owner.pendingRecovery)
        #expect(seen.sessionID == pending.session.sessionID && abs(seen.usableAt.timeIntervalSince(pending.usableAt)) < 1)
        #expect(try await recovery.status(session: owner).pending?.sessionID == pending.session.sessionID)
        #expect(try await recovery.cancel(session: owner))
        #expect(await status { _ = try await stack.account.whoAmI(pending.session) }?.code == .unauthenticated)
        let afterCancel = try await recovery.status(session: owner)
        #expect(afterCancel.pending == nil && afterCancel.isUsable)  // the Recovery Key itself keeps working
        #expect(try await stack.account.logIn(secretKey: secretKey, passphrase: "owner's passphrase").pendingRecovery == nil)
        #expect(try await recovery.cancel(session: owner) == false)
    }

    /// Where a recovery stops (the client and both services are then killed).
    enum Stop: String, CaseIterable, Sendable {
        case afterBegin, afterStage, afterCompleteAtAuth, afterLogIn
    }

    @Test(arguments: Stop.allCases)
    func aRecoveryStoppedAtAnyStepLeavesTheOldOrTheNewCredentialsWorking(_ stop: Stop) async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: Self.noDelay)
        defer { stack.stop() }
        let recovery = Self.recovery(stack)
        let (secretKey, session, keys, recoveryKey) = try await Self.enrolledUser(stack, "old passphrase")
        let stored = try Cryppo.encrypt(Array("health record".utf8), key: keys.privateDEK)

        let pending = try await recovery.begin(recoveryKey: recoveryKey)
        var staged: RecoveryClient.Staged?
        if stop != .afterBegin {
            staged = try await recovery.stage(pending, recoveryKey: recoveryKey, newPassphrase: "new passphrase")
            if stop != .afterStage {
                _ = try await recovery.completeAtAuth(staged!)
                if stop == .afterLogIn { _ = try await recovery.logIn(staged!) }
            }
        }
        try await stack.restartAfterCrash()

        let completed = stop == .afterCompleteAtAuth || stop == .afterLogIn
        let working: (SecretKey, String) = completed ? (staged!.secretKey, "new passphrase") : (secretKey, "old passphrase")
        let (after, unlocked) = try await stack.logIn(working.0, working.1)
        #expect(unlocked.kek == keys.kek, "\(stop)")
        #expect(try Cryppo.decrypt(stored, key: unlocked.privateDEK) == Array("health record".utf8), "\(stop)")
        let status = try await recovery.status(session: after)
        if completed {
            #expect(await SVXTestHarness.status {
                _ = try await stack.account.logIn(secretKey: secretKey, passphrase: "old passphrase")
            }?.code == .unauthenticated, "\(stop)")
            #expect(await SVXTestHarness.status { _ = try await recovery.begin(recoveryKey: recoveryKey) }?.code == .unauthenticated)
            // The login's unlock committed the change: one wrap left, and the spent recovery key is gone.
            #expect(try stack.wrapGenerations(session.userID).count == 1, "\(stop)")
            #expect(!status.enrolled && !status.keystoreHasRecoveryKey, "\(stop)")
        } else {
            // Not stuck: the same Recovery Key goes all the way now.
            #expect(status.isUsable, "\(stop)")
            let again = try await recovery.begin(recoveryKey: recoveryKey)
            let done = try await recovery.complete(
                again, recoveryKey: recoveryKey, newPassphrase: "third passphrase", keepSecretKey: { _ in })
            #expect(done.keys.kek == keys.kek, "\(stop)")
            #expect(try Cryppo.decrypt(stored, key: done.keys.privateDEK) == Array("health record".utf8))
            #expect(await SVXTestHarness.status {
                _ = try await stack.account.logIn(secretKey: secretKey, passphrase: "old passphrase")
            }?.code == .unauthenticated)
        }
    }

    @Test func theDatabaseHoldsNothingThatOpensTheRecovery() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: Self.noDelay)
        defer { stack.stop() }
        let (_, session, keys, recoveryKey) = try await Self.enrolledUser(stack, "a passphrase")
        _ = try await Self.recovery(stack).begin(recoveryKey: recoveryKey)
        let dump = try stack.database.dump(schema: "auth") + stack.database.dump(schema: "keystore")
        let wrappingKey = try recoveryKey.wrappingKey()
        let srpPassword = String(decoding: try recoveryKey.srpPassword, as: UTF8.self)
        for (what, secret) in [
            ("the Recovery Key", recoveryKey.key), ("its readable form", recoveryKey.readable),
            ("RWK (hex)", Hex.encode(wrappingKey.bytes)), ("RWK (base64url)", wrappingKey.base64URL),
            ("P_r", srpPassword), ("the KEK (hex)", Hex.encode(keys.kek.bytes)), ("the KEK (base64url)", keys.kek.base64URL),
        ] {
            #expect(!dump.contains(secret), "\(what) is in the database")
        }
        // The recovery private key is stored only wrapped: its PEM body is nowhere.
        let stored = try #require(try await stack.keyring.recoveryKey(session: session))
        let pem = try Cryppo.decrypt(stored.wrappedPrivateKey, key: wrappingKey)
        let body = String(decoding: pem, as: UTF8.self).split(separator: "\n").dropFirst().first.map(String.init) ?? "?"
        #expect(body.count > 40 && !dump.contains(body))
        // What is stored is a verifier of a 256-bit secret: 256 bytes, never the secret.
        let verifier = try #require(try Self.scalar(
            stack, "SELECT encode(srp_verifier, 'hex') FROM auth.recovery_credentials WHERE user_id = $1::uuid", session.userID))
        #expect(verifier.count == 512)
    }

    /// A dishonest Keystore (its own role editing its own schema) swaps in a recovery public key of its own: the SDK
    /// refuses to wrap the next KEK for it, and a recovery refuses what the swapped row gives.
    @Test func aKeystoreThatSwapsTheRecoveryPublicKeyGetsNoKEK() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: Self.noDelay)
        defer { stack.stop() }
        let recovery = Self.recovery(stack)
        let (secretKey, session, _, recoveryKey) = try await Self.enrolledUser(stack, "a passphrase")
        let attacker = try RSAPrivateKey.generate(bits: 4096)
        let keystore = try stack.database.connect(role: "svx_keystore")
        defer { keystore.close() }
        #expect(try keystore.execute(
            "UPDATE keystore.recovery_keys SET public_key_pem = $2 WHERE user_id = $1::uuid", session.userID,
            try attacker.publicKeyPEM) == 1)

        let fresh = try await stack.account.logIn(secretKey: secretKey, passphrase: "a passphrase")
        let rotation = await SharingIntegrationTests.SharesClientTests.clientError {
            try await stack.keyring.rotate(session: fresh, pdk: try secretKey.passphraseDerivedKey(passphrase: "a passphrase"))
        }
        #expect(rotation?.code == .keystoreInconsistent, "\(String(describing: rotation))")
        #expect(try await stack.keyring.inventory(session: fresh).kek.kekVersion == 1, "nothing rotated")

        let pending = try await recovery.begin(recoveryKey: recoveryKey)
        let stage = await SharingIntegrationTests.SharesClientTests.clientError {
            try await recovery.stage(pending, recoveryKey: recoveryKey, newPassphrase: "someone's new passphrase")
        }
        #expect(stage?.code == .keystoreInconsistent, "\(String(describing: stage))")
        #expect(try stack.wrapGenerations(session.userID) == [1], "nothing staged")
    }

    // MARK: The command line

    @Test func aNewUserSignsUpWithARecoveryKeyLosesBothCredentialsAndRecovers() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault], environment: Self.noDelay)
        defer { stack.stop() }
        let cli = try stack.commandLine()
        func run(_ arguments: [String], _ environment: [String: String], expecting expected: Int32 = 0) async throws -> String {
            let run = try await ChildProcess.runSeparately(cli.svx, arguments, environment: environment, timeout: .seconds(240))
            #expect(run.status == expected, "\(arguments): \(run.stdout)\(run.stderr)")
            return run.stdout + run.stderr
        }
        func json(_ arguments: [String], _ environment: [String: String]) async throws -> [String: Any] {
            let run = try await ChildProcess.runSeparately(cli.svx, arguments + ["--json"], environment: environment, timeout: .seconds(240))
            #expect(run.status == 0, "\(arguments): \(run.stdout)\(run.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        }
        var device = cli.environment
        device["SVX_PASSPHRASE"] = "my first passphrase"
        let signUp = try await json(["signup", "--recovery-key"], device)
        let recoveryKey = try #require(signUp["recovery_key"] as? String)
        let secretKey = try #require(signUp["secret_key"] as? String)
        #expect(recoveryKey.hasPrefix("R.1.\(try #require(signUp["username"] as? String))."))
        device["SVX_SECRET_KEY"] = secretKey
        let created = try await json(["items", "create", "--template", "secure_note", "--label", "Bank", "--set", "note=s3cret-PIN"], device)
        let itemID = try #require(created["item_id"] as? String)
        #expect(try await json(["recovery", "status"], device)["usable"] as? Bool == true)

        // A new device: no session, no Secret Key, no passphrase; only the Recovery Key.
        let home = cli.home.appendingPathComponent("new-device")
        var newDevice = cli.environment
        newDevice["SVX_HOME"] = home.path
        newDevice["SVX_RECOVERY_KEY"] = recoveryKey
        _ = try await json(["recovery", "start"], newDevice)
        newDevice["SVX_NEW_PASSPHRASE"] = "my new passphrase"
        let completed = try await json(["recovery", "complete"], newDevice)
        let newSecretKey = try #require(completed["secret_key"] as? String)
        #expect(newSecretKey != secretKey)

        // Log in with the new Secret Key and passphrase, read the item.
        newDevice["SVX_SECRET_KEY"] = newSecretKey
        newDevice["SVX_PASSPHRASE"] = "my new passphrase"
        newDevice["SVX_RECOVERY_KEY"] = nil
        newDevice["SVX_NEW_PASSPHRASE"] = nil
        _ = try await run(["login"], newDevice)
        let item = try await json(["items", "get", itemID], newDevice)
        #expect("\(item)".contains("s3cret-PIN"), "\(item)")

        // The old device's credentials and the spent Recovery Key no longer work.
        #expect(try await run(["login"], device, expecting: 1).contains("invalid username or passphrase"))
        var thief = cli.environment
        thief["SVX_HOME"] = cli.home.appendingPathComponent("thief").path
        thief["SVX_RECOVERY_KEY"] = recoveryKey
        #expect(try await run(["recovery", "start"], thief, expecting: 1).contains("invalid username or recovery key"))
        #expect(try await run(["recovery", "status"], newDevice).contains("Recovery Key: none"))
    }
}
