import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// The key hierarchy as the SDK and the `svx` command line use it: sign-up, login, passphrase change with a crash
/// at every step, rotation. Real svx-auth, svx-keystore and PostgreSQL.
@Suite(.serialized) struct KeyHierarchyFlowTests {
    @Test func signUpThenLoginUnwrapsTheSameKeys() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp("first passphrase")
        #expect(keys.kekVersion == 1 && keys.credentialGeneration == 1)
        #expect(keys.authPrivateKey.bits == 2048)
        let secret = try Cryppo.encrypt(Array("passport 123".utf8), key: keys.privateDEK)

        let (again, unlocked) = try await stack.logIn(secretKey, "first passphrase")
        #expect(again.token != session.token)
        #expect(unlocked.kek == keys.kek)
        #expect(unlocked.privateDEKID == keys.privateDEKID)
        #expect(unlocked.privateDEK == keys.privateDEK)
        #expect(unlocked.authKeypairID == keys.authKeypairID)
        #expect(try unlocked.authPrivateKey.pem == keys.authPrivateKey.pem)
        #expect(try Cryppo.decrypt(secret, key: unlocked.privateDEK) == Array("passport 123".utf8))

        // Exactly one of each: a second unlock created nothing.
        let inventory = try await stack.keyring.inventory(session: again)
        #expect(inventory.deks.map(\.externalID) == ["private"])
        #expect(inventory.keypairs.map(\.externalIdentifiers) == [["auth"]])

        // The keystore holds no key in the clear.
        let dump = try stack.database.keystoreKeys()
        #expect(!dump.contains(keys.privateDEK.base64URL) && !dump.contains(Hex.encode(keys.privateDEK.bytes)))
        #expect(!dump.contains(keys.kek.base64URL) && !dump.contains(Hex.encode(keys.kek.bytes)))
        let privateBody = try keys.authPrivateKey.pem.split(separator: "\n")[1]
        #expect(!dump.contains(String(privateBody)))

        // Another user cannot reach them.
        let (_, other, _) = try await stack.signUp("second user")
        var get = Svx_Keystore_V1_GetDEKRequest()
        get.dekID = keys.privateDEKID
        let foreign = await status {
            _ = try await stack.keyring.keystore.call(KeystoreRPC.getDEK, get, sessionToken: other.token, timeout: .seconds(5))
        }
        #expect(foreign?.code == .notFound)
        var getKeypair = Svx_Keystore_V1_GetKeypairRequest()
        getKeypair.keypairID = keys.authKeypairID
        let foreignKeypair = await status {
            _ = try await stack.keyring.keystore.call(KeystoreRPC.getKeypair, getKeypair, sessionToken: other.token, timeout: .seconds(5))
        }
        #expect(foreignKeypair?.code == .notFound)
    }

    @Test func aSignUpThatStoppedBeforeItsKeysIsCompletedByTheNextLogin() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let signUp = try await stack.account.signUp(passphrase: "interrupted")  // registered, no keys yet
        var getKEK = Svx_Keystore_V1_GetKEKRequest()
        getKEK.credentialGeneration = 1
        let none = await status {
            _ = try await stack.keyring.keystore.call(KeystoreRPC.getKEK, getKEK, sessionToken: signUp.session.token, timeout: .seconds(5))
        }
        #expect(none?.code == .notFound)
        let (_, keys) = try await stack.logIn(signUp.secretKey, "interrupted")
        let (_, again) = try await stack.logIn(signUp.secretKey, "interrupted")
        #expect(again.kek == keys.kek && again.privateDEK == keys.privateDEK && again.authKeypairID == keys.authKeypairID)
    }

    /// Where the passphrase change stops (the client and both services are then killed).
    enum Stop: String, CaseIterable, Sendable {
        case afterFreshLogin, afterStage, afterChangeVerifier, afterCommit
    }

    @Test(arguments: Stop.allCases)
    func aPassphraseChangeStoppedAtAnyStepNeverLocksTheUserOut(_ stop: Stop) async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp("old passphrase")
        let stored = try Cryppo.encrypt(Array("health record".utf8), key: keys.privateDEK)
        let bystander = try await stack.account.logIn(secretKey: secretKey, passphrase: "old passphrase")

        let change = stack.passphraseChange
        let begun = try await change.begin(secretKey: secretKey, currentPassphrase: "old passphrase")
        if stop != .afterFreshLogin {
            let staged = try await change.stage(begun, newPassphrase: "new passphrase")
            #expect(staged.newGeneration == 2)
            if stop != .afterStage {
                let changed = try await change.changeVerifier(staged)
                #expect(changed.revokedSessions >= 2)  // the sign-up session and the bystander
                if stop == .afterCommit { try await change.commit(changed) }
            }
        }
        try await stack.restartAfterCrash()

        let accepted = (stop == .afterFreshLogin || stop == .afterStage) ? "old passphrase" : "new passphrase"
        let refused = accepted == "old passphrase" ? "new passphrase" : "old passphrase"
        let failure = await status { _ = try await stack.account.logIn(secretKey: secretKey, passphrase: refused) }
        #expect(failure?.code == .unauthenticated, "\(stop): \(refused) must be refused")
        let (after, unlocked) = try await stack.logIn(secretKey, accepted)
        #expect(unlocked.kek == keys.kek, "\(stop)")
        #expect(try Cryppo.decrypt(stored, key: unlocked.privateDEK) == Array("health record".utf8), "\(stop)")
        if accepted == "new passphrase" {
            // The login finished the change: only the new generation's wrap is left, old sessions are over.
            #expect(try stack.wrapGenerations(after.userID) == [2])
            #expect(await status { _ = try await stack.account.whoAmI(session) }?.code == .unauthenticated)
            #expect(await status { _ = try await stack.account.whoAmI(bystander) }?.code == .unauthenticated)
        }

        // Not stuck: a later change goes through and passes over any abandoned staged generation.
        let next = try await stack.passphraseChange.run(secretKey: secretKey, currentPassphrase: accepted, newPassphrase: "third passphrase")
        let expected: Int64 = stop == .afterFreshLogin ? 2 : 3  // generation 2 is used (or passed over) once staged
        #expect(next.session.credentialGeneration == UInt64(expected))
        #expect(try stack.wrapGenerations(after.userID) == [expected])
        let (_, third) = try await stack.logIn(secretKey, "third passphrase")
        #expect(try Cryppo.decrypt(stored, key: third.privateDEK) == Array("health record".utf8))
        #expect(await status { _ = try await stack.account.logIn(secretKey: secretKey, passphrase: accepted) }?.code == .unauthenticated)
    }

    @Test func twoConcurrentPassphraseChangesLeaveExactlyOneWorkingPassphrase() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, _, keys) = try await stack.signUp("start")
        let change = stack.passphraseChange
        let first = try await change.stage(try await change.begin(secretKey: secretKey, currentPassphrase: "start"), newPassphrase: "from device A")
        let second = try await change.stage(try await change.begin(secretKey: secretKey, currentPassphrase: "start"), newPassphrase: "from device B")
        #expect(Set([first.newGeneration, second.newGeneration]) == [2, 3])
        _ = try await change.changeVerifier(second)
        // Refused: B's change ended A's session (UNAUTHENTICATED); were it still alive, the compare-and-set on
        // the generation would refuse it (ABORTED, tested in AuthSessionTests).
        let late = await status { _ = try await change.changeVerifier(first) }
        #expect(late?.code == .unauthenticated || late?.code == .aborted, "\(String(describing: late))")
        #expect(await status { _ = try await stack.account.logIn(secretKey: secretKey, passphrase: "from device A") }?.code == .unauthenticated)
        let (_, unlocked) = try await stack.logIn(secretKey, "from device B")
        #expect(unlocked.kek == keys.kek && unlocked.credentialGeneration == 3)
    }

    @Test func rotationRewrapsEveryKeyAndOldCiphertextStaysReadable() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp("rotate me")
        let pdk = try secretKey.passphraseDerivedKey(passphrase: "rotate me")
        // Two more DEKs (e.g. shares) and a connection keypair, each with something encrypted under it.
        var extra: [(id: String, key: SymmetricKey, ciphertext: String)] = []
        for index in 0..<2 {
            let dek = try SymmetricKey.random()
            var create = Svx_Keystore_V1_CreateDEKRequest()
            create.kekVersion = 1
            create.wrappedDek = try Cryppo.encrypt(dek.bytes, key: keys.kek)
            let created = try await stack.keyring.keystore.call(KeystoreRPC.createDEK, create, sessionToken: session.token, timeout: .seconds(5))
            extra.append((created.dek.dekID, dek, try Cryppo.encrypt(Array("value \(index)".utf8), key: dek)))
        }
        let connectionKey = try RSAPrivateKey.generate(bits: 2048)
        var keypair = Svx_Keystore_V1_CreateKeypairRequest()
        keypair.publicKeyPem = try connectionKey.publicKeyPEM
        keypair.wrappedPrivateKey = try Cryppo.encrypt(Array(try connectionKey.pem.utf8), key: keys.kek)
        keypair.externalIdentifiers = ["connection-1"]
        keypair.kekVersion = 1
        _ = try await stack.keyring.keystore.call(KeystoreRPC.createKeypair, keypair, sessionToken: session.token, timeout: .seconds(5))
        let privateValue = try Cryppo.encrypt(Array("bank account".utf8), key: keys.privateDEK)
        let before = try stack.database.keystoreKeys()

        let rotated = try await stack.keyring.rotate(session: session, pdk: pdk)
        #expect(rotated.kekVersion == 2)
        #expect(rotated.kek != keys.kek)
        #expect(rotated.privateDEK == keys.privateDEK)  // same DEK, new wrapping

        let (_, relogged) = try await stack.logIn(secretKey, "rotate me")
        #expect(relogged.kekVersion == 2 && relogged.kek == rotated.kek)
        #expect(try Cryppo.decrypt(privateValue, key: relogged.privateDEK) == Array("bank account".utf8))
        let inventory = try await stack.keyring.inventory(session: session)
        #expect(inventory.deks.count == 3 && inventory.keypairs.count == 2)
        for dek in inventory.deks {
            #expect(dek.kekVersion == 2)
            // Nothing is left wrapped by the old KEK.
            #expect(throws: (any Error).self) { try Cryppo.decrypt(dek.wrappedDEK, key: keys.kek) }
            let key = SymmetricKey(bytes: try Cryppo.decrypt(dek.wrappedDEK, key: relogged.kek))
            if let item = extra.first(where: { $0.id == dek.id }) {
                #expect(key == item.key)
                _ = try Cryppo.decrypt(item.ciphertext, key: key)
            }
        }
        for stored in inventory.keypairs {
            #expect(stored.kekVersion == 2)
            #expect(throws: (any Error).self) { try Cryppo.decrypt(stored.wrappedPrivateKey, key: keys.kek) }
            let pem = String(decoding: try Cryppo.decrypt(stored.wrappedPrivateKey, key: relogged.kek), as: UTF8.self)
            #expect(try RSAPrivateKey(pem: pem).publicKeyPEM == stored.publicKeyPEM)
        }
        #expect(try stack.database.keystoreKeys() != before)
        #expect(inventory.kek.kekVersion == 2)
        #expect(try Cryppo.decrypt(inventory.kek.wrappedKEK, key: pdk) == relogged.kek.bytes)
    }

    /// DEKs created while a rotation commits are either part of it or refused (ABORTED): none is ever left
    /// wrapped by a KEK that no longer exists.
    @Test func keysCreatedDuringARotationAreNeverOrphaned() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (secretKey, session, keys) = try await stack.signUp("race")
        let pdk = try secretKey.passphraseDerivedKey(passphrase: "race")
        let keystore = stack.keyring.keystore
        let keyring = stack.keyring
        async let rotation: UnlockedKeys? = {
            for _ in 0..<20 {  // a DEK created between its listing and its commit makes it ABORTED: try again
                do { return try await keyring.rotate(session: session, pdk: pdk) } catch let status as RPCStatus where status.code == .aborted {}
            }
            return nil
        }()
        var outcomes: [RPCStatus.Code] = []
        for _ in 0..<30 {
            var create = Svx_Keystore_V1_CreateDEKRequest()
            create.kekVersion = 1
            create.wrappedDek = try Cryppo.encrypt(try SymmetricKey.random().bytes, key: keys.kek)
            let failure = await status { _ = try await keystore.call(KeystoreRPC.createDEK, create, sessionToken: session.token, timeout: .seconds(10)) }
            outcomes.append(failure?.code ?? .ok)
        }
        let rotated = try #require(await rotation)
        #expect(outcomes.allSatisfy { $0 == .ok || $0 == .aborted }, "\(outcomes)")
        let inventory = try await stack.keyring.inventory(session: session)
        for dek in inventory.deks {
            #expect(dek.kekVersion == rotated.kekVersion)
            #expect(try Cryppo.decrypt(dek.wrappedDEK, key: rotated.kek).count == 32)
        }
    }
}
